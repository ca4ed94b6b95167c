// Sign in with an API key: checked against the server (viewer), kept in session storage only.
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { client, messageOf, signIn, signOut } from "./client";
import { VIEWER } from "./queries";

export function SignIn() {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const [params] = useSearchParams();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    signIn(key);
    try {
      const answer = await client.query({ query: VIEWER, fetchPolicy: "network-only" });
      if (!answer.data) throw answer.error ?? new Error("no answer");
      navigate(params.get("next") || "/");
    } catch (caught) {
      signOut();
      setError(messageOf(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <h1>Forebear</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label htmlFor="key">API key</label>
        <input
          id="key"
          type="password"
          autoComplete="off"
          autoFocus
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="fbk_…"
        />
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        {error && (
          <div className="error" role="alert">
            <strong>The server refused this key: {error}</strong>
            <p>Ask an org admin for a key (createUser or createApiKey), or use the one `make services` printed.</p>
          </div>
        )}
        <p className="muted">The key stays in this browser tab's session storage, never in a link.</p>
      </form>
    </main>
  );
}
