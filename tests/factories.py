"""Build runs and versions through the public API, as a client would."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from neo4j import GraphDatabase
from starlette.testclient import TestClient

from api.settings import Settings
from tests.helpers import graphql

START_RUN = """
mutation Start($input: StartRunInput!) {
  startRun(input: $input) { run { id name status project config tags } }
}
"""

CREATE_VERSION = """
mutation Create($input: CreateArtifactVersionInput!) {
  createArtifactVersion(input: $input) {
    version { id name state index digest } missingBlobs existing
  }
}
"""

COMMIT = """
mutation Commit($id: ID!) {
  commitArtifactVersion(input: {version: $id}) { version { id name index state aliases } }
}
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ok(body: dict[str, Any]) -> dict[str, Any]:
    """The data of a GraphQL answer that must have no errors."""
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def start_run(client: TestClient, project: str = "fraud", **fields: Any) -> dict[str, Any]:
    run: dict[str, Any] = ok(graphql(client, START_RUN, input={"project": project, **fields}))[
        "startRun"
    ]["run"]
    return run


def manifest(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [{"path": p, "size": len(b), "sha256": sha(b)} for p, b in files.items()]


def upload(client: TestClient, data: bytes) -> None:
    response = client.put(f"/blobs/{sha(data)}", content=data)
    assert response.status_code in (200, 201), response.text


def open_version(
    client: TestClient,
    files: dict[str, bytes],
    *,
    project: str = "fraud",
    artifact: str = "model",
    type: str = "model",
    **fields: Any,
) -> dict[str, Any]:
    created: dict[str, Any] = ok(
        graphql(
            client,
            CREATE_VERSION,
            input={
                "project": project,
                "artifact": artifact,
                "type": type,
                "files": manifest(files),
                **fields,
            },
        )
    )["createArtifactVersion"]
    return created


def log_version(client: TestClient, files: dict[str, bytes], **fields: Any) -> dict[str, Any]:
    """Open, upload what is missing, commit; return the committed version."""
    created = open_version(client, files, **fields)
    if created["existing"]:
        return dict(created["version"])
    by_sha = {sha(b): b for b in files.values()}
    for missing in created["missingBlobs"]:
        upload(client, by_sha[missing])
    version: dict[str, Any] = ok(graphql(client, COMMIT, id=created["version"]["id"]))[
        "commitArtifactVersion"
    ]["version"]
    return version


def count(settings: Settings, cypher: str, **params: Any) -> int:
    """A number read straight from the graph, to check what a call left behind."""
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        records, _, _ = driver.execute_query(cypher, params)
        return int(records[0][0])


def events(settings: Settings) -> int:
    return count(settings, "MATCH (e:Event) RETURN count(e)")


def sealed(settings: Settings, within: float = 10.0) -> None:
    """Wait until the API has sealed every committed event into the audit chain (it does so
    in the background, milliseconds after each commit: graph.events), so what the graph holds
    stays put until the next change."""
    deadline = time.monotonic() + within
    while count(settings, "MATCH (e:Unsealed) RETURN count(e)"):
        assert time.monotonic() < deadline, f"events were left unsealed for {within} s"
        time.sleep(0.01)


CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id name } key } }"""


def user_key(
    client: TestClient, name: str, *, org_admin: bool = False, service: bool = False
) -> str:
    """A new user (or service account) made by the org admin the client calls as; its key."""
    made = graphql(
        client,
        CREATE_USER,
        input={"name": name, "orgAdmin": org_admin, "kind": "SERVICE" if service else "USER"},
    )
    return str(ok(made)["createUser"]["key"])
