"""Whole answers kept while the audit head stays put (api.kept): a repeated registry read is
answered with the bytes of last time, and never once anything it shows has changed."""

from __future__ import annotations

import pytest
from graphql import parse
from starlette.testclient import TestClient

from api.app import create_app
from api.kept import (
    ENTRY_OVERHEAD,
    KEEP,
    MAX_REQUEST_BYTES,
    RUN,
    WRITE,
    KeptAnswers,
    Kind,
    kind_of,
)
from api.schema import schema
from api.settings import Settings
from tests.api.test_registries import SET_ALIAS, linked_collection
from tests.factories import ok, user_key
from tests.helpers import ADMIN_KEY, bearer, graphql, series

RESOLVE = """query($ref: String!) { linkedVersion(ref: $ref) {
  index aliases { name } version { name artifact { name } } } }"""
ROLE = """mutation($p: String!, $role: Role!) {
  setRegistryMember(input: {registry: "model", principal: $p, role: $role}) {
    registry { name } } }"""
MEMBER = """mutation($p: String!, $u: String!) {
  setProjectMember(input: {project: $p, principal: $u}) { members } }"""


def served(client: TestClient) -> dict[str, float]:
    found = series(client, "forebear_kept_answers_total")
    return {"kept": found.get("kept", 0), "executed": found.get("executed", 0)}


def aliases_of(client: TestClient, ref: str) -> list[str]:
    answer = ok(graphql(client, RESOLVE, ref=ref))["linkedVersion"]
    return [a["name"] for a in answer["aliases"]]


def test_a_repeated_read_is_kept_until_anything_changes(client: TestClient) -> None:
    linked_collection(client, "churn", 2)
    assert aliases_of(client, "model/churn:v0") == []
    before = served(client)
    assert aliases_of(client, "model/churn:v0") == []
    assert aliases_of(client, "model/churn:v0") == []
    assert served(client) == {"kept": before["kept"] + 2, "executed": before["executed"]}
    # Other variables are another answer.
    assert aliases_of(client, "model/churn:v1") == ["latest"]
    assert served(client)["executed"] == before["executed"] + 1
    # A change anywhere is in the next answer; the one after is kept again.
    ok(graphql(client, SET_ALIAS, link="model/churn:v0", alias="production"))
    assert aliases_of(client, "model/churn:v0") == ["production"]
    assert aliases_of(client, "model/churn:v0") == ["production"]
    assert served(client) == {"kept": before["kept"] + 3, "executed": before["executed"] + 2}


def test_a_change_made_through_another_process_is_seen_at_once(
    client: TestClient, settings: Settings
) -> None:
    """Two API processes on one graph, as with several workers: each keeps its own answers,
    and a change served by one is in the other's next answer."""
    linked_collection(client, "churn", 2)
    with TestClient(create_app(settings), headers=bearer(ADMIN_KEY)) as other:
        for _ in range(2):
            assert aliases_of(client, "model/churn:v0") == []
            assert aliases_of(other, "model/churn:v0") == []
        assert served(client)["kept"] == 1
        assert served(other) == {"kept": 1, "executed": 1}
        ok(graphql(other, SET_ALIAS, link="model/churn:v0", alias="production"))
        assert aliases_of(client, "model/churn:v0") == ["production"]
        ok(graphql(client, SET_ALIAS, link="model/churn:v1", alias="production"))
        assert aliases_of(other, "model/churn:v0") == []
        assert aliases_of(other, "model/churn:v1") == ["latest", "production"]


def test_answers_are_kept_per_caller_and_their_memberships(client: TestClient) -> None:
    """The same query text answers what each caller may see; a membership granted is a change
    like any other."""
    linked_collection(client, "churn", 1)
    viewer = {"Authorization": f"Bearer {user_key(client, 'vera')}"}
    outsider = {"Authorization": f"Bearer {user_key(client, 'otto')}"}
    ok(graphql(client, ROLE, p="vera", role="VIEWER"))
    whole = ok(graphql(client, RESOLVE, ref="model/churn:v0"))["linkedVersion"]
    assert whole["version"]["artifact"] == {"name": "clf"}
    for _ in range(2):  # the second time from the viewer's own kept answer
        seen = client.post(
            "/graphql",
            json={"query": RESOLVE, "variables": {"ref": "model/churn:v0"}},
            headers=viewer,
        ).json()
        assert ok(seen)["linkedVersion"]["version"]["artifact"] is None  # not a project member
        refused = client.post(
            "/graphql",
            json={"query": RESOLVE, "variables": {"ref": "model/churn:v0"}},
            headers=outsider,
        ).json()
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok(graphql(client, MEMBER, p="fraud", u="vera"))
    now = client.post(
        "/graphql", json={"query": RESOLVE, "variables": {"ref": "model/churn:v0"}}, headers=viewer
    ).json()
    assert ok(now)["linkedVersion"]["version"]["artifact"] == {"name": "clf"}


def test_an_answer_with_errors_is_executed_every_time(client: TestClient) -> None:
    query = '{ linkedVersion(ref: "no collection named") { id } }'
    before = served(client)
    for _ in range(3):
        assert graphql(client, query)["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert served(client) == {"kept": before["kept"], "executed": before["executed"] + 3}


def test_a_read_of_anything_not_audited_runs_every_time(client: TestClient) -> None:
    """A query selecting runs (whose state the audit head does not name in full) is not kept:
    it neither counts as kept nor as executed, and each answer is read afresh."""
    linked_collection(client, "churn", 1)
    query = '{ linkedVersion(ref: "model/churn:v0") { version { producedBy { id } } } }'
    before = served(client)
    for _ in range(2):
        ok(graphql(client, query))
    assert served(client) == before


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        ('{ linkedVersion(ref: "model/a:v0") { id index semver aliases { name } } }', KEEP),
        ('{ collection(registry: "model", name: "a") { links(first: 5) { compact } } }', KEEP),
        ("{ auditLog(first: 5) { nodes { type actor after } pageInfo { endCursor } } }", KEEP),
        ("query Q { ...F } fragment F on Query { registries { name stages } }", KEEP),
        ('{ linkedVersion(ref: "model/a:v0") { version { files { nodes { url } } } } }', RUN),
        (
            '{ linkedVersion(ref: "model/a:v0") { version { ...on ArtifactVersion { producedBy '
            "{ id } } } } }",
            RUN,
        ),
        ('query Q { ...F } fragment F on Query { runs(project: "p") { nodes { id } } }', RUN),
        ('{ registry(name: "model") { members { role } } }', RUN),
        ('{ lineage(of: "x") { compact } }', RUN),
        ("{ viewer { user { apiKeys { lastUsedAt } } } }", RUN),
        ('mutation { createProject(input: {name: "p"}) { project { id } } }', WRITE),
        (
            'query A { registries { name } } mutation B { createProject(input: {name: "p"}) '
            "{ project { id } } }",
            WRITE,
        ),
    ],
)
def test_only_reads_of_audited_fields_are_kept(document: str, kind: Kind) -> None:
    assert kind_of(schema._schema, parse(document)) is kind


def test_kept_answers_stay_within_their_bytes() -> None:
    """Each answer counts its body, its key and ENTRY_OVERHEAD; the least recently used go
    first when a new one would pass the budget, and one larger than it is not kept at all."""
    entry = 400 + 10 + ENTRY_OVERHEAD
    answers = KeptAnswers(schema._schema, max_bytes=3 * entry)
    for key in ("a", "b", "c"):
        answers.keep(key, "h", b"x" * 400, 10)
    assert answers.entries.currsize == 3 * entry
    assert answers.kept("a") == ("h", b"x" * 400)  # used: "b" is now the least recent
    answers.keep("d", "h", b"y" * 400, 10)
    assert set(answers.entries) == {"a", "c", "d"}
    answers.keep("a", "h2", b"1", 10)  # kept anew under another stamp: its old bytes leave
    assert answers.entries.currsize == 2 * entry + 1 + 10 + ENTRY_OVERHEAD
    assert answers.kept("a") == ("h2", b"1")
    answers.keep("big", "h", b"z" * (3 * entry), 10)
    assert "big" not in answers.entries
    assert set(answers.entries) == {"a", "c", "d"}


def test_a_large_request_is_executed_every_time(client: TestClient) -> None:
    """Request bodies past MAX_REQUEST_BYTES are never kept, so a client cannot fill the
    process with large keys."""
    linked_collection(client, "churn", 1)
    padding = "#" + "x" * MAX_REQUEST_BYTES + "\n"  # a GraphQL comment
    query = padding + '{ linkedVersion(ref: "model/churn:v0") { index } }'
    before = served(client)
    for _ in range(2):
        assert ok(graphql(client, query))["linkedVersion"] == {"index": 0}
    assert served(client) == before
