// Model page: a collection's description and tags, its versions (aliases, stages, semver,
// producing run), the history of every registry action, and the actions the caller's role
// allows; the server decides, and its refusals are shown as it words them.
import { useMutation, useQuery } from "@apollo/client/react";
import { Chart } from "./Chart";
import type { DocumentNode } from "graphql";
import { Fragment, useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import {
  ASSIGN_STAGE,
  COMPARE,
  DEPRECATE,
  LINK_VERSION,
  DEREGISTER,
  MODEL,
  REMOVE_ALIAS,
  RESTORE,
  SET_ALIAS,
  SET_SEMVER,
  UNASSIGN_STAGE,
  UPDATE_COLLECTION,
} from "./queries";
import { alignSeries, versionLabel, versionRows, when, type Link as LinkRow } from "./shape";
import { Empty, Failure, Frame, History, Loading, useViewer } from "./ui";

interface VersionLink extends LinkRow {
  versionId: string;
  version: {
    id: string;
    name: string;
    project: string;
    artifactName: string;
    createdAt: string;
    producedBy: { id: string; name: string | null; project: string } | null;
  };
}

interface ModelData {
  registry: { id: string; name: string; stages: string[] } | null;
  collection: {
    id: string;
    name: string;
    registry: string;
    description: string;
    tags: string[];
    deprecated: boolean;
    deprecatedAt: string | null;
    links: { nodes: VersionLink[]; pageInfo: { hasNextPage: boolean } };
    named: { nodes: VersionLink[] };
    history: {
      nodes: { id: string; type: string; actor: string; time: string; before: unknown; after: unknown; withheld: boolean }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  } | null;
}

/** One mutation with its own error line: the server's refusal, as it is. */
/** Whether a refusal lists what depends on the target (it may be repeated, confirmed). */
function hasDependents(error: unknown): boolean {
  if (error && typeof error === "object" && "errors" in error) {
    const errors = (error as { errors: { extensions?: { dependents?: unknown } }[] }).errors;
    return Boolean(errors[0]?.extensions?.dependents);
  }
  return false;
}

// Versions shown at first, and how many more each "older versions" asks for; the server pages
// up to 1,000 at a time.
const VERSIONS_PAGE = 100;
const MOST_VERSIONS = 1000;

/** What a registry's viewer is told once, above the actions they may try: that changing the
 * model needs the member role, and who grants it (the server refuses each change alike). */
function RoleNote({ registry }: { registry: string }) {
  const { viewer } = useViewer();
  const roles = viewer?.registries.filter((r) => r.registry === registry).map((r) => r.role) ?? [];
  if (!viewer || viewer.user.orgAdmin || roles.some((r) => r.toLowerCase() !== "viewer")) return null;
  return (
    <p className="note" role="note">
      You {roles.length ? `are a viewer of ${registry}` : `hold no role in ${registry}`}: changing its models needs the member role,
      which an org admin or an admin of {registry} grants.
    </p>
  );
}

/** A model's description and tags, and a form to change them (as the caller's role allows:
 * the server decides). Tags are typed comma-separated. */
function About(props: { registry: string; name: string; description: string; tags: string[]; deprecatedAt: string | null }) {
  const { registry, name, description, tags, deprecatedAt } = props;
  const update = useAction(UPDATE_COLLECTION);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(description);
  const [typed, setTyped] = useState(tags.join(", "));
  function open() {
    setText(description);
    setTyped(tags.join(", "));
    setEditing(true);
  }
  async function save(e: FormEvent) {
    e.preventDefault();
    const wanted = [...new Set(typed.split(",").map((t) => t.trim()).filter(Boolean))];
    if (await update.act({ registry, collection: name, description: text, tags: wanted })) setEditing(false);
  }
  return (
    <section aria-label="About">
      {deprecatedAt !== null && <p className="badge">deprecated {deprecatedAt ? when(deprecatedAt) : ""}</p>}
      {editing ? (
        <form aria-label="Edit the description and tags" onSubmit={save} className="about">
          <label htmlFor="description">Description</label>
          <textarea id="description" rows={4} value={text} onChange={(e) => setText(e.target.value)} />
          <label htmlFor="tags">Tags (comma-separated)</label>
          <input id="tags" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
          <span>
            <button type="submit" disabled={update.busy}>
              Save
            </button>{" "}
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </span>
        </form>
      ) : (
        <>
          <p className="description">{description || <span className="muted">No description.</span>}</p>
          <p>
            {tags.map((t) => (
              <span key={t} className="tag">
                {t}
              </span>
            ))}
            <button type="button" onClick={open}>
              Edit description and tags
            </button>
          </p>
        </>
      )}
      {update.error != null && <Failure error={update.error} />}
    </section>
  );
}

function useAction(mutation: DocumentNode) {
  const [run, state] = useMutation(mutation, { refetchQueries: [MODEL], awaitRefetchQueries: true });
  const [error, setError] = useState<unknown>(null);
  async function act(variables: Record<string, unknown>) {
    setError(null);
    try {
      await run({ variables });
      return true;
    } catch (caught) {
      setError(caught);
      return false;
    }
  }
  return { act, error, busy: state.loading };
}

export function Model() {
  const { registry = "", name = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const compared = params.getAll("compare");
  // More versions are a larger first page, so that an action's refetch keeps them shown; how
  // many is this model's own (another model's page starts again at one page).
  const model = `${registry}/${name}`;
  const [more, setMore] = useState({ model, first: VERSIONS_PAGE });
  const first = more.model === model ? more.first : VERSIONS_PAGE;
  const { data, previousData, error, loading } = useQuery<ModelData>(MODEL, { variables: { registry, name, first } });
  // while more versions load, the ones shown stay (not while another model loads)
  const before = previousData?.collection;
  const shown = data ?? (before && `${before.registry}/${before.name}` === model ? previousData : undefined);
  function toggle(id: string) {
    const next = new URLSearchParams(params);
    next.delete("compare");
    const now = compared.includes(id) ? compared.filter((c) => c !== id) : [...compared, id];
    now.forEach((c) => next.append("compare", c));
    setParams(next, { replace: true });
  }
  const collection = shown?.collection;
  const stages = shown?.registry?.stages ?? [];
  return (
    <Frame title={collection ? `${registry}/${collection.name}` : `${registry}/${name}`}>
      {error && <Failure error={error} />}
      {loading && !shown && <Loading what="the model" />}
      {shown && !collection && <Empty>No model {name} in {registry}.</Empty>}
      {collection && (
        <>
          <About
            registry={registry}
            name={collection.name}
            description={collection.description}
            tags={collection.tags}
            deprecatedAt={collection.deprecated ? (collection.deprecatedAt ?? "") : null}
          />
          <RoleNote registry={registry} />
          <section aria-label="Versions">
            <h2>Versions</h2>
            {!collection.links.nodes.length && <Empty>No version linked yet.</Empty>}
            <table className="grid">
              <thead>
                <tr>
                  <th>Compare</th>
                  <th>Version</th>
                  <th>Aliases</th>
                  <th>Stages</th>
                  <th>Artifact</th>
                  <th>Produced by</th>
                  <th>Linked</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {versionRows(collection.links.nodes, collection.named.nodes).map(({ link, gapBefore }) => (
                  <Fragment key={link.id}>
                    {gapBefore && (
                      <tr className="gap">
                        <td colSpan={8}>⋯ older versions not shown</td>
                      </tr>
                    )}
                    <VersionRow
                      compared={compared.includes(link.id)}
                      onCompare={() => toggle(link.id)}
                      link={link}
                      stages={stages}
                      registry={registry}
                      collection={collection.name}
                    />
                  </Fragment>
                ))}
              </tbody>
            </table>
            {collection.links.pageInfo.hasNextPage &&
              (first < MOST_VERSIONS ? (
                <button type="button" disabled={loading} onClick={() => setMore({ model, first: Math.min(first + VERSIONS_PAGE, MOST_VERSIONS) })}>
                  {loading ? "Loading older versions…" : "Show older versions"}
                </button>
              ) : (
                <p className="muted">
                  The newest {MOST_VERSIONS} versions are shown, and older ones an alias or a stage names: the rest are listed by{" "}
                  <code>forebear show {registry}/{collection.name}</code> or the API.
                </p>
              ))}
          </section>
          {compared.length > 0 && <Comparison links={compared} />}
          <LinkForm registry={registry} name={collection.name} />
          <CollectionActions registry={registry} name={collection.name} deprecated={collection.deprecated} />
          <History
            events={collection.history.nodes}
            empty="Nothing happened yet."
            older={{ subject: collection.id, after: collection.history.pageInfo.hasNextPage ? collection.history.pageInfo.endCursor : null }}
          />
        </>
      )}
    </Frame>
  );
}

function VersionRow(props: {
  compared: boolean;
  onCompare: () => void;
  link: VersionLink;
  stages: string[];
  registry: string;
  collection: string;
}) {
  const { link, stages, registry, collection } = props;
  const alias = useAction(SET_ALIAS);
  const removeAlias = useAction(REMOVE_ALIAS);
  const assign = useAction(ASSIGN_STAGE);
  const unassign = useAction(UNASSIGN_STAGE);
  const semver = useAction(SET_SEMVER);
  const deregister = useAction(DEREGISTER);
  const [aliasName, setAliasName] = useState("");
  const [stage, setStage] = useState("");
  const [semverValue, setSemverValue] = useState("");
  const label = versionLabel(link);
  const errors = [alias, removeAlias, assign, unassign, semver, deregister].map((a) => a.error).filter(Boolean);

  function submit(event: FormEvent, work: () => Promise<boolean>, reset: () => void) {
    event.preventDefault();
    void work().then((ok) => ok && reset());
  }

  return (
    <tr className={link.deregistered ? "deregistered" : undefined}>
      <td>
        <input type="checkbox" aria-label={`Compare ${label}`} checked={props.compared} onChange={props.onCompare} />
      </td>
      <td>
        {label}
        {link.deregistered && <span className="badge">deregistered</span>}
      </td>
      <td>
        {link.aliases.map((a) => (
          <span key={a.name} className="alias">
            {a.name}
            {a.name !== "latest" && ( // kept by the server on the newest version: not removable
              <button
                type="button"
                className="quiet"
                aria-label={`Remove alias ${a.name} from ${label}`}
                onClick={() => removeAlias.act({ registry, collection, alias: a.name })}
              >
                ×
              </button>
            )}
          </span>
        ))}
      </td>
      <td>
        {link.stages.map((s) => (
          <span key={s} className="stage">
            {s}
            <button
              type="button"
              className="quiet"
              aria-label={`Unassign ${s} from ${label}`}
              onClick={() => unassign.act({ link: link.id, stage: s })}
            >
              ×
            </button>
          </span>
        ))}
      </td>
      <td>
        <Link to={`/versions/${link.version.id}`}>{link.version.name}</Link>{" "}
        <Link to={`/lineage?ref=${encodeURIComponent(link.version.id)}`} className="muted">
          lineage
        </Link>
      </td>
      <td>
        {link.version.producedBy ? (
          <Link to={`/projects/${link.version.producedBy.project}?run=${link.version.producedBy.id}`}>
            {link.version.producedBy.name || link.version.producedBy.id}
          </Link>
        ) : (
          "—"
        )}
      </td>
      <td>
        {when(link.linkedAt)}
        {link.linkedBy && <span className="muted"> by {link.linkedBy}</span>}
      </td>
      <td className="actions">
        {!link.deregistered && (
          <>
            <form aria-label={`Set an alias on ${label}`} onSubmit={(e) => submit(e, () => alias.act({ link: link.id, alias: aliasName }), () => setAliasName(""))}>
              <input aria-label={`Alias for ${label}`} placeholder="alias" value={aliasName} onChange={(e) => setAliasName(e.target.value)} required />
              <button type="submit" disabled={alias.busy}>Set alias</button>
            </form>
            <form aria-label={`Assign a stage to ${label}`} onSubmit={(e) => submit(e, () => assign.act({ link: link.id, stage }), () => setStage(""))}>
              <select aria-label={`Stage for ${label}`} value={stage} onChange={(e) => setStage(e.target.value)} required>
                <option value="">stage…</option>
                {stages.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
              <button type="submit" disabled={assign.busy}>Assign</button>
            </form>
            <form aria-label={`Set the semver of ${label}`} onSubmit={(e) => submit(e, () => semver.act({ link: link.id, semver: semverValue }), () => setSemverValue(""))}>
              <input aria-label={`Semver for ${label}`} placeholder="1.0.0" value={semverValue} onChange={(e) => setSemverValue(e.target.value)} required />
              <button type="submit" disabled={semver.busy}>Set semver</button>
            </form>
            <button type="button" className="danger" onClick={() => deregister.act({ link: link.id })}>
              Deregister
            </button>
            {hasDependents(deregister.error) && (
              <button type="button" className="danger" onClick={() => deregister.act({ link: link.id, confirm: true })}>
                Deregister anyway
              </button>
            )}
          </>
        )}
        {errors.map((e, i) => (
          <Failure key={i} error={e} />
        ))}
      </td>
    </tr>
  );
}

function CollectionActions({ registry, name, deprecated }: { registry: string; name: string; deprecated: boolean }) {
  const deprecate = useAction(DEPRECATE);
  const restore = useAction(RESTORE);
  const [confirm, setConfirm] = useState("");
  return (
    <section aria-label="Model actions">
      {deprecated ? (
        <button type="button" onClick={() => restore.act({ registry, collection: name })}>
          Restore {name}
        </button>
      ) : (
        <form
          aria-label={`Deprecate ${name}`}
          onSubmit={(e) => {
            e.preventDefault();
            void deprecate.act({ registry, collection: name, confirm });
          }}
        >
          <label htmlFor="confirm">Type {name} to deprecate it</label>
          <input id="confirm" value={confirm} onChange={(e) => setConfirm(e.target.value)} autoComplete="off" />
          <button type="submit" className="danger" disabled={confirm !== name || deprecate.busy}>
            Deprecate
          </button>
        </form>
      )}
      {deprecate.error != null && <Failure error={deprecate.error} />}
      {hasDependents(deprecate.error) && (
        <button
          type="button"
          className="danger"
          onClick={() => deprecate.act({ registry, collection: name, confirm, dependents: true })}
        >
          Deprecate anyway
        </button>
      )}
      {restore.error != null && <Failure error={restore.error} />}
    </section>
  );
}

interface Compared {
  compare: {
    differingConfigKeys: string[];
    summaryKeys: string[];
    versions: {
      link: { id: string; index: number; semver: string | null };
      run: { id: string; name: string | null; config: Record<string, unknown>; summary: Record<string, unknown> } | null;
      metrics: { key: string; points: { step: number; value: number | string }[] }[];
    }[];
  };
}

/** The producing runs of the chosen versions side by side: config that differs, summaries,
 * and every metric's history as one chart per metric. */
function Comparison({ links }: { links: string[] }) {
  const { data, error, loading } = useQuery<Compared>(COMPARE, { variables: { links } });
  const versions = data?.compare.versions ?? [];
  const names = versions.map((v) => versionLabel(v.link));
  const keys = [...new Set(versions.flatMap((v) => v.metrics.map((m) => m.key)))].sort();
  return (
    <section aria-label="Comparison">
      <h2>Compared: {names.join(", ")}</h2>
      {error && <Failure error={error} />}
      {loading && !data && <Loading what="the comparison" />}
      {data && (
        <table className="grid" aria-label="Runs compared">
          <thead>
            <tr>
              <th />
              {versions.map((v) => (
                <th key={v.link.id}>{versionLabel(v.link)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <th>run</th>
              {versions.map((v) => (
                <td key={v.link.id}>{v.run ? v.run.name || v.run.id : "—"}</td>
              ))}
            </tr>
            {data.compare.differingConfigKeys.map((k) => (
              <tr key={`config-${k}`}>
                <th>config.{k}</th>
                {versions.map((v) => (
                  <td key={v.link.id}>{JSON.stringify(v.run?.config?.[k] ?? null)}</td>
                ))}
              </tr>
            ))}
            {data.compare.summaryKeys.map((k) => (
              <tr key={`summary-${k}`}>
                <th>{k}</th>
                {versions.map((v) => (
                  <td key={v.link.id}>{JSON.stringify(v.run?.summary?.[k] ?? null)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="charts">
        {keys.map((key) => (
          <Chart
            key={key}
            title={key}
            names={names}
            data={alignSeries(versions.map((v) => v.metrics.find((m) => m.key === key)?.points ?? []))}
          />
        ))}
      </div>
    </section>
  );
}

/** Link a logged version (project/artifact:v3 or an id) into this model, as a new version. */
function LinkForm({ registry, name }: { registry: string; name: string }) {
  const link = useAction(LINK_VERSION);
  const [version, setVersion] = useState("");
  return (
    <section aria-label="Link a version">
      <form
        aria-label={`Link a version into ${name}`}
        onSubmit={(e) => {
          e.preventDefault();
          void link.act({ registry, collection: name, version }).then((ok) => ok && setVersion(""));
        }}
      >
        <label htmlFor="link-version">Link a version</label>
        <input
          id="link-version"
          placeholder="project/artifact:v3"
          value={version}
          onChange={(e) => setVersion(e.target.value)}
          required
        />
        <button type="submit" disabled={link.busy}>
          Link
        </button>
      </form>
      {link.error != null && <Failure error={link.error} />}
    </section>
  );
}
