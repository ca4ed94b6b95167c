"""GraphQL subscriptions over WebSocket (graphql-transport-ws), from a real client to a real
API process: audit events as they commit, resumed from a cursor, and lineage changes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.settings import Settings
from tests.helpers import ADMIN_KEY, api_process, gql_at

START = """mutation($project: String!) { startRun(input: {project: $project, name: "r"}) {
  run { id } } }"""
VERSION = """mutation($artifact: String!, $run: ID) { createArtifactVersion(input: {
  project: "fraud", artifact: $artifact, type: "dataset", files: [], run: $run}) {
  version { id } } }"""
COMMIT = (
    """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) { version { id } } }"""
)
USE = """mutation($run: ID!, $v: String!) { useArtifactVersion(input: {run: $run, version: $v}) {
  created } }"""
DELETE = """mutation($v: String!) { deleteArtifactVersion(input: {version: $v}) {
  version { id } } }"""
LINK = """mutation($version: String!, $collection: String!) { linkVersion(input: {
  registry: "dataset", collection: $collection, version: $version, createCollection: true}) {
  link { id } } }"""
EVENTS = """subscription($after: Long) { events(registry: "dataset", after: $after) {
  seq type actor subjects } }"""
LINEAGE = """subscription($of: ID!) { lineageChanged(of: $of, direction: DOWNSTREAM) {
  type actor touched added removed size } }"""


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with api_process(settings, tmp_path / "server.log", env={"FOREBEAR_EVENTS_POLL": "0.2"}) as (
        url,
        _,
    ):
        yield url


@contextmanager
def socket(base: str, key: str | None = ADMIN_KEY) -> Iterator[ClientConnection]:
    """A graphql-transport-ws connection, acknowledged."""
    url = base.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {key}"} if key else {}
        ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield ws


def acked(ws: ClientConnection) -> None:
    assert json.loads(ws.recv(timeout=10)) == {"type": "connection_ack"}


def subscribe(ws: ClientConnection, query: str, **variables: Any) -> None:
    acked(ws)
    ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )


def receive(ws: ClientConnection, field: str) -> dict[str, Any]:
    """The next item the subscription sends (skipping pings)."""
    while True:
        message = json.loads(ws.recv(timeout=15))
        if message["type"] == "ping":
            ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        item: dict[str, Any] = message["payload"]["data"][field]
        return item


def head(base: str) -> int:
    """The seq of the last event: subscribing after it, nothing from here on is missed, however
    late the server registers the subscription."""
    nodes = gql_at(base, "{ auditLog(first: 1) { nodes { seq } } }")["auditLog"]["nodes"]
    return int(nodes[0]["seq"]) if nodes else 0


def sealed(base: str, version: str) -> None:
    """Wait until the version's commit is in the audit log (sealed, which follows the commit
    by a moment): a subscription taken from now then starts after it, not before."""
    query = """{ auditLog(first: 1, types: ["artifact_version.committed"]) {
      nodes { subjects } } }"""
    deadline = time.monotonic() + 15
    while True:
        newest = gql_at(base, query)["auditLog"]["nodes"]
        if newest and version in newest[0]["subjects"]:
            return
        assert time.monotonic() < deadline, f"the commit of {version} was never sealed"
        time.sleep(0.05)


def dataset(base: str, name: str, run: str | None = None) -> str:
    opened = gql_at(base, VERSION, artifact=name, run=run)["createArtifactVersion"]["version"]
    gql_at(base, COMMIT, id=opened["id"])
    return str(opened["id"])


def test_events_follow_changes_and_resume_after_a_disconnect(base: str) -> None:
    version = dataset(base, "clicks")
    with socket(base) as ws:
        subscribe(ws, EVENTS, after=head(base))
        gql_at(base, LINK, version=version, collection="a")
        first = receive(ws, "events")
        assert (first["type"], first["actor"]) == ("link.created", "admin")
        assert version in first["subjects"]
        gql_at(base, LINK, version=version, collection="b")
        second = receive(ws, "events")
        assert second["seq"] > first["seq"]
    # Changes made while no one was connected are not lost: resume after the last seen.
    gql_at(base, LINK, version=version, collection="c")
    dataset(base, "outside-the-registry")  # in a project, not in the registry: not sent
    gql_at(base, LINK, version=version, collection="d")
    with socket(base) as ws:
        subscribe(ws, EVENTS, after=second["seq"])
        missed = [receive(ws, "events"), receive(ws, "events")]
        assert [m["type"] for m in missed] == ["link.created", "link.created"]
        gql_at(base, LINK, version=version, collection="e")
        live = receive(ws, "events")
        seqs = [second["seq"], *(m["seq"] for m in missed), live["seq"]]
        assert seqs == sorted(set(seqs))  # in order, none twice


def test_a_socket_without_a_live_key_is_refused(base: str) -> None:
    for key in (None, "fbk_not-a-key-anyone-holds"):
        with socket(base, key) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


def test_events_are_only_for_who_may_read_them(base: str) -> None:
    made = gql_at(
        base,
        """mutation { createUser(input: {name: "eve"}) { key } }""",
    )["createUser"]["key"]
    with socket(base, made) as ws:
        subscribe(ws, EVENTS)
        message = json.loads(ws.recv(timeout=10))
        # refused before anything is sent: the subscription ends with its reason
        assert message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert "dataset" in errors[0]["message"]


def test_what_an_event_says_of_what_the_caller_may_not_read_is_withheld(base: str) -> None:
    version = dataset(base, "clicks")  # in project fraud
    run = gql_at(base, START, project="open")["startRun"]["run"]["id"]
    key = gql_at(base, 'mutation { createUser(input: {name: "mo"}) { key } }')["createUser"]["key"]
    gql_at(
        base,
        'mutation { setProjectMember(input: {project: "open", principal: "mo"}) { __typename } }',
    )
    query = """subscription($s: ID!, $after: Long) { events(subject: $s, after: $after) {
      type withheld subjects after } }"""
    with socket(base, key) as ws:
        subscribe(ws, query, s=run, after=head(base))
        gql_at(base, USE, run=run, v=version)
        used = receive(ws, "events")
    # mo follows the run, not project fraud: which of its versions the run used is not said
    assert used == {"type": "run.used_version", "withheld": True, "subjects": [run], "after": {}}


def error_of(ws: ClientConnection) -> dict[str, Any]:
    """The error that ends the subscription (skipping pings and items)."""
    while True:
        message = json.loads(ws.recv(timeout=15))
        if message["type"] == "ping":
            ws.send(json.dumps({"type": "pong"}))
        elif message["type"] == "error":
            return dict(message["payload"][0])
        elif message["type"] == "next" and message["payload"].get("errors"):
            return dict(message["payload"]["errors"][0])


def test_a_role_or_key_taken_away_ends_the_subscription(base: str) -> None:
    version = dataset(base, "clicks")
    users = {}
    for name in ("mia", "noor"):
        made = gql_at(
            base,
            "mutation($n: String!) { createUser(input: {name: $n}) { key apiKey { id } } }",
            n=name,
        )["createUser"]
        users[name] = made
        gql_at(
            base,
            """mutation($n: String!) { setRegistryMember(input: {registry: "dataset",
            principal: $n, role: VIEWER}) { __typename } }""",
            n=name,
        )
    with socket(base, users["mia"]["key"]) as mia, socket(base, users["noor"]["key"]) as noor:
        subscribe(mia, EVENTS, after=head(base))
        subscribe(noor, EVENTS, after=head(base))
        gql_at(base, LINK, version=version, collection="a")
        assert receive(mia, "events")["type"] == "link.created"
        assert receive(noor, "events")["type"] == "link.created"
        # Mia leaves the registry; Noor's key is revoked: the next event is not theirs.
        gql_at(
            base,
            """mutation { removeRegistryMember(input: {registry: "dataset", principal: "mia"})
            { __typename } }""",
        )
        gql_at(
            base,
            "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { __typename } }",
            id=users["noor"]["apiKey"]["id"],
        )
        gql_at(base, LINK, version=version, collection="b")
        refused = error_of(mia)
        assert refused["extensions"]["code"] == "FORBIDDEN"
        assert "dataset" in refused["message"]
        revoked = error_of(noor)
        assert revoked["extensions"]["code"] == "UNAUTHENTICATED"
        assert "no longer live" in revoked["message"]


def test_lineage_changed_says_what_entered_and_left_the_closure(base: str) -> None:
    source = dataset(base, "raw")
    sealed(base, source)  # its own commit is behind the subscription, not in it
    with socket(base) as ws:
        subscribe(ws, LINEAGE, of=source)
        time.sleep(0.5)  # the server has taken the subscription (the protocol does not say)
        train = gql_at(base, START, project="fraud")["startRun"]["run"]["id"]
        gql_at(base, USE, run=train, v=source)
        consumed = receive(ws, "lineageChanged")
        assert consumed["type"] == "run.used_version"
        assert consumed["added"] == [train]
        assert consumed["size"] == 2
        model = dataset(base, "features", run=train)
        produced = receive(ws, "lineageChanged")
        assert (produced["type"], produced["added"]) == ("artifact_version.committed", [model])
        # A change elsewhere does not touch this closure: nothing is sent for it.
        dataset(base, "unrelated")
        gql_at(base, DELETE, v=model)
        deleted = receive(ws, "lineageChanged")
        assert deleted["type"] == "artifact_version.deleted"
        assert deleted["removed"] == [model]
        assert deleted["size"] == 2


def test_many_subscribers_each_get_every_event_once(base: str) -> None:
    version = dataset(base, "shared")
    sockets = [socket(base) for _ in range(40)]
    opened = [s.__enter__() for s in sockets]
    try:
        after = head(base)
        for ws in opened:
            subscribe(ws, EVENTS, after=after)
        gql_at(base, LINK, version=version, collection="one")
        gql_at(base, LINK, version=version, collection="two")
        got = [[receive(ws, "events")["seq"], receive(ws, "events")["seq"]] for ws in opened]
        assert len({tuple(g) for g in got}) == 1
        assert got[0][0] < got[0][1]
    finally:
        for s in sockets:
            s.__exit__(None, None, None)


def test_a_subscription_sent_over_http_is_told_where_to_go(client: TestClient) -> None:
    answer = client.post("/graphql", json={"query": "subscription { events { seq } }"}).json()
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert "WebSocket" in error["message"]
    assert answer["data"] is None
