"""The lineage graph held in the API process, so a walk costs array operations in memory, not
a Neo4j round trip per hop.

Neo4j stays the source of truth. Before every walk the index reads one stamp: the audit log's
last sealed sequence number, the events not sealed yet, and the counts of lineage nodes and
edges. Every change made through the API (any replica) writes an audit event naming the runs,
versions and artifacts it touched, so new events say which nodes to read again (their edges,
state, name and aliases); counts that moved without events (a bulk load behind the API's back)
make the index reload it all. Events are sealed in sequence order, and the unsealed ones are
read before the head (graph.events), so reading both misses none. Walks as of a past time do
not use the index (edges and deletions carry times there).

Walks run on a Snapshot: the index as numpy arrays, built on a reload and patched after each
change (until patches pass a share of the nodes, when it is built again). The answers the API
built are kept with what their walks reached, and only a change touching one of those nodes
(or its edges) drops an answer.
"""

from __future__ import annotations

import asyncio
import gc
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString, Protocol

import numpy as np
from cachetools import LRUCache

from graph.ids import kind_of

# More events than this since the last look: reading everything again is cheaper.
MAX_DELTA_EVENTS: Final = 5_000
MAX_ANSWERS: Final = 8
RUN_PREFIX: Final = "run_"  # ids carry their type (graph.ids)

# The stamp, and the changes since the last look: each event not sealed yet (up to $unsealed
# of them), then the sealed ones after $since (unless more than $most), as [id, subjects].
# The unsealed events are read before the head: one sealed in between has moved the head by
# the time it is read, so it is among the sealed ones, and no event is missed.
STAMP: Final[LiteralString] = """
CALL () {
  MATCH (u:Unsealed)
  WITH u LIMIT $unsealed
  RETURN collect([u.id, u.subjects]) AS unsealed
}
OPTIONAL MATCH (h:AuditHead {id: 'audit'})
WITH unsealed, coalesce(h.seq, 0) AS seq
CALL () { MATCH (n:Lineage) RETURN count(n) AS nodes }
CALL () { MATCH ()-[r:PRODUCED]->() RETURN count(r) AS produced }
CALL () { MATCH ()-[r:CONSUMED]->() RETURN count(r) AS consumed }
RETURN seq, unsealed, nodes, produced, consumed,
       CASE WHEN $since < seq AND seq - $since <= $most
            THEN COLLECT { MATCH (e:Event) WHERE e.seq > $since AND e.seq <= seq
                           RETURN [e.id, e.subjects] }
            ELSE [] END AS changes
"""

# Runs and versions with what a lineage answer shows of them, and the edges they start.
_NODE: Final[LiteralString] = """
RETURN n.id AS id, n:Run AS run, n.name AS name, n.status AS status, n.project AS project,
       n.artifact AS artifact, n.artifactId AS artifactId, n.index AS index,
       CASE WHEN n:Run THEN n.jobType ELSE n.type END AS type,
       n.state AS state,
       COLLECT { MATCH (al:Alias)-[:POINTS_TO]->(n) RETURN al.name ORDER BY al.name } AS aliases,
       COLLECT { MATCH (n)-[e:PRODUCED|CONSUMED]->(v:ArtifactVersion)
                 RETURN [type(e), v.id] } AS out,
       COLLECT { MATCH (r:Run)-[e:PRODUCED|CONSUMED]->(n) RETURN [type(e), r.id] } AS into
"""
ALL_NODES: Final[LiteralString] = "MATCH (n:Lineage)\n" + _NODE
SOME_NODES: Final[LiteralString] = "UNWIND $ids AS id\nMATCH (n:Lineage {id: id})\n" + _NODE

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
    type: str | None = None  # a version's artifact type, a run's job type
    index: int | None = None
    artifact_id: str | None = None
    aliases: tuple[str, ...] = ()
    deleted: bool = False


# Patched nodes past this share of the arrays (or this many): build them again instead.
REBUILD_SHARE: Final = 0.05
REBUILD_AT_LEAST: Final = 1_000
COLUMNS: Final = ("name", "index", "aliases")  # objects, one per node
CODED: Final = ("type", "status", "project")  # few distinct values: codes


@dataclass(slots=True)
class Coded:
    """A column of few distinct values, as codes into `values`. Filters compare codes, and a
    JSON client decodes small integers without making an object for each."""

    codes: np.ndarray  # int32
    values: list[object]
    lookup: dict[object, int]

    @classmethod
    def of(cls, column: list[object]) -> Coded:
        lookup: dict[object, int] = {}
        codes = [lookup.setdefault(value, len(lookup)) for value in column]
        return cls(np.array(codes, dtype=np.int32), list(lookup), lookup)

    def put(self, at: int, value: object) -> None:
        code = self.lookup.get(value)
        if code is None:
            code = self.lookup[value] = len(self.values)
            self.values.append(value)
        self.codes[at] = code

    def among(self, at: np.ndarray, chosen: set[object]) -> np.ndarray:
        """Whether the values at these positions are among `chosen`."""
        wanted = [code for value, code in self.lookup.items() if value in chosen]
        return np.isin(self.codes[at], wanted)


@dataclass(slots=True)
class Snapshot:
    """The index as arrays for walking. Every node has a position. Adjacency is in CSR form
    (the neighbours of position p are targets[pointers[p]:pointers[p + 1]]) as it was when the
    arrays were built; nodes changed since are `dirty`, and a walk reads their edges from the
    index's dicts instead. The columns hold what an answer shows of each node, and are patched
    in place for changed nodes (an answer reaching a changed node is dropped anyway). `rank`
    orders positions by id (new nodes get a rank between their neighbours')."""

    ids: np.ndarray  # position -> id (object; the first `size` are used)
    size: int
    built: int  # positions below this have CSR rows
    position: dict[str, int]
    run: np.ndarray  # bool
    known: np.ndarray  # bool: the node itself is stored, not only an edge naming it
    deleted: np.ndarray  # bool
    aliased: np.ndarray  # bool: a version holding an alias
    dirty: np.ndarray  # bool: its edges may differ from the CSR rows
    patched: int  # how many are dirty
    rank: np.ndarray  # float: order of ids
    ordered: list[str]  # every id, sorted, and their ranks
    ranks: list[float]
    upstream: tuple[np.ndarray, np.ndarray]  # run -> versions it consumed; version -> producers
    downstream: tuple[np.ndarray, np.ndarray]  # run -> versions it produced; version -> consumers
    columns: dict[str, np.ndarray]  # COLUMNS, object
    coded: dict[str, Coded]  # CODED

    def describe(self, at: int, node_id: str, node: Node | None) -> None:
        """Write what the index holds of a node (None: not stored) into its position."""
        found = node or _NO_NODE
        self.known[at] = node is not None
        self.deleted[at] = found.deleted
        self.run[at] = node_id.startswith(RUN_PREFIX)
        self.aliased[at] = bool(found.aliases)
        for name in COLUMNS:
            self.columns[name][at] = getattr(found, name)
        for name in CODED:
            self.coded[name].put(at, getattr(found, name))

    def add(self, node_id: str) -> int:
        """A position for a node new since the arrays were built, ranked among the ids."""
        at = self.size
        if at == len(self.ids):  # full: twice the room
            self.ids = _grown(self.ids)
            self.run, self.known, self.deleted, self.aliased, self.dirty, self.rank = (
                _grown(a)
                for a in (self.run, self.known, self.deleted, self.aliased, self.dirty, self.rank)
            )
            self.columns = {name: _grown(column) for name, column in self.columns.items()}
            for coded in self.coded.values():
                coded.codes = _grown(coded.codes)
        self.size += 1
        self.ids[at] = node_id
        self.position[node_id] = at
        k = bisect_left(self.ordered, node_id)
        below = self.ranks[k - 1] if k else self.ranks[0] - 2 if self.ranks else -1.0
        above = self.ranks[k] if k < len(self.ranks) else below + 2
        middle = (below + above) / 2
        if not below < middle < above:  # no float left between them: build the arrays again
            self.patched = self.size
        self.ordered.insert(k, node_id)
        self.ranks.insert(k, middle)
        self.rank[at] = middle
        return at

    def mark(self, at: int) -> None:
        if not self.dirty[at]:
            self.dirty[at] = True
            self.patched += 1

    def worn(self) -> bool:
        """Patched so much that building the arrays again is cheaper than walking around."""
        return self.patched > max(REBUILD_AT_LEAST, REBUILD_SHARE * self.size)


_NO_NODE: Final = Node(False, "", "", None)


def _grown(array: np.ndarray) -> np.ndarray:
    grown = np.zeros(max(2 * len(array), 64), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def _csr(size: int, sources: list[int], targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency as (pointers, targets), each node's neighbours in the order given."""
    by_source = np.asarray(sources, dtype=np.int64)
    order = np.argsort(by_source, kind="stable")
    pointers = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(by_source, minlength=size), out=pointers[1:])
    return pointers, np.asarray(targets, dtype=np.int64)[order]


# A level of a walk (graph.lineage_index.LineageIndex.walk): from the frontier, every (here,
# far) pair crossed, the nodes found first on it (in the order their first edge was crossed),
# and whether `room` ran out (the pairs and nodes then stop where the node cap cut).
Adjacency = tuple[dict[str, list[str]], dict[str, list[str]]]  # of a run, of a version
Level = tuple[np.ndarray, np.ndarray, np.ndarray, bool]

# Frontiers this small are expanded in plain Python: a dozen array calls cost more (a chain of
# 1,000 runs is 2,000 levels of one node).
SMALL_LEVEL: Final = 32


def _from_dicts(snap: Snapshot, at: int, around: Adjacency) -> list[int]:
    """The neighbours of a dirty node, as the index's dicts have them now."""
    adjacency = around[0 if snap.run[at] else 1]
    return [snap.position[f] for f in adjacency.get(snap.ids[at], ())]


def _small_level(
    snap: Snapshot,
    frontier: np.ndarray,
    csr: tuple[np.ndarray, np.ndarray],
    around: Adjacency,
    seen: np.ndarray,
    room: int,
    include_deleted: bool,
    _first: np.ndarray,
) -> Level:
    pointers, targets = csr
    here: list[int] = []
    far: list[int] = []
    found: list[int] = []
    capped = False
    for at in frontier.tolist():
        if snap.dirty[at]:  # its edges changed since the CSR rows were built
            neighbours = _from_dicts(snap, at, around)
        else:
            neighbours = targets[pointers[at] : pointers[at + 1]].tolist()
        # a deleted version bridges nothing (runs are never deleted)
        skip_deleted = not include_deleted and snap.run[at]
        for next_at in neighbours:
            if skip_deleted and snap.deleted[next_at]:
                continue
            if not seen[next_at]:
                if len(found) == room:
                    capped = True
                    break
                seen[next_at] = True
                found.append(next_at)
            here.append(at)
            far.append(next_at)
        if capped:
            break
    return (
        np.array(here, dtype=np.int64),
        np.array(far, dtype=np.int64),
        np.array(found, dtype=np.int64),
        capped,
    )


def _large_level(
    snap: Snapshot,
    frontier: np.ndarray,
    csr: tuple[np.ndarray, np.ndarray],
    around: Adjacency,
    seen: np.ndarray,
    room: int,
    include_deleted: bool,
    first: np.ndarray,
) -> Level:
    """`first` is scratch space, one integer per node of the snapshot."""
    pointers, targets = csr
    changed = frontier[snap.dirty[frontier]] if snap.patched else frontier[:0]
    clean = frontier[~snap.dirty[frontier]] if changed.size else frontier
    begins, counts = pointers[clean], pointers[clean + 1] - pointers[clean]
    total = int(counts.sum())
    # every (here, far) pair of the level: clean nodes from the CSR rows, in frontier order,
    # then the dirty ones from the dicts
    here = np.repeat(clean, counts)
    offsets = np.arange(total) + np.repeat(begins - (np.cumsum(counts) - counts), counts)
    far = targets[offsets]
    if changed.size:
        pairs = [
            (at, far_at) for at in changed.tolist() for far_at in _from_dicts(snap, at, around)
        ]
        if pairs:
            extra = np.array(pairs, dtype=np.int64)
            here = np.concatenate([here, extra[:, 0]])
            far = np.concatenate([far, extra[:, 1]])
    if not include_deleted:  # a deleted version bridges nothing (runs are never deleted)
        kept = ~(snap.run[here] & snap.deleted[far])
        here, far = here[kept], far[kept]
    fresh = ~seen[far]
    # The distinct new nodes in the order first met, without sorting: each node's first
    # position among the candidates (minimum.at is well defined under repeats), then the
    # candidates standing at their node's first position.
    candidates = far[fresh]
    at = np.arange(candidates.size)
    first[candidates] = candidates.size
    np.minimum.at(first, candidates, at)
    firsts = np.flatnonzero(first[candidates] == at)
    found = candidates[firsts]
    if found.size <= room:
        return here, far, found, False
    # Keep the nodes found before the cap, and the edges crossed before it cut.
    cut = int(np.flatnonzero(fresh)[firsts[room]])
    return here[:cut], far[:cut], found[:room], True


def object_column(values: list[Any]) -> np.ndarray:
    """A numpy array of these Python objects (numpy would make strings fixed-width)."""
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


class Reached(Protocol):
    """The nodes an answer's walks reached."""

    def any(self, ids: set[str]) -> bool:
        """Whether one of these ids is among them."""
        ...


@dataclass(frozen=True, slots=True)
class ReachedIds:
    ids: frozenset[str]

    def any(self, ids: set[str]) -> bool:
        return not self.ids.isdisjoint(ids)


@dataclass(frozen=True, slots=True)
class ReachedPositions:
    """Reached positions of a snapshot, as a mask (a set of 100k ids costs 50 ms to make)."""

    position: dict[str, int]
    mask: np.ndarray

    def any(self, ids: set[str]) -> bool:
        # positions past the mask are of nodes added since: not reached
        size = len(self.mask)
        found = [at for i in ids if (at := self.position.get(i, size)) < size]
        return bool(self.mask[found].any()) if found else False


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
    # The neighbours of the last level when the depth limit stopped the walk: whether one of
    # them is new (or deleted) decides `truncated`, so a kept answer depends on them too.
    bordering: np.ndarray | None = None
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
    aliased: dict[str, set[str]] = field(default_factory=dict)  # artifact -> aliased versions
    edge_counts: dict[str, int] = field(default_factory=lambda: {"PRODUCED": 0, "CONSUMED": 0})
    # The last sealed event's seq, the events read while unsealed, and the counts.
    stamp: tuple[int, frozenset[str], int, int, int] | None = None
    reloads: int = 0
    walked: int = 0  # answers made by walking
    reused: int = 0  # answers served from those kept
    # Whole answers the API computed, each with the ids its walks reached: kept until a change
    # touches one of those nodes (a closure of finished runs does not change), so later pages
    # and the same question asked again are cheap.
    answers: LRUCache[Hashable, tuple[Reached, object]] = field(
        default_factory=lambda: LRUCache(maxsize=MAX_ANSWERS)
    )
    # Answers as a caller who is no org admin may see them: until anything changes, since
    # who may read what can change without touching a node.
    views: LRUCache[Hashable, object] = field(default_factory=lambda: LRUCache(maxsize=MAX_ANSWERS))
    _snapshot: Snapshot | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, query: Query) -> None:
        """Bring the index up to what Neo4j holds now: one query, which also brings the
        events since the last look."""
        since = self.stamp[0] if self.stamp is not None else 0
        most = MAX_DELTA_EVENTS if self.stamp is not None else -1  # a first look reloads
        [row] = await query(STAMP, since=since, most=most, unsealed=MAX_DELTA_EVENTS + 1)
        unsealed: dict[str, list[str]] = dict(row["unsealed"])
        stamp = (row["seq"], frozenset(unsealed), row["nodes"], row["produced"], row["consumed"])
        if stamp == self.stamp:
            return
        async with self._lock:
            if stamp == self.stamp or (self.stamp is not None and stamp[0] < self.stamp[0]):
                return  # another request brought it this far, or further
            changed: set[str] | None = None  # None: anything may have changed
            if (
                self.stamp is None
                or stamp[0] - since > MAX_DELTA_EVENTS
                or len(unsealed) > MAX_DELTA_EVENTS
            ):
                await self._reload(query)
            else:
                # These events start at `since`, at or before where the index is now: reading
                # a node again twice is harmless. An event read while unsealed is not read
                # again once sealed.
                seen = self.stamp[1]
                events = [*row["changes"], *unsealed.items()]
                changed = await self._apply_events(
                    query, [subjects for event_id, subjects in events if event_id not in seen]
                )
                if stamp[2:] != self._counts():
                    # The counts disagree after the events: a later change raced the reads
                    # (the stamp moved: next time), or the graph changed behind the API's back.
                    [check] = await query(STAMP, since=stamp[0], most=0, unsealed=len(seen) + 1)
                    counts = (check["nodes"], check["produced"], check["consumed"])
                    same = {event_id for event_id, _ in check["unsealed"]} == stamp[1]
                    if check["seq"] == stamp[0] and same and counts != self._counts():
                        await self._reload(query)
                        changed = None
            if changed is not None and self._snapshot is not None and self._snapshot.worn():
                # Built again now rather than at the next walk, and the kept answers go with
                # the old arrays: each holds the snapshot it was walked on, so up to
                # MAX_ANSWERS old snapshots would stay alive with them.
                self._snapshot = self._freeze()
                changed = None
            # Neo4j's own numbers, so a difference in how the two count can never make every
            # request reload; events sealed after stamp[0] are read next time.
            self.stamp = stamp
            self.views.clear()
            if changed is None:
                self.answers.clear()
            else:
                touched = [
                    k for k, (reached, _) in list(self.answers.items()) if reached.any(changed)
                ]
                for key in touched:
                    del self.answers[key]

    def answer(self, key: Hashable) -> object | None:
        """An answer kept for this question, if no change touched it since."""
        kept = self.answers.get(key)
        if kept is None:
            return None
        self.reused += 1
        return kept[1]

    def remember(self, key: Hashable, reached: Reached, answer: object) -> None:
        """Keep an answer and the ids its walks reached (the few most recent answers)."""
        self.walked += 1
        self.answers[key] = (reached, answer)

    def remember_view(self, key: Hashable, view: object) -> None:
        self.views[key] = view

    def _counts(self) -> tuple[int, int, int]:
        return (len(self.nodes), self.edge_counts["PRODUCED"], self.edge_counts["CONSUMED"])

    async def _reload(self, query: Query) -> None:
        self._snapshot = None
        self.nodes.clear()
        self.aliased.clear()
        self.edge_counts = {"PRODUCED": 0, "CONSUMED": 0}
        for adjacency in (self.produced, self.consumed, self.producers, self.consumers):
            adjacency.clear()
        self._store(await query(ALL_NODES))
        self._snapshot = self._freeze()  # now, not on the first walk
        self.reloads += 1
        # The index is most of the heap and lives long: keep the cyclic collector from
        # scanning it on every full collection (they would stall big answers for ~100 ms).
        # Its structures hold no cycles, so reference counting still frees a replaced one.
        gc.collect()
        gc.freeze()

    async def _apply_events(self, query: Query, changes: list[list[str] | None]) -> set[str]:
        """Read again the nodes these events' subjects name; the ids of every node whose
        edges, state, name or aliases changed."""
        ids: set[str] = set()
        artifacts: set[str] = set()
        for subjects in changes:
            for subject in subjects or ():
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
        self._patch(changed)
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
                    True, row["name"] or node_id, row["status"] or "", row["project"], row["type"]
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
        """The index as arrays: built after a reload, patched after events, and built again by
        `refresh` once patches wear it out (the one place patches happen)."""
        if self._snapshot is None:
            self._snapshot = self._freeze()
        return self._snapshot

    def _patch(self, changed: set[str]) -> None:
        """Bring the arrays up to these nodes' new state (their edges are read from the dicts
        from now on)."""
        snap = self._snapshot
        if snap is None:
            return
        for node_id in changed:
            at = snap.position.get(node_id)
            if at is None:
                at = snap.add(node_id)
            snap.describe(at, node_id, self.nodes.get(node_id))
            snap.mark(at)

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
        ordered = sorted(range(size), key=ids.__getitem__)
        rank = np.empty(size, dtype=np.float64)
        rank[ordered] = np.arange(size, dtype=np.float64)
        return Snapshot(
            ids=object_column(ids),
            size=size,
            built=size,
            position=position,
            run=np.fromiter((i.startswith(RUN_PREFIX) for i in ids), dtype=bool, count=size),
            known=np.fromiter((i in self.nodes for i in ids), dtype=bool, count=size),
            deleted=np.fromiter((n.deleted for n in described), dtype=bool, count=size),
            aliased=np.fromiter((bool(n.aliases) for n in described), dtype=bool, count=size),
            dirty=np.zeros(size, dtype=bool),
            patched=0,
            rank=rank,
            ordered=[ids[i] for i in ordered],
            ranks=[float(r) for r in range(size)],
            upstream=_csr(size, *adjacency["up"]),
            downstream=_csr(size, *adjacency["down"]),
            columns={
                name: object_column([getattr(n, name) for n in described]) for name in COLUMNS
            },
            coded={name: Coded.of([getattr(n, name) for n in described]) for name in CODED},
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
        csr = snap.upstream if upstream else snap.downstream
        # what the dicts say of dirty nodes: (adjacency of a run, of a version)
        around = (self.consumed, self.producers) if upstream else (self.produced, self.consumers)
        origin = snap.position[start]
        seen = np.zeros(snap.size, dtype=bool)
        seen[origin] = True
        first = np.empty(snap.size, dtype=np.int64)  # scratch for _large_level
        reached, levels = [np.array([origin])], [np.zeros(1, dtype=np.int64)]
        heres: list[np.ndarray] = []
        fars: list[np.ndarray] = []
        frontier, depth, count, truncated = reached[0], 0, 1, None
        bordering: np.ndarray | None = None
        while frontier.size:
            if max_depth is not None and depth >= max_depth:
                # Cut off only when a node lies past the limit that the answer leaves out:
                # every pair of the next level, deleted ends too (nothing is added to `seen`).
                here, far, _, _ = _large_level(
                    snap, frontier, csr, around, seen, snap.size, True, first
                )
                live = ~(snap.run[here] & snap.deleted[far]) if not include_deleted else True
                truncated = "depth" if (live & ~seen[far]).any() else None
                bordering = far
                break
            expand = _small_level if frontier.size <= SMALL_LEVEL else _large_level
            here, far, found, capped = expand(
                snap, frontier, csr, around, seen, max_nodes - count, include_deleted, first
            )
            seen[found] = True
            heres.append(here)
            fars.append(far)
            reached.append(found)
            levels.append(np.full(found.size, depth + 1, dtype=np.int64))
            count += found.size
            if capped:
                truncated = "node cap"
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
            bordering=bordering,
        )
