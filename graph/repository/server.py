"""Reads about the Neo4j server: its version, and whether it answers."""

from __future__ import annotations

from neo4j import AsyncDriver, AsyncManagedTransaction
from neo4j.exceptions import DriverError, ServiceUnavailable, SessionExpired

from graph.errors import GraphUnavailable
from graph.queries import server as q
from graph.records import ServerInfo


class ServerRepository:
    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self._driver = driver
        self._database = database

    async def get_info(self) -> ServerInfo:
        """Return the server's version and edition; raise GraphUnavailable when it is down."""
        try:
            async with self._driver.session(database=self._database) as session:
                return await session.execute_read(_get_info, self._database)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise GraphUnavailable("Neo4j is unavailable") from exc

    async def ping(self) -> None:
        """Return when Neo4j accepts a connection; raise GraphUnavailable naming why not."""
        try:
            await self._driver.verify_connectivity()
        except (DriverError, OSError) as exc:
            raise GraphUnavailable(f"Neo4j is unavailable: {exc}") from exc


async def _get_info(tx: AsyncManagedTransaction, database: str) -> ServerInfo:
    row = await (await tx.run(q.GET_COMPONENTS)).single(strict=True)
    return ServerInfo(neo4j_version=row["version"], neo4j_edition=row["edition"], database=database)
