"""The lineage graph held in the API process, so a walk costs Python dict lookups, not a Neo4j
round trip per hop.

Neo4j stays the source of truth. Before every walk the index reads one stamp: the audit log's
head sequence number and the counts of lineage nodes and edges. Every change made through the
API writes an audit event naming the runs, versions and artifacts it touched, so a moved
sequence number says which nodes to read again (their edges, state, name and aliases); counts
that moved without events (a bulk load behind the API's back) make the index reload it all.
Events are numbered under one lock and committed in that order, so reading the events up to
the head misses none. Walks as of a past time do not use the index (edges and deletions carry
times there).
"""

from __future__ import annotations

import asyncio
import gc
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString

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
class IndexWalk:
    """Like graph.repository.lineage.Walk: distances, edges, depth, why it stopped."""

    distances: dict[str, int]
    edges: list[Edge]
    depth: int
    truncated: str | None


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
    # Whole answers the API computed from this state of the graph (to page through them).
    answers: OrderedDict[Hashable, object] = field(default_factory=OrderedDict)
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
            if self.stamp is None or stamp[0] - self.stamp[0] > MAX_DELTA_EVENTS:
                await self._reload(query)
            else:
                await self._apply_events(query, self.stamp[0], stamp[0])
                if stamp[1:] != self._counts():
                    # The counts disagree after the events: a later change raced the reads
                    # (the seq moved: next time), or the graph changed behind the API's back.
                    [check] = await query(STAMP)
                    counts = (check["nodes"], check["produced"], check["consumed"])
                    if check["seq"] == stamp[0] and counts != self._counts():
                        await self._reload(query)
            # Neo4j's own numbers, so a difference in how the two count can never make every
            # request reload; events after stamp[0] are read next time.
            self.stamp = stamp
            self.answers.clear()

    def remember(self, key: Hashable, answer: object) -> None:
        """Keep an answer for its later pages (the few most recent ones)."""
        self.answers[key] = answer
        self.answers.move_to_end(key)
        while len(self.answers) > MAX_ANSWERS:
            self.answers.popitem(last=False)

    def _counts(self) -> tuple[int, int, int]:
        return (len(self.nodes), self.edge_counts["PRODUCED"], self.edge_counts["CONSUMED"])

    async def _reload(self, query: Query) -> None:
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

    async def _apply_events(self, query: Query, since: int, upto: int) -> None:
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
            return
        for node_id in ids:
            self._forget(node_id)
        self._store(await query(SOME_NODES, ids=sorted(ids)), also_from_far_side=True)

    def _forget(self, node_id: str) -> None:
        """Drop a node and every edge it has, from both ends."""
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

    def walk(
        self,
        start: str,
        upstream: bool,
        *,
        max_depth: int | None,
        max_nodes: int,
        include_deleted: bool,
    ) -> IndexWalk:
        """Breadth-first and node-unique, exactly as graph.repository.lineage walks Neo4j."""
        # (adjacency of a run, kind, adjacency of a version, kind), by direction
        if upstream:
            run_next, run_kind = self.consumed, "CONSUMED"
            version_next, version_kind = self.producers, "PRODUCED"
        else:
            run_next, run_kind = self.produced, "PRODUCED"
            version_next, version_kind = self.consumers, "CONSUMED"
        deleted = self.deleted
        distances = {start: 0}
        edges: list[Edge] = []
        frontier, depth = [start], 0
        while frontier:
            if max_depth is not None and depth >= max_depth:
                return IndexWalk(distances, edges, depth, "depth")
            following: list[str] = []
            for here in frontier:
                is_run = here.startswith(RUN_PREFIX)
                for far in (run_next if is_run else version_next).get(here, ()):
                    # Runs are never deleted; a deleted version bridges nothing unless asked.
                    if is_run and not include_deleted and far in deleted:
                        continue
                    if far not in distances:
                        if len(distances) >= max_nodes:
                            return IndexWalk(distances, edges, depth + 1, "node cap")
                        distances[far] = depth + 1
                        following.append(far)
                    if is_run:
                        edges.append((here, run_kind, far))
                    else:
                        edges.append((far, version_kind, here))
            frontier = following
            depth += 1 if frontier else 0
        return IndexWalk(distances, edges, depth, None)
