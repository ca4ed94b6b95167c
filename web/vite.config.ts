// Built at install time (`make install`) into web/dist, which the API serves at `/`.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 4000 },
  // `npm run dev` against a local API (make serve) on 127.0.0.1:8000
  server: { proxy: { "/graphql": "http://127.0.0.1:8000", "/files": "http://127.0.0.1:8000" } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
