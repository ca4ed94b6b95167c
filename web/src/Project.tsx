// The projects one may read; a project: its runs with status, config and summary metrics, what
// each logged and used, and the metric histories of the runs chosen, compared as charts (as W&B
// users do before linking).
import { useApolloClient, useQuery } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { Chart } from "./Chart";
import { PROJECT_PAGE, PROJECTS, RUN_METRICS } from "./queries";
import { alignSeries, appendPage, metricKeys, readable, when } from "./shape";
import { Empty, Failure, Frame, Loading } from "./ui";

interface RunRow {
  id: string;
  name: string | null;
  status: string;
  config: Record<string, unknown>;
  summary: Record<string, unknown>;
  tags: string[];
  jobType: string | null;
  group: string | null;
  notes: string | null;
  actor: string;
  startedAt: string;
  endedAt: string | null;
  outputs: { id: string; name: string; type: string }[];
  inputs: { id: string; name: string; type: string }[];
}

interface ProjectsData {
  projects: {
    nodes: { id: string; name: string; description: string; createdAt: string }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

/** The projects the caller may read (an org admin: all of them), by name, each to its runs. */
export function Projects() {
  const { data, error, loading, fetchMore } = useQuery<ProjectsData>(PROJECTS);
  const projects = data?.projects.nodes ?? [];
  return (
    <Frame title="Projects">
      {error && <Failure error={error} />}
      {loading && !data && <Loading what="projects" />}
      {data && !projects.length && (
        <Empty>
          No project you may read: a run makes its project, as forebear.init(project="fraud") does, and a project's
          member or an org admin adds you to theirs (setProjectMember).
        </Empty>
      )}
      {projects.length > 0 && (
        <table className="grid" aria-label="Projects">
          <thead>
            <tr>
              <th>Project</th>
              <th>Description</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {projects.map((p) => (
              <tr key={p.id}>
                <td>
                  <Link to={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link>
                </td>
                <td className="muted">{p.description || "—"}</td>
                <td>{when(p.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data?.projects.pageInfo.hasNextPage && (
        <button
          type="button"
          onClick={() =>
            fetchMore({
              variables: { after: data.projects.pageInfo.endCursor },
              updateQuery: appendPage("projects"),
            })
          }
        >
          More projects
        </button>
      )}
    </Frame>
  );
}

interface ProjectData {
  project: { id: string; name: string; description: string } | null;
  runs: { nodes: RunRow[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

type Series = { key: string; points: { step: number; value: number | string }[] }[];

// A run's first few config or summary values, in a table cell, numbers first (its metrics
// before its logged files): numbers to 4 digits, text quoted, logged media by kind and file.
const brief = (values: Record<string, unknown>) =>
  Object.entries(values ?? {})
    .sort(([, a], [, b]) => Number(typeof b === "number") - Number(typeof a === "number"))
    .slice(0, 4)
    .map(([k, v]) => {
      if (typeof v === "number") return `${k}=${Number(v.toPrecision(4))}`;
      return `${k}=${typeof v === "string" ? JSON.stringify(v) : readable(v)}`;
    })
    .join(" ");

// What kind of run it is: its job type, group and tags, as W&B shows them beside its name.
const kinds = (r: RunRow) =>
  [r.jobType, r.group && `group ${r.group}`, ...r.tags.map((t) => `#${t}`)].filter(Boolean).join(" · ");

const clip = (text: string, most: number) => (text.length > most ? `${text.slice(0, most - 1)}…` : text);

export function Project() {
  const { name = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const chosen = params.getAll("run");
  const client = useApolloClient();
  const { data, error, loading } = useQuery<ProjectData>(PROJECT_PAGE, { variables: { name } });
  const [series, setSeries] = useState<Record<string, Series>>({});
  const [failed, setFailed] = useState<unknown>(null);
  const runs = data?.runs.nodes ?? [];
  const picked = runs.filter((r) => chosen.includes(r.id));
  const keys = metricKeys(picked.map((r) => r.summary));

  useEffect(() => {
    let current = true;
    Promise.all(
      picked.map((r) =>
        client
          .query({ query: RUN_METRICS, variables: { id: r.id, keys } })
          .then(({ data }) => [r.id, (data as { run: { metrics: Series } }).run.metrics] as const),
      ),
    )
      .then((found) => current && setSeries(Object.fromEntries(found)))
      .catch((caught) => current && setFailed(caught));
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [chosen.join(","), keys.join(","), runs.length]);

  function toggle(id: string) {
    const next = new URLSearchParams(params);
    next.delete("run");
    const now = chosen.includes(id) ? chosen.filter((c) => c !== id) : [...chosen, id];
    now.forEach((c) => next.append("run", c));
    setParams(next, { replace: true });
  }

  return (
    <Frame title={`Project ${name}`}>
      {error && <Failure error={error} />}
      {failed != null && <Failure error={failed} />}
      {loading && !data && <Loading what="the project" />}
      {data && !data.project && <Empty>No project {name}, or you are not one of its members.</Empty>}
      {data?.project?.description && <p>{data.project.description}</p>}
      {data?.project && !runs.length && <Empty>No run yet: forebear.init(project="{name}") starts one.</Empty>}
      {runs.length > 0 && (
        <table className="grid" aria-label="Runs">
          <thead>
            <tr>
              <th>Compare</th>
              <th>Run</th>
              <th>Status</th>
              <th>Config</th>
              <th>Summary</th>
              <th>Used</th>
              <th>Logged</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Compare ${r.name || r.id}`}
                    checked={chosen.includes(r.id)}
                    onChange={() => toggle(r.id)}
                  />
                </td>
                <td>
                  {r.name || r.id} <span className="muted">by {r.actor}</span>
                  {kinds(r) && <div className="muted">{kinds(r)}</div>}
                  {r.notes && <div className="notes" title={r.notes}>{clip(r.notes, 140)}</div>}
                </td>
                <td>
                  <span className="badge">{r.status}</span>
                </td>
                <td className="muted">{brief(r.config)}</td>
                <td>{brief(r.summary)}</td>
                <td>
                  {r.inputs.map((v) => (
                    <div key={v.id}>
                      <Link to={`/versions/${v.id}`}>{v.name}</Link>
                    </div>
                  ))}
                </td>
                <td>
                  {r.outputs.map((v) => (
                    <div key={v.id}>
                      <Link to={`/versions/${v.id}`}>{v.name}</Link>
                    </div>
                  ))}
                </td>
                <td>{when(r.startedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {picked.length > 0 && (
        <section aria-label="Metrics">
          <h2>Metrics of {picked.map((r) => r.name || r.id).join(", ")}</h2>
          {!keys.length && <Empty>These runs logged no metric.</Empty>}
          <div className="charts">
            {keys.map((key) => {
              const points = picked.map((r) => series[r.id]?.find((s) => s.key === key)?.points ?? []);
              const odd = picked.flatMap((r, i) =>
                points[i]
                  .filter((p) => typeof p.value === "string")
                  .map((p) => `${r.name || r.id}: ${p.value} at step ${p.step}`),
              );
              // every point NaN or infinite (a loss that diverged at once): no empty axes
              const loaded = picked.every((r) => series[r.id] !== undefined);
              const blank = loaded && !points.some((ps) => ps.some((p) => typeof p.value === "number"));
              return (
                <figure key={key} aria-label={blank ? key : undefined}>
                  {blank ? (
                    <h3>{key}</h3>
                  ) : (
                    <Chart title={key} names={picked.map((r) => r.name || r.id)} data={alignSeries(points)} />
                  )}
                  {odd.length > 0 && (
                    <figcaption className="muted">
                      {blank ? "Nothing to draw" : "Not drawn"}: {odd.join("; ")}
                    </figcaption>
                  )}
                </figure>
              );
            })}
          </div>
        </section>
      )}
    </Frame>
  );
}
