"""Runs whose clients fell silent: a run started with a heartbeat (the SDK's are) and unheard
for graph.repository.runs.MISSED_BEATS of them is CRASHED, as W&B marks a run whose process
was killed, ran out of memory or lost its machine; nothing else would ever end it. Every
FOREBEAR_RUN_WATCH seconds each API process looks; replicas looking at once CRASH each run once
(graph.repository.runs.RunRepository.lose_silent). A client heard from again brings its run
back (RUNNING)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from neo4j import AsyncDriver
from neo4j.exceptions import Neo4jError

from api.settings import Settings
from graph.errors import GraphError
from graph.repository.runs import RunRepository

log = logging.getLogger("forebear.runwatch")


class RunWatch:
    def __init__(self, driver: AsyncDriver, settings: Settings) -> None:
        self.repo = RunRepository(driver, settings.neo4j_database)
        self.every = settings.run_watch

    async def run(self) -> None:
        while True:
            try:
                for lost in await self.repo.lose_silent(datetime.now(UTC)):
                    log.info(
                        "run %s of project %s CRASHED: its client is silent since %s",
                        lost.id,
                        lost.project,
                        lost.heard_at,
                    )
            except (GraphError, Neo4jError) as exc:
                log.warning("could not look for silent runs: %s", exc)
            await asyncio.sleep(self.every)
