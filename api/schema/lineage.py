"""Lineage: upstream / downstream / both of a run or version, impact, and derivation."""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Final, cast

import numpy as np
import orjson
import strawberry
from strawberry.scalars import JSON

from api.access import decision_key
from api.context import Info
from api.errors import BadInput
from api.schema.registries import Collection, LinkedVersion, load_linked, resolve_link
from api.schema.relay import PageInfo, decode_cursor, encode_cursor
from graph.errors import NotFound
from graph.ids import kind_of
from graph.lineage_index import (
    Coded,
    Edge,
    IndexWalk,
    Reached,
    ReachedIds,
    ReachedPositions,
    Snapshot,
    object_column,
)
from graph.lineage_index import Node as IndexNode
from graph.refs import parse_link_ref
from graph.repository.lineage import DOWNSTREAM, UPSTREAM, AnyWalk

MAX_CHAINS: Final = 10


@strawberry.enum(description="Which way to walk.")
class LineageDirection(Enum):
    UPSTREAM = strawberry.enum_value("UPSTREAM", description="What it came from.")
    DOWNSTREAM = strawberry.enum_value("DOWNSTREAM", description="What came from it.")
    BOTH = strawberry.enum_value(
        "BOTH",
        description="Upstream closure plus downstream closure (not the connected component).",
    )


@strawberry.enum(description="Kinds of lineage nodes.")
class LineageKind(Enum):
    RUN = strawberry.enum_value("RUN", description="A run.")
    VERSION = strawberry.enum_value("VERSION", description="An artifact version.")


@strawberry.type(description="A run or an artifact version in a lineage answer.")
class LineageNode:
    id: strawberry.ID = strawberry.field(description="Run or version id.")
    kind: LineageKind = strawberry.field(description="RUN or VERSION.")
    distance: int = strawberry.field(
        description="Hops from the start (negative: upstream in a BOTH walk)."
    )
    name: str = strawberry.field(description="Run name, or project/artifact:vN.")
    type: str | None = strawberry.field(
        description="Artifact type (versions), job type (runs, when they were given one)."
    )
    index: int | None = strawberry.field(description="Version index (versions).")
    status: str = strawberry.field(description="Run status or version state.")
    aliases: list[str] = strawberry.field(description="Artifact aliases (versions).")


@strawberry.type(description="A stored edge: a run PRODUCED or CONSUMED a version.")
class LineageEdge:
    source: strawberry.ID = strawberry.field(description="The run.")
    target: strawberry.ID = strawberry.field(description="The version.")
    kind: str = strawberry.field(description="PRODUCED or CONSUMED.")


@strawberry.type(description="A page of a lineage subgraph, nodes in distance order.")
class LineageGraph:
    depth: int = strawberry.field(description="Deepest level reached.")
    truncated: bool = strawberry.field(
        description="True when nodes lie past the depth limit or the node cap that "
        "the answer leaves out."
    )
    truncated_reason: str | None = strawberry.field(description="'depth' or 'node cap'.")
    total_nodes: int = strawberry.field(description="Nodes in the whole answer (all pages).")
    hidden_nodes: int = strawberry.field(
        description="Nodes of the answer left out because the caller may not read them."
    )
    page_info: PageInfo = strawberry.field(description="Paging information.")
    answer: strawberry.Private[Answer]
    span: strawberry.Private[tuple[int, int]]  # [offset, end) of the answer's nodes

    @strawberry.field(description="Nodes of this page.")
    async def nodes(self, info: Info) -> list[LineageNode]:
        page = self.answer.page(*self.span)
        by_id = {str(n.id): n for n in await _nodes(info, page)}
        return [by_id[i] for i in page if i in by_id]

    @strawberry.field(
        description="Edges whose farther endpoint is on this page (each edge on one page)."
    )
    def edges(self) -> list[LineageEdge]:
        return [
            LineageEdge(source=strawberry.ID(source), target=strawberry.ID(target), kind=kind)
            for source, kind, target in self.answer.edges_on(*self.span)
        ]

    @strawberry.field(
        description="This page as a Graphviz DOT digraph (runs as boxes), its arrows along "
        "the data: a version into the run that consumed it, a run into what it produced."
    )
    async def dot(self, info: Info) -> str:
        described = await _described(info, self.answer.page(*self.span))
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node_id, found in described.items():
            shape = "box" if found.run else "ellipse"
            lines.append(f"  {_quoted(node_id)} [label={_quoted(found.name)}, shape={shape}];")
        lines += [
            f"  {_quoted(source)} -> {_quoted(target)} [label={_quoted(kind)}];"
            for source, kind, target in _along_the_data(self.answer.edges_on(*self.span))
        ]
        return "\n".join([*lines, "}"]) + "\n"

    @strawberry.field(
        description="This page as a Mermaid flowchart (runs as boxes), its arrows along the "
        "data, as `dot`'s."
    )
    async def mermaid(self, info: Info) -> str:
        described = await _described(info, self.answer.page(*self.span))
        lines = ["flowchart LR"]
        for node_id, found in described.items():
            label = found.name.replace('"', "#quot;")
            lines.append(f'  {node_id}["{label}"]' if found.run else f'  {node_id}(["{label}"])')
        lines += [
            f"  {source} -->|{kind}| {target}"
            for source, kind, target in _along_the_data(self.answer.edges_on(*self.span))
        ]
        return "\n".join(lines) + "\n"

    @strawberry.field(
        description="This page's nodes and edges as one JSON value of parallel lists, for "
        "large answers (a typed field costs the server per item, and a client decodes it "
        "quickly): `{offset, nodes: {id, kind, distance, name, type, index, status, aliases}, "
        "edges: {source, target, kind}, values: {kind, type, status, edgeKind}}`. The i-th "
        "entries of the node lists describe one node, the answer's node number offset + i. "
        "A node's kind, type and status, and an edge's kind, are codes: positions in the "
        "lists of `values`. `aliases` maps i to the aliases of the nodes holding some. An "
        "edge's source (the run) and target (the version) are node numbers, so a client that "
        "keeps the ids of earlier pages resolves every edge of this one. With `packed`, "
        "every integer list (nodes' kind, distance, type, index, status; edges' source, "
        "target, kind) is instead one base64 string of little-endian int32 values, index -1 "
        'for a run, and `packed` is `"int32le"`: a browser reads it as an Int32Array, '
        "numpy with frombuffer, without decoding a number at a time."
    )
    async def compact(self, info: Info, packed: bool = False) -> JSON:
        answer, span = self.answer, self.span
        key = (*span, packed)
        if key not in answer.compact:  # else the same page of the same answer, sent before
            if answer.snapshot is not None:
                nodes, values = answer.columns(*span)
            else:
                nodes, values = _columns(await _described(info, answer.page(*span)), answer, span)
            edges: dict[str, object] = dict(answer.edge_numbers(*span))
            values["edgeKind"] = list(EDGE_KINDS)
            page: dict[str, object] = {"offset": span[0]}
            if packed:
                nodes["index"] = [
                    -1 if i is None else i for i in cast(list[int | None], nodes["index"])
                ]
                for column in PACKED_NODE_COLUMNS:
                    nodes[column] = _int32le(nodes[column])
                edges = {name: _int32le(column) for name, column in edges.items()}
                page["packed"] = "int32le"
            # Encoded once: the response embeds these bytes as they are (api.context).
            answer.compact[key] = orjson.Fragment(
                orjson.dumps(
                    page | {"nodes": nodes, "edges": edges, "values": values},
                    option=orjson.OPT_SERIALIZE_NUMPY,  # integer columns go as arrays
                )
            )
        return cast(JSON, answer.compact[key])


PACKED_NODE_COLUMNS: Final = ("kind", "distance", "type", "index", "status")


def _int32le(column: object) -> str:
    """An integer list as base64 of its little-endian int32 bytes (the packed compact form)."""
    return base64.b64encode(np.asarray(column, dtype="<i4").tobytes()).decode("ascii")


NODE_KINDS: Final = ("RUN", "VERSION")  # codes 0 and 1 in the compact form
EDGE_KINDS: Final = ("PRODUCED", "CONSUMED")


def _columns(
    described: dict[str, IndexNode], answer: Answer, span: tuple[int, int]
) -> tuple[dict[str, object], dict[str, list[object]]]:
    """The compact node lists of a page described by _described (no lineage index). Every
    node of the page keeps its place, so edges' node numbers stay right; one gone since the
    walk is described by its id alone."""
    ids = answer.ids[span[0] : span[1]].tolist()
    found = [described.get(i) or IndexNode(kind_of(i) == "Run", i, "", None) for i in ids]
    distances = answer.page(*span)
    types, statuses = Coded.of([n.type for n in found]), Coded.of([n.status for n in found])
    nodes: dict[str, object] = {
        "id": ids,
        "kind": [0 if n.run else 1 for n in found],
        "distance": [distances[i] for i in ids],
        "name": [n.name for n in found],
        "type": types.codes.tolist(),
        "index": [n.index for n in found],
        "status": statuses.codes.tolist(),
        "aliases": {str(i): list(n.aliases) for i, n in enumerate(found) if n.aliases},
    }
    return nodes, {"kind": list(NODE_KINDS), "type": types.values, "status": statuses.values}


@strawberry.type(description="Linked versions downstream of a subject, in one collection.")
class ImpactGroup:
    collection: Collection = strawberry.field(description="The collection.")
    links: list[LinkedVersion] = strawberry.field(description="Its affected linked versions.")


@strawberry.type(description="Whether `to` descends from `from`, and its shortest chains.")
class Derivation:
    derived: bool = strawberry.field(description="True when `to` descends from `from`.")
    chain: list[LineageNode] = strawberry.field(
        description="A shortest chain from ... to, runs and versions (those the caller may read)."
    )
    chains: list[list[LineageNode]] = strawberry.field(
        description="Up to `k` shortest chains, shortest first (ties in a stable order)."
    )
    hidden_nodes: int = strawberry.field(
        description="Nodes of the answer left out because the caller may not read them."
    )


@strawberry.type(description="One way two runs differ: a config key or the source commit.")
class RunDifference:
    field: str = strawberry.field(description="`config.<key>` or `sourceCommit`.")
    a: JSON | None = strawberry.field(description="Value in the run that produced `a`.")
    b: JSON | None = strawberry.field(description="Value in the run that produced `b`.")


@strawberry.type(description="How the upstream closures of two versions differ.")
class LineageDiff:
    only_in_a: list[LineageNode] = strawberry.field(description="Upstream of `a` only.")
    only_in_b: list[LineageNode] = strawberry.field(description="Upstream of `b` only.")
    run_differences: list[RunDifference] = strawberry.field(
        description="Config keys and source commits that differ between the producing runs."
    )
    hidden_nodes: int = strawberry.field(
        description="Nodes of the answer left out because the caller may not read them."
    )


async def _start(info: Info, value: str, field: str) -> str:
    """The run or version a lineage question starts from: its id, a linked version's id, or a
    reference: `registry/collection:<alias|stage|semver|vN>` when a registry has that name,
    else `project/artifact:<vN|alias>`."""
    kind = kind_of(value)
    if kind in ("Run", "ArtifactVersion"):
        return value
    if kind == "LinkedVersion":
        return (await info.context.repos.registries.link_context(value))[0].version_id
    if "/" not in value or ":" not in value:
        hint = f" (add a version: {value}:latest)" if "/" in value else ""
        raise BadInput(
            field,
            f"{value!r} is not a run or version id, nor a reference to one version "
            f"(project/artifact:v3, registry/collection:production){hint}",
        )
    registry = value.split("/", 1)[0]
    if await info.context.repos.registries.find_registry(registry) is not None:
        _, name, selector = parse_link_ref(value, field)
        link, _, _ = await info.context.repos.registries.resolve_view(
            registry, name, selector, None
        )
        if link is None:
            raise NotFound("linked version", value)
        return link.version_id
    return await info.context.repos.artifacts.resolve(value, field)


async def _walk(
    info: Info,
    start: str,
    direction: str,
    depth: int | None,
    include_deleted: bool,
    as_of: datetime | None = None,
) -> AnyWalk:
    if depth is not None and depth < 1:
        raise BadInput("depth", "must be at least 1")
    return await info.context.repos.lineage.walk(
        start,
        direction,
        max_depth=depth,
        max_nodes=info.context.settings.lineage_max_nodes,
        include_deleted=include_deleted,
        as_of=as_of,
    )


def shortest_chains(edges: Iterable[Edge], start: str, goal: str, k: int) -> list[list[str]]:
    """Up to k shortest chains start -> ... -> goal along the flow of the walked edges (a run
    PRODUCED a version; a version flows into the run that CONSUMED it). Partial chains grow
    breadth-first only through nodes that still reach `goal`, so every one completes and the
    search costs about what it returns."""
    successors: dict[str, list[str]] = {}
    predecessors: dict[str, list[str]] = {}
    for source, kind, target in edges:
        before, after = (source, target) if kind == "PRODUCED" else (target, source)
        successors.setdefault(before, []).append(after)
        predecessors.setdefault(after, []).append(before)
    reaching, frontier = {goal}, [goal]
    while frontier:
        frontier = [p for n in frontier for p in predecessors.get(n, ()) if p not in reaching]
        reaching.update(frontier)
    chains: list[list[str]] = []
    queue: deque[list[str]] = deque([[start]])
    while queue and len(chains) < k:
        chain = queue.popleft()
        if chain[-1] == goal:
            chains.append(chain)
            continue
        for after in sorted(set(successors.get(chain[-1], ()))):
            if after in reaching:
                queue.append([*chain, after])
    return chains


def _along_the_data(edges: Iterable[Edge]) -> list[Edge]:
    """Edges (run, kind, version) as a drawing points them, along the data: a CONSUMED edge
    from the version into the run, so that a left-to-right drawing reads dataset → run →
    model, as the lineage explorer draws it."""
    return [
        (version, kind, run) if kind == "CONSUMED" else (run, kind, version)
        for run, kind, version in edges
    ]


def _quoted(text: str) -> str:
    """A DOT string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _described(info: Info, ids: Iterable[str]) -> dict[str, IndexNode]:
    """What an answer shows of each run and version: from the process's lineage index (up to
    date for this request), or read from Neo4j when there is no index."""
    ids = list(ids)
    index = await info.context.repos.lineage.indexed()
    if index is not None:
        return {i: index.nodes[i] for i in ids if i in index.nodes}
    runs = [i for i in ids if kind_of(i) == "Run"]
    versions = [i for i in ids if kind_of(i) == "ArtifactVersion"]
    found: dict[str, IndexNode] = {}
    for r in await info.context.loaders.run_by_id.load_many(runs):
        if r is not None:
            found[r.id] = IndexNode(True, r.name, r.status, r.project, type=r.job_type)
    for v in await info.context.loaders.version_by_id.load_many(versions):
        if v is not None:
            found[v.id] = IndexNode(
                False,
                v.name,
                v.state,
                v.project,
                type=v.type,
                index=v.index,
                aliases=tuple(v.aliases),
            )
    return found


async def _nodes(info: Info, distances: dict[str, int]) -> list[LineageNode]:
    described = await _described(info, distances)
    return [
        LineageNode(
            id=strawberry.ID(node_id),
            kind=LineageKind.RUN if found.run else LineageKind.VERSION,
            distance=distances[node_id],
            name=found.name,
            type=found.type,
            index=found.index,
            status=found.status,
            aliases=list(found.aliases),
        )
        for node_id, found in described.items()
    ]


async def _visible(
    info: Info,
    distances: dict[str, int],
    kinds: list[LineageKind] | None,
    artifact_types: list[str] | None,
    projects: list[str] | None = None,
) -> set[str]:
    """The walked nodes that pass the kind, artifact-type and project filters."""
    names = {LineageKind.RUN: "Run", LineageKind.VERSION: "ArtifactVersion"}
    wanted = {names[k] for k in kinds or ()}
    kept = {i for i in distances if not wanted or kind_of(i) in wanted}
    if artifact_types:
        versions = [i for i in kept if kind_of(i) == "ArtifactVersion"]
        described = await _described(info, versions)
        kept -= {i for i, n in described.items() if n.type not in artifact_types}
    if projects:
        described = await _described(info, kept)
        kept = {i for i in kept if i in described and described[i].project in projects}
    return kept


async def _readable(info: Info, distances: dict[str, int]) -> tuple[dict[str, int], int]:
    """The nodes the caller may read (api.access decides), and how many were left out."""
    readable = await info.context.access.readable(distances)
    if len(readable) == len(distances):
        return distances, 0  # nothing hidden (an org admin, or a project of one's own)
    kept = {i: d for i, d in distances.items() if i in readable}
    return kept, len(distances) - len(kept)


def _merge(walks: list[tuple[int, AnyWalk]]) -> tuple[dict[str, int], list[Edge]]:
    """Distances (signed per walk) and edges of one or two walks, the start counted once."""
    distances: dict[str, int] = {}
    edges: list[Edge] = []
    for sign, walk in walks:
        for node, distance in walk.distances.items():
            distances.setdefault(node, sign * distance)
        edges += walk.edges
    return distances, list(dict.fromkeys(edges)) if len(walks) > 1 else edges


MISSING: Final = np.iinfo(np.int64).min


@dataclass(slots=True)
class Answer:
    """A whole lineage answer, before paging: node ids in answer order with their distances,
    and edges as positions in that order. An answer from the lineage index also keeps the
    snapshot it was walked on and where its nodes are in it, whose columns describe them."""

    ids: np.ndarray  # object
    distances: np.ndarray
    edge_runs: np.ndarray
    edge_versions: np.ndarray
    edge_produced: np.ndarray
    depth: int
    truncated: str | None
    hidden: int = 0  # nodes left out because the caller may not read them (_restricted)
    snapshot: Snapshot | None = None
    positions: np.ndarray | None = None
    # Made when a page other than the whole answer is asked for: the edges ordered by the
    # answer position of their later endpoint, and those positions.
    placed: tuple[np.ndarray, np.ndarray] | None = None
    # Compact forms of pages already sent, encoded: (offset, end) -> JSON bytes.
    compact: dict[tuple[int, int, bool], orjson.Fragment] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        ordered: list[str],
        distances: dict[str, int],
        edges: list[Edge],
        depth: int,
        truncated: str | None,
    ) -> Answer:
        """An answer from nodes in order and (run, kind, version) edges between them."""
        where = {node: i for i, node in enumerate(ordered)}
        return cls(
            ids=object_column(ordered),
            distances=np.array([distances[i] for i in ordered], dtype=np.int64),
            edge_runs=np.array([where[e[0]] for e in edges], dtype=np.int64),
            edge_versions=np.array([where[e[2]] for e in edges], dtype=np.int64),
            edge_produced=np.array([e[1] == "PRODUCED" for e in edges], dtype=bool),
            depth=depth,
            truncated=truncated,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def page(self, offset: int, end: int) -> dict[str, int]:
        """Node id -> distance of the nodes in [offset, end)."""
        return dict(
            zip(self.ids[offset:end].tolist(), self.distances[offset:end].tolist(), strict=True)
        )

    def _on(self, offset: int, end: int) -> np.ndarray | slice:
        """The edges whose later endpoint is on the page [offset, end): each edge is sent once
        across all pages, with both its endpoints already sent."""
        if offset == 0 and end >= len(self.ids):
            return slice(None)
        if self.placed is None:
            later = np.maximum(self.edge_runs, self.edge_versions)
            order = np.argsort(later, kind="stable")
            self.placed = (order, later[order])
        order, later = self.placed
        return order[np.searchsorted(later, offset) : np.searchsorted(later, end)]

    def edge_numbers(self, offset: int, end: int) -> dict[str, np.ndarray]:
        """The edges of the page [offset, end) as node numbers (positions in the answer), and
        their kinds as codes (EDGE_KINDS)."""
        chosen = self._on(offset, end)
        return {
            "source": np.ascontiguousarray(self.edge_runs[chosen]),
            "target": np.ascontiguousarray(self.edge_versions[chosen]),
            "kind": (~self.edge_produced[chosen]).astype(np.int8),
        }

    def edges_on(self, offset: int, end: int) -> list[Edge]:
        chosen = self._on(offset, end)
        return list(
            zip(
                self.ids[self.edge_runs[chosen]].tolist(),
                np.where(self.edge_produced[chosen], "PRODUCED", "CONSUMED").tolist(),
                self.ids[self.edge_versions[chosen]].tolist(),
                strict=True,
            )
        )

    def columns(self, offset: int, end: int) -> tuple[dict[str, object], dict[str, list[object]]]:
        """The compact node lists of [offset, end), from the snapshot's columns, and the
        values their codes stand for."""
        snap, at = self.snapshot, self.positions
        assert snap is not None
        assert at is not None
        at = at[offset:end]
        aliased = np.flatnonzero(snap.aliased[at])
        nodes: dict[str, object] = {
            "id": self.ids[offset:end].tolist(),
            "kind": (~snap.run[at]).astype(np.int8),  # NODE_KINDS
            "distance": np.ascontiguousarray(self.distances[offset:end]),
            "name": snap.columns["name"][at].tolist(),
            "type": snap.coded["type"].codes[at],
            "index": snap.columns["index"][at].tolist(),
            "status": snap.coded["status"].codes[at],
            "aliases": dict(
                zip(
                    map(str, aliased.tolist()),
                    snap.columns["aliases"][at[aliased]].tolist(),
                    strict=True,
                )
            ),
        }
        values: dict[str, list[object]] = {
            "kind": list(NODE_KINDS),
            "type": snap.coded["type"].values,
            "status": snap.coded["status"].values,
        }
        return nodes, values


async def _indexed_answer(
    info: Info,
    walks: list[tuple[int, IndexWalk]],
    kinds: list[LineageKind] | None,
    artifact_types: list[str] | None,
    projects: list[str] | None,
) -> tuple[Answer, Reached]:
    """The answer of walks on the lineage index's snapshot, in array operations (before access
    control: _restricted), and the ids the walks reached."""
    snap = walks[0][1].snapshot
    size = snap.size
    signed = np.full(size, MISSING, dtype=np.int64)
    for sign, walk in reversed(walks):  # the first walk's distance wins (upstream in BOTH)
        signed[walk.reached] = sign * walk.levels
    reached = np.flatnonzero(signed != MISSING)
    shown = snap.known[reached].copy()
    wanted = set(kinds or ())
    if len(wanted) == 1:
        shown &= snap.run[reached] == (LineageKind.RUN in wanted)
    for name, values, runs_pass in (("type", artifact_types, True), ("project", projects, False)):
        if values:
            matched = snap.coded[name].among(reached, set(values))
            shown &= matched | (snap.run[reached] & runs_pass)  # types filter versions only
    kept = reached[shown]
    distance = signed[kept]
    # Answer order: by distance (upstream of a BOTH answer before downstream at the same
    # distance), then by id, so pages are stable.
    positions = kept[np.lexsort((snap.rank[kept], np.abs(distance) * 2 + (distance > 0)))]
    runs = np.concatenate([w.edge_runs for _, w in walks])
    versions = np.concatenate([w.edge_versions for _, w in walks])
    produced = np.concatenate([w.edge_produced for _, w in walks])
    if len(walks) > 1:  # an edge both walks crossed (only on a cycle) is sent once
        key = (runs * size + versions) * 2 + produced
        first = np.sort(np.unique(key, return_index=True)[1])
        runs, versions, produced = runs[first], versions[first], produced[first]
    where = np.full(size, -1, dtype=np.int64)
    where[positions] = np.arange(positions.size)
    runs, versions, produced = _renumbered(where, runs, versions, produced)
    reasons = [w.truncated for _, w in walks if w.truncated]
    answer = Answer(
        ids=snap.ids[positions],
        distances=signed[positions],
        edge_runs=runs,
        edge_versions=versions,
        edge_produced=produced,
        depth=max(w.depth for _, w in walks),
        truncated=reasons[0] if reasons else None,
        snapshot=snap,
        positions=positions,
    )
    mask = np.zeros(size, dtype=bool)
    mask[reached] = True
    for _, walk in walks:
        if walk.bordering is not None:
            mask[walk.bordering] = True
    return answer, ReachedPositions(snap.position, mask)


async def _answer(
    info: Info,
    start: str,
    direction: LineageDirection,
    depth: int | None,
    include_deleted: bool,
    as_of: datetime | None,
    kinds: list[LineageKind] | None,
    artifact_types: list[str] | None,
    projects: list[str] | None,
) -> tuple[Answer, Reached]:
    """The whole answer before access control (_restricted), and the ids the walks reached."""
    walks = []
    if direction is not LineageDirection.DOWNSTREAM:
        # In a BOTH answer upstream distances are negative, so the two sides stay apart.
        sign = -1 if direction is LineageDirection.BOTH else 1
        walks.append((sign, await _walk(info, start, UPSTREAM, depth, include_deleted, as_of)))
    if direction is not LineageDirection.UPSTREAM:
        walks.append((1, await _walk(info, start, DOWNSTREAM, depth, include_deleted, as_of)))
    indexed = [(sign, w) for sign, w in walks if isinstance(w, IndexWalk)]
    if len(indexed) == len(walks) and len({id(w.snapshot) for _, w in indexed}) == 1:
        return await _indexed_answer(info, indexed, kinds, artifact_types, projects)
    distances, edges = _merge(walks)
    shown = await _visible(info, distances, kinds, artifact_types, projects)
    # Answer order: by distance (upstream of a BOTH answer after downstream at the same
    # distance), then by id, so pages are stable. Sorting each level's ids alone is cheaper.
    levels: dict[int, list[str]] = {}
    for node in shown:
        levels.setdefault(distances[node], []).append(node)
    ordered = [
        node
        for level in sorted(levels, key=lambda d: (abs(d), d))
        for node in sorted(levels[level])
    ]
    reasons = [w.truncated for _, w in walks if w.truncated]
    complete = len(shown) == len(distances)  # nothing filtered out: every edge stays
    answer = Answer.of(
        ordered,
        distances,
        edges if complete else [e for e in edges if e[0] in shown and e[2] in shown],
        max(w.depth for _, w in walks),
        reasons[0] if reasons else None,
    )
    return answer, ReachedIds(frozenset(distances))


def _renumbered(
    where: np.ndarray, runs: np.ndarray, versions: np.ndarray, produced: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges with their ends renumbered by `where` (old number -> new; -1: left out), only
    those whose two ends are kept."""
    runs, versions = where[runs], where[versions]
    between = (runs >= 0) & (versions >= 0)
    return runs[between], versions[between], produced[between]


async def _restricted(info: Info, answer: Answer) -> Answer:
    """The answer as the caller may see it: the nodes it may not read left out (and counted),
    with their edges."""
    readable = await info.context.access.readable(answer.ids.tolist())
    if len(readable) == len(answer):
        return answer  # nothing hidden (projects of one's own)
    kept = np.fromiter((i in readable for i in answer.ids), dtype=bool, count=len(answer))
    where = np.cumsum(kept) - 1
    where[~kept] = -1
    runs, versions, produced = _renumbered(
        where, answer.edge_runs, answer.edge_versions, answer.edge_produced
    )
    return Answer(
        ids=answer.ids[kept],
        distances=answer.distances[kept],
        edge_runs=runs,
        edge_versions=versions,
        edge_produced=produced,
        depth=answer.depth,
        truncated=answer.truncated,
        hidden=int(len(answer) - kept.sum()),
        snapshot=answer.snapshot,
        positions=answer.positions[kept] if answer.positions is not None else None,
    )


@strawberry.type
class LineageQuery:
    @strawberry.field(
        description="The lineage subgraph of a run or version: nodes with their "
        "distance and the edges between them, paged in distance "
        "order. Deleted versions are left out (and bridge nothing) "
        "unless includeDeleted."
    )
    async def lineage(
        self,
        info: Info,
        of: strawberry.ID,
        direction: LineageDirection = LineageDirection.UPSTREAM,
        depth: int | None = None,
        kinds: list[LineageKind] | None = None,
        artifact_types: list[str] | None = None,
        projects: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Only nodes of these projects (others still connect the walk)."
            ),
        ] = None,
        include_deleted: bool = False,
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="The graph as it was then: edges made later and "
                "versions deleted since are taken into account."
            ),
        ] = None,
        first: int = 500,
        after: str | None = None,
    ) -> LineageGraph:
        start = await _start(info, str(of), "of")
        most = info.context.settings.lineage_max_page
        if not 1 <= first <= most:
            raise BadInput("first", f"must be between 1 and {most}")
        # The same question gets the same answer until a change touches a node it reached (the
        # index drops it then): later pages and repeats are cheap. What the caller may see of
        # it is kept until anything changes.
        index = await info.context.repos.lineage.indexed() if as_of is None else None
        key = (
            start,
            direction.value,
            depth,
            include_deleted,
            tuple(k.value for k in kinds or ()),
            tuple(artifact_types or ()),
            tuple(projects or ()),
        )
        whole = index.answer(key) if index is not None else None
        if not isinstance(whole, Answer):
            whole, reached = await _answer(
                info,
                start,
                direction,
                depth,
                include_deleted,
                as_of,
                kinds,
                artifact_types,
                projects,
            )
            if index is not None:
                index.remember(key, reached, whole)
        if info.context.access.principal.org_admin:
            answer = whole  # reads everything
        else:
            seen_by = (decision_key(info.context.access.principal), key)
            view = index.views.get(seen_by) if index is not None else None
            if isinstance(view, Answer):
                answer = view
            else:
                answer = await _restricted(info, whole)
                if index is not None:  # also when nothing is hidden: no scope query per page
                    index.remember_view(seen_by, answer)
        cursor = decode_cursor(after)
        offset = int(cursor) if cursor and cursor.isdigit() else 0
        end = min(offset + first, len(answer)) if offset < len(answer) else offset
        return LineageGraph(
            answer=answer,
            span=(offset, end),
            depth=answer.depth,
            truncated=answer.truncated is not None,
            truncated_reason=answer.truncated,
            total_nodes=len(answer),
            hidden_nodes=answer.hidden,
            page_info=PageInfo(
                has_next_page=end < len(answer),
                end_cursor=encode_cursor(str(end)) if end > offset else None,
            ),
        )

    @strawberry.field(
        description="Every downstream version linked in a registry, grouped by "
        "collection, with its aliases, stages and semver: which "
        "production models descend from this?"
    )
    async def impact(self, info: Info, of: strawberry.ID) -> list[ImpactGroup]:
        start = await _start(info, str(of), "of")
        walk = await _walk(info, start, DOWNSTREAM, None, False)
        versions = [i for i in walk.distances if kind_of(i) == "ArtifactVersion" and i != start]
        groups: dict[str, ImpactGroup] = {}
        readable = await info.context.access.readable(
            await info.context.repos.lineage.linked(versions)
        )
        for link_id in sorted(readable):
            linked = await load_linked(info, link_id)
            collection = linked.collection()
            group = groups.setdefault(
                str(collection.id), ImpactGroup(collection=collection, links=[])
            )
            group.links.append(linked)
        return sorted(groups.values(), key=lambda g: (g.collection.registry, g.collection.name))

    @strawberry.field(
        description="Whether `to` descends from `from`, with one shortest chain "
        "of runs and versions between them."
    )
    async def derivation(
        self,
        info: Info,
        from_: Annotated[
            strawberry.ID, strawberry.argument(name="from", description="The ancestor.")
        ],
        to: Annotated[strawberry.ID, strawberry.argument(description="The descendant.")],
        k: Annotated[
            int, strawberry.argument(description=f"How many chains, 1 to {MAX_CHAINS}.")
        ] = 1,
    ) -> Derivation:
        if not 1 <= k <= MAX_CHAINS:
            raise BadInput("k", f"must be between 1 and {MAX_CHAINS}")
        start, goal = await _start(info, str(from_), "from"), await _start(info, str(to), "to")
        walk = await _walk(info, start, DOWNSTREAM, None, False)
        if goal not in walk.distances:
            return Derivation(derived=False, chain=[], chains=[], hidden_nodes=0)
        found = shortest_chains(walk.edges, start, goal, k)
        on_chains = {i: walk.distances[i] for chain in found for i in chain}
        shown, hidden = await _readable(info, on_chains)
        nodes = {str(n.id): n for n in await _nodes(info, shown)}
        chains = [[nodes[i] for i in chain if i in nodes] for chain in found]
        return Derivation(derived=True, chain=chains[0], chains=chains, hidden_nodes=hidden)

    @strawberry.field(
        description="The source versions a linked version descends from: those "
        "no run produced, or, with `types`, those of these types."
    )
    async def provenance(
        self, info: Info, of: str, types: list[str] | None = None
    ) -> list[LineageNode]:
        link = await load_linked(info, await resolve_link(info, of, "of"))
        walk = await _walk(info, link.version_id, UPSTREAM, None, False)
        versions = [
            i for i in walk.distances if kind_of(i) == "ArtifactVersion" and i != link.version_id
        ]
        producers = await info.context.loaders.producer_by_version.load_many(versions)
        shown, _ = await _readable(info, {i: walk.distances[i] for i in versions})
        nodes = await _nodes(info, shown)
        made = {v for v, p in zip(versions, producers, strict=True) if p is not None}
        sources = [n for n in nodes if (n.type in types if types else str(n.id) not in made)]
        return sorted(sources, key=lambda n: (n.distance, str(n.id)))

    @strawberry.field(
        description="What differs upstream of two versions: the versions and "
        "runs only one of them descends from, and how their "
        "producing runs' configs and source commits differ."
    )
    async def lineage_diff(self, info: Info, a: strawberry.ID, b: strawberry.ID) -> LineageDiff:
        first, second = await _start(info, str(a), "a"), await _start(info, str(b), "b")
        walk_a = await _walk(info, first, UPSTREAM, None, False)
        walk_b = await _walk(info, second, UPSTREAM, None, False)
        only_a, hidden_a = await _readable(
            info, {i: d for i, d in walk_a.distances.items() if i not in walk_b.distances}
        )
        only_b, hidden_b = await _readable(
            info, {i: d for i, d in walk_b.distances.items() if i not in walk_a.distances}
        )
        order = lambda n: (n.distance, str(n.id))  # noqa: E731
        return LineageDiff(
            only_in_a=sorted(await _nodes(info, only_a), key=order),
            only_in_b=sorted(await _nodes(info, only_b), key=order),
            run_differences=await _run_differences(info, first, second),
            hidden_nodes=hidden_a + hidden_b,
        )


def _json(value: object) -> JSON | None:
    return cast(JSON, value)


async def _run_differences(info: Info, a: str, b: str) -> list[RunDifference]:
    producers = await info.context.loaders.producer_by_version.load_many([a, b])
    runs = await info.context.loaders.run_by_id.load_many([p or "" for p in producers])
    if runs[0] is None or runs[1] is None:
        return []
    run_a, run_b = runs[0], runs[1]
    access = info.context.access
    if not (access.in_project(run_a.project) and access.in_project(run_b.project)):
        return []  # run configs are for the runs' project members
    differences = [
        RunDifference(
            field=f"config.{key}", a=_json(run_a.config.get(key)), b=_json(run_b.config.get(key))
        )
        for key in sorted(set(run_a.config) | set(run_b.config))
        if run_a.config.get(key) != run_b.config.get(key)
    ]
    if run_a.source_commit != run_b.source_commit:
        differences.append(
            RunDifference(
                field="sourceCommit", a=_json(run_a.source_commit), b=_json(run_b.source_commit)
            )
        )
    return differences
