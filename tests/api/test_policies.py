"""Promotion policies: each rule refuses and allows as specified, a refusal names the policy and
the node at fault and changes nothing, and only a registry's admins manage them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from api.settings import Settings
from tests.factories import events, log_version, ok, start_run, user_key
from tests.helpers import bearer, graphql

POLICY = """mutation($input: CreatePromotionPolicyInput!) { createPromotionPolicy(input: $input) {
  policy { id name alias stage rule priorStage metric op threshold createdBy } } }"""
LINK = """mutation($version: String!, $collection: String!, $aliases: [String!]! = []) {
  linkVersion(input: {registry: "model", collection: $collection, version: $version,
                      aliases: $aliases, createCollection: true}) { link { id name } } }"""
SET_ALIAS = """mutation($link: String!, $alias: String!) {
  setCollectionAlias(input: {link: $link, alias: $alias}) { link { name } } }"""
STAGE = """mutation($link: String!, $stage: String!) {
  assignStage(input: {link: $link, stage: $stage}) { link { name stages } } }"""
USE = """mutation($run: ID!, $v: String!) {
  useArtifactVersion(input: {run: $run, version: $v}) { created } }"""
SUMMARY = """mutation($run: ID!, $summary: JSON!) {
  updateRun(input: {run: $run, summary: $summary}) { run { id } } }"""
RESOLVE = """query($ref: String!) { linkedVersion(ref: $ref) { id } }"""


def policy(client: TestClient, **fields: Any) -> dict[str, Any]:
    made = ok(graphql(client, POLICY, input={"registry": "model", **fields}))
    return dict(made["createPromotionPolicy"]["policy"])


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


def trained_model(client: TestClient, acc: float | None = None) -> tuple[str, str, str]:
    """A dataset version, a run that used it (with `acc` in its summary) and the model version
    it produced; their ids."""
    data = log_version(client, {"rows.csv": b"1,2\n"}, artifact="raw", type="dataset")
    run = start_run(client, name="train")
    if acc is not None:
        ok(graphql(client, SUMMARY, run=run["id"], summary={"acc": acc}))
    ok(graphql(client, USE, run=run["id"], v=data["id"]))
    model = log_version(client, {"model.bin": f"w{acc}".encode()}, run=run["id"])
    return data["id"], run["id"], model["id"]


def link(client: TestClient, version: str, collection: str = "churn", **kw: Any) -> dict[str, Any]:
    return dict(
        ok(graphql(client, LINK, version=version, collection=collection, **kw))["linkVersion"][
            "link"
        ]
    )


def test_a_model_on_withdrawn_data_cannot_reach_production(
    client: TestClient, settings: Settings
) -> None:
    made = policy(client, name="healthy-upstream", alias="production", rule="UPSTREAM_HEALTHY")
    assert made["createdBy"] == "admin"
    _, _, model = trained_model(client)
    candidate = link(client, model)
    ok(graphql(client, SET_ALIAS, link=candidate["id"], alias="production"))  # healthy: allowed

    second_data, _, second = trained_model(client, acc=0.5)
    ok(
        graphql(
            client,
            "mutation($v: String!) { deleteArtifactVersion(input: {version: $v, "
            "confirmDependents: true}) "
            "{ version { id } } }",
            v=second_data,
        )
    )
    withdrawn = link(client, second)
    before = events(settings)
    error = refusal(graphql(client, SET_ALIAS, link=withdrawn["id"], alias="production"))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["policy"] == "healthy-upstream"
    assert error["extensions"]["node"] == second_data
    assert "healthy-upstream" in error["message"]
    assert "deleted" in error["message"]
    # Nothing changed: no event, and production still names the first.
    assert events(settings) == before
    held = ok(graphql(client, RESOLVE, ref="model/churn:production"))["linkedVersion"]
    assert held["id"] == candidate["id"]
    # Linking with the alias is a move onto it too: refused, and nothing is linked.
    error = refusal(
        graphql(client, LINK, version=second, collection="other", aliases=["production"])
    )
    assert error["extensions"]["policy"] == "healthy-upstream"
    assert ok(graphql(client, RESOLVE, ref="model/other:v0"))["linkedVersion"] is None
    # Other aliases are not guarded.
    ok(graphql(client, SET_ALIAS, link=withdrawn["id"], alias="challenger"))


def test_data_in_a_deprecated_collection_is_not_healthy(
    client: TestClient, settings: Settings
) -> None:
    policy(client, name="healthy-upstream", stage="production", rule="UPSTREAM_HEALTHY")
    data, run, model = trained_model(client)
    ok(
        graphql(
            client,
            """mutation($v: String!) { linkVersion(input: {registry: "dataset",
       collection: "clicks", version: $v, createCollection: true, aliases: ["golden"]})
       { link { id } } }""",
            v=data,
        )
    )
    made = link(client, model)
    # Deprecating data a linked model was made from asks first, naming what depends on it.
    assert ok(graphql(client, DEPENDENTS, of="dataset/clicks"))["dependents"] == {
        "consumingRuns": [run],
        "downstreamVersions": [model],
        "linkedVersions": [{"id": made["id"], "name": "model/churn:v0", "holds": []}],
        "holds": ["alias golden on v0"],
        "total": 4,
    }
    before = events(settings)
    error = refusal(graphql(client, DEPRECATE, confirm=False))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["dependents"] == {
        "consumingRuns": 1,
        "downstreamVersions": 1,
        "linkedVersions": [{"name": "model/churn:v0", "holds": []}],
        "holds": ["alias golden on v0"],
    }
    assert "collection dataset/clicks has dependents" in error["message"]
    assert "model/churn:v0" in error["message"]
    assert events(settings) == before  # nothing changed
    done = ok(graphql(client, DEPRECATE, confirm=True))
    assert done["deprecateCollection"]["collection"]["deprecated"] is True
    error = refusal(graphql(client, STAGE, link=made["id"], stage="production"))
    assert "deprecated dataset/clicks" in error["message"]
    assert error["extensions"]["node"] == data
    # A collection nothing depends on (its `latest` aside) goes with its name alone.
    assert ok(graphql(client, DEPENDENTS, of="model/churn"))["dependents"]["total"] == 0
    plain = """mutation { deprecateCollection(input: {registry: "model", collection: "churn",
      confirm: "churn"}) { collection { deprecated } } }"""
    assert ok(graphql(client, plain))["deprecateCollection"]["collection"]["deprecated"] is True


def test_staging_before_production(client: TestClient) -> None:
    policy(client, name="staged-first", stage="production", rule="PRIOR", priorStage="staging")
    _, _, model = trained_model(client)
    candidate = link(client, model)
    error = refusal(graphql(client, STAGE, link=candidate["id"], stage="production"))
    assert error["extensions"]["policy"] == "staged-first"
    assert "must hold the stage 'staging' first" in error["message"]
    ok(graphql(client, STAGE, link=candidate["id"], stage="staging"))
    staged = ok(graphql(client, STAGE, link=candidate["id"], stage="production"))
    assert set(staged["assignStage"]["link"]["stages"]) == {"staging", "production"}


@pytest.mark.parametrize(("acc", "allowed"), [(0.85, False), (0.9, True), (0.97, True)])
def test_a_metric_threshold(client: TestClient, acc: float, allowed: bool) -> None:
    policy(
        client,
        name="accurate",
        alias="production",
        rule="METRIC",
        metric="acc",
        op="GTE",
        threshold=0.9,
    )
    _, run, model = trained_model(client, acc=acc)
    candidate = link(client, model)
    answer = graphql(client, SET_ALIAS, link=candidate["id"], alias="production")
    if allowed:
        ok(answer)
    else:
        error = refusal(answer)
        assert error["extensions"]["node"] == run
        assert "has acc = 0.85, not >= 0.9" in error["message"]


def test_a_version_no_run_made_has_no_metric(client: TestClient) -> None:
    policy(
        client,
        name="accurate",
        alias="production",
        rule="METRIC",
        metric="acc",
        op="GT",
        threshold=0.5,
    )
    orphan = log_version(client, {"model.bin": b"hand-made"})
    candidate = link(client, orphan["id"])
    error = refusal(graphql(client, SET_ALIAS, link=candidate["id"], alias="production"))
    assert "no run produced it" in error["message"]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"rule": "UPSTREAM_HEALTHY"}, "alias or the stage"),
        ({"rule": "UPSTREAM_HEALTHY", "alias": "a", "stage": "staging"}, "alias or the stage"),
        ({"rule": "UPSTREAM_HEALTHY", "stage": "nope"}, "stages are"),
        ({"rule": "PRIOR", "stage": "production"}, "priorStage or priorAlias"),
        ({"rule": "METRIC", "alias": "production", "metric": "acc", "op": "GTE"}, "threshold"),
    ],
)
def test_a_policy_that_cannot_be_checked_is_refused(
    client: TestClient, fields: dict[str, Any], says: str
) -> None:
    error = refusal(graphql(client, POLICY, input={"registry": "model", "name": "p", **fields}))
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert says in error["message"]


def test_only_registry_admins_manage_policies(client: TestClient) -> None:
    key = user_key(client, "mia")
    ok(
        graphql(
            client,
            """mutation { setRegistryMember(input: {registry: "model",
       principal: "mia", role: MEMBER}) { registry { name } } }""",
        )
    )
    made = policy(client, name="healthy", alias="production", rule="UPSTREAM_HEALTHY")
    as_member = bearer(key)
    refused = client.post(
        "/graphql",
        headers=as_member,
        json={
            "query": POLICY,
            "variables": {
                "input": {
                    "registry": "model",
                    "name": "x",
                    "alias": "production",
                    "rule": "UPSTREAM_HEALTHY",
                }
            },
        },
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listed = client.post(
        "/graphql",
        headers=as_member,
        json={"query": '{ promotionPolicies(registry: "model") { name alias rule } }'},
    ).json()
    assert listed["data"]["promotionPolicies"] == [
        {"name": "healthy", "alias": "production", "rule": "UPSTREAM_HEALTHY"}
    ]
    gone = ok(
        graphql(
            client,
            """mutation($id: ID!) { deletePromotionPolicy(input: {
        registry: "model", policy: $id}) { policy { name } } }""",
            id=made["id"],
        )
    )
    assert gone["deletePromotionPolicy"]["policy"]["name"] == "healthy"
    assert (
        ok(graphql(client, '{ promotionPolicies(registry: "model") { name } }'))[
            "promotionPolicies"
        ]
        == []
    )


REQUEST = """mutation($link: String!, $alias: String, $stage: String) {
  requestPromotion(input: {link: $link, alias: $alias, stage: $stage, note: "ready"}) {
  request { id state alias stage requestedBy approverRole } } }"""
REVIEW = """mutation($id: ID!, $approve: Boolean!) {
  reviewPromotion(input: {request: $id, approve: $approve, note: "checked"}) {
  request { id state reviewedBy reviewNote } } }"""


def member(client: TestClient, name: str, role: str = "MEMBER") -> dict[str, str]:
    key = user_key(client, name)
    ok(
        graphql(
            client,
            """mutation($p: String!, $role: Role!) { setRegistryMember(input: {
            registry: "model", principal: $p, role: $role}) { registry { name } } }""",
            p=name,
            role=role,
        )
    )
    return bearer(key)


def call(client: TestClient, headers: dict[str, str], query: str, **variables: Any) -> Any:
    return client.post(
        "/graphql", headers=headers, json={"query": query, "variables": variables}
    ).json()


def test_a_second_person_approves_a_move(client: TestClient, settings: Settings) -> None:
    policy(client, name="four-eyes", alias="champion", rule="APPROVAL", approverRole="admin")
    mia, bob = member(client, "mia"), member(client, "bob")
    _, _, model = trained_model(client)
    candidate = link(client, model)
    # The move itself is held back, with the way to ask for it.
    error = refusal(call(client, mia, SET_ALIAS, link=candidate["id"], alias="champion"))
    assert error["extensions"]["policy"] == "four-eyes"
    assert "requestPromotion" in error["message"]
    asked = call(client, mia, REQUEST, link=candidate["id"], alias="champion")["data"]
    request = asked["requestPromotion"]["request"]
    assert (request["state"], request["requestedBy"], request["approverRole"]) == (
        "PENDING",
        "mia",
        "admin",
    )
    again = refusal(call(client, mia, REQUEST, link=candidate["id"], alias="champion"))
    assert request["id"] in again["message"]
    # Not by whoever asked, and not by a member when admins approve.
    own = refusal(call(client, mia, REVIEW, id=request["id"], approve=True))
    assert own["extensions"]["code"] == "FORBIDDEN"
    low = refusal(call(client, bob, REVIEW, id=request["id"], approve=True))
    assert low["extensions"]["code"] == "FORBIDDEN"
    assert ok(graphql(client, RESOLVE, ref="model/churn:champion"))["linkedVersion"] is None
    # An admin approves: the move is made, and its event names the request and both people.
    done = ok(graphql(client, REVIEW, id=request["id"], approve=True))["reviewPromotion"]
    assert (done["request"]["state"], done["request"]["reviewedBy"]) == ("APPROVED", "admin")
    held = ok(graphql(client, RESOLVE, ref="model/churn:champion"))["linkedVersion"]
    assert held["id"] == candidate["id"]
    history = ok(
        graphql(
            client,
            "query($id: ID!) { history(subject: $id, first: 5) { nodes { type actor after } } }",
            id=candidate["id"],
        )
    )["history"]["nodes"]
    moved = next(e for e in history if e["type"] == "alias.set")
    assert moved["actor"] == "admin"
    assert moved["after"]["approval"] == {
        "request": request["id"],
        "requestedBy": "mia",
        "approvedBy": "admin",
    }
    closed = refusal(graphql(client, REVIEW, id=request["id"], approve=False))
    assert "APPROVED already" in closed["message"]


def test_a_rejected_request_moves_nothing(client: TestClient, settings: Settings) -> None:
    policy(client, name="four-eyes", stage="production", rule="APPROVAL", approverRole="member")
    mia, bob = member(client, "mia"), member(client, "bob")
    _, _, model = trained_model(client)
    candidate = link(client, model)
    request = call(client, mia, REQUEST, link=candidate["id"], stage="production")["data"][
        "requestPromotion"
    ]["request"]
    # Members may review here, but not their own request.
    own = refusal(call(client, mia, REVIEW, id=request["id"], approve=False))
    assert own["extensions"]["code"] == "FORBIDDEN"
    assert "second person" in own["message"]
    rejected = call(client, bob, REVIEW, id=request["id"], approve=False)["data"]
    assert rejected["reviewPromotion"]["request"]["state"] == "REJECTED"
    stages = ok(graphql(client, RESOLVE.replace("{ id }", "{ stages }"), ref=candidate["id"]))
    assert stages["linkedVersion"]["stages"] == []
    listed = ok(
        graphql(client, '{ promotionRequests(registry: "model") { id state reviewedBy } }')
    )["promotionRequests"]
    assert listed == [{"id": request["id"], "state": "REJECTED", "reviewedBy": "bob"}]


def test_an_approval_checks_the_other_policies_again(client: TestClient) -> None:
    policy(client, name="four-eyes", alias="champion", rule="APPROVAL")
    policy(
        client,
        name="accurate",
        alias="champion",
        rule="METRIC",
        metric="acc",
        op="GTE",
        threshold=0.9,
    )
    _, _, model = trained_model(client, acc=0.5)
    candidate = link(client, model)
    mia = member(client, "mia")
    request = call(client, mia, REQUEST, link=candidate["id"], alias="champion")["data"][
        "requestPromotion"
    ]["request"]
    error = refusal(graphql(client, REVIEW, id=request["id"], approve=True))
    assert error["extensions"]["policy"] == "accurate"
    still = ok(graphql(client, '{ promotionRequests(registry: "model") { state } }'))
    assert still["promotionRequests"] == [{"state": "PENDING"}]


def test_a_move_no_policy_holds_back_needs_no_request(client: TestClient) -> None:
    _, _, model = trained_model(client)
    candidate = link(client, model)
    error = refusal(graphql(client, REQUEST, link=candidate["id"], alias="champion"))
    assert error["extensions"]["code"] == "CONFLICT"
    assert "move it directly" in error["message"]


DEPENDENTS = """query($of: ID!) { dependents(of: $of) {
  consumingRuns downstreamVersions linkedVersions { id name holds } holds total } }"""
DELETE_VERSION = """mutation($v: String!, $confirm: Boolean!) {
  deleteArtifactVersion(input: {version: $v, confirmDependents: $confirm}) {
    version { state } } }"""
DEPRECATE = """mutation($confirm: Boolean!) { deprecateCollection(input: {registry: "dataset",
  collection: "clicks", confirm: "clicks", confirmDependents: $confirm})
  { collection { deprecated } } }"""
DEREGISTER = """mutation($l: String!, $confirm: Boolean!) {
  deregisterLink(input: {link: $l, confirmDependents: $confirm}) { link { deregistered } } }"""


def test_deleting_data_others_were_made_from_asks_first(
    client: TestClient, settings: Settings
) -> None:
    data, run, model = trained_model(client)
    candidate = link(client, model, aliases=["production"])
    found = ok(graphql(client, DEPENDENTS, of=data))["dependents"]
    assert found == {
        "consumingRuns": [run],
        "downstreamVersions": [model],
        "linkedVersions": [
            {"id": candidate["id"], "name": "model/churn:v0", "holds": ["alias production"]}
        ],
        "holds": [],
        "total": 3,
    }
    before = events(settings)
    error = refusal(graphql(client, DELETE_VERSION, v=data, confirm=False))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["dependents"] == {
        "consumingRuns": 1,
        "downstreamVersions": 1,
        "linkedVersions": [{"name": "model/churn:v0", "holds": ["alias production"]}],
        "holds": [],
    }
    assert "model/churn:v0 (alias production)" in error["message"]
    assert "confirmDependents: true" in error["message"]
    assert events(settings) == before  # nothing changed
    deleted = ok(graphql(client, DELETE_VERSION, v=data, confirm=True))
    assert deleted["deleteArtifactVersion"]["version"]["state"] == "DELETED"


def test_deregistering_a_link_that_holds_a_stage_asks_first(client: TestClient) -> None:
    _, _, model = trained_model(client)
    candidate = link(client, model)
    ok(graphql(client, STAGE, link=candidate["id"], stage="staging"))
    assert ok(graphql(client, DEPENDENTS, of="model/churn:staging"))["dependents"]["holds"] == [
        "stage staging"
    ]
    error = refusal(graphql(client, DEREGISTER, l=candidate["id"], confirm=False))
    assert error["extensions"]["dependents"]["holds"] == ["stage staging"]
    assert "it holds stage staging" in error["message"]
    done = ok(graphql(client, DEREGISTER, l=candidate["id"], confirm=True))
    assert done["deregisterLink"]["link"]["deregistered"] is True
    # A link that holds nothing and feeds nothing goes at once.
    _, _, other = trained_model(client, acc=0.1)
    plain = link(client, other, collection="plain")
    ok(graphql(client, DEREGISTER, l=plain["id"], confirm=False))
