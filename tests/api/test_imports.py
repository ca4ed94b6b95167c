"""importRegistryChanges: another registry's history applied with its own actors and times,
by org admins only, each change once however often it is sent."""

from __future__ import annotations

from starlette.testclient import TestClient

from api.settings import Settings
from tests.factories import events, log_version, ok, user_key
from tests.helpers import bearer, graphql

IMPORT = """mutation($changes: [ImportedChangeInput!]!) { importRegistryChanges(input: {
  registry: "model", source: "test:repo", changes: $changes}) {
  results { key status message link { name semver stages } } } }"""
AS_OF = """query($ref: String!, $at: DateTime!) { linkedVersion(ref: $ref, asOf: $at) { name } }"""


def test_a_history_is_imported_once_with_its_actors_and_times(
    client: TestClient, settings: Settings
) -> None:
    version = log_version(client, {"model.pkl": b"m"})["id"]
    changes = [
        {
            "key": "clf@v1.0.0",
            "kind": "LINK",
            "collection": "clf",
            "version": version,
            "semver": "1.0.0",
            "actor": "ada",
            "time": "2023-01-02T03:04:05Z",
        },
        {
            "key": "clf#prod#1",
            "kind": "ASSIGN_STAGE",
            "collection": "clf",
            "semver": "1.0.0",
            "stage": "prod",
            "actor": "bob",
            "time": "2023-02-01T00:00:00Z",
        },
        {
            "key": "clf#odd#3",
            "kind": "ASSIGN_STAGE",
            "collection": "clf",
            "semver": "1.0.0",
            "stage": "Not A Stage!",
            "actor": "bob",
            "time": "2023-03-02T00:00:00Z",
        },
        {
            "key": "clf#bad#2",
            "kind": "ASSIGN_STAGE",
            "collection": "clf",
            "semver": "9.9.9",
            "stage": "prod",
            "actor": "bob",
            "time": "2023-03-01T00:00:00Z",
        },
    ]
    before = events(settings)
    results = ok(graphql(client, IMPORT, changes=changes))["importRegistryChanges"]["results"]
    assert [r["status"] for r in results] == ["IMPORTED", "IMPORTED", "FAILED", "FAILED"]
    assert "stage" in results[2]["message"]  # names are checked as for any change
    assert results[1]["link"] == {"name": "model/clf:v0", "semver": "1.0.0", "stages": ["prod"]}
    assert "9.9.9" in results[3]["message"]
    assert events(settings) == before + 3  # the link, its semver, the stage
    history = ok(
        graphql(
            client,
            """{ collection(registry: "model", name: "clf") { history(first: 10) {
            nodes { type actor time after } } } }""",
        )
    )["collection"]["history"]["nodes"]
    stage = next(n for n in history if n["type"] == "stage.assigned")
    assert (stage["actor"], stage["time"][:10]) == ("bob", "2023-02-01")
    assert stage["after"]["imported"]["key"] == "test:repo:clf#prod#1"
    assert stage["after"]["imported"]["by"] == "admin"
    # As of before the stage was assigned (in 2023), prod named nothing; after, v0.
    at = ok(graphql(client, AS_OF, ref="model/clf:prod", at="2023-01-15T00:00:00Z"))
    assert at["linkedVersion"] is None
    at = ok(graphql(client, AS_OF, ref="model/clf:prod", at="2023-02-15T00:00:00Z"))
    assert at["linkedVersion"] == {"name": "model/clf:v0"}
    # Sent again: what was imported is skipped, nothing is written twice.
    again = ok(graphql(client, IMPORT, changes=changes))["importRegistryChanges"]["results"]
    assert [r["status"] for r in again] == [
        "ALREADY_IMPORTED",
        "ALREADY_IMPORTED",
        "FAILED",
        "FAILED",
    ]
    assert events(settings) == before + 3


def test_only_org_admins_import(client: TestClient) -> None:
    key = user_key(client, "mia")
    change = {
        "key": "x",
        "kind": "DEPRECATE",
        "collection": "clf",
        "actor": "mallory",
        "time": "2020-01-01T00:00:00Z",
    }
    refused = client.post(
        "/graphql",
        json={"query": IMPORT, "variables": {"changes": [change]}},
        headers=bearer(key),
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
