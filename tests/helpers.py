"""Small helpers the tests share."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
from minio import Minio
from starlette.testclient import TestClient

from api.settings import Settings

# What the suite configures: the server secret, and the first org admin's key.
TEST_SECRET: Final = "test-secret-of-the-forebear-suite"
ADMIN_KEY: Final = "fbk_test-admin-key-of-the-forebear-suite"
ROOT: Final = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def api_process(
    settings: Settings, log: Path, *, port: int | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real API process (`python -m api`) on the settings' bucket, with more FOREBEAR_
    settings in `env` ({"FOREBEAR_WEBHOOK_WORKERS": "0"}, ...): its base URL and process, stopped
    (if still alive) at the end. What it logs goes to `log`."""
    port = port or free_port()
    environment = {
        **os.environ,
        "FOREBEAR_PORT": str(port),
        "FOREBEAR_S3_BUCKET": settings.s3_bucket,
        "FOREBEAR_LOG_LEVEL": "INFO",
        "FOREBEAR_SECRET_KEY": TEST_SECRET,
        "FOREBEAR_ADMIN_KEY": ADMIN_KEY,
        **(env or {}),
    }
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api"], cwd=ROOT, env=environment, stderr=out
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, f"the server exited: see {log}"
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.2)
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def s3_client(settings: Settings) -> Minio:
    return Minio(
        settings.s3_netloc,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
    )


def remove_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        return
    for obj in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, obj.object_name)
    client.remove_bucket(bucket)


def graphql(client: TestClient, query: str, **variables: object) -> dict[str, Any]:
    """POST one GraphQL operation; return the decoded body (data and errors)."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    return body


def series(client: TestClient, metric: str) -> dict[str, float]:
    """The values of one labelled metric on /metrics, by its label's value."""
    found = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(metric + "{"):
            found[line.split('="')[1].split('"')[0]] = float(line.split()[-1])
    return found


def reference(
    edges: list[tuple[str, str, str]],
    start: str,
    upstream: bool,
    dead: set[str] | frozenset[str] = frozenset(),
    depth: int | None = None,
) -> dict[str, int]:
    """Plain BFS over (run, kind, version) edges, the way lineage is defined: node -> distance
    from `start`, never through `dead` (deleted) nodes, at most `depth` hops."""
    step: dict[str, list[str]] = {}
    for run, kind, version in edges:
        forward = (kind == "PRODUCED") != upstream
        a, b = (run, version) if forward else (version, run)
        step.setdefault(a, []).append(b)
    seen, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        if depth is not None and seen[node] >= depth:
            continue
        for nxt in step.get(node, []):
            if nxt not in seen and nxt not in dead:
                seen[nxt] = seen[node] + 1
                queue.append(nxt)
    return seen


def gql_at(base: str, query: str, key: str = ADMIN_KEY, **variables: Any) -> dict[str, Any]:
    """A GraphQL call to a real server process (the `server` fixture) that must succeed."""
    body = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(key),
        timeout=30,
    ).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def counted(base: str, series: str) -> float:
    """The sum of a server's Prometheus samples whose line starts with `series` (a metric name
    and the start of its labels): what it counted so far."""
    text = httpx.get(f"{base}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series))
