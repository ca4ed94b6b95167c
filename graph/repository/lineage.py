"""Lineage walks: breadth-first, node-unique, one hop per query, capped and depth-limited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, LiteralString

from neo4j import AsyncDriver

from graph.errors import NotFound
from graph.lineage_index import Edge, IndexWalk, LineageIndex
from graph.queries import lineage as q
from graph.repository.base import Repository, Tx

UPSTREAM: Final = "UPSTREAM"
DOWNSTREAM: Final = "DOWNSTREAM"


@dataclass(frozen=True, slots=True)
class Walk:
    """The nodes reached (id -> distance from the start), the edges between them, how deep the
    walk went, and why it stopped early if it did ('depth' or 'node cap')."""

    distances: dict[str, int]
    edges: Sequence[Edge]
    depth: int
    truncated: str | None


# A walk of Neo4j, or of the lineage index (arrays, turned into the same dict and edges when
# asked for them).
AnyWalk = Walk | IndexWalk


class LineageRepository(Repository):
    def __init__(self, driver: AsyncDriver, database: str, index: LineageIndex | None = None):
        super().__init__(driver, database)
        self.index = index
        self.fresh = False  # the index was brought up to date during this request

    async def _rows(self, query: LiteralString, **params: Any) -> list[Mapping[str, Any]]:
        async def work(tx: Tx) -> list[Mapping[str, Any]]:
            return [dict(row) async for row in await tx.run(query, params)]

        return await self._read(work)

    async def indexed(self) -> LineageIndex | None:
        """The process's lineage index, up to date (once per request), if there is one."""
        if self.index is None:
            return None
        if not self.fresh:
            await self.index.refresh(self._rows)
            self.fresh = True
        return self.index

    async def walk(
        self,
        start: str,
        direction: str,
        *,
        max_depth: int | None,
        max_nodes: int,
        include_deleted: bool,
        as_of: datetime | None = None,
    ) -> AnyWalk:
        """Walk UPSTREAM or DOWNSTREAM from `start` (through the graph as it was at `as_of`, if
        given); raise NotFound if it is no run or version. Walks of the present go through the
        in-process index when there is one, else one query per hop."""
        if as_of is None and (index := await self.indexed()) is not None:
            if start not in index.nodes:
                raise NotFound("run or version", start)
            return index.walk(
                start,
                direction == UPSTREAM,
                max_depth=max_depth,
                max_nodes=max_nodes,
                include_deleted=include_deleted,
            )
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
        result = await tx.run(step, frontier=frontier, include_deleted=include_deleted, at=as_of)
        row = await result.single(strict=True)
        if max_depth is not None and depth >= max_depth:
            # Cut off only when a node lies past the limit that the answer leaves out.
            beyond = any(node not in distances for node, *_ in row["hops"])
            return Walk(distances, tuple(edges), depth, "depth" if beyond else None)
        next_frontier: list[str] = []
        for node, kind, source, target in row["hops"]:
            if node not in distances:
                if len(distances) >= max_nodes:
                    return Walk(distances, tuple(edges), depth + 1, "node cap")
                distances[node] = depth + 1
                next_frontier.append(node)
            edges.append((source, kind, target))
        frontier = next_frontier
        depth += 1 if frontier else 0
    return Walk(distances, tuple(edges), depth, None)
