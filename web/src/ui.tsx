// Shared pieces of every page: the frame with its navigation, loading, empty and error states,
// and a history of events.
import { useQuery } from "@apollo/client/react";
import { useState, type ReactNode } from "react";
import { Link, NavLink, useNavigate } from "react-router-dom";
import { codeOf, messageOf, signOut } from "./client";
import { useNames } from "./names";
import { OLDER_EVENTS, VIEWER } from "./queries";
import { change, when, type EventRow } from "./shape";

/** Who is signed in, as the server says (asked once, then kept by Apollo's cache): org admin or
 * not, the projects they are a member of and their role in each registry (viewer, member,
 * admin). `error` when it could not be asked. */
export interface Viewer {
  user: { orgAdmin: boolean };
  projects: string[];
  registries: { registry: string; role: string }[];
}

export function useViewer(): { viewer: Viewer | undefined; error: unknown } {
  const { data, error } = useQuery<{ viewer: Viewer }>(VIEWER);
  return { viewer: data?.viewer, error };
}

/** Links to the audit log of each of these registries, comma-separated: what a registry's
 * member reads of the log (the whole log is an org admin's). */
export function RegistryLogLinks({ registries }: { registries: string[] }) {
  return registries.map((name, i) => (
    <span key={name}>
      {i > 0 && ", "}
      <Link to={`/audit?registry=${encodeURIComponent(name)}`}>{name}</Link>
    </span>
  ));
}

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

/** A history: each event's time, type, who made it and what changed (ids read as names).
 * `older`: the subject whose events these are and the cursor past the last of them, when it
 * has older ones, which come a page at a time on asking. */
export function History({
  events,
  empty,
  older,
}: {
  events: EventRow[];
  empty: string;
  older?: { subject: string; after: string | null };
}) {
  return (
    <section aria-label="History">
      <h2>History</h2>
      {!events.length && <Empty>{empty}</Empty>}
      <ol className="history">
        <Events events={events} />
        {older?.after && <OlderEvents subject={older.subject} after={older.after} />}
      </ol>
    </section>
  );
}

export function Events({ events }: { events: EventRow[] }) {
  const names = useNames(events);
  return events.map((e) => (
    <li key={e.id}>
      <time dateTime={e.time}>{when(e.time)}</time> <strong>{e.type}</strong> by {e.actor}
      <span className="muted"> {change(e, names)}</span>
    </li>
  ));
}

/** The next page of a subject's history after `after`, once asked for, and so on. When the
 * page above changes (an action added events), `after` moves with it and this page follows. */
function OlderEvents({ subject, after }: { subject: string; after: string }) {
  const [open, setOpen] = useState(false);
  const { data, error, loading } = useQuery<{
    history: { nodes: EventRow[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }>(OLDER_EVENTS, { variables: { subject, after }, skip: !open });
  if (!open || (loading && !data))
    return (
      <li className="more">
        <button type="button" disabled={open} onClick={() => setOpen(true)}>
          {open ? "Loading older events…" : "Show older events"}
        </button>
      </li>
    );
  if (error || !data)
    return (
      <li className="more">
        <Failure error={error} />
      </li>
    );
  const page = data.history;
  return (
    <>
      <Events events={page.nodes} />
      {page.pageInfo.hasNextPage && page.pageInfo.endCursor && (
        <OlderEvents subject={subject} after={page.pageInfo.endCursor} />
      )}
    </>
  );
}
