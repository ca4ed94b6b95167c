"""What every repository shares: a driver, a database, and short sessions per call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from neo4j import AsyncDriver, AsyncManagedTransaction
from neo4j.exceptions import ServiceUnavailable, SessionExpired

from graph.errors import GraphUnavailable

T = TypeVar("T")
Work = Callable[[AsyncManagedTransaction], Awaitable[T]]


class Repository:
    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self._driver = driver
        self._database = database

    async def _write(self, work: Work[T]) -> T:
        """Run `work` in one write transaction (retried by the driver on transient errors)."""
        try:
            async with self._driver.session(database=self._database) as session:
                return await session.execute_write(work)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise GraphUnavailable("Neo4j is unavailable") from exc

    async def _read(self, work: Work[T]) -> T:
        """Run `work` in one read transaction."""
        try:
            async with self._driver.session(database=self._database) as session:
                return await session.execute_read(work)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise GraphUnavailable("Neo4j is unavailable") from exc
