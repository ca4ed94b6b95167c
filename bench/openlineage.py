"""OpenLineage ingestion: how many RunEvents a second one client gets into the registry.

Data: JOBS pipelines of a START and a COMPLETE event each, made by the real openlineage-python
client: every job reads two datasets (one shared by all, a source table, and the previous
job's output) and writes one, so each COMPLETE makes a version and every event adds
consumption edges.

- Events a second: the real client's async transport (`AsyncHttpTransport`, its default of up
  to CONCURRENCY requests at once, a job's COMPLETE held until its START is in), from the
  first `emit` until it has delivered every event; the median of REPEAT runs, after warming
  up until the rate is steady (see `warm`).
- The latency of one event at that load (median, p99): the same kind of events sent by a
  timed sender over CONCURRENCY kept-alive connections, each job's START before its COMPLETE,
  with the client's own HTTP library (httpx2: httpx's pool spends a core of its own at 100
  connections, and the sender would measure itself).
- The floor under it: events sent one at a time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx2
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde
from openlineage.client.transport.async_http import AsyncHttpConfig, AsyncHttpTransport
from openlineage.client.transport.http import ApiKeyTokenProvider

from bench.common import auth_headers, forebear_server, p99

JOBS = int(os.environ.get("OPENLINEAGE_BENCH_JOBS", "1500"))
SERIAL = int(os.environ.get("OPENLINEAGE_BENCH_SERIAL", "200"))
CONCURRENCY = int(os.environ.get("OPENLINEAGE_BENCH_CONCURRENCY", "100"))
REPEAT = int(os.environ.get("OPENLINEAGE_BENCH_REPEAT", "3"))
WARM_JOBS, WARM_ROUNDS = 1000, 15  # jobs a warm-up round, and at most this many rounds


def pipeline(jobs: int, tag: str) -> list[tuple[RunEvent, RunEvent]]:
    """(START, COMPLETE) of each job."""
    pairs = []
    for i in range(jobs):
        run = Run(runId=str(uuid.uuid4()))
        job = Job(namespace=f"bench-{tag}", name=f"job_{i}")
        inputs = [
            InputDataset(namespace="postgres://warehouse:5432", name="shop.public.orders"),
            InputDataset(namespace="s3://lake", name=f"{tag}/step_{max(0, i - 1)}"),
        ]
        outputs = [OutputDataset(namespace="s3://lake", name=f"{tag}/step_{i}")]
        events = []
        for state in (RunState.START, RunState.COMPLETE):
            event = RunEvent(
                eventType=state,
                eventTime=datetime.now(UTC).isoformat(),
                run=run,
                job=job,
                producer="https://github.com/forebear/bench",
                inputs=inputs,
                outputs=outputs,
            )
            events.append(event)
        pairs.append((events[0], events[1]))
    return pairs


def emit(base: str, pairs: list[tuple[RunEvent, RunEvent]]) -> float:
    """Seconds the real client's async transport takes to deliver every event."""
    key = auth_headers()["Authorization"].split()[1]
    transport = AsyncHttpTransport(
        AsyncHttpConfig(
            url=base,
            auth=ApiKeyTokenProvider({"apiKey": key}),
            max_concurrent_requests=CONCURRENCY,
            timeout=60,
        )
    )
    client = OpenLineageClient(transport=transport)
    started = time.perf_counter()
    for start, complete in pairs:
        client.emit(start)
        client.emit(complete)
    transport.wait_for_completion()
    elapsed = time.perf_counter() - started
    stats = transport.get_stats()
    transport.close()
    if stats["failed"] or stats["success"] != 2 * len(pairs):
        raise RuntimeError(f"the OpenLineage client did not deliver every event: {stats}")
    return elapsed


async def send(base: str, pairs: list[tuple[RunEvent, RunEvent]], concurrency: int) -> list[float]:
    """Seconds of each event's request, `concurrency` jobs at a time."""
    took: list[float] = []
    queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
    for start, complete in pairs:
        queue.put_nowait((Serde.to_json(start).encode(), Serde.to_json(complete).encode()))
    headers = {**auth_headers(), "content-type": "application/json"}
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:

        async def worker() -> None:
            while not queue.empty():
                for body in queue.get_nowait():
                    started = time.perf_counter()
                    answer = await c.post("/api/v1/lineage", content=body)
                    took.append(time.perf_counter() - started)
                    answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return took


def warm(base: str) -> tuple[int, float]:
    """Send rounds of events until two rounds in a row agree on the rate within 10% (Neo4j
    is a JVM started for this benchmark: its first ten thousand events run several times
    slower than the rest, as its JIT compiles them); (events sent, the last rate)."""
    rates: list[float] = []
    while len(rates) < WARM_ROUNDS:
        pairs = pipeline(WARM_JOBS, f"warm{len(rates)}")
        rates.append(2 * WARM_JOBS / emit(base, pairs))
        if len(rates) >= 3 and abs(rates[-1] - rates[-2]) <= 0.1 * rates[-2]:
            break
    return 2 * WARM_JOBS * len(rates), rates[-1]


def main() -> None:
    with forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _):
        warmed, _ = warm(base)
        serial = asyncio.run(send(base, pipeline(SERIAL // 2, "serial"), 1))
        rates = [2 * JOBS / emit(base, pipeline(JOBS, f"load{r}")) for r in range(REPEAT)]
        started = time.perf_counter()
        loaded = asyncio.run(send(base, pipeline(JOBS, "timed"), CONCURRENCY))
        timed = len(loaded) / (time.perf_counter() - started)
    print(
        f"\n== OpenLineage ingestion: {2 * JOBS} RunEvents ({JOBS} jobs) a run, one client, "
        f"after {warmed} to warm up"
    )
    print(f"{'':44} {'median':>8} {'p99':>8}")
    print(
        f"{'one at a time, ms per event':44} {statistics.median(serial) * 1000:8.2f} "
        f"{p99(serial) * 1000:8.2f}"
    )
    print(
        f"{f'{CONCURRENCY} at a time, ms per event':44} {statistics.median(loaded) * 1000:8.2f} "
        f"{p99(loaded) * 1000:8.2f}"
    )
    print(
        f"events/s: the OpenLineage client's async transport ({CONCURRENCY} at a time, median "
        f"of {REPEAT} runs: {', '.join(f'{r:.0f}' for r in rates)}) {statistics.median(rates):.0f}"
        f" (target: 500); the timed sender {timed:.0f}; one at a time "
        f"{1 / statistics.mean(serial):.0f}"
    )


if __name__ == "__main__":
    main()
