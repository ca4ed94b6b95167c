"""What every repository shares: a driver, a database, and short sessions per call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from typing import Any, Final, LiteralString, Protocol, TypeVar

from neo4j import READ_ACCESS, AsyncDriver, AsyncResult
from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

from graph.errors import GraphUnavailable

T = TypeVar("T")

# A read retried this many times when a pooled connection turns out dead or Neo4j answers
# with a transient error; reads are idempotent, so a retry is always safe.
READ_ATTEMPTS: Final = 3
# A unit of work Neo4j has not finished in this many seconds is given up (GraphUnavailable),
# as a frozen server or a cut network would otherwise hold its request for ever. Neo4j's
# keep-alive hint would bound each socket read instead, at a cost on every read (the driver
# wraps each in its own task): the Neo4j we run turns it off (scripts/services.py).
GRAPH_TIMEOUT = 120.0


class Tx(Protocol):
    """What a unit of work runs queries on: a write transaction, or a read session."""

    async def run(
        self, query: LiteralString, parameters: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncResult: ...


Work = Callable[[Tx], Awaitable[T]]

# Called (from any thread) after each write transaction of this process commits: the sealer
# listens, so what a change wrote into the audit log is chained at once.
COMMIT_LISTENERS: set[Callable[[], None]] = set()
# Called after this process sealed events into the audit chain: the live event feed listens
# (it carries sealed events only).
SEAL_LISTENERS: set[Callable[[], None]] = set()
# Called when this process has deliveries for the webhook worker to take at once: it sealed
# events of which some set off automations (left outbox rows), made a delivery due again
# (redeliverWebhook), or resumed an automation. A change that set off nothing wakes no one.
DELIVERY_LISTENERS: set[Callable[[], None]] = set()


def tell(listeners: set[Callable[[], None]]) -> None:
    """Call every listener of `listeners` (one of the sets above)."""
    for listener in list(listeners):
        listener()


@contextlib.contextmanager
def woken_by(listeners: set[Callable[[], None]]) -> Iterator[asyncio.Event]:
    """An event of the running loop, set whenever `listeners` are told (from any thread)
    while the block runs: how background workers hear of changes without polling."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def listener() -> None:
        loop.call_soon_threadsafe(wake.set)

    listeners.add(listener)
    try:
        yield wake
    finally:
        listeners.discard(listener)


def woken_by_commits() -> contextlib.AbstractContextManager[asyncio.Event]:
    return woken_by(COMMIT_LISTENERS)


def woken_by_seals() -> contextlib.AbstractContextManager[asyncio.Event]:
    return woken_by(SEAL_LISTENERS)


def woken_by_deliveries() -> contextlib.AbstractContextManager[asyncio.Event]:
    return woken_by(DELIVERY_LISTENERS)


class Turns:
    """First come, first served turns per key (a collection's id) among the tasks of this
    process. Writers of one collection take turns on its lock in Neo4j anyway; queueing them
    here first keeps all but one of them out of Neo4j's lock manager, which wakes its waiters
    in no particular order (the unlucky one waited seconds) and spends CPU on their waiting.
    A key's lock is dropped when no one holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


# The process's turns for writers of one collection (graph.repository.registries).
COLLECTION_TURNS = Turns()


class Repository:
    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self._driver = driver
        self._database = database

    async def _write(self, work: Work[T], *, notify: bool = True) -> T:
        """Run `work` in one write transaction (retried by the driver on transient errors);
        then tell COMMIT_LISTENERS (the sealer), unless `notify` is False: writes that record
        no event (the webhook worker's bookkeeping, sealing itself) give it nothing to seal."""
        try:
            async with (
                asyncio.timeout(GRAPH_TIMEOUT),
                self._driver.session(database=self._database) as session,
            ):
                # BEGIN goes out with the first query instead of in a round trip of its own,
                # as the driver's own execute_query does it; a driver without the switch
                # begins the usual way.
                with getattr(session, "_pipelined_begin", contextlib.nullcontext()):
                    done = await session.execute_write(work)
            if notify:
                tell(COMMIT_LISTENERS)
            return done
        except (ServiceUnavailable, SessionExpired) as exc:
            raise GraphUnavailable("Neo4j is unavailable") from exc
        except TimeoutError as exc:
            raise GraphUnavailable(
                f"Neo4j did not answer within {GRAPH_TIMEOUT:g} s: the change may or may not "
                "have been made (a retry with the same Idempotency-Key is safe)"
            ) from exc

    async def _read(self, work: Work[T]) -> T:
        """Run `work`'s queries as auto-commit reads in one session.

        Neo4j reads are read-committed even inside an explicit transaction, so wrapping a read
        in one buys no isolation; it costs a BEGIN and a COMMIT round trip, which is most of
        the time of a small read. Work that needs several queries to agree writes instead.
        """
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                async with (
                    asyncio.timeout(GRAPH_TIMEOUT),
                    self._driver.session(
                        database=self._database, default_access_mode=READ_ACCESS
                    ) as session,
                ):
                    return await work(session)
            except TimeoutError as exc:
                raise GraphUnavailable(f"Neo4j did not answer within {GRAPH_TIMEOUT:g} s") from exc
            except (ServiceUnavailable, SessionExpired, TransientError) as exc:
                if attempt == READ_ATTEMPTS:
                    if isinstance(exc, TransientError):
                        raise
                    raise GraphUnavailable("Neo4j is unavailable") from exc
        raise AssertionError("unreachable")
