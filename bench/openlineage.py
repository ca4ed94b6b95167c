"""OpenLineage ingestion: how many RunEvents a second one client gets into the registry.

Data: JOBS pipelines of a START and a COMPLETE event each, serialised by the real
openlineage-python client (its Serde): every job reads two datasets (one shared by all, a
source table, and the previous job's output) and writes one, so each COMPLETE makes a version
and every event adds consumption edges. One client process sends them over CONCURRENCY
kept-alive connections (as the client's async transport does), each job's START before its
COMPLETE. Prints events a second and the latency of one event (median, p99) at that load,
and, as the floor under it, the same events sent one at a time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from bench.common import auth_headers, forebear_server, p99

JOBS = int(os.environ.get("OPENLINEAGE_BENCH_JOBS", "1500"))
SERIAL = int(os.environ.get("OPENLINEAGE_BENCH_SERIAL", "200"))
CONCURRENCY = int(os.environ.get("OPENLINEAGE_BENCH_CONCURRENCY", "32"))


def pipeline(jobs: int, tag: str) -> list[tuple[bytes, bytes]]:
    """(START, COMPLETE) of each job, as JSON."""
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
            events.append(Serde.to_json(event).encode())
        pairs.append((events[0], events[1]))
    return pairs


async def send(base: str, pairs: list[tuple[bytes, bytes]], concurrency: int) -> list[float]:
    """Seconds of each event's request, `concurrency` jobs at a time."""
    took: list[float] = []
    queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
    for pair in pairs:
        queue.put_nowait(pair)
    headers = {**auth_headers(), "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:

        async def worker() -> None:
            while not queue.empty():
                for body in queue.get_nowait():
                    started = time.perf_counter()
                    answer = await c.post("/api/v1/lineage", content=body)
                    took.append(time.perf_counter() - started)
                    answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return took


def main() -> None:
    with forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _):
        asyncio.run(send(base, pipeline(50, "warm"), 8))
        serial = asyncio.run(send(base, pipeline(SERIAL // 2, "serial"), 1))
        load = pipeline(JOBS, "load")
        started = time.perf_counter()
        loaded = asyncio.run(send(base, load, CONCURRENCY))
        elapsed = time.perf_counter() - started
    print(f"\n== OpenLineage ingestion: {2 * JOBS} RunEvents ({JOBS} jobs), one client")
    print(f"{'':44} {'median':>8} {'p99':>8}")
    print(
        f"{'one at a time, ms per event':44} {statistics.median(serial) * 1000:8.2f} "
        f"{p99(serial) * 1000:8.2f}"
    )
    print(
        f"{f'{CONCURRENCY} at a time, ms per event':44} {statistics.median(loaded) * 1000:8.2f} "
        f"{p99(loaded) * 1000:8.2f}"
    )
    rate = len(loaded) / elapsed
    print(
        f"{CONCURRENCY} at a time: {rate:.0f} events/s (target: 500/s); "
        f"one at a time: {1 / statistics.mean(serial):.0f} events/s"
    )


if __name__ == "__main__":
    main()
