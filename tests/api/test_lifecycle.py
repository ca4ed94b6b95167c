"""Using versions, aliases, soft delete and restore; races on one artifact."""

from __future__ import annotations

import concurrent.futures

from starlette.testclient import TestClient

from api.settings import Settings
from tests.factories import (
    COMMIT,
    count,
    events,
    log_version,
    ok,
    open_version,
    start_run,
    upload,
)
from tests.helpers import graphql

USE = """
mutation Use($run: ID!, $version: String!) {
  useArtifactVersion(input: {run: $run, version: $version}) { version { name } created }
}
"""
SET_ALIAS = """
mutation Set($version: String!, $alias: String!) {
  setArtifactAlias(input: {version: $version, alias: $alias}) {
    version { name aliases } previous { name aliases }
  }
}
"""
REMOVE_ALIAS = """
mutation Remove($alias: String!) {
  removeArtifactAlias(input: {project: "fraud", artifact: "data", alias: $alias}) {
    previous { name }
  }
}
"""
DELETE = """
mutation Delete($v: String!) {
  deleteArtifactVersion(input: {version: $v, confirmDependents: true}) { version { state } }
}
"""
RESTORE = """
mutation Restore($v: String!) {
  restoreArtifactVersion(input: {version: $v}) { version { state aliases } }
}
"""
CONSUMERS = """
query($ref: String!) { artifactVersion(ref: $ref) { consumedBy { nodes { id } } } }
"""
RUN_IO = """
query($id: ID!) { run(id: $id) { inputs { name } outputs { name } } }
"""


def test_a_run_uses_the_version_latest_named_then_and_keeps_it(client: TestClient) -> None:
    log_version(client, {"d": b"v0"}, artifact="data", type="dataset")
    trainer = start_run(client)
    used = ok(graphql(client, USE, run=trainer["id"], version="fraud/data:latest"))
    assert used["useArtifactVersion"] == {"version": {"name": "fraud/data:v0"}, "created": True}
    again = ok(graphql(client, USE, run=trainer["id"], version="fraud/data:v0"))
    assert again["useArtifactVersion"]["created"] is False
    log_version(client, {"d": b"v1"}, artifact="data", type="dataset")
    io = ok(graphql(client, RUN_IO, id=trainer["id"]))["run"]
    assert io["inputs"] == [{"name": "fraud/data:v0"}]
    consumers = ok(graphql(client, CONSUMERS, ref="fraud/data:v0"))
    assert consumers["artifactVersion"]["consumedBy"]["nodes"] == [{"id": trainer["id"]}]
    assert (
        ok(graphql(client, CONSUMERS, ref="fraud/data:v1"))["artifactVersion"]["consumedBy"][
            "nodes"
        ]
        == []
    )


def test_a_run_cannot_use_what_it_produced_or_a_reference_that_names_nothing(
    client: TestClient, settings: Settings
) -> None:
    run = start_run(client)
    log_version(client, {"m": b"1"}, run=run["id"])
    before = events(settings)
    own = graphql(client, USE, run=run["id"], version="fraud/model:v0")
    assert own["errors"][0]["extensions"]["code"] == "CONFLICT"
    nothing = graphql(client, USE, run=run["id"], version="fraud/model:v7")
    assert nothing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "fraud/model:v7" in nothing["errors"][0]["message"]
    garbled = graphql(client, USE, run=run["id"], version="no-colon-here")
    assert garbled["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.version"}
    assert events(settings) == before
    assert count(settings, "MATCH ()-[c:CONSUMED]->() RETURN count(c)") == 0


def test_an_alias_moves_in_one_step_and_names_its_former_holder(client: TestClient) -> None:
    log_version(client, {"d": b"0"}, artifact="data", type="dataset")
    log_version(client, {"d": b"1"}, artifact="data", type="dataset")
    first = ok(graphql(client, SET_ALIAS, version="fraud/data:v0", alias="golden"))
    assert first["setArtifactAlias"]["previous"] is None
    moved = ok(graphql(client, SET_ALIAS, version="fraud/data:v1", alias="golden"))
    assert moved["setArtifactAlias"]["version"] == {
        "name": "fraud/data:v1",
        "aliases": ["golden", "latest"],
    }
    assert moved["setArtifactAlias"]["previous"] == {"name": "fraud/data:v0", "aliases": []}
    removed = ok(graphql(client, REMOVE_ALIAS, alias="golden"))
    assert removed["removeArtifactAlias"]["previous"] == {"name": "fraud/data:v1"}
    gone = graphql(client, REMOVE_ALIAS, alias="golden")
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_latest_and_index_like_aliases_are_refused(client: TestClient) -> None:
    log_version(client, {"d": b"0"}, artifact="data", type="dataset")
    for alias, field in [("latest", "input.alias"), ("v3", "input.alias"), ("Prod", "input.alias")]:
        body = graphql(client, SET_ALIAS, version="fraud/data:v0", alias=alias)
        assert body["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": field}
    body = graphql(client, REMOVE_ALIAS, alias="latest")
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_twenty_clients_moving_one_alias_leave_one_holder_and_one_event_each(
    client: TestClient, settings: Settings
) -> None:
    versions = [
        log_version(client, {"d": bytes([i])}, artifact="data", type="dataset") for i in range(20)
    ]
    before = count(settings, "MATCH (e:Event {type: 'artifact_alias.set'}) RETURN count(e)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda v: graphql(client, SET_ALIAS, version=v["id"], alias="best"), versions)
        )
    assert all("errors" not in a for a in answers)
    assert count(settings, "MATCH (:Alias {name: 'best'})-[p:POINTS_TO]->() RETURN count(p)") == 1
    assert count(settings, "MATCH (a:Alias {name: 'best'}) RETURN count(a)") == 1
    after = count(settings, "MATCH (e:Event {type: 'artifact_alias.set'}) RETURN count(e)")
    assert after - before == 20


def test_twenty_concurrent_commits_get_consecutive_indexes(client: TestClient) -> None:
    contents = [f"model {i}".encode() for i in range(24)]
    pending = [open_version(client, {"m": data}) for data in contents]
    for data in contents:
        upload(client, data)
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(lambda p: graphql(client, COMMIT, id=p["version"]["id"]), pending))
    indexes = sorted(a["data"]["commitArtifactVersion"]["version"]["index"] for a in answers)
    assert indexes == list(range(24))
    latest = ok(graphql(client, '{ artifactVersion(ref: "fraud/model:latest") { index } }'))
    assert latest["artifactVersion"]["index"] == 23


def test_a_version_holding_an_alias_is_not_deleted_until_the_alias_moves(
    client: TestClient, settings: Settings
) -> None:
    log_version(client, {"d": b"0"}, artifact="data", type="dataset")
    log_version(client, {"d": b"1"}, artifact="data", type="dataset")
    ok(graphql(client, SET_ALIAS, version="fraud/data:v1", alias="prod"))
    before = events(settings)
    refused = graphql(client, DELETE, v="fraud/data:v1")
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "prod" in refused["errors"][0]["message"]
    assert events(settings) == before
    ok(graphql(client, REMOVE_ALIAS, alias="prod"))
    deleted = ok(graphql(client, DELETE, v="fraud/data:v1"))
    assert deleted["deleteArtifactVersion"]["version"]["state"] == "DELETED"
    latest = ok(graphql(client, '{ artifactVersion(ref: "fraud/data:latest") { index } }'))
    assert latest["artifactVersion"]["index"] == 0  # latest falls back to v0
    restored = ok(graphql(client, RESTORE, v="fraud/data:v1"))["restoreArtifactVersion"]
    assert restored["version"] == {"state": "COMMITTED", "aliases": ["latest"]}
    twice = graphql(client, RESTORE, v="fraud/data:v1")
    assert twice["errors"][0]["extensions"]["code"] == "CONFLICT"
