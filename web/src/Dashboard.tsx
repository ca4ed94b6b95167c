// Home: each registry with its first collections (latest version, what holds each stage) and
// the newest registry changes. Models dashboard: every collection of a registry with its latest
// version, aliases, the version holding each stage, and the last change; search, tag and stage
// filters in the URL.
import { useQuery } from "@apollo/client/react";
import { useEffect, useMemo, useState } from "react";
import { Link, Navigate, useParams, useSearchParams } from "react-router-dom";
import {
  DASHBOARD,
  RECENT_CHANGES,
  recentChangesIn,
  REGISTRIES,
  REGISTRY_EVENTS,
  REGISTRY_PREVIEW,
} from "./queries";
import { appendPage, type EventRow, latest, type Link as LinkRow, stageHolders, versionLabel, when } from "./shape";
import { Empty, Events, Failure, Frame, Loading, RegistryLogLinks, useViewer } from "./ui";

interface Registry {
  id: string;
  name: string;
  description: string;
  stages: string[];
}

interface CollectionNode {
  id: string;
  name: string;
  description: string;
  tags: string[];
  deprecated: boolean;
  links: { nodes: LinkRow[] };
  history: { nodes: { id: string; type: string; actor: string; time: string }[] };
}

export function Registries() {
  const { data, error, loading } = useQuery<{ registries: Registry[] }>(REGISTRIES);
  const { viewer } = useViewer();
  const registries = useMemo(() => data?.registries ?? [], [data]);
  const names = useMemo(() => registries.map((r) => r.name), [registries]);
  if (registries.length === 1) return <Navigate to={`/registries/${registries[0].name}`} replace />;
  return (
    <Frame title="Registries">
      {error && <Failure error={error} />}
      {loading && !data && <Loading what="registries" />}
      {data && !registries.length && viewer && (
        <Empty>
          {viewer.user.orgAdmin
            ? "No registry yet: an org admin makes one with createRegistry (GraphiQL, or the SDK)."
            : "You hold a role in no registry: an org admin or an admin of a registry adds you (setRegistryMember)."}
        </Empty>
      )}
      <ul className="cards">
        {registries.map((r) => (
          <RegistryCard key={r.id} registry={r} />
        ))}
      </ul>
      {registries.length > 0 && <RecentChanges registries={names} />}
    </Frame>
  );
}

/** A registry on the home page: its first collections, each with its latest version and the
 * versions its stages hold, and a way to all of them. */
function RegistryCard({ registry }: { registry: Registry }) {
  const { data, error } = useQuery<{
    collections: { nodes: Pick<CollectionNode, "id" | "name" | "deprecated" | "links">[]; pageInfo: { hasNextPage: boolean } };
  }>(REGISTRY_PREVIEW, { variables: { registry: registry.name } });
  const collections = data?.collections.nodes ?? [];
  return (
    <li aria-label={`Registry ${registry.name}`}>
      <h2>
        <Link to={`/registries/${registry.name}`}>{registry.name}</Link>
      </h2>
      {registry.description && <p className="muted">{registry.description}</p>}
      {error && <Failure error={error} />}
      {data && !collections.length && <p className="muted">Nothing linked into it yet.</p>}
      <ul className="preview">
        {collections.map((c) => {
          const newest = latest(c.links.nodes);
          const held = Object.entries(stageHolders(registry.stages, c.links.nodes)).filter(([, v]) => v);
          return (
            <li key={c.id}>
              <Link to={`/registries/${registry.name}/${c.name}`}>{c.name}</Link>
              {c.deprecated && <span className="badge">deprecated</span>}
              <span className="muted">
                {newest ? ` latest ${versionLabel(newest)}` : " no live version"}
                {held.map(([stage, v]) => ` · ${stage} ${v}`).join("")}
              </span>
            </li>
          );
        })}
      </ul>
      {data?.collections.pageInfo.hasNextPage && (
        <Link to={`/registries/${registry.name}`}>More in {registry.name} →</Link>
      )}
    </li>
  );
}

/** The newest changes to what registries hold, that the reader may see: the org's for an org
 * admin, those of each registry a member reads otherwise (`registries`: never empty). */
function RecentChanges({ registries }: { registries: string[] }) {
  const { viewer, error: viewerError } = useViewer();
  const orgAdmin = viewer?.user.orgAdmin;
  const query = useMemo(() => (orgAdmin ? RECENT_CHANGES : recentChangesIn(registries)), [orgAdmin, registries]);
  const asked: Record<string, unknown> = { types: REGISTRY_EVENTS };
  if (!orgAdmin) registries.forEach((name, i) => (asked[`r${i}`] = name));
  const { data, error } = useQuery<Record<string, { nodes: (EventRow & { seq: number | string })[] }>>(query, {
    variables: asked,
    skip: orgAdmin === undefined,
  });
  const events = Object.values(data ?? {})
    .flatMap((log) => log.nodes)
    .filter((e) => !e.withheld)
    .sort((a, b) => Number(b.seq) - Number(a.seq))
    .slice(0, 10);
  return (
    <section aria-label="Recent changes">
      <h2>Recent changes</h2>
      {(error ?? viewerError) != null && <Failure error={error ?? viewerError} />}
      {data && !events.length && (
        <Empty>No version linked, moved or staged yet.</Empty>
      )}
      <ol className="history">
        <Events events={events} />
      </ol>
      {orgAdmin && <Link to="/audit">The whole audit log →</Link>}
      {orgAdmin === false && (
        <p>
          Audit log of <RegistryLogLinks registries={registries} />
        </p>
      )}
    </section>
  );
}

export function Dashboard() {
  const { registry = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const search = params.get("search") ?? "";
  const asked = useDebounced(search, 250); // one question when typing stops, not per key
  const tag = params.get("tag") ?? "";
  const stage = params.get("stage") ?? "";
  const { data: fresh, previousData, error, loading, fetchMore } = useQuery<{
    registry: Registry | null;
    collections: { nodes: CollectionNode[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }>(DASHBOARD, { variables: { registry, search: asked || null, tag: tag || null, stage: stage || null } });
  const data = fresh ?? previousData; // while a new filter loads, the last answer stays

  const stages = data?.registry?.stages ?? [];
  const rows = (data?.collections.nodes ?? []).map((c) => ({
    ...c,
    latest: latest(c.links.nodes),
    holders: stageHolders(stages, c.links.nodes),
    last: c.history.nodes[0],
  }));
  const shown = rows; // filtered by the server, across every page

  function set(name: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  }

  return (
    <Frame title={`Models in ${registry}`}>
      {data?.registry?.description && <p className="muted">{data.registry.description}</p>}
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <input
          aria-label="Search by name"
          placeholder="Search by name"
          value={search}
          onChange={(e) => set("search", e.target.value)}
        />
        <input aria-label="Tag" placeholder="Tag" value={tag} onChange={(e) => set("tag", e.target.value)} />
        <select aria-label="Stage" value={stage} onChange={(e) => set("stage", e.target.value)}>
          <option value="">Any stage</option>
          {stages.map((s) => (
            <option key={s} value={s}>
              In {s}
            </option>
          ))}
        </select>
      </form>
      {error && <Failure error={error} />}
      {loading && !data && <Loading what="models" />}
      {data && data.registry === null && <Empty>No registry {registry}.</Empty>}
      {data && data.registry && !shown.length && (
        <Empty>No model matches{search || tag || stage ? " these filters" : ": link a version into this registry"}.</Empty>
      )}
      {shown.length > 0 && (
        <table className="grid">
          <thead>
            <tr>
              <th>Model</th>
              <th>Latest</th>
              <th>Aliases</th>
              {stages.map((s) => (
                <th key={s}>{s}</th>
              ))}
              <th>Last change</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => (
              <tr key={row.id} className={row.deprecated ? "deprecated" : undefined}>
                <td>
                  <Link to={`/registries/${registry}/${row.name}`}>{row.name}</Link>
                  {row.deprecated && <span className="badge">deprecated</span>}
                  {row.tags.map((t) => (
                    <span key={t} className="tag">
                      {t}
                    </span>
                  ))}
                </td>
                <td>{row.latest ? versionLabel(row.latest) : "—"}</td>
                <td>
                  {row.links.nodes.flatMap((l) =>
                    l.aliases.map((a) => (
                      <span key={`${l.id}-${a.name}`} className="alias">
                        {a.name} → v{l.index}
                      </span>
                    )),
                  )}
                </td>
                {stages.map((s) => (
                  <td key={s}>{row.holders[s] || "—"}</td>
                ))}
                <td>{row.last ? `${row.last.type} by ${row.last.actor}, ${when(row.last.time)}` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data?.collections.pageInfo.hasNextPage && (
        <button
          type="button"
          onClick={() =>
            fetchMore({
              variables: { after: data.collections.pageInfo.endCursor },
              updateQuery: appendPage("collections"),
            })
          }
        >
          More models
        </button>
      )}
    </Frame>
  );
}

/** `value`, once it has stayed the same for `ms` milliseconds. */
function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
