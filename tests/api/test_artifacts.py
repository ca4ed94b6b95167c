"""Logging versions: open, upload, commit; deduplication; failures that leave nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from api.settings import Settings
from tests.factories import (
    COMMIT,
    count,
    events,
    log_version,
    manifest,
    ok,
    open_version,
    sha,
    start_run,
    upload,
)
from tests.helpers import graphql, s3_client

VERSION = """
query Version($ref: String!) {
  artifactVersion(ref: $ref) {
    id name index state aliases size fileCount metadata description
    artifact { name type }
    files { nodes { path size sha256 contentType url } }
    producedBy { id }
  }
}
"""


def test_a_run_logs_a_model_that_becomes_v0_and_latest(client: TestClient) -> None:
    run = start_run(client)
    files = {"model.pkl": b"weights" * 100, "conf/params.json": b'{"depth": 3}'}
    created = open_version(
        client, files, run=run["id"], metadata={"auc": 0.91}, description="first try"
    )
    assert created["version"]["state"] == "PENDING"
    assert created["version"]["index"] is None
    assert sorted(created["missingBlobs"]) == sorted(sha(b) for b in files.values())
    for data in files.values():
        upload(client, data)
    committed = ok(graphql(client, COMMIT, id=created["version"]["id"]))
    version = committed["commitArtifactVersion"]["version"]
    assert (version["name"], version["index"], version["state"]) == (
        "fraud/model:v0",
        0,
        "COMMITTED",
    )
    assert version["aliases"] == ["latest"]
    got = ok(graphql(client, VERSION, ref="fraud/model:latest"))["artifactVersion"]
    assert got["id"] == version["id"]
    assert got["producedBy"] == {"id": run["id"]}
    assert got["metadata"] == {"auc": 0.91}
    assert got["artifact"] == {"name": "model", "type": "model"}
    assert (got["size"], got["fileCount"]) == (sum(len(b) for b in files.values()), 2)
    assert [f["path"] for f in got["files"]["nodes"]] == ["conf/params.json", "model.pkl"]
    assert got["files"]["nodes"][1]["url"] == f"/files/{version['id']}/model.pkl"


def test_each_commit_takes_the_next_index_and_moves_latest(client: TestClient) -> None:
    v0 = log_version(client, {"m": b"0"})
    v1 = log_version(client, {"m": b"1"})
    assert (v0["index"], v1["index"]) == (0, 1)
    latest = ok(graphql(client, VERSION, ref="fraud/model:latest"))["artifactVersion"]
    assert latest["id"] == v1["id"]
    by_index = ok(graphql(client, VERSION, ref="fraud/model:v0"))["artifactVersion"]
    assert by_index["aliases"] == []


def test_an_unchanged_manifest_returns_the_existing_version(client: TestClient) -> None:
    first = log_version(client, {"data.csv": b"a,b\n1,2\n"})
    again = open_version(client, {"data.csv": b"a,b\n1,2\n"})
    assert again["existing"] is True
    assert again["version"]["id"] == first["id"]
    forced = open_version(client, {"data.csv": b"a,b\n1,2\n"}, allowDuplicate=True)
    assert forced["existing"] is False
    assert forced["missingBlobs"] == []  # the content is stored already


def test_a_commit_with_a_missing_blob_leaves_no_trace_and_names_the_file(
    client: TestClient, settings: Settings
) -> None:
    run = start_run(client)
    files = {"weights/a.bin": b"uploaded", "weights/b.bin": b"never uploaded"}
    created = open_version(client, files, run=run["id"])
    upload(client, files["weights/a.bin"])
    before = events(settings)
    body = graphql(client, COMMIT, id=created["version"]["id"])
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "input.version"}
    assert "weights/b.bin" in error["message"]
    assert "weights/a.bin" not in error["message"]
    assert events(settings) == before
    assert count(settings, "MATCH (v:ArtifactVersion {state: 'COMMITTED'}) RETURN count(v)") == 0
    assert count(settings, "MATCH ()-[p:PRODUCED]->() RETURN count(p)") == 0
    assert count(settings, "MATCH (:Alias)-[p:POINTS_TO]->() RETURN count(p)") == 0


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("../x", "'..' segments"),
        ("/etc/passwd", "must be relative"),
        ("a//b", "empty"),
        ("dir\\file", "must be relative"),
        ("", "1 to 1024"),
    ],
)
def test_an_invalid_path_is_refused_before_anything_is_written(
    client: TestClient, settings: Settings, path: str, says: str
) -> None:
    files = [
        {"path": "ok.txt", "size": 1, "sha256": sha(b"x")},
        {"path": path, "size": 1, "sha256": sha(b"y")},
    ]
    nodes = count(settings, "MATCH (n) RETURN count(n)")
    body = graphql(
        client,
        """
        mutation($input: CreateArtifactVersionInput!) {
          createArtifactVersion(input: $input) { version { id } }
        }""",
        input={"project": "p", "artifact": "a", "type": "model", "files": files},
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "input.files[1].path"}
    assert says in error["message"]
    assert count(settings, "MATCH (n) RETURN count(n)") == nodes


def test_a_type_other_than_the_artifacts_is_refused(client: TestClient, settings: Settings) -> None:
    log_version(client, {"m": b"1"}, artifact="thing", type="model")
    before = events(settings)
    body = graphql(
        client,
        """
        mutation($input: CreateArtifactVersionInput!) {
          createArtifactVersion(input: $input) { version { id } }
        }""",
        input={
            "project": "fraud",
            "artifact": "thing",
            "type": "dataset",
            "files": manifest({"d": b"2"}),
        },
    )
    [error] = body["errors"]
    assert error["extensions"]["field"] == "input.type"
    assert "'model'" in error["message"]
    assert events(settings) == before


def test_two_versions_sharing_a_file_store_it_once(client: TestClient, settings: Settings) -> None:
    shared = b"shared tokenizer" * 1000
    log_version(client, {"tok.json": shared, "m": b"1"}, artifact="a")
    second = open_version(client, {"tok.json": shared, "m": b"2"}, project="other", artifact="b")
    assert second["missingBlobs"] == [sha(b"2")]
    keys = [
        o.object_name for o in s3_client(settings).list_objects(settings.s3_bucket, recursive=True)
    ]
    assert sum(sha(shared) in k for k in keys) == 1
    holders = ok(
        graphql(
            client,
            """
        query($sha: String!) { versionsWithBlob(sha256: $sha) { nodes { name } } }""",
            sha=sha(shared),
        )
    )["versionsWithBlob"]["nodes"]
    assert holders == [{"name": "fraud/a:v0"}]  # pending versions are not listed


def test_versions_page_newest_first_and_filter_on_alias_and_metadata(client: TestClient) -> None:
    for i in range(5):
        log_version(client, {"m": bytes([i])}, metadata={"fold": i % 2})
    query = """
      query($alias: String, $meta: JSON, $after: String) {
        artifact(project: "fraud", name: "model") {
          versions(first: 2, after: $after, alias: $alias, metadata: $meta) {
            nodes { index } pageInfo { hasNextPage endCursor }
          }
        }
      }"""
    seen, after = [], None
    while True:
        page = ok(graphql(client, query, after=after))["artifact"]["versions"]
        seen += [n["index"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [4, 3, 2, 1, 0]
    latest = ok(graphql(client, query, alias="latest"))["artifact"]["versions"]["nodes"]
    assert latest == [{"index": 4}]
    odd = ok(graphql(client, query, meta={"fold": 1}))["artifact"]["versions"]["nodes"]
    assert odd == [{"index": 3}, {"index": 1}]


def test_a_page_larger_than_the_maximum_is_refused(client: TestClient) -> None:
    body = graphql(
        client,
        """{ artifact(project: "p", name: "a") { id } runs(project: "p",
                                first: 1000) { nodes { id } } }""",
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "first"}


def test_node_finds_runs_versions_artifacts_and_projects(client: TestClient) -> None:
    run = start_run(client)
    version = log_version(client, {"m": b"1"}, run=run["id"])
    artifact_id = ok(graphql(client, '{ artifact(project: "fraud", name: "model") { id } }'))[
        "artifact"
    ]["id"]
    project_id = ok(graphql(client, '{ project(name: "fraud") { id } }'))["project"]["id"]
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    for node_id, kind in [
        (run["id"], "Run"),
        (version["id"], "ArtifactVersion"),
        (artifact_id, "Artifact"),
        (project_id, "Project"),
    ]:
        assert ok(graphql(client, query, id=node_id))["node"] == {"__typename": kind, "id": node_id}
    assert ok(graphql(client, query, id="ver_" + "f" * 24))["node"] is None


def test_files_of_many_versions_come_in_one_listing_and_page_by_path(client: TestClient) -> None:
    for i in range(3):
        log_version(client, {f"f{j:03d}": f"{i}-{j}".encode() for j in range(i + 1)})
    listing = ok(
        graphql(
            client,
            """{ artifact(project: "fraud", name: "model") {
        versions { nodes { index files(first: 2) { nodes { path sha256 }
                                                    pageInfo { hasNextPage } } } } } }""",
        )
    )
    versions = listing["artifact"]["versions"]["nodes"]
    assert [
        (
            v["index"],
            [f["path"] for f in v["files"]["nodes"]],
            v["files"]["pageInfo"]["hasNextPage"],
        )
        for v in versions
    ] == [(2, ["f000", "f001"], True), (1, ["f000", "f001"], False), (0, ["f000"], False)]
    assert versions[0]["files"]["nodes"][1]["sha256"] == sha(b"2-1")
    query = """query($after: String) { artifactVersion(ref: "fraud/model:v2") {
        files(first: 2, after: $after) { nodes { path } pageInfo { endCursor } } } }"""
    first = ok(graphql(client, query))["artifactVersion"]["files"]
    rest = ok(graphql(client, query, after=first["pageInfo"]["endCursor"]))
    assert [f["path"] for f in rest["artifactVersion"]["files"]["nodes"]] == ["f002"]


def test_an_expired_pending_version_cannot_be_committed(
    client: TestClient, settings: Settings
) -> None:
    created = open_version(client, {"m": b"late"})
    upload(client, b"late")
    # Time travel: the pending version's expiry is set in the past.
    count(
        settings,
        "MATCH (v:ArtifactVersion {id: $id}) "
        "SET v.expiresAt = datetime() - duration('PT1M') RETURN 1",
        id=created["version"]["id"],
    )
    body = graphql(client, COMMIT, id=created["version"]["id"])
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "expired" in body["errors"][0]["message"]


REFERENCED = """
mutation($input: CreateArtifactVersionInput!) {
  createArtifactVersion(input: $input) {
    version { id digest fileCount references { path uri sha256 size } }
    missingBlobs
  }
}"""


def referenced(
    client: TestClient, files: list[dict[str, object]], references: list[dict[str, object]]
) -> dict[str, Any]:
    """The answer to opening p/clf (a model) with these files and references."""
    input = {"project": "p", "artifact": "clf", "type": "model", "files": files}
    return graphql(client, REFERENCED, input={**input, "references": references})


def test_references_are_kept_in_the_manifest_without_bytes(
    client: TestClient, settings: Settings
) -> None:
    weights = b"w" * 10
    references: list[dict[str, object]] = [
        {"path": "data/train.parquet", "uri": "s3://lake/train.parquet", "size": 1 << 30},
        {"path": "data/eval.parquet", "uri": "gs://lake/eval.parquet", "sha256": sha(b"e")},
    ]
    files = [{"path": "model.bin", "size": len(weights), "sha256": sha(weights)}]
    made = ok(referenced(client, files, references))["createArtifactVersion"]
    assert made["missingBlobs"] == [sha(weights)]  # only the file's content is uploaded
    version = made["version"]
    assert version["fileCount"] == 1
    assert version["references"] == [
        {
            "path": "data/eval.parquet",
            "uri": "gs://lake/eval.parquet",
            "sha256": sha(b"e"),
            "size": None,
        },
        {
            "path": "data/train.parquet",
            "uri": "s3://lake/train.parquet",
            "sha256": None,
            "size": 1 << 30,
        },
    ]
    upload(client, weights)
    ok(graphql(client, COMMIT, id=version["id"]))
    read = ok(
        graphql(client, VERSION.replace("producedBy { id }", "references { uri }"), ref="p/clf:v0")
    )["artifactVersion"]
    assert [r["uri"] for r in read["references"]] == [
        "gs://lake/eval.parquet",
        "s3://lake/train.parquet",
    ]
    assert [f["path"] for f in read["files"]["nodes"]] == ["model.bin"]
    # The same files pointing elsewhere are another manifest: another digest, another version.
    moved = [{**references[0], "uri": "s3://lake/train-2.parquet"}, references[1]]
    other = ok(referenced(client, files, moved))["createArtifactVersion"]["version"]
    assert other["id"] != version["id"]
    assert other["digest"] != version["digest"]


@pytest.mark.parametrize(
    ("reference", "field", "says"),
    [
        ({"path": "x", "uri": "ftp://host/x"}, "input.references[0].uri", "scheme"),
        ({"path": "x", "uri": "lake/x"}, "input.references[0].uri", "reference URI"),
        ({"path": "../x", "uri": "s3://lake/x"}, "input.references[0].path", ""),
        ({"path": "x", "uri": "s3://lake/x", "sha256": "nothex"}, "input.references[0].sha256", ""),
        ({"path": "model.bin", "uri": "s3://lake/x"}, "input", "both a file and a reference"),
    ],
)
def test_a_bad_reference_is_refused_naming_it(
    client: TestClient, settings: Settings, reference: dict[str, object], field: str, says: str
) -> None:
    nodes = count(settings, "MATCH (n) RETURN count(n)")
    body = referenced(client, [{"path": "model.bin", "size": 1, "sha256": sha(b"w")}], [reference])
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": field}
    assert says in error["message"]
    assert count(settings, "MATCH (n) RETURN count(n)") == nodes


AS_OF = """query($ref: String!, $at: DateTime) { artifactVersion(ref: $ref, asOf: $at) { name } }"""
SET_ARTIFACT_ALIAS = """mutation($v: String!, $alias: String!) { setArtifactAlias(input: {
  version: $v, alias: $alias}) { version { name } } }"""
REMOVE_ARTIFACT_ALIAS = """mutation { removeArtifactAlias(input: {project: "p", artifact: "a",
  alias: "best"}) { previous { name } } }"""


def _now(client: TestClient) -> str:
    """The server's clock, read from the newest audit event."""
    nodes = ok(graphql(client, "{ auditLog(first: 1) { nodes { time } } }"))["auditLog"]["nodes"]
    return str(nodes[0]["time"])


def test_artifact_aliases_keep_their_history_for_as_of(client: TestClient) -> None:
    first = log_version(client, {"m.bin": b"one"}, project="p", artifact="a")
    ok(graphql(client, SET_ARTIFACT_ALIAS, v=first["id"], alias="best"))
    one = _now(client)
    second = log_version(client, {"m.bin": b"two"}, project="p", artifact="a")
    ok(graphql(client, SET_ARTIFACT_ALIAS, v=second["id"], alias="best"))
    two = _now(client)
    ok(graphql(client, REMOVE_ARTIFACT_ALIAS))
    three = _now(client)

    def named(ref: str, at: str | None) -> str | None:
        found = ok(graphql(client, AS_OF, ref=ref, at=at))["artifactVersion"]
        return None if found is None else str(found["name"])

    assert named("p/a:best", one) == "p/a:v0"
    assert named("p/a:best", two) == "p/a:v1"
    assert named("p/a:best", three) is None  # removed then
    assert named("p/a:best", None) is None  # and now
    assert named("p/a:latest", one) == "p/a:v0"  # `latest` moves on each commit, kept too
    assert named("p/a:latest", two) == "p/a:v1"
    assert named("p/a:best", "2000-01-01T00:00:00Z") is None  # before it existed


AT_ONCE = """
mutation Create($input: CreateArtifactVersionInput!) {
  createArtifactVersion(input: $input) {
    version { id name state index aliases producedBy { id } } missingBlobs existing
  }
}
"""
HISTORY = """query($s: ID!) { history(subject: $s, first: 10) { nodes { type before after } } }"""


def test_commit_at_once_commits_what_has_nothing_to_upload_in_one_call_and_one_event(
    client: TestClient, settings: Settings
) -> None:
    v0 = log_version(client, {"model.bin": b"weights"})
    run = start_run(client)
    before = events(settings)
    # The file's content is stored and readable by the caller; the rest is a reference.
    input = {
        "project": "fraud",
        "artifact": "model",
        "type": "model",
        "files": manifest({"copy/model.bin": b"weights"}),
        "references": [{"path": "data.parquet", "uri": "s3://lake/data.parquet"}],
        "run": run["id"],
        "commit": True,
    }
    made = ok(graphql(client, AT_ONCE, input=input))["createArtifactVersion"]
    version = made["version"]
    assert (made["missingBlobs"], made["existing"]) == ([], False)
    assert (version["name"], version["state"], version["index"]) == (
        "fraud/model:v1",
        "COMMITTED",
        1,
    )
    assert version["aliases"] == ["latest"]
    assert version["producedBy"] == {"id": run["id"]}
    assert events(settings) == before + 1  # one mutation, one event: the commit's
    history = ok(graphql(client, HISTORY, s=version["id"]))["history"]["nodes"]
    assert [(e["type"], e["before"]) for e in history] == [
        ("artifact_version.committed", {"latest": v0["id"]})
    ]
    assert history[0]["after"]["state"] == "COMMITTED"
    assert (history[0]["after"]["index"], history[0]["after"]["files"]) == (1, 1)
    assert history[0]["after"]["references"] == 1
    # Lineage knows it at once: the run produced it.
    downstream = ok(
        graphql(
            client,
            "query($of: ID!) { lineage(of: $of, direction: DOWNSTREAM) { nodes { id } } }",
            of=run["id"],
        )
    )["lineage"]["nodes"]
    assert version["id"] in [n["id"] for n in downstream]
    # Logging the same manifest again answers the committed version, with or without commit.
    again = ok(graphql(client, AT_ONCE, input=input))["createArtifactVersion"]
    assert (again["existing"], again["version"]["id"]) == (True, version["id"])
    assert events(settings) == before + 1


def test_commit_at_once_leaves_a_version_with_content_to_upload_pending(
    client: TestClient, settings: Settings
) -> None:
    log_version(client, {"model.bin": b"weights"})
    before = events(settings)
    files = {"model.bin": b"weights", "head.bin": b"new head"}
    made = open_version(client, files, commit=True)
    assert made["missingBlobs"] == [sha(b"new head")]
    assert (made["version"]["state"], made["version"]["index"]) == ("PENDING", None)
    assert events(settings) == before + 1
    history = ok(graphql(client, HISTORY, s=made["version"]["id"]))["history"]["nodes"]
    assert [e["type"] for e in history] == ["artifact_version.created"]
    latest = ok(graphql(client, VERSION, ref="fraud/model:latest"))["artifactVersion"]
    assert latest["index"] == 0  # latest has not moved
    upload(client, b"new head")
    committed = ok(graphql(client, COMMIT, id=made["version"]["id"]))["commitArtifactVersion"]
    assert (committed["version"]["index"], committed["version"]["aliases"]) == (1, ["latest"])
