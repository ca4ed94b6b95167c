"""Small helpers the tests share."""

from __future__ import annotations

from collections import deque
from typing import Any, Final

import httpx
from minio import Minio
from starlette.testclient import TestClient

from api.settings import Settings

# What the suite configures: the server secret, and the first org admin's key.
TEST_SECRET: Final = "test-secret-of-the-forebear-suite"
ADMIN_KEY: Final = "fbk_test-admin-key-of-the-forebear-suite"


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
