// Shared pieces of every page: the frame with its navigation, loading, empty and error states,
// and a history of events.
import type { ReactNode } from "react";
import { Link, NavLink, useNavigate } from "react-router-dom";
import { codeOf, messageOf, signOut } from "./client";
import { useNames } from "./names";
import { change, when, type EventRow } from "./shape";

export function Frame({ title, children }: { title: string; children: ReactNode }) {
  const navigate = useNavigate();
  document.title = `${title} · Forebear`;
  return (
    <div className="frame">
      <header>
        <Link to="/" className="brand">
          Forebear
        </Link>
        <nav aria-label="Pages">
          <NavLink to="/" end>
            Models
          </NavLink>
          <NavLink to="/projects">Projects</NavLink>
          <NavLink to="/lineage">Lineage</NavLink>
          <NavLink to="/audit">Audit log</NavLink>
          <NavLink to="/graphiql">GraphiQL</NavLink>
        </nav>
        <button
          type="button"
          className="quiet"
          onClick={() => {
            signOut();
            navigate("/signin");
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** A failed call, worded by the server, with what to do about the common causes. */
export function Failure({ error }: { error: unknown }) {
  const code = codeOf(error);
  const hint =
    code === "UNAUTHENTICATED" ? (
      <>
        Your key was refused: <Link to="/signin">sign in again</Link> with a live key.
      </>
    ) : code === "FORBIDDEN" ? (
      "Your role does not allow this; the message names who can grant the role."
    ) : code === "UNAVAILABLE" ? (
      "The server cannot reach Neo4j or S3 right now; try again in a moment."
    ) : null;
  return (
    <div className="error" role="alert">
      <strong>{messageOf(error)}</strong>
      {hint && <p>{hint}</p>}
    </div>
  );
}

/** A history: each event's time, type, who made it and what changed (ids read as names). */
export function History({ events, empty }: { events: EventRow[]; empty: string }) {
  const names = useNames(events);
  return (
    <section aria-label="History">
      <h2>History</h2>
      {!events.length && <Empty>{empty}</Empty>}
      <ol className="history">
        {events.map((e) => (
          <li key={e.id}>
            <time dateTime={e.time}>{when(e.time)}</time> <strong>{e.type}</strong> by {e.actor}
            <span className="muted"> {change(e, names)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
