// The Forebear web app: one page per route, every page's state in its URL.
import { ApolloProvider } from "@apollo/client/react";
import { lazy, StrictMode, Suspense, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { apiKey, client } from "./client";
import { Audit } from "./Audit";
import { Dashboard, Registries } from "./Dashboard";
import { Lineage } from "./Lineage";
import { Model } from "./Model";
import { Project, Projects } from "./Project";
import { Version } from "./Version";
import { SignIn } from "./SignIn";
import { Loading } from "./ui";
import "./styles.css";

// GraphiQL is large: loaded only when its page opens
const GraphiQLPage = lazy(() => import("./GraphiQLPage"));

function SignedIn({ children }: { children: ReactNode }) {
  const location = useLocation();
  if (!apiKey()) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  return <>{children}</>;
}

function App() {
  return (
    <Routes>
      <Route path="/signin" element={<SignIn />} />
      <Route path="/" element={<SignedIn><Registries /></SignedIn>} />
      <Route path="/registries/:registry" element={<SignedIn><Dashboard /></SignedIn>} />
      <Route path="/registries/:registry/:name" element={<SignedIn><Model /></SignedIn>} />
      <Route path="/lineage" element={<SignedIn><Lineage /></SignedIn>} />
      <Route path="/projects" element={<SignedIn><Projects /></SignedIn>} />
      <Route path="/projects/:name" element={<SignedIn><Project /></SignedIn>} />
      <Route path="/versions/*" element={<SignedIn><Version /></SignedIn>} />
      <Route path="/audit" element={<SignedIn><Audit /></SignedIn>} />
      <Route
        path="/graphiql"
        element={
          <SignedIn>
            <Suspense fallback={<Loading what="GraphiQL" />}>
              <GraphiQLPage />
            </Suspense>
          </SignedIn>
        }
      />
      <Route path="*" element={<main><h1>Not found</h1><p>No page here. <a href="/">Back to the models</a>.</p></main>} />
    </Routes>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ApolloProvider client={client}>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </ApolloProvider>
  </StrictMode>,
);
