"""Live events: one reader per API process follows the audit log and hands each new event to
every subscription of that process (GraphQL subscriptions, api.schema.live).

The reader wakes when a write of this process commits (a change, and the seal that chains its
event right after: graph.events), and otherwise looks every FOREBEAR_EVENTS_POLL seconds
(changes made through other replicas). Events are sealed in sequence order, so reading the
sealed ones after the last one seen misses none; a subscription that resumes from
a cursor reads what it missed from the log, then follows the feed. However many subscribe,
Neo4j is asked once per new batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from neo4j import AsyncDriver
from neo4j.exceptions import Neo4jError

from api.settings import Settings
from graph.errors import Conflict, GraphError
from graph.repository.base import woken_by_seals
from graph.repository.events import Event, EventRepository

log = logging.getLogger("forebear.live")

BATCH: Final = 1_000  # events read at once
QUEUE: Final = 10_000  # events a subscriber may fall behind before it is dropped


class TooSlow(Conflict):
    """A subscriber fell QUEUE events behind: it is ended, and resumes from its cursor."""


class EventFeed:
    def __init__(self, driver: AsyncDriver, settings: Settings) -> None:
        self.repo = EventRepository(driver, settings.neo4j_database)
        self.poll = settings.events_poll
        self.last_seq: int | None = None  # where the feed is; read when someone subscribes
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._joining = asyncio.Lock()

    async def run(self) -> None:
        with woken_by_seals() as wake:
            try:
                while True:
                    wake.clear()
                    if self._subscribers and self.last_seq is not None:  # no one: no reads
                        try:
                            await self._read()
                        except (GraphError, Neo4jError) as exc:
                            log.warning("the live event feed could not read: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self.poll)
            finally:
                for queue in self._subscribers:
                    queue.put_nowait(None)

    async def _read(self) -> None:
        assert self.last_seq is not None
        while True:
            events = await self.repo.since(self.last_seq, BATCH)
            for event in events:
                for queue in list(self._subscribers):
                    if queue.qsize() >= QUEUE:
                        self._subscribers.discard(queue)
                        queue.put_nowait(None)  # ends it: it resumes from its cursor
                    else:
                        queue.put_nowait(event)
                self.last_seq = event.seq
            if len(events) < BATCH:
                return

    async def follow(self, after: int | None) -> AsyncIterator[Event]:
        """Every event after `after` (from now when None), as they commit: first those in
        the log already, then live ones, none twice."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        async with self._joining:
            if not self._subscribers:  # the first since no one listened: where the log is now
                self.last_seq = await self.repo.last_seq()
            self._subscribers.add(queue)  # before catching up: nothing falls between the two
        try:
            assert self.last_seq is not None
            seen = self.last_seq if after is None else after
            while after is not None and seen < self.last_seq:  # catch up from the log
                missed = await self.repo.since(seen, BATCH)
                if not missed:
                    break
                for event in missed:
                    yield event
                    seen = event.seq
            while True:
                got = await queue.get()
                if got is None:
                    raise TooSlow(
                        f"this subscription fell {QUEUE} events behind and was ended: "
                        f"subscribe again with after: {seen}"
                    )
                if got.seq > seen:
                    yield got
                    seen = got.seq
        finally:
            self._subscribers.discard(queue)
