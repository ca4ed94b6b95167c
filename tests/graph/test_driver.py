"""What graph.repository.base takes from the neo4j driver beyond its public API: a driver
upgrade that moves it must fail here, not quietly cost every write a round trip."""

from __future__ import annotations

from contextlib import AbstractContextManager

from neo4j import AsyncDriver, AsyncManagedTransaction

from api.settings import Settings


async def test_sessions_still_offer_a_begin_sent_with_the_first_query(
    driver: AsyncDriver, base_settings: Settings
) -> None:
    # Repository._write enters session._pipelined_begin (what the driver's own execute_query
    # uses) so BEGIN travels with the first query; without it, it falls back to the usual
    # BEGIN round trip, which no other test would notice.
    async with driver.session(database=base_settings.neo4j_database) as session:
        switch = getattr(session, "_pipelined_begin", None)
        assert isinstance(switch, AbstractContextManager)
        assert not switch
        with switch:
            assert switch  # on inside, for the transaction begun there
            assert await session.execute_write(_one) == 1
        assert not switch


async def _one(tx: AsyncManagedTransaction) -> int:
    return int((await (await tx.run("RETURN 1 AS one")).single(strict=True))["one"])
