// A layered layout of a lineage graph, left to right in the direction data flows (a dataset
// version -> the run that consumed it -> the version that run produced). Pure and fast enough
// for tens of thousands of nodes: longest-path layers, then a few barycenter sweeps to
// untangle each layer. Tested by layout.test.ts.

export interface LNode {
  id: string;
  kind: "RUN" | "VERSION";
  name: string;
  type?: string | null;
  status?: string;
}

export interface LEdge {
  source: string; // the run
  target: string; // the version
  kind: "PRODUCED" | "CONSUMED";
}

/** The data-flow direction of a stored edge: a run produces a version, a version feeds a run. */
export function flow(edge: LEdge): [string, string] {
  return edge.kind === "PRODUCED" ? [edge.source, edge.target] : [edge.target, edge.source];
}

export interface Placed {
  x: number; // layer (column)
  y: number; // position in the layer
}

export function layered(nodes: LNode[], edges: LEdge[], sweeps = 4): Map<string, Placed> {
  const ids = new Set(nodes.map((n) => n.id));
  const next = new Map<string, string[]>();
  const prev = new Map<string, string[]>();
  const indegree = new Map<string, number>();
  for (const id of ids) {
    next.set(id, []);
    prev.set(id, []);
    indegree.set(id, 0);
  }
  for (const edge of edges) {
    const [from, to] = flow(edge);
    if (!ids.has(from) || !ids.has(to)) continue;
    next.get(from)!.push(to);
    prev.get(to)!.push(from);
    indegree.set(to, indegree.get(to)! + 1);
  }
  // longest path from the sources (Kahn's order): every edge points to a later layer
  const layer = new Map<string, number>();
  const queue = [...ids].filter((id) => indegree.get(id) === 0);
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    for (const to of next.get(id)!) {
      layer.set(to, Math.max(layer.get(to) ?? 0, layer.get(id)! + 1));
      indegree.set(to, indegree.get(to)! - 1);
      if (indegree.get(to) === 0) queue.push(to);
    }
  }
  for (const id of ids) if (!layer.has(id)) layer.set(id, 0); // a cycle (never in lineage)
  const layers: string[][] = [];
  for (const id of [...ids].sort()) {
    const x = layer.get(id)!;
    (layers[x] ??= []).push(id);
  }
  const position = new Map<string, number>();
  const place = () => layers.forEach((ids) => ids.forEach((id, i) => position.set(id, i)));
  place();
  const centre = (id: string, side: Map<string, string[]>) => {
    const around = side.get(id)!;
    if (!around.length) return position.get(id)!;
    return around.reduce((sum, other) => sum + position.get(other)!, 0) / around.length;
  };
  for (let sweep = 0; sweep < sweeps; sweep++) {
    const down = sweep % 2 === 0;
    const order = down ? layers.keys() : [...layers.keys()].reverse();
    for (const x of order) {
      const ids = layers[x];
      if (!ids) continue;
      const keys = new Map(ids.map((id) => [id, centre(id, down ? prev : next)]));
      ids.sort((a, b) => keys.get(a)! - keys.get(b)! || (a < b ? -1 : 1));
      ids.forEach((id, i) => position.set(id, i));
    }
  }
  const placed = new Map<string, Placed>();
  layers.forEach((ids, x) => {
    const offset = (ids.length - 1) / 2; // each layer centred on the middle line
    ids.forEach((id, i) => placed.set(id, { x, y: i - offset }));
  });
  return placed;
}

/** Nodes and edges of a `compact` lineage page: parallel lists, codes into `values`. */
export function fromCompact(compact: {
  nodes: { id: string[]; kind: number[]; name: string[]; type: number[]; status: number[] };
  edges: { source: number[]; target: number[]; kind: number[] };
  values: { kind: string[]; type: (string | null)[]; status: string[]; edgeKind: string[] };
  offset: number;
}, known: string[]): { nodes: LNode[]; edges: LEdge[] } {
  const { nodes, edges, values } = compact;
  const all = known.slice(0, compact.offset).concat(nodes.id);
  const shaped: LNode[] = nodes.id.map((id, i) => ({
    id,
    kind: values.kind[nodes.kind[i]] as LNode["kind"],
    name: nodes.name[i],
    type: values.type[nodes.type[i]] ?? null,
    status: values.status[nodes.status[i]],
  }));
  const links: LEdge[] = edges.source.map((s, i) => ({
    source: all[s],
    target: all[edges.target[i]],
    kind: values.edgeKind[edges.kind[i]] as LEdge["kind"],
  }));
  return { nodes: shaped, edges: links };
}
