"""A Neo4j that stops answering (frozen, or the network between gone quiet) fails each call
after graph.repository.base.GRAPH_TIMEOUT, instead of holding it for ever; calls made after it
answers again succeed."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from neo4j import AsyncGraphDatabase

from api.settings import Settings
from graph.errors import GraphUnavailable
from graph.repository import base
from graph.repository.events import EventRepository
from graph.repository.registries import RegistryRepository
from tests.proxy import TcpProxy


async def test_a_neo4j_that_stops_answering_fails_calls_within_the_bound(
    base_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = urlsplit(base_settings.neo4j_uri)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 7687) as proxy:
        async with AsyncGraphDatabase.driver(
            f"bolt://127.0.0.1:{proxy.port}", auth=base_settings.neo4j_auth
        ) as driver:
            database = base_settings.neo4j_database
            registries, events = (
                RegistryRepository(driver, database),
                EventRepository(driver, database),
            )
            await events.ensure_head()
            assert isinstance(await registries.list_registries(), list)
            monkeypatch.setattr(base, "GRAPH_TIMEOUT", 1.0)
            proxy.freeze()
            # (wait_for only keeps a regression from hanging the suite: it would raise
            # TimeoutError, not GraphUnavailable)
            with pytest.raises(GraphUnavailable, match="did not answer within 1 s"):
                await asyncio.wait_for(registries.list_registries(), 30)
            with pytest.raises(GraphUnavailable, match="may or may not have been made"):
                await asyncio.wait_for(events.ensure_head(), 30)
            proxy.thaw()
            assert isinstance(await registries.list_registries(), list)
            await events.ensure_head()
