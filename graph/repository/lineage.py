"""Lineage walks: breadth-first, node-unique, one hop per query, capped and depth-limited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, LiteralString

from graph.errors import NotFound
from graph.queries import lineage as q
from graph.repository.base import Repository, Tx

UPSTREAM: Final = "UPSTREAM"
DOWNSTREAM: Final = "DOWNSTREAM"


@dataclass(frozen=True, slots=True)
class Edge:
    """`source` -[kind]-> `target`, as stored: a run PRODUCED or CONSUMED a version."""

    source: str
    kind: str
    target: str


@dataclass(frozen=True, slots=True)
class Walk:
    """The nodes reached (id -> distance from the start), the edges between them, how deep the
    walk went, and why it stopped early if it did ('depth' or 'node cap')."""

    distances: dict[str, int]
    edges: tuple[Edge, ...]
    depth: int
    truncated: str | None


class LineageRepository(Repository):
    async def walk(
        self,
        start: str,
        direction: str,
        *,
        max_depth: int | None,
        max_nodes: int,
        include_deleted: bool,
        as_of: datetime | None = None,
    ) -> Walk:
        """Walk UPSTREAM or DOWNSTREAM from `start` (through the graph as it was at `as_of`, if
        given); raise NotFound if it is no run or version."""
        step = q.UPSTREAM_STEP if direction == UPSTREAM else q.DOWNSTREAM_STEP

        async def work(tx: Tx) -> Walk:
            row = await (await tx.run(q.START_NODE, id=start)).single()
            if row is None:
                raise NotFound("run or version", start)
            return await _walk(tx, step, start, max_depth, max_nodes, include_deleted, as_of)

        return await self._read(work)

    async def linked(self, version_ids: list[str]) -> list[str]:
        """Ids of the live links of these versions."""

        async def work(tx: Tx) -> list[str]:
            row = await (await tx.run(q.LINKS_OF_VERSIONS, ids=version_ids)).single(strict=True)
            return list(row["links"])

        return await self._read(work)


async def _walk(
    tx: Tx,
    step: LiteralString,
    start: str,
    max_depth: int | None,
    max_nodes: int,
    include_deleted: bool,
    as_of: datetime | None,
) -> Walk:
    distances, frontier, depth = {start: 0}, [start], 0
    edges: list[Edge] = []
    while frontier:
        if max_depth is not None and depth >= max_depth:
            return Walk(distances, tuple(edges), depth, "depth")
        result = await tx.run(step, frontier=frontier, include_deleted=include_deleted, at=as_of)
        row = await result.single(strict=True)
        next_frontier: list[str] = []
        for node, kind, source, target in row["hops"]:
            if node not in distances:
                if len(distances) >= max_nodes:
                    return Walk(distances, tuple(edges), depth + 1, "node cap")
                distances[node] = depth + 1
                next_frontier.append(node)
            edges.append(Edge(source, kind, target))
        frontier = next_frontier
        depth += 1 if frontier else 0
    return Walk(distances, tuple(edges), depth, None)
