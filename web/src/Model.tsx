// Model page: a collection's description and tags, its versions (aliases, stages, semver,
// producing run), the history of every registry action, and the actions the caller's role
// allows; the server decides, and its refusals are shown as it words them.
import { useMutation, useQuery } from "@apollo/client/react";
import type { DocumentNode } from "graphql";
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import {
  ASSIGN_STAGE,
  DEPRECATE,
  DEREGISTER,
  MODEL,
  REMOVE_ALIAS,
  RESTORE,
  SET_ALIAS,
  SET_SEMVER,
  UNASSIGN_STAGE,
} from "./queries";
import { change, versionLabel, when, type Link as LinkRow } from "./shape";
import { Empty, Failure, Frame, Loading } from "./ui";

interface VersionLink extends LinkRow {
  versionId: string;
  version: {
    id: string;
    name: string;
    project: string;
    artifactName: string;
    createdAt: string;
    producedBy: { id: string; name: string | null } | null;
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
    links: { nodes: VersionLink[] };
    history: { nodes: { id: string; type: string; actor: string; time: string; before: unknown; after: unknown }[] };
  } | null;
}

/** One mutation with its own error line: the server's refusal, as it is. */
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
  const { data, error, loading } = useQuery<ModelData>(MODEL, { variables: { registry, name } });
  const collection = data?.collection;
  const stages = data?.registry?.stages ?? [];
  const linkedBy = new Map<string, string>();
  for (const e of collection?.history.nodes ?? []) {
    if (e.type === "link.created") {
      const after = e.after as { latest?: string };
      if (after?.latest) linkedBy.set(after.latest, e.actor);
    }
  }
  return (
    <Frame title={collection ? `${registry}/${collection.name}` : `${registry}/${name}`}>
      {error && <Failure error={error} />}
      {loading && !data && <Loading what="the model" />}
      {data && !collection && <Empty>No model {name} in {registry}.</Empty>}
      {collection && (
        <>
          <section aria-label="About">
            {collection.deprecated && (
              <p className="badge">deprecated {collection.deprecatedAt ? when(collection.deprecatedAt) : ""}</p>
            )}
            <p>{collection.description || <span className="muted">No description.</span>}</p>
            <p>
              {collection.tags.map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
            </p>
          </section>
          <section aria-label="Versions">
            <h2>Versions</h2>
            {!collection.links.nodes.length && <Empty>No version linked yet.</Empty>}
            <table className="grid">
              <thead>
                <tr>
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
                {collection.links.nodes.map((link) => (
                  <VersionRow
                    key={link.id}
                    link={link}
                    stages={stages}
                    registry={registry}
                    collection={collection.name}
                    linkedBy={linkedBy.get(link.id)}
                  />
                ))}
              </tbody>
            </table>
          </section>
          <CollectionActions registry={registry} name={collection.name} deprecated={collection.deprecated} />
          <section aria-label="History">
            <h2>History</h2>
            {!collection.history.nodes.length && <Empty>Nothing happened yet.</Empty>}
            <ol className="history">
              {collection.history.nodes.map((e) => (
                <li key={e.id}>
                  <time dateTime={e.time}>{when(e.time)}</time> <strong>{e.type}</strong> by {e.actor}
                  <span className="muted"> {change(e)}</span>
                </li>
              ))}
            </ol>
          </section>
        </>
      )}
    </Frame>
  );
}

function VersionRow(props: {
  link: VersionLink;
  stages: string[];
  registry: string;
  collection: string;
  linkedBy?: string;
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
        {label}
        {link.deregistered && <span className="badge">deregistered</span>}
      </td>
      <td>
        {link.aliases.map((a) => (
          <span key={a.name} className="alias">
            {a.name}
            <button
              type="button"
              className="quiet"
              aria-label={`Remove alias ${a.name} from ${label}`}
              onClick={() => removeAlias.act({ registry, collection, alias: a.name })}
            >
              ×
            </button>
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
      <td>{link.version.producedBy ? link.version.producedBy.name || link.version.producedBy.id : "—"}</td>
      <td>
        {when(link.linkedAt)}
        {props.linkedBy && <span className="muted"> by {props.linkedBy}</span>}
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
      {restore.error != null && <Failure error={restore.error} />}
    </section>
  );
}
