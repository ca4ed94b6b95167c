"""Access control: every query and mutation family as anonymous, registry viewer, member and
admin, an admin of another registry, a project member and an org admin; refusals change
nothing and are logged; keys are shown once, revocable and expire."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.access import RULES
from api.app import create_app
from api.schema import schema
from api.settings import Settings
from tests.factories import count, log_version, ok, open_version, sealed, sha, start_run, user_key
from tests.helpers import bearer, graphql

PRINCIPALS = ("anonymous", "viewer", "member", "admin", "other", "project", "org")
Y, F, U = "allowed", "FORBIDDEN", "UNAUTHENTICATED"


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    version: str
    run: str

    def call(self, who: str, query: str, **variables: Any) -> dict[str, Any]:
        headers = bearer(self.keys[who]) if who != "anonymous" else {"Authorization": ""}
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body


def outcome(body: dict[str, Any]) -> str:
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
    for code in (U, F):
        if code in codes:
            return code
    return Y


def fingerprint(settings: Settings) -> tuple[int, int, int]:
    """Nodes, relationships and properties in the whole graph, once the events of the
    changes before are sealed (sealing adds their place in the chain)."""
    sealed(settings)
    return (
        count(settings, "MATCH (n) RETURN count(n)"),
        count(settings, "MATCH ()-[r]->() RETURN count(r)"),
        count(settings, "MATCH (n) RETURN sum(size(keys(n)))"),
    )


ROLE = """mutation($r: String!, $p: String!, $role: Role!) {
  setRegistryMember(input: {registry: $r, principal: $p, role: $role}) { registry { name } } }"""
MEMBER = """mutation($p: String!, $u: String!) {
  setProjectMember(input: {project: $p, principal: $u}) { members } }"""
COLLECTION = """mutation($r: String!, $n: String!) {
  createCollection(input: {registry: $r, name: $n}) { collection { id } } }"""
LINK = """mutation($c: String!, $v: String!) {
  linkVersion(input: {registry: "model", collection: $c, version: $v}) { link { id } } }"""


@pytest.fixture
def world(client: TestClient) -> World:
    """The org admin (the client) sets up users with one role each, a project `fraud` with a
    run that logged a model version, and that version linked as model/clf:v0."""
    keys = {
        "viewer": user_key(client, "vera"),
        "member": user_key(client, "mark"),
        "admin": user_key(client, "ada"),
        "other": user_key(client, "otto"),
        "project": user_key(client, "pia"),
        "org": user_key(client, "olga", org_admin=True),
    }
    user_key(client, "sam")
    for name, role in (("vera", "VIEWER"), ("mark", "MEMBER"), ("ada", "ADMIN")):
        ok(graphql(client, ROLE, r="model", p=name, role=role))
    ok(graphql(client, ROLE, r="dataset", p="otto", role="ADMIN"))
    run = start_run(client, project="fraud")["id"]
    version = log_version(client, {"model.pkl": b"weights"}, run=run)["id"]
    ok(graphql(client, MEMBER, p="fraud", u="pia"))
    start_run(client, project="elsewhere")
    ok(graphql(client, MEMBER, p="elsewhere", u="otto"))
    for name in ("clf", "clf2"):
        ok(graphql(client, COLLECTION, r="model", n=name))
    ok(graphql(client, LINK, c="clf", v=version))
    world = World(client, keys, version, run)
    for who in keys:  # each key's first use records lastUsedAt: not part of any cell below
        ok(world.call(who, "{ viewer { user { name } } }"))
    return world


# Each family: the call, made by `who`, and who may make it. Refused cells must leave the
# graph exactly as it was; allowed ones may still fail for other reasons (a name taken).
Call = Callable[[World, str], dict[str, Any]]


def q(query: str, **variables: Any) -> Call:
    return lambda w, who: w.call(who, query, **variables)


REGISTRY_READERS = {"viewer": Y, "member": Y, "admin": Y, "other": F, "project": F, "org": Y}
REGISTRY_WRITERS = {"viewer": F, "member": Y, "admin": Y, "other": F, "project": F, "org": Y}
REGISTRY_ADMINS = {"viewer": F, "member": F, "admin": Y, "other": F, "project": F, "org": Y}
PROJECT_MEMBERS = {"viewer": F, "member": F, "admin": F, "other": F, "project": Y, "org": Y}
ORG_ADMINS = {"viewer": F, "member": F, "admin": F, "other": F, "project": F, "org": Y}
EVERYONE = dict.fromkeys(PRINCIPALS[1:], Y)

MATRIX: list[tuple[str, Call, dict[str, str]]] = [
    (
        "read a collection",
        q('{ collection(registry: "model", name: "clf") { name } }'),
        REGISTRY_READERS,
    ),
    (
        "resolve a linked version",
        q('{ linkedVersion(ref: "model/clf:v0") { name } }'),
        REGISTRY_READERS,
    ),
    (
        "collection history",
        q(
            '{ collection(registry: "model", name: "clf") '
            "{ history(first: 5) { nodes { type } } } }"
        ),
        REGISTRY_READERS,
    ),
    (
        "registry audit log",
        q('{ auditLog(registry: "model", first: 5) { nodes { type } } }'),
        REGISTRY_READERS,
    ),
    (
        "create a collection",
        lambda w, who: w.call(who, COLLECTION, r="model", n=f"by-{who}"),
        REGISTRY_WRITERS,
    ),
    ("link a version", lambda w, who: w.call(who, LINK, c="clf2", v=w.version), REGISTRY_WRITERS),
    (
        "move a plain alias",
        q(
            'mutation { setCollectionAlias(input: {link: "model/clf:v0", '
            'alias: "candidate"}) { link { name } } }'
        ),
        REGISTRY_WRITERS,
    ),
    (
        "assign a stage",
        q(
            'mutation { assignStage(input: {link: "model/clf:v0", '
            'stage: "staging"}) { link { name } } }'
        ),
        REGISTRY_WRITERS,
    ),
    (
        "move a protected alias",
        q(
            'mutation { setCollectionAlias(input: {link: "model/clf:v0", '
            'alias: "production"}) { link { name } } }'
        ),
        REGISTRY_ADMINS,
    ),
    ("registry membership", q(ROLE, r="model", p="sam", role="VIEWER"), REGISTRY_ADMINS),
    (
        "deprecate a collection",
        q(
            'mutation { deprecateCollection(input: {registry: "model", '
            'collection: "clf2", confirm: "clf2"}) { collection { name } } }'
        ),
        REGISTRY_ADMINS,
    ),
    ("read a project", q('{ project(name: "fraud") { name } }'), PROJECT_MEMBERS),
    ("list runs", q('{ runs(project: "fraud") { nodes { id } } }'), PROJECT_MEMBERS),
    (
        "read a run",
        lambda w, who: w.call(who, "query($id: ID!) { run(id: $id) { id } }", id=w.run),
        PROJECT_MEMBERS,
    ),
    (
        "start a run",
        q('mutation { startRun(input: {project: "fraud"}) { run { id } } }'),
        PROJECT_MEMBERS,
    ),
    (
        "log a version",
        q(
            'mutation { createArtifactVersion(input: {project: "fraud", '
            'artifact: "m", type: "model", files: []}) { version { id } } }'
        ),
        PROJECT_MEMBERS,
    ),
    ("project membership", q(MEMBER, p="fraud", u="sam"), PROJECT_MEMBERS),
    (
        "read a linked version's artifact version",
        lambda w, who: w.call(
            who, "query($r: String!) { artifactVersion(ref: $r) { id } }", r=w.version
        ),
        {**REGISTRY_READERS, "project": Y},
    ),
    (
        "lineage of a linked version",
        lambda w, who: w.call(
            who, "query($of: ID!) { lineage(of: $of) { totalNodes } }", of=w.version
        ),
        {**REGISTRY_READERS, "project": Y},
    ),
    (
        "create a registry",
        q('mutation { createRegistry(input: {name: "llm"}) { registry { name } } }'),
        ORG_ADMINS,
    ),
    (
        "create a user",
        q('mutation { createUser(input: {name: "newbie"}) { user { name } } }'),
        ORG_ADMINS,
    ),
    ("list users", q("{ users { name } }"), ORG_ADMINS),
    ("org-wide audit log", q("{ auditLog(first: 5) { nodes { type } } }"), ORG_ADMINS),
    ("verify the audit log", q("{ verifyAuditLog { intact } }"), ORG_ADMINS),
    ("who am I", q("{ viewer { user { name } } }"), EVERYONE),
    (
        "derivation inside one project",
        lambda w, who: w.call(
            who,
            "query($a: ID!, $b: ID!) { derivation(from: $a, to: $b) { derived } }",
            a=w.run,
            b=w.version,
        ),
        PROJECT_MEMBERS,
    ),
    (
        "lineage diff inside one project",
        lambda w, who: w.call(
            who,
            "query($a: ID!, $b: ID!) { lineageDiff(a: $a, b: $b) { onlyInA { id } } }",
            a=w.version,
            b=w.version,
        ),
        {**REGISTRY_READERS, "project": Y},
    ),
]


@pytest.mark.parametrize(("family", "call", "allowed"), MATRIX, ids=[m[0] for m in MATRIX])
def test_each_family_is_allowed_or_refused_for_each_principal(
    world: World,
    settings: Settings,
    family: str,
    call: Call,
    allowed: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    expected = {"anonymous": U, **allowed}
    seen: dict[str, str] = {}
    for who in PRINCIPALS:
        before = fingerprint(settings)
        with caplog.at_level(logging.WARNING, logger="forebear.access"):
            caplog.clear()
            seen[who] = outcome(call(world, who))
        if seen[who] != Y:
            assert fingerprint(settings) == before, f"{family} refused for {who} changed data"
            refusals = [r for r in caplog.records if r.getMessage() == "refused"]
            assert refusals, f"{family} refused for {who} without a log line"
            assert getattr(refusals[-1], "operation", None)
    assert seen == expected


def test_a_refused_whole_audit_log_names_the_registries_whose_logs_may_be_read(
    world: World,
) -> None:
    whole = "{ auditLog(first: 5) { nodes { type } } }"
    [refusal] = world.call("viewer", whole)["errors"]
    assert refusal["extensions"]["code"] == F
    assert "name a registry you hold a role in (yours: model)" in refusal["message"]
    [refusal] = world.call("project", whole)["errors"]
    assert "(you hold a role in none)" in refusal["message"]
    mine = world.call("viewer", '{ auditLog(registry: "model", first: 5) { nodes { type } } }')
    assert "errors" not in mine


def test_every_root_field_has_a_rule_and_a_field_without_one_is_refused() -> None:
    from strawberry.types.field import StrawberryField

    from api.access import Authorize

    for type_name in ("Query", "Mutation"):
        gql_type = schema.get_type_by_name(type_name)
        assert gql_type is not None
        fields: list[StrawberryField] = gql_type.fields  # type: ignore[union-attr]
        for field in fields:
            assert field.is_async, f"{field.python_name}: the rule may need Neo4j"
            guards = [e for e in field.extensions if isinstance(e, Authorize)]
            assert len(guards) == 1, field.python_name
            assert guards[0].rule is RULES.get(field.python_name), field.python_name
            assert guards[0].rule is not None, f"{field.python_name} has no rule"
    assert Authorize("made_up", None).rule is None  # and resolve_async refuses it (below)


def test_every_rule_reads_arguments_its_field_receives() -> None:
    from strawberry.types.field import StrawberryField

    from api.access import Authorize, all_of, lineage_start, unknown_paths

    fields: dict[str, StrawberryField] = {}
    for type_name in ("Query", "Mutation"):
        gql_type = schema.get_type_by_name(type_name)
        fields.update({f.python_name: f for f in gql_type.fields})  # type: ignore[union-attr]
    for name, field in fields.items():
        guard = next(e for e in field.extensions if isinstance(e, Authorize))
        assert guard.rule is not None
        assert unknown_paths(field, guard.rule) == [], name
    # The defect this guards against: the argument is `from` in GraphQL, `from_` in Python.
    wrong = all_of(lineage_start("from"), lineage_start("to"))
    assert unknown_paths(fields["derivation"], wrong) == ["from"]
    assert unknown_paths(fields["link_version"], RULES["set_semver"]) == ["input.link"]
    assert unknown_paths(fields["set_semver"], RULES["set_semver"]) == []


def test_a_refusal_names_the_operation_and_who_grants_the_role(world: World) -> None:
    body = world.call(
        "member",
        'mutation { deprecateCollection(input: {registry: "model", collection: "clf2", '
        'confirm: "clf2"}) { collection { name } } }',
    )
    message = body["errors"][0]["message"]
    assert "deprecateCollection" in message
    assert "admin role" in message
    assert "setRegistryMember" in message
    body = world.call("other", '{ runs(project: "fraud") { nodes { id } } }')
    message = body["errors"][0]["message"]
    assert "runs needs membership of project 'fraud'" in message
    assert "setProjectMember" in message


async def test_a_root_field_without_a_rule_is_refused() -> None:
    from api.access import Access, Authorize
    from graph.errors import Forbidden
    from graph.records import Principal

    class Info:
        class context:  # noqa: N801 - a stand-in for the request context
            access = Access(
                Principal("usr_x", "x", "user", True, "key_x", frozenset(), {}),
                None,  # type: ignore[arg-type]
            )

    async def resolver(source: object, info: object) -> str:
        return "leaked"

    with pytest.raises(Forbidden, match="no access rule"):
        await Authorize("made_up", None).resolve_async(resolver, None, Info())


def test_registry_viewers_see_a_linked_version_but_not_the_project_behind_it(
    world: World,
) -> None:
    query = """query($id: ID!) { lineage(of: $id) { nodes { id } edges { source target }
      compact hiddenNodes totalNodes }
      node(id: $id) { ... on ArtifactVersion { producedBy { id } artifact { name } } } }"""
    seen = ok(world.call("viewer", query, id=world.version))
    assert [n["id"] for n in seen["lineage"]["nodes"]] == [world.version]
    assert seen["lineage"]["hiddenNodes"] == 1  # the producing run, unnamed
    assert seen["lineage"]["edges"] == []  # nor named by an edge
    assert world.run not in str(seen["lineage"]["compact"])
    assert seen["node"] == {"producedBy": None, "artifact": None}
    member = ok(world.call("project", query, id=world.version))
    assert member["lineage"]["hiddenNodes"] == 0
    assert member["node"]["producedBy"] == {"id": world.run}
    outsider = world.call("other", "query($id: ID!) { node(id: $id) { id } }", id=world.version)
    assert ok(outsider)["node"] is None
    compare = '{ compare(links: ["model/clf:v0"]) { versions { run { id } } } }'
    assert ok(world.call("viewer", compare))["compare"]["versions"] == [{"run": None}]
    # Made a member of the project, the viewer sees the run in the same (kept) answer.
    ok(graphql(world.client, MEMBER, p="fraud", u="vera"))
    now = ok(world.call("viewer", query, id=world.version))["lineage"]
    assert (now["hiddenNodes"], len(now["nodes"])) == (0, 2)
    assert ok(world.call("org", compare))["compare"]["versions"] == [{"run": {"id": world.run}}]


def test_a_versions_links_are_listed_to_those_who_may_read_their_registry(
    world: World,
) -> None:
    query = """query($id: ID!) { node(id: $id) { ... on ArtifactVersion { links {
      name stages collection { registry } } } } }"""
    seen = ok(world.call("project", query, id=world.version))  # the project's, not model's
    assert seen["node"] == {"links": []}
    assert ok(world.call("viewer", query, id=world.version))["node"] == {
        "links": [{"name": "model/clf:v0", "stages": [], "collection": {"registry": "model"}}]
    }


def test_downloads_need_a_readable_version_not_just_a_hash(world: World) -> None:
    path = f"/files/{world.version}/model.pkl"
    for who, status in (("viewer", 200), ("project", 200), ("other", 404), ("org", 200)):
        response = world.client.get(path, headers=bearer(world.keys[who]))
        assert response.status_code == status, who
    assert world.client.get(path, headers={"Authorization": ""}).status_code == 401
    probe = "query($s: String!) { versionsWithBlob(sha256: $s) { nodes { id } } }"
    found = ok(world.call("other", probe, s=sha(b"weights")))["versionsWithBlob"]["nodes"]
    assert found == []
    assert ok(world.call("viewer", probe, s=sha(b"weights")))["versionsWithBlob"]["nodes"]


def test_uploads_need_a_pending_manifest_of_ones_own_project(world: World) -> None:
    data = b"new weights for fraud"
    refused = world.client.put(
        f"/blobs/{sha(data)}", content=data, headers=bearer(world.keys["project"])
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    world.client.headers.update(bearer(world.keys["project"]))  # act as pia
    open_version(world.client, {"w.bin": data}, project="fraud")
    stranger = world.client.put(
        f"/blobs/{sha(data)}", content=data, headers=bearer(world.keys["other"])
    )
    assert stranger.status_code == 403
    accepted = world.client.put(
        f"/blobs/{sha(data)}", content=data, headers=bearer(world.keys["project"])
    )
    assert accepted.status_code == 201
    anonymous = world.client.put(f"/blobs/{sha(data)}", content=data, headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_a_new_project_belongs_to_whoever_creates_it(world: World) -> None:
    ok(world.call("other", 'mutation { startRun(input: {project: "otto-lab"}) { run { id } } }'))
    members = ok(world.call("other", "{ viewer { projects } }"))["viewer"]["projects"]
    assert "otto-lab" in members
    refused = world.call("project", '{ runs(project: "otto-lab") { nodes { id } } }')
    assert outcome(refused) == F


KEY = """mutation($name: String!, $user: String, $expires: DateTime) {
  createApiKey(input: {name: $name, user: $user, expiresAt: $expires}) {
    key apiKey { id name user expiresAt revokedAt } } }"""


def test_keys_are_shown_once_revocable_and_only_by_their_owner(
    world: World, settings: Settings
) -> None:
    made = ok(world.call("member", KEY, name="laptop"))["createApiKey"]
    key, record = made["key"], made["apiKey"]
    assert record["user"] == "mark"
    assert key.startswith("fbk_")
    stored = count(
        settings,
        "MATCH (k:ApiKey {id: $id}) RETURN size([p IN keys(k) WHERE k[p] = $key])",
        id=record["id"],
        key=key,
    )
    assert stored == 0  # the secret is nowhere in the graph
    as_key = {"Authorization": f"Bearer {key}"}
    viewer = world.client.post(
        "/graphql", json={"query": "{ viewer { user { name } } }"}, headers=as_key
    )
    assert viewer.json()["data"]["viewer"]["user"]["name"] == "mark"
    revoke = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } } }"
    assert outcome(world.call("viewer", revoke, id=record["id"])) == F
    assert ok(world.call("member", revoke, id=record["id"]))["revokeApiKey"]["apiKey"]["revokedAt"]
    gone = world.client.post(
        "/graphql", json={"query": "{ viewer { user { name } } }"}, headers=as_key
    )
    assert gone.status_code == 401
    assert gone.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    listed = ok(world.call("member", "{ viewer { user { apiKeys { name revokedAt } } } }"))
    names = {k["name"]: k["revokedAt"] for k in listed["viewer"]["user"]["apiKeys"]}
    assert names["laptop"] is not None
    assert names["initial"] is None


def test_keys_for_others_only_for_service_accounts_by_org_admins(world: World) -> None:
    user_key(world.client, "ci-bot", service=True)
    assert outcome(world.call("member", KEY, name="ci", user="ci-bot")) == F
    assert outcome(world.call("org", KEY, name="ci", user="vera")) == F
    made = ok(world.call("org", KEY, name="ci", user="ci-bot"))["createApiKey"]
    assert made["apiKey"]["user"] == "ci-bot"


def test_an_expired_key_stops_working(world: World) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    made = ok(world.call("member", KEY, name="short", expires=soon))["createApiKey"]
    headers = {"Authorization": f"Bearer {made['key']}"}
    query = {"query": "{ viewer { user { name } } }"}
    assert world.client.post("/graphql", json=query, headers=headers).status_code == 200
    time.sleep(1.2)
    assert world.client.post("/graphql", json=query, headers=headers).status_code == 401
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    refused = world.call("member", KEY, name="old", expires=past)
    assert refused["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.expiresAt"}


def test_only_health_readiness_and_metrics_answer_without_a_key(
    client: TestClient, settings: Settings
) -> None:
    anonymous = {"Authorization": ""}
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path, headers=anonymous).status_code == 200, path
    for method, path in (("POST", "/graphql"), ("GET", "/files/ver_x/a"), ("PUT", "/blobs/ab")):
        response = client.request(method, path, headers=anonymous)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = client.post(
        "/graphql",
        json={"query": "{ viewer { user { name } } }"},
        headers={"Authorization": "Bearer fbk_guessed"},
    )
    assert wrong.status_code == 401
    private = settings.model_copy(update={"metrics_public": False})
    from api.app import create_app

    with TestClient(create_app(private)) as closed:
        assert closed.get("/metrics", headers=anonymous).status_code == 401


def test_a_kept_lineage_view_is_not_served_after_the_role_behind_it_is_gone(
    client: TestClient, settings: Settings
) -> None:
    """Two API processes: one removes vera's registry role; the other, once its cached key
    has expired, must not answer from the view it kept while she held the role."""
    vera = user_key(client, "vera")
    data = log_version(client, {"d": b"views"}, project="p1", artifact="data", type="dataset")
    ok(graphql(client, MEMBER, p="p1", u="vera"))
    trainer = start_run(client, project="p2")["id"]
    ok(
        graphql(
            client,
            """mutation($r: ID!, $v: String!) {
            useArtifactVersion(input: {run: $r, version: $v}) { created } }""",
            r=trainer,
            v=data["id"],
        )
    )
    model = log_version(client, {"m": b"views"}, project="p2", run=trainer)["id"]
    ok(graphql(client, COLLECTION, r="model", n="views"))
    ok(graphql(client, LINK, c="views", v=model))
    ok(graphql(client, ROLE, r="model", p="vera", role="VIEWER"))
    query = """query($of: ID!) { lineage(of: $of, direction: DOWNSTREAM) {
        nodes { id } hiddenNodes } }"""
    other_settings = settings.model_copy(update={"auth_cache_ttl": 1})
    with TestClient(create_app(other_settings), headers=bearer(vera)) as other:
        seen = ok(graphql(other, query, of=data["id"]))["lineage"]
        assert {n["id"] for n in seen["nodes"]} == {data["id"], model}
        assert seen["hiddenNodes"] == 1
        ok(
            graphql(
                client,
                """mutation { removeRegistryMember(input: {registry: "model", principal: "vera"})
                { registry { name } } }""",
            )
        )
        graphql(other, query, of=data["id"])  # within the key's TTL: either answer is allowed
        time.sleep(1.2)
        seen = ok(graphql(other, query, of=data["id"]))["lineage"]
        assert {n["id"] for n in seen["nodes"]} == {data["id"]}
        assert seen["hiddenNodes"] == 2


def test_viewer_lists_a_project_the_caller_just_made(client: TestClient) -> None:
    viewer = "{ viewer { projects } }"
    assert "fresh" not in ok(graphql(client, viewer))["viewer"]["projects"]
    ok(graphql(client, 'mutation { createProject(input: {name: "fresh"}) { project { name } } }'))
    assert "fresh" in ok(graphql(client, viewer))["viewer"]["projects"]
    start_run(client, project="by-run")
    assert "by-run" in ok(graphql(client, viewer))["viewer"]["projects"]
    pia = bearer(user_key(client, "pia"))

    def as_pia(query: str) -> dict[str, Any]:
        return ok(client.post("/graphql", json={"query": query}, headers=pia).json())

    assert as_pia(viewer)["viewer"]["projects"] == []
    as_pia('mutation { createProject(input: {name: "pias"}) { project { name } } }')
    assert as_pia(viewer)["viewer"]["projects"] == ["pias"]
