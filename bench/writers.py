"""Many writers at once: Forebear against the MLflow Model Registry, on the same machine.

Data: C = 10, 20 and 40 clients (threads, each on its own kept-alive connection) writing for
SECONDS seconds each, as a training fleet does:
- Forebear: each client logs a version of its own artifact in ONE shared project
  (createArtifactVersion with a reference entry, so nothing to upload, and `commit: true`:
  committed as it opens, as the SDK does), then links it into ONE shared collection, moving
  its `champion` alias (linkVersion): every write contends for the same project and the same
  collection.
- MLflow: each client creates a model version of ONE shared registered model, then moves its
  `champion` alias onto it: the same two writes, on `mlflow server` (its default workers) with a
  SQLite store, from its own virtualenv (MLFLOW, made by `make bench`).
Each side is first warmed up, untimed, at the first client count, into a collection and a
model of its own: rounds of WARMUP seconds until two in a row agree within 10% (at most
WARM_ROUNDS; Neo4j's JIT takes about a minute to settle). Prints, per system and client
count, writes per second (each side's cycle is two: log, link; create a version, move the
alias), models registered per second (a version made and given the alias: the work both did),
p50, p99 and the slowest write, and the ratios (models per second: Forebear / MLflow; p99:
MLflow / Forebear), and how busy the machine's CPU was meanwhile.
Targets (issue #17): p99 at most 1 s and no write over 5 s at 40 clients, throughput growing
with clients until the CPU is busy, and at least 3x MLflow's throughput at a better p99.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Client, auth_headers, forebear_server, mlflow_server, p99

CLIENTS = tuple(int(c) for c in os.environ.get("WRITERS_BENCH_CLIENTS", "10,20,40").split(","))
SECONDS = float(os.environ.get("WRITERS_BENCH_SECONDS", "20"))
# Untimed load on each side first, into a collection and a model of its own: Neo4j is a fresh
# JVM (its first minute compiles) and MLflow's workers start cold too.
WARMUP = float(os.environ.get("WRITERS_BENCH_WARMUP", "10"))
WARM_ROUNDS = 8
MLFLOW = Path(os.environ.get("MLFLOW_VENV", ".venv-mlflow")) / "bin" / "mlflow"

LOG = """mutation($project: String!, $artifact: String!, $uri: String!) {
  createArtifactVersion(input: {project: $project, artifact: $artifact, type: "model", files: [],
  references: [{path: "model.bin", uri: $uri}], commit: true}) { version { id state } } }"""
LINK = """mutation($version: String!, $collection: String!) { linkVersion(input: {
  registry: "model", collection: $collection, version: $version, aliases: ["champion"]}) {
  link { index } } }"""


@dataclass
class Load:
    took: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    registered: int = 0  # versions made and given the alias
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self) -> None:
        with self.lock:
            self.registered += 1


def forebear_writer(base: str, fleet: str) -> Callable[[int, Load, float], None]:
    def write(client_no: int, load: Load, until: float) -> None:
        client = Client(base, keep_alive=True, headers=auth_headers())
        artifact = f"model-{client_no}-{uuid.uuid4().hex[:6]}"
        while time.monotonic() < until:
            uri = f"s3://fleet/{uuid.uuid4().hex}/model.bin"
            made = timed_call(load, client.gql, LOG, project=fleet, artifact=artifact, uri=uri)
            if made is None:
                continue
            logged = made["createArtifactVersion"]["version"]
            if logged["state"] != "COMMITTED":
                raise RuntimeError(f"logged {logged}, not committed at once")
            if timed_call(load, client.gql, LINK, version=logged["id"], collection=fleet):
                load.register()

    return write


def mlflow_writer(base: str, model: str) -> Callable[[int, Load, float], None]:
    def write(client_no: int, load: Load, until: float) -> None:
        client = Client(base, keep_alive=True)
        while time.monotonic() < until:
            source = f"s3://fleet/{uuid.uuid4().hex}"
            created = timed_call(
                load,
                client.call,
                "POST",
                "/api/2.0/mlflow/model-versions/create",
                {"name": model, "source": source},
            )
            if created is None:
                continue
            number = created["model_version"]["version"]
            alias = {"name": model, "alias": "champion", "version": number}
            path = "/api/2.0/mlflow/registered-models/alias"
            if timed_call(load, client.call, "POST", path, alias) is not None:
                load.register()

    return write


def timed_call(load: Load, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """call(*args, **kwargs)'s answer (None when it failed: the error is kept in `load`, as
    the time of one that succeeded)."""
    started = time.perf_counter()
    try:
        answer = call(*args, **kwargs)
    except Exception as error:  # counted and shown, not a reason to stop
        with load.lock:
            load.errors.append(str(error)[:300])
        return None
    took = time.perf_counter() - started
    with load.lock:
        load.took.append(took)
    return answer


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def run(
    writer: Callable[[int, Load, float], None], clients: int, seconds: float = SECONDS
) -> tuple[Load, float, float]:
    """The load's outcome, its seconds, and the share of the machine's CPU busy meanwhile
    (server, database and these clients together)."""
    load = Load()
    started = time.monotonic()
    busy_before, total_before = cpu_times()
    until = started + seconds
    threads = [threading.Thread(target=writer, args=(i, load, until)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    busy, total = cpu_times()
    return load, time.monotonic() - started, (busy - busy_before) / max(1, total - total_before)


def warm(writer: Callable[[int, Load, float], None]) -> None:
    """Untimed rounds of load until two in a row agree within 10% (at most WARM_ROUNDS)."""
    rates: list[float] = []
    while WARMUP > 0 and len(rates) < WARM_ROUNDS:
        load, seconds, _ = run(writer, CLIENTS[0], WARMUP)
        rates.append(load.registered / seconds)
        if len(rates) >= 2 and abs(rates[-1] - rates[-2]) <= 0.1 * max(rates[-2:]):
            return


def main() -> None:
    if not MLFLOW.exists():
        raise SystemExit(f"{MLFLOW} not found: `make bench` installs MLflow into .venv-mlflow")
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-writers-"))
    rows: list[tuple[int, str, Load, float, float]] = []
    mlflow = mlflow_server(MLFLOW, workdir, "--default-artifact-root", str(workdir / "artifacts"))
    try:
        with mlflow as mlflow_url, forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _):
            fleet = f"fleet-{uuid.uuid4().hex[:8]}"  # a project and a collection of this run's
            for name in (f"warm-{fleet}", fleet):
                Client(base, keep_alive=False, headers=auth_headers()).gql(
                    'mutation($name: String!) { createCollection(input: {registry: "model", '
                    "name: $name}) { collection { id } } }",
                    name=name,
                )
                Client(mlflow_url, keep_alive=False).call(
                    "POST", "/api/2.0/mlflow/registered-models/create", {"name": name}
                )
            warm(forebear_writer(base, f"warm-{fleet}"))
            warm(mlflow_writer(mlflow_url, f"warm-{fleet}"))
            for clients in CLIENTS:
                for name, writer in (
                    ("Forebear", forebear_writer(base, fleet)),
                    ("MLflow", mlflow_writer(mlflow_url, fleet)),
                ):
                    load, seconds, cpu = run(writer, clients)
                    rows.append((clients, name, load, seconds, cpu))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n== many writers: C clients for {SECONDS:.0f} s each; Forebear logs a version into "
        "one project and links it into one collection, MLflow creates a model version and "
        "moves an alias; times in ms"
    )
    print(
        f"{'clients':>7} {'system':9} {'writes/s':>9} {'models/s':>9} {'p50':>8} {'p99':>8} "
        f"{'max':>8} {'errors':>7} {'CPU busy':>9}"
    )
    figures: dict[tuple[int, str], tuple[float, float]] = {}
    for clients, name, load, seconds, cpu in rows:
        rate = load.registered / seconds
        p99_ms = p99(load.took) * 1000
        figures[clients, name] = (rate, p99_ms)
        print(
            f"{clients:7} {name:9} {len(load.took) / seconds:9.1f} {rate:9.1f} "
            f"{statistics.median(load.took) * 1000:8.1f} {p99_ms:8.1f} "
            f"{max(load.took) * 1000:8.1f} {len(load.errors):7} {cpu:9.0%}"
        )
        for error in sorted(set(load.errors))[:3]:
            print(f"{'':17} error: {error}")
    print(f"{'clients':>7} {'models/s Forebear/MLflow':>26} {'p99 MLflow/Forebear':>21}")
    for clients in CLIENTS:
        (ours, our_p99), (theirs, their_p99) = (
            figures[clients, "Forebear"],
            figures[clients, "MLflow"],
        )
        print(f"{clients:7} {ours / theirs:25.1f}x {their_p99 / our_p99:20.1f}x")


if __name__ == "__main__":
    main()
