"""The lineage graph held in the API process, so a walk costs array operations in memory, not
a Neo4j round trip per hop.

Neo4j stays the source of truth. Before every walk the index reads one stamp: the audit log's
head sequence number and the counts of lineage nodes and edges. Every change made through the
API writes an audit event naming the runs, versions and artifacts it touched, so a moved
sequence number says which nodes to read again (their edges, state, name and aliases); counts
that moved without events (a bulk load behind the API's back) make the index reload it all.
Events are numbered under one lock and committed in that order, so reading the events up to
the head misses none. Walks as of a past time do not use the index (edges and deletions carry
times there).

Walks run on a Snapshot: the index frozen into numpy arrays, made again after a change. The
answers the API built are kept with the ids their walks reached, and only a change touching
one of those nodes (or its edges) drops an answer.
"""

from __future__ import annotations

import asyncio
import gc
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString

import numpy as np

from graph.ids import kind_of

# More events than this since the last look: reading everything again is cheaper.
MAX_DELTA_EVENTS: Final = 5_000
MAX_ANSWERS: Final = 8
RUN_PREFIX: Final = "run_"  # ids carry their type (graph.ids)

STAMP: Final[LiteralString] = """
OPTIONAL MATCH (h:AuditHead {id: 'audit'})
CALL () { MATCH (n:Lineage) RETURN count(n) AS nodes }
CALL () { MATCH ()-[r:PRODUCED]->() RETURN count(r) AS produced }
CALL () { MATCH ()-[r:CONSUMED]->() RETURN count(r) AS consumed }
RETURN coalesce(h.seq, 0) AS seq, nodes, produced, consumed
"""

# Runs and versions with what a lineage answer shows of them, and the edges they start.
_NODE: Final[LiteralString] = """
RETURN n.id AS id, n:Run AS run, n.name AS name, n.status AS status, n.project AS project,
       n.artifact AS artifact, n.artifactId AS artifactId, n.index AS index, n.type AS type,
       n.state AS state,
       COLLECT { MATCH (al:Alias)-[:POINTS_TO]->(n) RETURN al.name ORDER BY al.name } AS aliases,
       COLLECT { MATCH (n)-[e:PRODUCED|CONSUMED]->(v:ArtifactVersion)
                 RETURN [type(e), v.id] } AS out,
       COLLECT { MATCH (r:Run)-[e:PRODUCED|CONSUMED]->(n) RETURN [type(e), r.id] } AS into
"""
ALL_NODES: Final[LiteralString] = "MATCH (n:Lineage)\n" + _NODE
SOME_NODES: Final[LiteralString] = "UNWIND $ids AS id\nMATCH (n:Lineage {id: id})\n" + _NODE

EVENTS_SINCE: Final[LiteralString] = """
MATCH (e:Event) WHERE e.seq > $seq AND e.seq <= $upto
RETURN e.subjects AS subjects
"""

# Versions of these artifacts that hold an alias now ('latest' moves without naming them).
ALIASED_VERSIONS: Final[LiteralString] = """
UNWIND $artifacts AS artifact
MATCH (:Artifact {id: artifact})-[:HAS_VERSION]->(v:ArtifactVersion)
WHERE EXISTS { (:Alias)-[:POINTS_TO]->(v) }
RETURN v.id AS id
"""

Query = Callable[..., Awaitable[list[Mapping[str, Any]]]]


def _keep(kept: OrderedDict[Hashable, Any], key: Hashable, value: object) -> None:
    """Remember the value under key, forgetting the oldest past MAX_ANSWERS."""
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > MAX_ANSWERS:
        kept.popitem(last=False)


# (source, kind, target) as stored: a run PRODUCED or CONSUMED a version. A plain tuple:
# walks make tens of thousands of them.
Edge = tuple[str, str, str]


@dataclass(slots=True)
class Node:
    """What an answer shows of a run or a version."""

    run: bool
    name: str
    status: str
    project: str | None
    type: str | None = None
    index: int | None = None
    artifact_id: str | None = None
    aliases: tuple[str, ...] = ()
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The index frozen into arrays for walking: every node has a position; adjacency is in
    CSR form (the neighbours of position p are targets[pointers[p]:pointers[p + 1]]); the
    columns hold what an answer shows of each node. Made again only after the graph changed,
    and never changed itself, so an answer can keep using the one it was walked on."""

    ids: np.ndarray  # position -> id (object)
    position: dict[str, int]
    run: np.ndarray  # bool
    known: np.ndarray  # bool: the node itself is stored, not only an edge naming it
    deleted: np.ndarray  # bool
    rank: np.ndarray  # position -> rank of its id in id order
    upstream: tuple[np.ndarray, np.ndarray]  # run -> versions it consumed; version -> producers
    downstream: tuple[np.ndarray, np.ndarray]  # run -> versions it produced; version -> consumers
    columns: dict[str, np.ndarray]  # kind, name, type, index, status, aliases, project (object)


_NO_NODE: Final = Node(False, "", "", None)


def _csr(size: int, sources: list[int], targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency as (pointers, targets), each node's neighbours in the order given."""
    by_source = np.asarray(sources, dtype=np.int64)
    order = np.argsort(by_source, kind="stable")
    pointers = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(by_source, minlength=size), out=pointers[1:])
    return pointers, np.asarray(targets, dtype=np.int64)[order]


def _object_column(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


@dataclass(slots=True)
class IndexWalk:
    """Like graph.repository.lineage.Walk: what was reached (positions in the snapshot, in the
    order found, with their distances), the edges crossed (run and version positions, and
    whether the run PRODUCED the version), the depth reached, and why it stopped early."""

    snapshot: Snapshot
    reached: np.ndarray
    levels: np.ndarray
    edge_runs: np.ndarray
    edge_versions: np.ndarray
    edge_produced: np.ndarray
    depth: int
    truncated: str | None
    _distances: dict[str, int] | None = None
    _edges: list[Edge] | None = None

    @property
    def distances(self) -> dict[str, int]:
        if self._distances is None:
            ids = self.snapshot.ids
            self._distances = dict(
                zip(ids[self.reached].tolist(), self.levels.tolist(), strict=True)
            )
        return self._distances

    @property
    def edges(self) -> list[Edge]:
        if self._edges is None:
            ids = self.snapshot.ids
            kinds = np.where(self.edge_produced, "PRODUCED", "CONSUMED").tolist()
            self._edges = list(
                zip(
                    ids[self.edge_runs].tolist(),
                    kinds,
                    ids[self.edge_versions].tolist(),
                    strict=True,
                )
            )
        return self._edges


@dataclass(slots=True)
class LineageIndex:
    nodes: dict[str, Node] = field(default_factory=dict)
    # run -> versions it PRODUCED / CONSUMED; version -> runs that PRODUCED / CONSUMED it
    produced: dict[str, list[str]] = field(default_factory=dict)
    consumed: dict[str, list[str]] = field(default_factory=dict)
    producers: dict[str, list[str]] = field(default_factory=dict)
    consumers: dict[str, list[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    aliased: dict[str, set[str]] = field(default_factory=dict)  # artifact -> aliased versions
    edge_counts: dict[str, int] = field(default_factory=lambda: {"PRODUCED": 0, "CONSUMED": 0})
    stamp: tuple[int, int, int, int] | None = None
    reloads: int = 0
    walked: int = 0  # answers made by walking
    reused: int = 0  # answers served from those kept
    # Whole answers the API computed, each with the ids its walks reached: kept until a change
    # touches one of those nodes (a closure of finished runs does not change), so later pages
    # and the same question asked again are cheap.
    answers: OrderedDict[Hashable, tuple[frozenset[str], object]] = field(
        default_factory=OrderedDict
    )
    # Answers as one caller may see them (some nodes hidden): until anything changes, since
    # who may read what can change without touching a node.
    views: OrderedDict[Hashable, object] = field(default_factory=OrderedDict)
    _snapshot: Snapshot | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, query: Query) -> None:
        """Bring the index up to what Neo4j holds now: one query when nothing changed."""
        [row] = await query(STAMP)
        stamp = (row["seq"], row["nodes"], row["produced"], row["consumed"])
        if stamp == self.stamp:
            return
        async with self._lock:
            if stamp == self.stamp:
                return
            changed: set[str] | None = None  # None: anything may have changed
            if self.stamp is None or stamp[0] - self.stamp[0] > MAX_DELTA_EVENTS:
                await self._reload(query)
            else:
                changed = await self._apply_events(query, self.stamp[0], stamp[0])
                if stamp[1:] != self._counts():
                    # The counts disagree after the events: a later change raced the reads
                    # (the seq moved: next time), or the graph changed behind the API's back.
                    [check] = await query(STAMP)
                    counts = (check["nodes"], check["produced"], check["consumed"])
                    if check["seq"] == stamp[0] and counts != self._counts():
                        await self._reload(query)
                        changed = None
            # Neo4j's own numbers, so a difference in how the two count can never make every
            # request reload; events after stamp[0] are read next time.
            self.stamp = stamp
            self.views.clear()
            if changed is None:
                self.answers.clear()
            else:
                for key in [k for k, (reached, _) in self.answers.items() if reached & changed]:
                    del self.answers[key]

    def answer(self, key: Hashable) -> object | None:
        """An answer kept for this question, if no change touched it since."""
        kept = self.answers.get(key)
        if kept is None:
            return None
        self.reused += 1
        return kept[1]

    def remember(self, key: Hashable, reached: frozenset[str], answer: object) -> None:
        """Keep an answer and the ids its walks reached (the few most recent answers)."""
        self.walked += 1
        _keep(self.answers, key, (reached, answer))

    def remember_view(self, key: Hashable, view: object) -> None:
        _keep(self.views, key, view)

    def _counts(self) -> tuple[int, int, int]:
        return (len(self.nodes), self.edge_counts["PRODUCED"], self.edge_counts["CONSUMED"])

    async def _reload(self, query: Query) -> None:
        self._snapshot = None
        self.nodes.clear()
        self.deleted.clear()
        self.aliased.clear()
        self.edge_counts = {"PRODUCED": 0, "CONSUMED": 0}
        for adjacency in (self.produced, self.consumed, self.producers, self.consumers):
            adjacency.clear()
        self._store(await query(ALL_NODES))
        self.reloads += 1
        # The index is most of the heap and lives long: keep the cyclic collector from
        # scanning it on every full collection (they would stall big answers for ~100 ms).
        # Its structures hold no cycles, so reference counting still frees a replaced one.
        gc.collect()
        gc.freeze()

    async def _apply_events(self, query: Query, since: int, upto: int) -> set[str]:
        """Read again the nodes the events since `since` name; the ids of every node whose
        edges, state, name or aliases may have changed."""
        ids: set[str] = set()
        artifacts: set[str] = set()
        for row in await query(EVENTS_SINCE, seq=since, upto=upto):
            for subject in row["subjects"] or ():
                kind = kind_of(subject)
                if kind in ("Run", "ArtifactVersion"):
                    ids.add(subject)
                elif kind == "Artifact":
                    artifacts.add(subject)
        if artifacts:
            ids |= {row["id"] for row in await query(ALIASED_VERSIONS, artifacts=sorted(artifacts))}
            ids.update(*(self.aliased.get(a, ()) for a in artifacts))
        if not ids:
            return set()
        before = self._state(ids)
        for node_id in ids:
            self._forget(node_id)
        self._store(await query(SOME_NODES, ids=sorted(ids)), also_from_far_side=True)
        after = self._state(ids)
        # What differs: nodes described otherwise, and both ends of edges gained or lost.
        changed = {i for i in ids if before[0].get(i) != after[0].get(i)}
        for near, _, far in before[1] ^ after[1]:
            changed.update((near, far))
        return changed

    def _state(self, ids: set[str]) -> tuple[dict[str, Node], set[tuple[str, int, str]]]:
        """How these nodes are described, and their edges (node, which map, far end)."""
        described = {i: self.nodes[i] for i in ids if i in self.nodes}
        maps = (self.produced, self.consumed, self.producers, self.consumers)
        edges = {
            (i, m, far)
            for i in ids
            for m, adjacency in enumerate(maps)
            for far in adjacency.get(i, ())
        }
        return described, edges

    def _forget(self, node_id: str) -> None:
        """Drop a node and every edge it has, from both ends."""
        self._snapshot = None
        self.deleted.discard(node_id)
        node = self.nodes.pop(node_id, None)
        if node is None:
            return
        if node.artifact_id is not None:
            self.aliased.get(node.artifact_id, set()).discard(node_id)
        for near, far, kind in (
            (self.produced, self.producers, "PRODUCED"),
            (self.consumed, self.consumers, "CONSUMED"),
            (self.producers, self.produced, "PRODUCED"),
            (self.consumers, self.consumed, "CONSUMED"),
        ):
            for other in near.pop(node_id, ()):
                self.edge_counts[kind] -= 1
                listed = far.get(other)
                if listed is not None and node_id in listed:
                    listed.remove(node_id)

    def _store(self, rows: Sequence[Mapping[str, Any]], also_from_far_side: bool = False) -> None:
        """Add nodes and the edges they start (edges into them come from the far side, which
        a full load reads too; a partial one adds them here unless the far side has them)."""
        self._snapshot = None
        for row in rows:
            node_id = row["id"]
            if row["run"]:
                self.nodes[node_id] = Node(
                    True, row["name"] or node_id, row["status"] or "", row["project"]
                )
            else:
                index = row["index"]
                suffix = f"v{index}" if index is not None else "pending"
                self.nodes[node_id] = Node(
                    False,
                    f"{row['project']}/{row['artifact']}:{suffix}",
                    row["state"] or "",
                    row["project"],
                    type=row["type"],
                    index=index,
                    artifact_id=row["artifactId"],
                    aliases=tuple(row["aliases"]),
                    deleted=row["state"] == "DELETED",
                )
                if row["state"] == "DELETED":
                    self.deleted.add(node_id)
                if row["aliases"]:
                    self.aliased.setdefault(row["artifactId"], set()).add(node_id)
        for row in rows:
            node_id = row["id"]
            for kind, version in row["out"]:
                self._link(node_id, kind, version)
            if also_from_far_side:
                for kind, run in row["into"]:
                    self._link(run, kind, node_id)

    def _link(self, run: str, kind: str, version: str) -> None:
        forward, backward = (
            (self.produced, self.producers)
            if kind == "PRODUCED"
            else (self.consumed, self.consumers)
        )
        targets = forward.setdefault(run, [])
        if version not in targets:
            targets.append(version)
            backward.setdefault(version, []).append(run)
            self.edge_counts[kind] += 1

    def snapshot(self) -> Snapshot:
        """The index as arrays, made again after any change."""
        if self._snapshot is None:
            self._snapshot = self._freeze()
        return self._snapshot

    def _freeze(self) -> Snapshot:
        ids = list(self.nodes)
        position = {node: i for i, node in enumerate(ids)}

        def at(node: str) -> int:
            found = position.get(node)
            if found is None:  # an edge naming a node that is not stored: walk it anyway
                found = position[node] = len(ids)
                ids.append(node)
            return found

        adjacency: dict[str, tuple[list[int], list[int]]] = {"up": ([], []), "down": ([], [])}
        for way, from_runs, from_versions in (
            ("up", self.consumed, self.producers),
            ("down", self.produced, self.consumers),
        ):
            sources, targets = adjacency[way]
            for listing in (from_runs, from_versions):
                for node, far in listing.items():
                    sources.extend([at(node)] * len(far))
                    targets.extend(map(at, far))
        size = len(ids)
        described = [self.nodes.get(i, _NO_NODE) for i in ids]
        rank = np.empty(size, dtype=np.int64)
        rank[sorted(range(size), key=ids.__getitem__)] = np.arange(size)
        return Snapshot(
            ids=_object_column(ids),
            position=position,
            run=np.fromiter((i.startswith(RUN_PREFIX) for i in ids), dtype=bool, count=size),
            known=np.fromiter((i in self.nodes for i in ids), dtype=bool, count=size),
            deleted=np.fromiter((i in self.deleted for i in ids), dtype=bool, count=size),
            rank=rank,
            upstream=_csr(size, *adjacency["up"]),
            downstream=_csr(size, *adjacency["down"]),
            columns={
                "kind": _object_column(["RUN" if n.run else "VERSION" for n in described]),
                "name": _object_column([n.name for n in described]),
                "type": _object_column([n.type for n in described]),
                "index": _object_column([n.index for n in described]),
                "status": _object_column([n.status for n in described]),
                "aliases": _object_column([list(n.aliases) for n in described]),
                "project": _object_column([n.project for n in described]),
            },
        )

    def walk(
        self,
        start: str,
        upstream: bool,
        *,
        max_depth: int | None,
        max_nodes: int,
        include_deleted: bool,
    ) -> IndexWalk:
        """Breadth-first and node-unique, exactly as graph.repository.lineage walks Neo4j: a
        level at a time, in array operations. Within a level, nodes are taken in the order
        their first edge is crossed, which decides who is in when the node cap cuts a level."""
        snap = self.snapshot()
        pointers, targets = snap.upstream if upstream else snap.downstream
        origin = snap.position[start]
        seen = np.zeros(len(snap.ids), dtype=bool)
        seen[origin] = True
        reached, levels = [np.array([origin])], [np.zeros(1, dtype=np.int64)]
        heres: list[np.ndarray] = []
        fars: list[np.ndarray] = []
        frontier, depth, count, truncated = reached[0], 0, 1, None
        while frontier.size:
            if max_depth is not None and depth >= max_depth:
                truncated = "depth"
                break
            begins, counts = pointers[frontier], pointers[frontier + 1] - pointers[frontier]
            total = int(counts.sum())
            # every (here, far) pair of the level, in frontier order
            here = np.repeat(frontier, counts)
            offsets = np.arange(total) + np.repeat(begins - (np.cumsum(counts) - counts), counts)
            far = targets[offsets]
            if not include_deleted:  # a deleted version bridges nothing (runs are never deleted)
                kept = ~(snap.run[here] & snap.deleted[far])
                here, far = here[kept], far[kept]
            fresh = ~seen[far]
            found, first = np.unique(far[fresh], return_index=True)
            by_first = np.argsort(first, kind="stable")
            found = found[by_first]
            if count + found.size > max_nodes:
                # Keep the nodes found before the cap, and the edges crossed before it cut.
                room = max_nodes - count
                cut = int(np.flatnonzero(fresh)[first[by_first[room]]])
                here, far, found = here[:cut], far[:cut], found[:room]
                truncated = "node cap"
            seen[found] = True
            heres.append(here)
            fars.append(far)
            reached.append(found)
            levels.append(np.full(found.size, depth + 1, dtype=np.int64))
            count += found.size
            if truncated:
                depth += 1
                break
            frontier = found
            depth += 1 if found.size else 0
        here = np.concatenate(heres) if heres else np.zeros(0, dtype=np.int64)
        far = np.concatenate(fars) if fars else np.zeros(0, dtype=np.int64)
        from_run = snap.run[here]
        return IndexWalk(
            snapshot=snap,
            reached=np.concatenate(reached),
            levels=np.concatenate(levels),
            edge_runs=np.where(from_run, here, far),
            edge_versions=np.where(from_run, far, here),
            # upstream: a version's producers and a run's inputs; downstream the other way
            edge_produced=from_run != upstream,
            depth=depth,
            truncated=truncated,
        )
