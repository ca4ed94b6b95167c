"""Hostile input: giant pages, oversized bodies, Cypher injection in every name field, path
traversal in manifests, guessed blob hashes, and too many lineage answers at once. Each is
refused with the right code and leaves the graph as it was."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx2
import pytest
from starlette.testclient import TestClient

from api.schema import MAX_LINEAGE_CALLS
from api.settings import Settings
from tests.factories import count, log_version, ok, sha
from tests.helpers import graphql

INJECTIONS = (
    "x'}) MATCH (n) DETACH DELETE n //",
    'x"}) DETACH DELETE n RETURN 1 //',
    "x` {a:1}) MERGE (m:Evil) //",
    "a\x00b",
    "../../etc/passwd",
    "x" * 300,
)


def fingerprint(settings: Settings) -> tuple[int, int]:
    return (
        count(settings, "MATCH (n) RETURN count(n)"),
        count(settings, "MATCH ()-[r]->() RETURN count(r)"),
    )


# Every mutation argument that names something, with the rest of a valid input around it.
NAME_FIELDS: list[tuple[str, str, dict[str, object]]] = [
    ("createProject", "CreateProjectInput", {"name": "{}"}),
    ("startRun", "StartRunInput", {"project": "{}"}),
    ("createRegistry", "CreateRegistryInput", {"name": "{}"}),
    ("createCollection", "CreateCollectionInput", {"registry": "model", "name": "{}"}),
    ("createUser", "CreateUserInput", {"name": "{}"}),
    (
        "createArtifactVersion",
        "CreateArtifactVersionInput",
        {"project": "{}", "artifact": "a", "type": "model", "files": []},
    ),
    (
        "createArtifactVersion",
        "CreateArtifactVersionInput",
        {"project": "p", "artifact": "{}", "type": "model", "files": []},
    ),
    (
        "createArtifactVersion",
        "CreateArtifactVersionInput",
        {"project": "p", "artifact": "a", "type": "{}", "files": []},
    ),
    ("setCollectionAlias", "SetCollectionAliasInput", {"link": "model/c:v0", "alias": "{}"}),
    ("setArtifactAlias", "SetArtifactAliasInput", {"version": "p/a:v0", "alias": "{}"}),
    ("setProjectMember", "SetProjectMemberInput", {"project": "p", "principal": "{}"}),
]


def fill(template: object, text: str) -> object:
    if isinstance(template, dict):
        return {k: fill(v, text) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, text) for v in template]
    return text if template == "{}" else template


@pytest.mark.parametrize(
    ("mutation", "input_type", "template"),
    NAME_FIELDS,
    ids=[f"{m}-{'-'.join(k for k, v in t.items() if '{}' in str(v))}" for m, _, t in NAME_FIELDS],
)
def test_injection_strings_in_name_fields_are_bad_input_and_change_nothing(
    client: TestClient,
    settings: Settings,
    mutation: str,
    input_type: str,
    template: dict[str, object],
) -> None:
    before = fingerprint(settings)
    for text in INJECTIONS:
        body = graphql(
            client,
            f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ __typename }} }}",
            input=fill(template, text),
        )
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_INPUT", (mutation, text, error)
        assert "field" in error["extensions"], error
        # the rule in words, not the regular expression behind it
        assert "pattern" not in error["message"], error
        assert "^[" not in error["message"], error
    assert fingerprint(settings) == before
    assert count(settings, "MATCH (n:Evil) RETURN count(n)") == 0


def test_free_text_is_stored_as_given_never_run(client: TestClient, settings: Settings) -> None:
    text = INJECTIONS[0]
    made = graphql(
        client,
        'mutation($d: String!) { createProject(input: {name: "safe", description: $d}) '
        "{ project { description } } }",
        d=text,
    )
    assert ok(made)["createProject"]["project"]["description"] == text
    assert count(settings, "MATCH (p:Project) RETURN count(p)") == 1


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../b", "a\\b", "a/./b", "a\x00b", "a//b", "x" * 1025]
)
def test_path_traversal_in_manifests_is_refused(
    client: TestClient, settings: Settings, path: str
) -> None:
    before = fingerprint(settings)
    body = graphql(
        client,
        """mutation($input: CreateArtifactVersionInput!) {
        createArtifactVersion(input: $input) { version { id } } }""",
        input={
            "project": "p",
            "artifact": "a",
            "type": "model",
            "files": [{"path": path, "size": 1, "sha256": sha(b"x")}],
        },
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "input.files[0].path"}
    assert fingerprint(settings) == before


def test_giant_pages_are_refused(client: TestClient) -> None:
    for query in (
        '{ runs(project: "p", first: 100000000) { nodes { id } } }',
        "{ collections(first: 101) { nodes { id } } }",
        "{ auditLog(first: -1) { nodes { id } } }",
    ):
        [error] = graphql(client, query)["errors"]
        assert error["extensions"] == {"code": "BAD_INPUT", "field": "first"}, query
    version = log_version(client, {"m.bin": b"m"})["id"]
    lineage = graphql(
        client, "query($v: ID!) { lineage(of: $v, first: 10001) { totalNodes } }", v=version
    )
    assert lineage["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "first"}


def test_too_many_lineage_answers_in_one_operation_are_refused(client: TestClient) -> None:
    version = log_version(client, {"m.bin": b"m"})["id"]
    fields = " ".join(
        f"l{i}: lineage(of: $v) {{ totalNodes }}" for i in range(MAX_LINEAGE_CALLS + 1)
    )
    [error] = graphql(client, f"query($v: ID!) {{ {fields} }}", v=version)["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert "lineage answers" in error["message"]
    allowed = " ".join(f"l{i}: lineage(of: $v) {{ totalNodes }}" for i in range(MAX_LINEAGE_CALLS))
    assert "errors" not in graphql(client, f"query($v: ID!) {{ {allowed} }}", v=version)


def test_oversized_request_bodies_are_refused_whole_or_streamed(
    client: TestClient, settings: Settings
) -> None:
    big = '{"query": "{ serverInfo { version } }", "pad": "' + "x" * settings.max_body_size + '"}'
    response = client.post("/graphql", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ serverInfo { version } }", "pad": "'
        for _ in range(settings.max_body_size // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    streamed = client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    small = client.post("/graphql", json={"query": "{ serverInfo { version } }"})
    assert small.status_code == 200


def test_guessed_blob_hashes_and_version_ids_download_nothing(client: TestClient) -> None:
    version = log_version(client, {"m.bin": b"secret weights"})["id"]
    assert client.get(f"/files/{version}/m.bin").status_code == 200
    guessed = f"ver_{secrets.token_hex(12)}"
    assert client.get(f"/files/{guessed}/m.bin").status_code == 404
    assert client.get(f"/files/{version}/{sha(b'secret weights')}").status_code == 404
    assert client.get(f"/files/{sha(b'secret weights')}/m.bin").status_code == 404


def bad_input(response: httpx2.Response) -> str:
    """The message of a 400 in GraphQL's error shape with code BAD_INPUT."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT"
    message: str = error["message"]
    return message


def test_malformed_graphql_requests_are_bad_input_saying_what_is_wrong(
    client: TestClient,
) -> None:
    deep = "[" * 1200 + "]" * 1200
    query = "{ viewer { user { name } } }"
    sent = client.post(
        "/graphql",
        content=f'{{"query": "{query}", "variables": {{"v": {deep}}}}}',
        headers={"content-type": "application/json"},
    )
    assert "deeper than 64 levels" in bad_input(sent)
    just_past = "[" * 65 + "]" * 65
    sent = client.post(
        "/graphql",
        content=f'{{"query": "{query}", "variables": {{"v": {just_past}}}}}',
        headers={"content-type": "application/json"},
    )
    assert "deeper than 64 levels" in bad_input(sent)
    literal = (
        'mutation { startRun(input: {project: "p", config: {a: ' + deep + "}}) { run { id } } }"
    )
    parsed = client.post("/graphql", json={"query": literal}).json()  # graphql-core's own limit
    assert parsed["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "nested too deeply" in parsed["errors"][0]["message"]
    sent = client.post(
        "/graphql",
        content=b'{"query": "{ viewer { user { name } } }\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert "not valid UTF-8" in bad_input(sent)
    sent = client.post("/graphql", content=b'{"query": "{ viewer { user { name } } }"}')
    assert "content-type: application/json" in bad_input(sent)
    sent = client.post(
        "/graphql", content=b"{ viewer { user { name } } }", headers={"content-type": "text/plain"}
    )
    assert "got text/plain" in bad_input(sent)
    for body, named in (
        (b"[1, 2]", "one JSON object"),
        (b'{"query": 5}', "'query' must be"),
        (b'{"query": "{ __typename }", "variables": [1]}', "'variables' must be"),
        (b'{"query": "{ __typename ', "not JSON"),
    ):
        sent = client.post("/graphql", content=body, headers={"content-type": "application/json"})
        assert named in bad_input(sent), body
    mutation_by_get = client.get(
        "/graphql", params={"query": 'mutation { createProject(input: {name: "g"}) { name } }'}
    )
    assert mutation_by_get.status_code in (400, 405)
    assert mutation_by_get.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_a_range_no_file_could_reach_is_bad_input(client: TestClient) -> None:
    version = log_version(client, {"f.bin": b"0123456789"})["id"]
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=0-" + "1" * 40, "bytes=-" + "7" * 300):
        response = client.get(f"/files/{version}/f.bin", headers={"Range": header})
        assert response.status_code == 400, header
        assert response.json()["error"]["code"] == "BAD_INPUT"
        assert "digits" in response.json()["error"]["message"]
    padded = client.get(f"/files/{version}/f.bin", headers={"Range": "bytes=" + "0" * 40 + "2-3"})
    assert (padded.status_code, padded.content) == (206, b"23")
