// An artifact version: its files (sizes, downloads), metadata, producing run with its config
// and metrics, and the runs that used it.
import { useQuery } from "@apollo/client/react";
import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { fetchFile, MediaSections } from "./Media";
import { VERSION_FILES, VERSION_PAGE, VERSION_STORY } from "./queries";
import { bytes, fileChanges, readable, versionLabel, when, type EventRow } from "./shape";
import { Empty, Failure, Frame, History, Loading, useViewer } from "./ui";

interface RunBrief {
  id: string;
  name: string | null;
  project: string;
  status: string;
}

type Files = {
  nodes: { path: string; size: number; contentType: string; sha256: string }[];
  pageInfo: { hasNextPage: boolean };
};

interface VersionData {
  artifactVersion: {
    id: string;
    name: string;
    project: string;
    artifactName: string;
    index: number;
    type: string;
    state: string;
    description: string;
    metadata: Record<string, unknown>;
    size: number;
    fileCount: number;
    aliases: string[];
    createdAt: string;
    committedAt: string | null;
    files: Files;
    references: { path: string; uri: string; sha256: string | null; size: number | null }[];
    producedBy: (RunBrief & { config: Record<string, unknown>; summary: Record<string, unknown> }) | null;
    consumedBy: { nodes: RunBrief[]; pageInfo: { hasNextPage: boolean } };
  } | null;
}

/** A file of a version, fetched and saved. */
async function download(versionId: string, path: string): Promise<void> {
  const url = URL.createObjectURL(await fetchFile(versionId, path));
  const a = document.createElement("a");
  a.href = url;
  a.download = path.split("/").pop() ?? "file";
  a.click();
  // Some browsers read the URL only after click() returns: let it go a minute later.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** What this version changed from the one before it (vN-1), file by file, by content. */
function Changes({ project, artifact, index, files }: { project: string; artifact: string; index: number; files: Files }) {
  const previous = `${project}/${artifact}:v${index - 1}`;
  const { data, error, loading } = useQuery<{ artifactVersion: { id: string; files: Files } | null }>(VERSION_FILES, {
    variables: { ref: previous },
  });
  const before = data?.artifactVersion;
  const changes = before ? fileChanges(before.files.nodes, files.nodes) : [];
  return (
    <section aria-label="Changes">
      <h2>Changes from v{index - 1}</h2>
      {error && <Failure error={error} />}
      {loading && <Loading what={previous} />}
      {data && !before && <Empty>v{index - 1} is deleted: nothing to compare with.</Empty>}
      {before && !changes.length && <Empty>The same files as v{index - 1}.</Empty>}
      {changes.length > 0 && (
        <table className="grid" aria-label={`Changes from v${index - 1}`}>
          <thead>
            <tr>
              <th>Path</th>
              <th>Change</th>
              <th>Size before</th>
              <th>Size after</th>
            </tr>
          </thead>
          <tbody>
            {changes.map((c) => (
              <tr key={c.path}>
                <td>{c.path}</td>
                <td>{c.change}</td>
                <td>{c.before == null ? "—" : bytes(c.before)}</td>
                <td>{c.after == null ? "—" : bytes(c.after)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {before && (before.files.pageInfo.hasNextPage || files.pageInfo.hasNextPage) && (
        <p className="muted">Of the first 1,000 files of each; `forebear artifact diff` compares all.</p>
      )}
    </section>
  );
}

function Pairs({ values, label }: { values: Record<string, unknown>; label: string }) {
  const entries = Object.entries(values ?? {});
  if (!entries.length) return <Empty>No {label}.</Empty>;
  return (
    <dl className="pairs" aria-label={label}>
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{readable(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

interface StoryData {
  artifactVersion: {
    id: string;
    links: {
      id: string;
      name: string;
      stages: string[];
      aliases: { name: string }[];
      collection: { id: string; registry: string; name: string };
      history: { nodes: EventRow[] };
    }[];
  } | null;
  history: { nodes: EventRow[] };
  impact: {
    collection: { id: string; registry: string; name: string };
    links: { id: string; index: number; semver: string | null; stages: string[]; aliases: { name: string }[] }[];
  }[];
}

/** Where this version is registered (its own links: aliases and stages), the registered
 * versions made from it (its impact: what a change to it would touch), and what happened to
 * it and to them, newest first: who moved what when. */
function Story({ id }: { id: string }) {
  const { data, error } = useQuery<StoryData>(VERSION_STORY, { variables: { id, ref: id } });
  const links = data?.artifactVersion?.links ?? [];
  const byId = new Map<string, EventRow>(); // an event about the version and a link, once
  for (const e of [...(data?.history.nodes ?? []), ...links.flatMap((l) => l.history.nodes)]) byId.set(e.id, e);
  const events = [...byId.values()].sort((a, b) => b.time.localeCompare(a.time));
  if (error) return <Failure error={error} />;
  if (!data) return null;
  return (
    <>
      <section aria-label="Registered as">
        <h2>Registered as</h2>
        {!links.length && <Empty>Not linked into a registry.</Empty>}
        <ul>
          {links.map((l) => (
            <LinkItem key={l.id} collection={l.collection} name={l.name} link={l} />
          ))}
        </ul>
      </section>
      <section aria-label="Made into">
        <h2>Registered versions made from it</h2>
        {!data.impact.length && <Empty>No linked version descends from it.</Empty>}
        <ul>
          {data.impact.flatMap(({ collection, links: made }) =>
            made.map((l) => (
              <LinkItem
                key={l.id}
                collection={collection}
                name={`${collection.registry}/${collection.name}:${versionLabel(l)}`}
                link={l}
              />
            )),
          )}
        </ul>
      </section>
      <History events={events} empty="Nothing happened to it yet." />
    </>
  );
}

/** A linked version in a list: its name, leading to its model's page, and its aliases and
 * stages. */
function LinkItem(props: {
  collection: { registry: string; name: string };
  name: string;
  link: { aliases: { name: string }[]; stages: string[] };
}) {
  const { collection, link } = props;
  return (
    <li>
      <Link to={`/registries/${encodeURIComponent(collection.registry)}/${encodeURIComponent(collection.name)}`}>{props.name}</Link>{" "}
      {link.aliases.map((a) => (
        <span key={a.name} className="alias">
          {a.name}
        </span>
      ))}{" "}
      {link.stages.map((stage) => (
        <span key={stage} className="stage">
          {stage}
        </span>
      ))}
    </li>
  );
}

export function Version() {
  const { "*": ref = "" } = useParams();
  const { data, error, loading } = useQuery<VersionData>(VERSION_PAGE, { variables: { ref } });
  const [failed, setFailed] = useState<unknown>(null);
  const v = data?.artifactVersion;
  // A version linked into a registry is read by the registry's viewers; its runs only by the
  // project's members: to them, no run shown is not no run.
  const { viewer: who } = useViewer();
  const outsider = who !== undefined && v !== undefined && v !== null && !who.user.orgAdmin && !who.projects.includes(v.project);
  const runsHidden = v
    ? `Its runs are for the members of project ${v.project}: one of them or an org admin can add you (setProjectMember).`
    : "";
  return (
    <Frame title={v ? v.name : ref}>
      {error && <Failure error={error} />}
      {loading && !data && <Loading what="the version" />}
      {data && !v && <Empty>No version {ref}: check the project, artifact and alias or vN.</Empty>}
      {v && (
        <>
          <p>
            <span className="tag">{v.type}</span> <span className="badge">{v.state}</span>{" "}
            {v.aliases.map((a) => (
              <span key={a} className="alias">
                {a}
              </span>
            ))}{" "}
            {v.fileCount} {v.fileCount === 1 ? "file" : "files"}, {bytes(v.size)}, committed {v.committedAt ? when(v.committedAt) : "—"} ·{" "}
            <Link to={`/lineage?ref=${encodeURIComponent(v.id)}`}>lineage</Link>
          </p>
          {v.description && <p>{v.description}</p>}
          <h2>Files</h2>
          {failed != null && <Failure error={failed} />}
          <table className="grid" aria-label="Files">
            <thead>
              <tr>
                <th>Path</th>
                <th>Size</th>
                <th>Type</th>
              </tr>
            </thead>
            <tbody>
              {v.files.nodes.map((f) => (
                <tr key={f.path}>
                  <td>
                    <button type="button" className="link" onClick={() => download(v.id, f.path).catch(setFailed)}>
                      {f.path}
                    </button>
                  </td>
                  <td>{bytes(f.size)}</td>
                  <td>{f.contentType}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {v.files.pageInfo.hasNextPage && <p className="muted">The first 1,000 files; the SDK and CLI fetch all.</p>}
          {v.index > 0 && !outsider && who && <Changes project={v.project} artifact={v.artifactName} index={v.index} files={v.files} />}
          <MediaSections versionId={v.id} files={v.files.nodes} perKey={v.type === "run-media"} />
          {v.references.length > 0 && (
            <>
              <h2>References</h2>
              <p className="muted">Data kept where it is: the registry holds where, not the bytes.</p>
              <table className="grid" aria-label="References">
                <thead>
                  <tr>
                    <th>Path</th>
                    <th>Where</th>
                    <th>Size</th>
                    <th>sha256</th>
                  </tr>
                </thead>
                <tbody>
                  {v.references.map((r) => (
                    <tr key={r.path}>
                      <td>{r.path}</td>
                      <td>
                        <code>{r.uri}</code>
                      </td>
                      <td>{r.size == null ? "—" : bytes(r.size)}</td>
                      <td>{r.sha256 ? <code title={r.sha256}>{r.sha256.slice(0, 12)}</code> : "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          <h2>Metadata</h2>
          <Pairs values={v.metadata} label="metadata" />
          <h2>Produced by</h2>
          {v.producedBy ? (
            <>
              <p>
                <Link to={`/projects/${v.producedBy.project}?run=${v.producedBy.id}`}>{v.producedBy.name || v.producedBy.id}</Link>{" "}
                <span className="badge">{v.producedBy.status}</span>
              </p>
              <h3>Config</h3>
              <Pairs values={v.producedBy.config} label="config" />
              <h3>Summary metrics</h3>
              <Pairs values={v.producedBy.summary} label="summary metrics" />
            </>
          ) : (
            <Empty>{outsider ? runsHidden : "No run recorded making it."}</Empty>
          )}
          <h2>Used by</h2>
          {!v.consumedBy.nodes.length && <Empty>{outsider ? runsHidden : "No run used it yet."}</Empty>}
          <ul>
            {v.consumedBy.nodes.map((r) => (
              <li key={r.id}>
                <Link to={`/projects/${r.project}?run=${r.id}`}>{r.name || r.id}</Link> <span className="badge">{r.status}</span>
              </li>
            ))}
          </ul>
          {v.consumedBy.pageInfo.hasNextPage && (
            <p className="muted">
              The first 100 runs that used it: its{" "}
              <Link to={`/lineage?ref=${encodeURIComponent(v.id)}&dir=DOWNSTREAM&depth=1`}>downstream lineage</Link> shows
              every one.
            </p>
          )}
          <Story id={v.id} />
        </>
      )}
    </Frame>
  );
}
