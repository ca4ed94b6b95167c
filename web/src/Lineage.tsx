// Lineage explorer: the graph of runs and versions around a node, drawn left to right as data
// flows (datasets -> runs -> models) on a canvas (GraphCanvas.tsx), laid out in layers
// (layout.ts). Every
// setting is in the URL; a click selects a node, whose lineage can then be added on either side.
import { useApolloClient } from "@apollo/client/react";
import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { messageOf } from "./client";
import { GraphCanvas, type DrawnNode } from "./GraphCanvas";
import { flow, fromCompact, layered, type LEdge, type LNode } from "./layout";
import { DERIVATION, IMPACT, LINEAGE, LINK_BY_REF, VERSION_BY_REF } from "./queries";
import { Empty, Failure, Frame, Loading } from "./ui";

interface Answer {
  depth: number;
  truncated: boolean;
  truncatedReason: string | null;
  totalNodes: number;
  hiddenNodes: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  compact: Parameters<typeof fromCompact>[0];
}

interface Impact {
  collection: { id: string; registry: string; name: string };
  links: { id: string; index: number; semver: string | null; stages: string[]; aliases: { name: string }[] }[];
}

const COLOURS: Record<string, string> = { RUN: "#7b8bb2", dataset: "#2e7d32", model: "#b3261e" };
const colour = (n: LNode) => (n.kind === "RUN" ? COLOURS.RUN : COLOURS[n.type ?? ""] ?? "#2851a3");
/** What a node is: "dataset", "run", or a run with its job type, "run · train". */
const what = (n: LNode) => (n.kind === "RUN" ? (n.type ? `run · ${n.type}` : "run") : n.type);

export function Lineage() {
  const [params, setParams] = useSearchParams();
  const client = useApolloClient();
  const ref = params.get("ref") ?? "";
  const direction = params.get("dir") ?? "BOTH";
  const depth = params.get("depth") ?? "3";
  const deleted = params.get("deleted") === "1";
  const asOf = params.get("asOf") ?? "";
  const kind = params.get("kind") ?? "";
  const type = params.get("type") ?? "";
  const project = params.get("project") ?? "";
  const [draft, setDraft] = useState(ref);
  const [graph, setGraph] = useState<{ nodes: Map<string, LNode>; edges: Map<string, LEdge> }>({
    nodes: new Map(),
    edges: new Map(),
  });
  const [answer, setAnswer] = useState<Omit<Answer, "compact"> | null>(null);
  const [root, setRoot] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const selected = params.get("sel");
  const setSelected = (id: string | null) => {
    const next = new URLSearchParams(params);
    if (id) next.set("sel", id);
    else next.delete("sel");
    setParams(next, { replace: true });
  };
  const [impact, setImpact] = useState<Impact[] | null>(null);
  const [chainFrom, setChainFrom] = useState<string | null>(null);
  const [chain, setChain] = useState<{ ids: string[]; text: string } | null>(null);

  async function derive(from: string, to: string) {
    try {
      const { data } = await client.query({ query: DERIVATION, variables: { from, to }, fetchPolicy: "network-only" });
      const found = (data as { derivation: { derived: boolean; chain: { id: string }[]; hiddenNodes: number } }).derivation;
      const name = (id: string) => graph.nodes.get(id)?.name ?? id;
      setChain(
        found.derived
          ? { ids: found.chain.map((n) => n.id), text: `${name(to)} descends from ${name(from)} in ${found.chain.length - 1} steps` }
          : { ids: [], text: `${name(to)} does not descend from ${name(from)}${found.hiddenNodes ? " (as far as you may read)" : ""}` },
      );
    } catch (caught) {
      setError(caught);
    }
  }

  function set(changes: Record<string, string>) {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next);
  }

  /** The id a reference names: an id as it is, else a version or linked version reference. */
  async function resolve(text: string): Promise<string> {
    if (/^(ver|run|lnk)_/.test(text)) return text;
    if (!/^[^/:]+\/[^/:]+:[^/:]+$/.test(text))
      throw new Error(
        `${text} is no reference: name a version (project/artifact:v0 or :latest), a linked version (registry/model:production) or an id (ver_…, run_…, lnk_…)`,
      );
    const version = await client.query({ query: VERSION_BY_REF, variables: { ref: text }, errorPolicy: "all" });
    const found = (version.data as { artifactVersion?: { id: string } | null } | undefined)?.artifactVersion;
    if (found) return found.id;
    const link = await client.query({ query: LINK_BY_REF, variables: { ref: text } });
    const linked = (link.data as { linkedVersion?: { versionId: string } | null } | undefined)?.linkedVersion;
    if (linked) return linked.versionId;
    throw new Error(`${text} names no version, run or linked version: try project/artifact:v0 or registry/model:production`);
  }

  /** One lineage walk, every page of it, added to what is drawn (or replacing it). */
  async function walk(of: string, dir: string, replace: boolean) {
    setLoading(true);
    setError(null);
    try {
      const known: string[] = [];
      const nodes = replace ? new Map<string, LNode>() : new Map(graph.nodes);
      const edges = replace ? new Map<string, LEdge>() : new Map(graph.edges);
      let after: string | null = null;
      let last: Answer | null = null;
      do {
        const { data, error: failed }: { data?: unknown; error?: unknown } = await client.query({
          query: LINEAGE,
          fetchPolicy: "network-only",
          variables: {
            of,
            direction: dir,
            depth: Number(depth) || null,
            kinds: kind ? [kind] : null,
            artifactTypes: type ? [type] : null,
            projects: project ? [project] : null,
            includeDeleted: deleted,
            asOf: asOf ? new Date(asOf).toISOString() : null,
            after,
          },
        });
        if (!data) throw failed;
        last = (data as { lineage: Answer }).lineage;
        const page = fromCompact(last.compact, known);
        known.push(...last.compact.nodes.id);
        page.nodes.forEach((n) => nodes.set(n.id, n));
        page.edges.forEach((e) => edges.set(`${e.source}>${e.target}>${e.kind}`, e));
        after = last.pageInfo.hasNextPage ? last.pageInfo.endCursor : null;
      } while (after);
      setGraph({ nodes, edges });
      if (replace && last) {
        const { compact: _, ...summary } = last;
        setAnswer(summary);
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setLoading(false);
    }
  }

  useEffect(() => setDraft(ref), [ref]); // what is typed stays while other settings change

  useEffect(() => {
    setImpact(null);
    setChain(null);
    setChainFrom(null);
    if (!ref) return;
    let current = true;
    resolve(ref)
      .then((id) => {
        if (!current) return;
        setRoot(id);
        return walk(id, direction, true);
      })
      .catch((caught) => current && setError(caught));
    return () => {
      current = false;
    };
    // a new walk whenever the URL's settings change
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ref, direction, depth, deleted, asOf, kind, type, project]);

  const chosen = selected ? graph.nodes.get(selected) : undefined;

  return (
    <Frame title="Lineage">
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set({ ref: draft.trim(), sel: "" });
        }}
      >
        <input
          aria-label="Start from"
          placeholder="project/artifact:v0, registry/model:production or an id"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          size={48}
        />
        <button type="submit">Show</button>
        <select aria-label="Direction" value={direction} onChange={(e) => set({ dir: e.target.value })}>
          <option value="BOTH">Up- and downstream</option>
          <option value="UPSTREAM">Upstream (where it came from)</option>
          <option value="DOWNSTREAM">Downstream (what depends on it)</option>
        </select>
        <label>
          Depth{" "}
          <input aria-label="Depth" type="number" min={1} max={50} value={depth} onChange={(e) => set({ depth: e.target.value })} />
        </label>
        <select aria-label="Kind" value={kind} onChange={(e) => set({ kind: e.target.value })}>
          <option value="">Runs and versions</option>
          <option value="RUN">Runs only</option>
          <option value="VERSION">Versions only</option>
        </select>
        <input aria-label="Artifact type" placeholder="type (dataset)" value={type} onChange={(e) => set({ type: e.target.value })} />
        <input aria-label="Project" placeholder="project" value={project} onChange={(e) => set({ project: e.target.value })} />
        <label>
          <input type="checkbox" checked={deleted} onChange={(e) => set({ deleted: e.target.checked ? "1" : "" })} /> deleted
        </label>
        <label>
          As of <input aria-label="As of" type="datetime-local" value={asOf} onChange={(e) => set({ asOf: e.target.value })} />
        </label>
      </form>
      {!ref && <Empty>Name a version, a run or a linked version to see where it came from and what depends on it.</Empty>}
      {error != null && <Failure error={error} />}
      {loading && <Loading what="the lineage" />}
      {answer && (
        <p className="muted" role="status" aria-label="Lineage summary">
          {graph.nodes.size} {graph.nodes.size === 1 ? "node" : "nodes"} drawn of {answer.totalNodes}, to depth {answer.depth}
          {answer.truncated &&
            (answer.truncatedReason === "node cap"
              ? " — the server's node cap cut the answer: narrow it by depth, kind, type or project"
              : " — more lie past the depth: raise the depth")}
          {answer.hiddenNodes > 0 && ` — ${answer.hiddenNodes} hidden: you may not read them`}
        </p>
      )}
      {graph.nodes.size > 0 && (
        <label>
          Select a node{" "}
          <select aria-label="Select a node" value={selected ?? ""} onChange={(e) => setSelected(e.target.value || null)}>
            <option value="">(or click one in the graph)</option>
            {[...graph.nodes.values()]
              .sort((a, b) => a.name.localeCompare(b.name))
              .slice(0, 2000)
              .map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name} ({what(n)})
                </option>
              ))}
          </select>
        </label>
      )}
      {chain && (
        <p role="status" aria-label="Derivation" className={chain.ids.length ? "ok" : "muted"}>
          {chain.text}
        </p>
      )}
      <div className="lineage">
        <GraphView graph={graph} root={root} selected={selected} onSelect={setSelected} chain={chain?.ids ?? []} />
        {chosen && (
          <aside aria-label="Selected node">
            <h2>{chosen.name}</h2>
            <p className="muted">
              {what(chosen)} · {chosen.status} · <code>{chosen.id}</code>
            </p>
            <button type="button" onClick={() => walk(chosen.id, "UPSTREAM", false)}>
              Expand upstream
            </button>
            <button type="button" onClick={() => walk(chosen.id, "DOWNSTREAM", false)}>
              Expand downstream
            </button>
            <button type="button" onClick={() => set({ ref: chosen.id })}>
              Start from here
            </button>
            {chosen.kind === "VERSION" && <a href={`/versions/${chosen.id}`}>Open the version</a>}
            <p>
              <button type="button" onClick={() => setChainFrom(chosen.id)}>
                Chain from here
              </button>
              {chainFrom && chainFrom !== chosen.id && (
                <button type="button" onClick={() => derive(chainFrom, chosen.id)}>
                  Chain to here
                </button>
              )}
            </p>
            {chosen.kind === "VERSION" && (
              <button
                type="button"
                onClick={() =>
                  client
                    .query({ query: IMPACT, variables: { of: chosen.id }, fetchPolicy: "network-only" })
                    .then(({ data }) => setImpact((data as { impact: Impact[] }).impact))
                    .catch((caught) => setError(new Error(messageOf(caught))))
                }
              >
                Impact
              </button>
            )}
            {impact && (
              <section aria-label="Impact">
                <h3>Linked models that descend from it</h3>
                {!impact.length && <Empty>None: no linked version descends from it.</Empty>}
                <ul>
                  {impact.flatMap((group) =>
                    group.links.map((l) => (
                      <li key={l.id}>
                        <a href={`/registries/${group.collection.registry}/${group.collection.name}`}>
                          {group.collection.registry}/{group.collection.name}
                        </a>{" "}
                        v{l.index}
                        {l.semver ? ` · ${l.semver}` : ""}
                        {l.aliases.map((a) => ` @${a.name}`).join("")}
                        {l.stages.map((s) => ` [${s}]`).join("")}
                      </li>
                    )),
                  )}
                </ul>
              </section>
            )}
          </aside>
        )}
      </div>
    </Frame>
  );
}

function GraphView(props: {
  graph: { nodes: Map<string, LNode>; edges: Map<string, LEdge> };
  root: string | null;
  selected: string | null;
  onSelect: (id: string | null) => void;
  chain: string[];
}) {
  const { nodes, edges } = useMemo(() => {
    const all = [...props.graph.nodes.values()];
    const links = [...props.graph.edges.values()];
    const placed = layered(all, links);
    // thousands of nodes as small points: fewer pixels to draw on every frame of a pan
    const size = all.length > 2000 ? 1.5 : 5;
    const drawn: DrawnNode[] = all.map((n) => {
      const at = placed.get(n.id)!;
      return {
        id: n.id,
        x: at.x * 6,
        y: at.y,
        label: n.name,
        color: colour(n),
        size: n.id === props.root ? size + 3 : size,
      };
    });
    return { nodes: drawn, edges: links.map(flow) };
  }, [props.graph, props.root]);
  return (
    <GraphCanvas
      nodes={nodes}
      edges={edges}
      selected={props.selected}
      chain={props.chain}
      onSelect={props.onSelect}
      label={`Lineage graph: ${props.graph.nodes.size} nodes, ${props.graph.edges.size} edges`}
    />
  );
}
