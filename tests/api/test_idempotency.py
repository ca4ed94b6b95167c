"""Idempotency keys: a mutation retried with the same key returns the first answer and writes
nothing, through TestClient and through a real server whose client vanished after the commit."""

from __future__ import annotations

import concurrent.futures
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from neo4j import AsyncDriver
from starlette.testclient import TestClient

from api.services.blobs import collect_garbage
from api.settings import Settings
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from graph.repository.idempotency import IdempotencyRepository
from storage.blobs import BlobStore
from tests.factories import count, events, log_version, ok, sha, user_key
from tests.helpers import ADMIN_KEY, bearer, graphql, s3_client


def keyed(client: TestClient, key: str, query: str, **variables: Any) -> tuple[int, bytes, str]:
    """POST a mutation with an Idempotency-Key: status, body, and the replay header."""
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Idempotency-Key": key},
    )
    return response.status_code, response.content, response.headers.get("idempotent-replayed", "")


def graph_size(settings: Settings) -> tuple[int, int]:
    return (
        count(settings, "MATCH (n) WHERE NOT n:Idempotency RETURN count(n)"),
        count(settings, "MATCH ()-[r]->() RETURN count(r)"),
    )


START = """mutation($p: String!) { startRun(input: {project: $p}) { run { id name } } }"""
CREATE = """mutation($input: CreateArtifactVersionInput!) {
  createArtifactVersion(input: $input) { version { id } missingBlobs } }"""
ALIAS = """mutation($l: String!, $a: String!) { setCollectionAlias(input: {link: $l, alias: $a}) {
  link { index aliases { name } } previous { index } } }"""
STAGE = """mutation($l: String!) { assignStage(input: {link: $l, stage: "staging"}) {
  link { index stages } } }"""
SEMVER = """mutation($l: String!) { setSemver(input: {link: $l, semver: "1.0.0"}) {
  link { index semver } } }"""
DEREGISTER = """mutation($l: String!) { deregisterLink(input: {link: $l, confirmDependents: true}) {
  link { index deregistered } } }"""


@pytest.fixture
def linked(client: TestClient) -> None:
    """model/clf with v0 and v1 linked."""
    ok(
        graphql(
            client,
            'mutation { createCollection(input: {registry: "model", name: "clf"}) '
            "{ collection { id } } }",
        )
    )
    for i in range(2):
        version = log_version(client, {"m": f"model {i}".encode()})["id"]
        ok(
            graphql(
                client,
                """mutation($v: String!) { linkVersion(input: {registry: "model",
            collection: "clf", version: $v}) { link { id } } }""",
                v=version,
            )
        )


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (START, {"p": "fraud"}),
        (
            CREATE,
            {
                "input": {
                    "project": "fraud",
                    "artifact": "m",
                    "type": "model",
                    "files": [{"path": "a", "size": 1, "sha256": sha(b"a")}],
                }
            },
        ),
        (ALIAS, {"l": "model/clf:v0", "a": "candidate"}),
        (STAGE, {"l": "model/clf:v1"}),
        (SEMVER, {"l": "model/clf:v1"}),
        (DEREGISTER, {"l": "model/clf:v0"}),
    ],
    ids=[
        "startRun",
        "createArtifactVersion",
        "setCollectionAlias",
        "assignStage",
        "setSemver",
        "deregisterLink",
    ],
)
def test_a_retry_with_the_same_key_returns_the_first_answer_and_writes_nothing(
    client: TestClient, settings: Settings, linked: None, query: str, variables: dict[str, Any]
) -> None:
    status, first, replayed = keyed(client, "retry-1", query, **variables)
    assert (status, replayed) == (200, "")
    assert "errors" not in orjson.loads(first), first
    before = (events(settings), graph_size(settings))
    for _ in range(3):
        assert keyed(client, "retry-1", query, **variables) == (200, first, "true")
    assert (events(settings), graph_size(settings)) == before
    # without the key, the same request is a new request
    again = graphql(client, query, **variables)
    if query in (START, CREATE):
        assert ok(again) != orjson.loads(first)["data"]
    elif query == ALIAS:  # moving an alias to where it is already moves nothing
        assert ok(again)["setCollectionAlias"]["previous"] == {"index": 0}
        assert (events(settings), graph_size(settings)) == before
    else:  # the change happened once: doing it again is refused as it always was
        assert again["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_the_same_key_for_another_request_is_refused(
    client: TestClient, settings: Settings
) -> None:
    ok(orjson.loads(keyed(client, "k", START, p="fraud")[1]))
    before = (events(settings), graph_size(settings))
    status, body, _ = keyed(client, "k", START, p="other")
    assert status == 409
    error = orjson.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "CONFLICT"
    assert "different request" in error["message"]
    assert (events(settings), graph_size(settings)) == before


def test_keys_belong_to_their_caller(client: TestClient, settings: Settings) -> None:
    mine = orjson.loads(keyed(client, "shared", START, p="fraud")[1])["data"]
    other = user_key(client, "otto")
    response = client.post(
        "/graphql",
        json={"query": START, "variables": {"p": "otto-project"}},
        headers={**bearer(other), "Idempotency-Key": "shared"},
    )
    theirs = ok(response.json())
    assert "idempotent-replayed" not in response.headers
    assert theirs["startRun"]["run"]["id"] != mine["startRun"]["run"]["id"]


def test_a_refused_mutation_gives_its_key_back(client: TestClient, linked: None) -> None:
    ok(graphql(client, DEREGISTER, l="model/clf:v1"))
    _, body, _ = keyed(client, "stage-it", STAGE, l="model/clf:v1")
    assert orjson.loads(body)["errors"][0]["extensions"]["code"] == "CONFLICT"
    ok(
        graphql(
            client,
            """mutation { restoreLink(input: {link: "model/clf:v1"}) {
        link { id } } }""",
        )
    )
    _, body, replayed = keyed(client, "stage-it", STAGE, l="model/clf:v1")
    assert replayed == ""
    assert ok(orjson.loads(body))["assignStage"]["link"]["stages"] == ["staging"]


def test_a_key_covers_one_mutation_field_and_must_be_sane(client: TestClient) -> None:
    two = (
        'mutation { a: startRun(input: {project: "p"}) { run { id } } '
        'b: startRun(input: {project: "p"}) { run { id } } }'
    )
    status, body, _ = keyed(client, "two", two)
    assert status == 400
    assert "covers one mutation field" in orjson.loads(body)["errors"][0]["message"]
    status, body, _ = keyed(client, "x" * 300, START, p="p")
    assert status == 400
    assert orjson.loads(body)["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    # a query with a key is just a query
    status, body, _ = keyed(client, "q", "{ viewer { user { name } } }")
    assert (status, ok(orjson.loads(body))["viewer"]["user"]["name"]) == (200, "admin")


def test_concurrent_retries_run_the_mutation_once(client: TestClient, settings: Settings) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: keyed(client, "race", START, p="fraud"), range(16)))
    bodies = {body for status, body, _ in answers if status == 200}
    assert len(bodies) == 1, answers
    assert sum(1 for _, _, replayed in answers if replayed == "") <= 1
    assert count(settings, "MATCH (r:Run) RETURN count(r)") == 1


def test_a_retry_after_the_connection_died_past_the_commit_gets_the_first_answer(
    server: tuple[str, int], settings: Settings
) -> None:
    base, _ = server
    port = int(base.rsplit(":", 1)[1])
    body = orjson.dumps({"query": START, "variables": {"p": "lost"}})
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
        "Content-Type: application/json\r\nIdempotency-Key: lost-answer\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + 20
        while count(settings, "MATCH (r:Run {project: 'lost'}) RETURN count(r)") == 0:
            assert time.monotonic() < deadline, "the run was never started"
            time.sleep(0.01)
        # committed: the client goes away without reading the answer
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    before = events(settings)
    retried = httpx.post(
        f"{base}/graphql",
        content=body,
        headers={
            **bearer(ADMIN_KEY),
            "content-type": "application/json",
            "Idempotency-Key": "lost-answer",
        },
        timeout=30,
    )
    assert retried.status_code == 200
    assert retried.headers["idempotent-replayed"] == "true"
    run = ok(retried.json())["startRun"]["run"]
    assert count(settings, "MATCH (r:Run {project: 'lost'}) RETURN count(r)") == 1
    assert (
        count(settings, "MATCH (r:Run {project: 'lost'}) RETURN r.id = $id AS same", id=run["id"])
        == 1
    )
    assert events(settings) == before


async def test_keys_are_forgotten_after_their_time(
    client: TestClient, settings: Settings, driver: AsyncDriver
) -> None:
    keyed(client, "old", START, p="fraud")
    assert count(settings, "MATCH (i:Idempotency) RETURN count(i)") == 1
    store = BlobStore(s3_client(settings), settings.s3_bucket)
    repos = (
        ArtifactRepository(driver, settings.neo4j_database),
        BlobRepository(driver, settings.neo4j_database),
    )
    keys = IdempotencyRepository(driver, settings.neo4j_database)
    soon = await collect_garbage(*repos, store, grace=timedelta(hours=1), keys=keys)
    assert soon.expired_keys == 0
    later = datetime.now(UTC) + timedelta(seconds=settings.idempotency_ttl + 1)
    report = await collect_garbage(*repos, store, grace=timedelta(hours=1), keys=keys, now=later)
    assert report.expired_keys == 1
    # forgotten: the same key is a new request now
    status, _, replayed = keyed(client, "old", START, p="fraud")
    assert (status, replayed) == (200, "")
    assert count(settings, "MATCH (r:Run) RETURN count(r)") == 2
