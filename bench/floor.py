"""Benchmark: the floor under a fresh-connection read, one Neo4j round trip after the client
has been idle a while, against the same round trip back to back.

A benchmark client that sends one request at a time leaves Neo4j idle between requests, a
few milliseconds each. This measures what that idleness costs a single query, so the
registry benchmark's fresh-connection reads can be read against it.

Data: none (`RETURN 1` and one lookup of a node by a unique key). Each query runs in a new
session of the async driver, as the API runs its reads, on uvloop as uvicorn does. For each
pause between queries: the median of 300 queries, in ms, and its ratio to back to back. As a
control, a loopback TCP echo between two Python processes at the same pauses shows what the
operating system alone adds. Runs in about a minute.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time
from collections.abc import Awaitable, Callable

import uvloop
from neo4j import READ_ACCESS, AsyncGraphDatabase

SAMPLES = 300
PAUSES_MS = (0.0, 1.0, 2.0, 5.0, 20.0)
WARM_UP = 2_000  # queries back to back first: a Neo4j just started runs them slower for a while
QUERIES = {
    "RETURN 1": "RETURN 1 AS one",
    "node by unique key": "MATCH (p:FloorProbe {id: 'probe'}) RETURN p.id AS id",
}


async def paced(call: Callable[[], Awaitable[object]], pause_s: float) -> float:
    """The median seconds of `call` with `pause_s` of sleep before each."""
    spent = []
    for _ in range(SAMPLES):
        # The whole process idles, as a client between requests does; libuv's timers, under
        # asyncio.sleep, count in whole milliseconds.
        time.sleep(pause_s)  # noqa: ASYNC251
        started = time.perf_counter()
        await call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


async def neo4j_rows() -> dict[str, list[float]]:
    auth = (os.environ["FOREBEAR_NEO4J_USER"], os.environ["FOREBEAR_NEO4J_PASSWORD"])
    database = os.environ.get("FOREBEAR_NEO4J_DATABASE", "neo4j")
    rows: dict[str, list[float]] = {}
    async with AsyncGraphDatabase.driver(
        os.environ["FOREBEAR_NEO4J_URI"], auth=auth, notifications_min_severity="OFF"
    ) as driver:
        await driver.execute_query(
            "CREATE CONSTRAINT floor_probe IF NOT EXISTS FOR (p:FloorProbe) REQUIRE p.id IS UNIQUE",
            database_=database,
        )
        await driver.execute_query("MERGE (:FloorProbe {id: 'probe'})", database_=database)
        for label, query in QUERIES.items():

            async def one(query: str = query) -> None:
                async with driver.session(
                    database=database, default_access_mode=READ_ACCESS
                ) as session:
                    await (await session.run(query)).consume()

            for _ in range(WARM_UP):
                await one()
            rows[label] = [await paced(one, pause / 1000) for pause in PAUSES_MS]
        await driver.execute_query("MATCH (p:FloorProbe) DELETE p", database_=database)
        await driver.execute_query("DROP CONSTRAINT floor_probe", database_=database)
    return rows


def echo_row() -> list[float]:
    """A one-byte loopback round trip to a child process, at the same pauses."""
    server = socket.create_server(("127.0.0.1", 0))
    pid = os.fork()
    if pid == 0:  # the echoing child
        peer, _ = server.accept()
        peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := peer.recv(64):
            peer.sendall(data)
        os._exit(0)
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def one() -> None:
        client.sendall(b"x")
        client.recv(64)

    try:
        return [asyncio.run(paced(one, pause / 1000)) for pause in PAUSES_MS]
    finally:
        client.close()
        os.waitpid(pid, 0)
        server.close()


def main() -> None:
    rows = uvloop.run(neo4j_rows())
    rows["loopback TCP echo (control)"] = echo_row()
    print(
        f"\n== one round trip after the client idled; medians of {SAMPLES} in ms "
        "(ratio: to back to back)"
    )
    print(f"{'':30}" + "".join(f"{f'{p:g} ms idle':>18}" for p in PAUSES_MS))
    for label, medians in rows.items():
        cells = "".join(f"{m * 1000:>10.3f} ({m / medians[0]:4.1f}x)" for m in medians)
        print(f"{label:30}{cells}")


if __name__ == "__main__":
    main()
