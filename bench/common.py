"""What the benchmarks share: a Forebear server of their own, timing, and medians."""

from __future__ import annotations

import contextlib
import gc
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from neo4j import GraphDatabase

ROOT = Path(__file__).resolve().parent.parent


class Client:
    """Plain HTTP/1.1 calls (the standard library's http.client: httpx spends twice as long
    reading a 20 MB body), on one kept-alive connection or a fresh one each time."""

    def __init__(
        self, base: str, *, keep_alive: bool, headers: dict[str, str] | None = None
    ) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.keep_alive = keep_alive
        self.headers = headers or {}
        self._conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: Any = None) -> bytes:
        """The response body of a 200; anything else raises."""
        payload = orjson.dumps(body) if body is not None else None
        headers = {**self.headers, **({"content-type": "application/json"} if payload else {})}
        reused = self.keep_alive and self._conn is not None
        conn = self._conn if reused and self._conn else self._connect()
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            if not reused:
                raise
            # The server closed the idle connection (uvicorn does after 5 s): a new one.
            conn.close()
            conn = self._connect()
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:1000]!r}")
        if self.keep_alive:
            self._conn = conn
        else:
            conn.close()
        return data

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = orjson.loads(self.send(method, path, body) or b"{}")
        if isinstance(data, dict) and data.get("errors"):
            raise RuntimeError(f"{method} {path}: {data}")
        return data

    def gql(self, query: str, **variables: Any) -> Any:
        return self.call("POST", "/graphql", {"query": query, "variables": variables})["data"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, seconds: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f}s")
        time.sleep(0.2)


@contextlib.contextmanager
def forebear_server(bucket: str) -> Iterator[tuple[str, int]]:
    """`python -m api` on a free port with its own bucket, on an empty graph; (base URL,
    pid)."""
    empty_graph()
    port = free_port()
    env = {
        **os.environ,
        "FOREBEAR_PORT": str(port),
        "FOREBEAR_S3_BUCKET": bucket,
        "FOREBEAR_LOG_LEVEL": os.environ.get("FOREBEAR_LOG_LEVEL", "WARNING"),
    }
    # SIGTERM (a stopped `make bench`) must still stop the server: run the `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    server = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz", 60, server)
        yield base, server.pid
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # its figures are taken: do not lose them to this
            print("bench: the API did not stop within 30 s; killed", file=sys.stderr)
            server.kill()
            server.wait()


def empty_graph() -> None:
    """Delete everything in the benchmarks' Neo4j (the API makes the admin again as it
    starts): what one benchmark left (another's automations with their receivers gone, a
    hundred thousand lineage nodes) is not in the next one's figures."""
    auth = (os.environ["FOREBEAR_NEO4J_USER"], os.environ["FOREBEAR_NEO4J_PASSWORD"])
    with (
        GraphDatabase.driver(os.environ["FOREBEAR_NEO4J_URI"], auth=auth) as driver,
        driver.session(database=os.environ.get("FOREBEAR_NEO4J_DATABASE", "neo4j")) as session,
    ):
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def auth_headers() -> dict[str, str]:
    """The org admin's key that `services.py run` (like `make services`) gives the API."""
    key = os.environ.get("FOREBEAR_ADMIN_KEY")
    if not key:
        raise SystemExit("FOREBEAR_ADMIN_KEY is not set: run the benchmarks with `make bench`")
    return {"Authorization": f"Bearer {key}"}


def timed(fn: Callable[[], object]) -> float:
    """Seconds fn takes, with the client's cyclic garbage collector paused as timeit does (a
    full collection in the client, set off by decoding a large answer, is not the server's
    time); it collects after."""
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started
    finally:
        gc.enable()
        gc.collect()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def gql(http: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    body = http.post("/graphql", json={"query": query, "variables": variables}).json()
    if "errors" in body:
        raise RuntimeError(body["errors"])
    data: dict[str, Any] = body["data"]
    return data


@contextlib.contextmanager
def mlflow_server(mlflow: Path, workdir: Path, *artifacts: str) -> Iterator[str]:
    """`mlflow server` (the peer) on a free port, its store a SQLite file in `workdir` and its
    artifacts as the `artifacts` flags say: its base URL once it answers; stopped on exit."""
    port = free_port()
    server = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{workdir}/mlflow.db",
            *artifacts,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Without its job runner: seven huey consumers that serve MLflow's GenAI jobs, none of
        # what is measured here, and that poll all the time (a tenth of this 2-core machine
        # while idle, taken from both sides' operations alike).
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 120, server)
        yield url
    finally:
        server.terminate()
        server.wait(30)
