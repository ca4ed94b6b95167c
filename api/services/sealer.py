"""Sealing the audit log (graph.events): changes write their events unsealed and take no lock
for it; the sealer of each API process chains them shortly after.

It wakes when a change of this process commits, waits LINGER so the commits arriving together
are chained in one transaction, and seals every event committed by then, whichever replica
made it; under load, it seals at most once every SPACING seconds, so a busy process spends a
seal on many commits rather than one each. Then it wakes the live event feed, which carries
sealed events, and the webhook worker when some of them set off automations. Otherwise it
looks every FOREBEAR_EVENTS_POLL seconds, for events a replica committed and did not seal
before it stopped. Sealers of several replicas take turns on the chain head's lock, so the
chain never forks; readers of the log seal what is committed before they read
(graph.repository.events), so none waits on this loop to see its own change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from neo4j import AsyncDriver
from neo4j.exceptions import Neo4jError

from api.settings import Settings
from graph.errors import GraphError
from graph.repository.base import woken_by_commits
from graph.repository.events import EventRepository

log = logging.getLogger("forebear.sealer")

LINGER: Final = 0.005  # seconds between a commit and the seal that takes it
SPACING: Final = 0.025  # seconds at least from one seal to the next
MAX_BACKOFF: Final = 30.0  # seconds between tries while Neo4j is away


class Sealer:
    def __init__(self, driver: AsyncDriver, settings: Settings) -> None:
        self.repo = EventRepository(driver, settings.neo4j_database)
        self.poll = settings.events_poll

    async def run(self) -> None:
        wait = self.poll
        with woken_by_commits() as wake:
            loop = asyncio.get_running_loop()
            while True:
                wake.clear()
                started = loop.time()
                try:
                    await self.repo.seal()
                    wait = self.poll
                except (GraphError, Neo4jError) as exc:
                    log.warning("could not seal the audit log: %s", exc)
                    wait = min(wait * 2, MAX_BACKOFF)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                await asyncio.sleep(max(LINGER, started + SPACING - loop.time()))
