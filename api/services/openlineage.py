"""OpenLineage events written in batches: the events posted while one batch is being written
go together into the next (graph.repository.openlineage writes a batch in one transaction,
each event with its own audit event). A client sending over many connections at once, as the
OpenLineage clients' async transport does, is not held to one transaction per event; one
sending one at a time gets batches of one. Each request still answers only once its event is
committed, with that event's own outcome."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Final

from neo4j import AsyncDriver

from graph.errors import GraphError
from graph.openlineage import RunEvent
from graph.repository.openlineage import Delivery, Ingested, OpenLineageRepository, Outcome

MAX_BATCH: Final = 256  # events in one transaction


class Ingester:
    """One per API process: a queue of posted events and the one task writing it."""

    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self._repo = OpenLineageRepository(driver, database)
        self._waiting: list[tuple[Delivery, asyncio.Future[Outcome]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def ingest(self, event: RunEvent, *, actor: str) -> Ingested:
        """Write `event` with the batch it joins; raise what refused it."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((Delivery(event, actor), future))
        if self._writer is None:
            # A context of its own: nothing of the request that started it (an idempotency
            # claim, an import) leaks into other requests' events.
            self._writer = asyncio.create_task(self._write(), context=contextvars.Context())
        done = await future
        if isinstance(done, GraphError):
            raise done
        return done

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                try:
                    outcomes = await self._repo.ingest_many([delivery for delivery, _ in batch])
                except Exception as exc:  # Neo4j away, say: every request of the batch hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # not a request that went away
                        future.set_result(outcome)
        finally:
            self._writer = None
