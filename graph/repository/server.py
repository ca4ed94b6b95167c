"""Reads about the Neo4j server: its version, and whether it answers."""

from __future__ import annotations

from neo4j.exceptions import DriverError

from graph.errors import GraphUnavailable
from graph.queries import server as q
from graph.records import ServerInfo
from graph.repository.base import Repository, Tx


class ServerRepository(Repository):
    async def get_info(self) -> ServerInfo:
        """Return the server's version and edition; raise GraphUnavailable when it is down."""

        async def work(tx: Tx) -> ServerInfo:
            row = await (await tx.run(q.GET_COMPONENTS)).single(strict=True)
            return ServerInfo(row["version"], row["edition"], self._database)

        return await self._read(work)

    async def ping(self) -> None:
        """Return when Neo4j accepts a connection; raise GraphUnavailable naming why not."""
        try:
            await self._driver.verify_connectivity()
        except (DriverError, OSError) as exc:
            raise GraphUnavailable(f"Neo4j is unavailable: {exc}") from exc
