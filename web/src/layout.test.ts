import { describe, expect, it } from "vitest";
import { flow, layered, type LEdge, type LNode } from "./layout";

const node = (id: string, kind: LNode["kind"] = id.startsWith("run") ? "RUN" : "VERSION"): LNode => ({
  id,
  kind,
  name: id,
});

describe("layered", () => {
  it("puts data flow left to right: dataset, run, model", () => {
    const nodes = [node("model"), node("run"), node("data")];
    const edges: LEdge[] = [
      { source: "run", target: "data", kind: "CONSUMED" },
      { source: "run", target: "model", kind: "PRODUCED" },
    ];
    expect(flow(edges[0])).toEqual(["data", "run"]);
    const placed = layered(nodes, edges);
    expect([placed.get("data")!.x, placed.get("run")!.x, placed.get("model")!.x]).toEqual([0, 1, 2]);
  });

  it("places every edge forward, and a node after its longest way in", () => {
    // data -> run1 -> mid -> run2 -> model, and data -> run2 directly
    const edges: LEdge[] = [
      { source: "run1", target: "data", kind: "CONSUMED" },
      { source: "run1", target: "mid", kind: "PRODUCED" },
      { source: "run2", target: "mid", kind: "CONSUMED" },
      { source: "run2", target: "data", kind: "CONSUMED" },
      { source: "run2", target: "model", kind: "PRODUCED" },
    ];
    const placed = layered(["data", "run1", "mid", "run2", "model"].map((id) => node(id)), edges);
    for (const edge of edges) {
      const [from, to] = flow(edge);
      expect(placed.get(from)!.x).toBeLessThan(placed.get(to)!.x);
    }
    expect(placed.get("run2")!.x).toBe(3);
  });

  it("orders a layer by its neighbours, so that parallel chains do not cross", () => {
    // two chains a0 -> runA -> a1 and b0 -> runB -> b1, named to sort against their chains
    const edges: LEdge[] = [
      { source: "runZ", target: "a0", kind: "CONSUMED" },
      { source: "runZ", target: "z1", kind: "PRODUCED" },
      { source: "runA", target: "b0", kind: "CONSUMED" },
      { source: "runA", target: "a1", kind: "PRODUCED" },
    ];
    const placed = layered(["a0", "b0", "runZ", "runA", "z1", "a1"].map((id) => node(id)), edges);
    const order = (ids: string[]) => ids.sort((p, q) => placed.get(p)!.y - placed.get(q)!.y);
    const sources = order(["a0", "b0"]);
    const runs = order(["runZ", "runA"]);
    const outputs = order(["z1", "a1"]);
    expect(runs).toEqual([sources[0] === "a0" ? "runZ" : "runA", sources[0] === "a0" ? "runA" : "runZ"]);
    expect(outputs).toEqual([runs[0] === "runZ" ? "z1" : "a1", runs[0] === "runZ" ? "a1" : "z1"]);
  });

  it("places every node of a 20,000-node answer", () => {
    const nodes: LNode[] = [];
    const edges: LEdge[] = [];
    for (let i = 0; i < 10_000; i++) {
      nodes.push(node(`v${i}`, "VERSION"), node(`run${i}`, "RUN"));
      edges.push({ source: `run${i}`, target: `v${i}`, kind: "PRODUCED" });
      if (i > 0) edges.push({ source: `run${i}`, target: `v${Math.floor(i / 2)}`, kind: "CONSUMED" });
    }
    const placed = layered(nodes, edges);
    expect(placed.size).toBe(20_000);
    expect(new Set([...placed.values()].map((p) => `${p.x},${p.y}`)).size).toBe(20_000); // no overlap
  });
});
