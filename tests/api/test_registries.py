"""Registries and the model lifecycle: the DVC Studio and W&B stories, races, as-of, audit."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from api.settings import Settings
from tests.factories import count, events, log_version, ok, user_key
from tests.helpers import bearer, graphql, series

LINK = """
mutation Link($input: LinkVersionInput!) {
  linkVersion(input: $input) {
    created link { id name index aliases { name protected } stages semver deregistered
                   version { name } }
  }
}
"""
CREATE_COLLECTION = """
mutation($input: CreateCollectionInput!) {
  createCollection(input: $input) { collection { id name registry tags description } }
}
"""
STAGE = """
mutation($link: String!, $stage: String!) {
  assignStage(input: {link: $link, stage: $stage}) { link { name stages } }
}
"""
UNSTAGE = """
mutation($link: String!, $stage: String!) {
  unassignStage(input: {link: $link, stage: $stage}) { link { name stages } }
}
"""
SET_ALIAS = """
mutation($link: String!, $alias: String!) {
  setCollectionAlias(input: {link: $link, alias: $alias}) {
    link { name aliases { name protected } } previous { name }
  }
}
"""
RESOLVE = """
query($ref: String!, $asOf: DateTime) { linkedVersion(ref: $ref, asOf: $asOf) { name index } }
"""
DEREGISTER = """
mutation($link: String!) {
  deregisterLink(input: {link: $link, confirmDependents: true}) { link { id } }
}
"""
HISTORY = """
query($registry: String!, $name: String!) {
  collection(registry: $registry, name: $name) {
    history(first: 50) { nodes { type actor before after } }
  }
}
"""


def as_actor(client: TestClient, actor: str, query: str, **variables: Any) -> dict[str, Any]:
    """Call as `actor`, an org admin made on first use (these stories are about history)."""
    keys: dict[str, str] = client.__dict__.setdefault("forebear_keys", {})
    if actor not in keys:
        keys[actor] = user_key(client, actor, org_admin=True)
    key = keys[actor]
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=bearer(key)
    )
    body: dict[str, Any] = response.json()
    return body


def models(client: TestClient, n: int, artifact: str = "clf") -> list[dict[str, Any]]:
    return [
        log_version(client, {"model.pkl": f"{artifact} {i}".encode()}, artifact=artifact)
        for i in range(n)
    ]


def linked_collection(client: TestClient, name: str, n: int) -> list[dict[str, Any]]:
    """A collection `name` in the model registry with n versions linked (v0 first)."""
    v = models(client, n)
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": name}))
    for x in v:
        ok(
            graphql(
                client, LINK, input={"registry": "model", "collection": name, "version": x["id"]}
            )
        )
    return v


def deregister(client: TestClient, link: str) -> None:
    """Deregister `link`, whatever holds it (confirmDependents)."""
    ok(graphql(client, DEREGISTER, link=link))


def test_model_and_dataset_registries_exist_from_the_first_start(client: TestClient) -> None:
    found = ok(graphql(client, "{ registries { name allowedTypes stages protectedAliases } }"))
    assert found["registries"] == [
        {
            "name": "dataset",
            "allowedTypes": ["dataset"],
            "stages": ["dev", "staging", "production"],
            "protectedAliases": ["production"],
        },
        {
            "name": "model",
            "allowedTypes": ["model"],
            "stages": ["dev", "staging", "production"],
            "protectedAliases": ["production"],
        },
    ]


def test_the_dvc_studio_story_leaves_a_history_of_every_step(client: TestClient) -> None:
    v = models(client, 3)
    ok(
        as_actor(
            client,
            "alice",
            CREATE_COLLECTION,
            input={
                "registry": "model",
                "name": "fraud-clf",
                "description": "Card fraud classifier",
                "tags": ["fraud", "tabular"],
            },
        )
    )
    links = [
        ok(
            as_actor(
                client,
                "alice",
                LINK,
                input={"registry": "model", "collection": "fraud-clf", "version": x["id"]},
            )
        )["linkVersion"]["link"]
        for x in v[:2]
    ]
    assert [link["name"] for link in links] == ["model/fraud-clf:v0", "model/fraud-clf:v1"]
    labelled = ok(
        as_actor(
            client,
            "bob",
            """mutation { setSemver(input: {
        link: "model/fraud-clf:v1", semver: "1.0.0"}) { link { semver } } }""",
        )
    )
    assert labelled["setSemver"]["link"]["semver"] == "1.0.0"
    ok(as_actor(client, "bob", STAGE, link="model/fraud-clf:1.0.0", stage="dev"))
    ok(as_actor(client, "carol", STAGE, link="model/fraud-clf:1.0.0", stage="staging"))
    staged = ok(as_actor(client, "carol", UNSTAGE, link="model/fraud-clf:v1", stage="dev"))
    assert staged["unassignStage"]["link"]["stages"] == ["staging"]
    dereg = ok(
        as_actor(
            client,
            "alice",
            """mutation { deregisterLink(input: {
        link: "model/fraud-clf:v0", confirmDependents: true}) { link { deregistered } } }""",
        )
    )
    assert dereg["deregisterLink"]["link"]["deregistered"] is True
    refused = as_actor(
        client,
        "alice",
        """mutation { deprecateCollection(input: {
        registry: "model", collection: "fraud-clf", confirm: "fraud"}) { collection { id } } }""",
    )
    assert refused["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.confirm"}
    ok(
        as_actor(
            client,
            "alice",
            """mutation { deprecateCollection(input: {
        registry: "model", collection: "fraud-clf", confirm: "fraud-clf",
        confirmDependents: true}) { collection { deprecated } } }""",
        )
    )
    history = ok(graphql(client, HISTORY, registry="model", name="fraud-clf"))
    steps = [(e["type"], e["actor"]) for e in history["collection"]["history"]["nodes"]]
    assert steps[::-1] == [
        ("collection.created", "alice"),
        ("link.created", "alice"),
        ("link.created", "alice"),
        ("link.semver_set", "bob"),
        ("stage.assigned", "bob"),
        ("stage.assigned", "carol"),
        ("stage.unassigned", "carol"),
        ("link.deregistered", "alice"),
        ("collection.deprecated", "alice"),
    ]
    hidden = ok(graphql(client, '{ collections(registry: "model") { nodes { name } } }'))
    assert hidden["collections"]["nodes"] == []
    still = ok(
        graphql(client, '{ collection(registry: "model", name: "fraud-clf") { deprecated } }')
    )
    assert still["collection"] == {"deprecated": True}
    closed = graphql(
        client, LINK, input={"registry": "model", "collection": "fraud-clf", "version": v[2]["id"]}
    )
    assert closed["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_the_wandb_story_moves_protected_production_to_one_holder(client: TestClient) -> None:
    v = models(client, 2)
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "churn"}))
    first = ok(
        graphql(
            client,
            LINK,
            input={
                "registry": "model",
                "collection": "churn",
                "version": v[0]["id"],
                "aliases": ["production"],
            },
        )
    )["linkVersion"]
    assert {"name": "production", "protected": True} in first["link"]["aliases"]
    second = ok(
        graphql(
            client,
            LINK,
            input={"registry": "model", "collection": "churn", "version": "fraud/clf:v1"},
        )
    )["linkVersion"]
    moved = ok(graphql(client, SET_ALIAS, link=second["link"]["id"], alias="production"))
    assert moved["setCollectionAlias"]["previous"] == {"name": "model/churn:v0"}
    holder = ok(graphql(client, RESOLVE, ref="model/churn:production"))
    assert holder["linkedVersion"]["index"] == 1
    assert count_holders(client, "churn", "production") == 1
    again = ok(
        graphql(
            client, LINK, input={"registry": "model", "collection": "churn", "version": v[1]["id"]}
        )
    )["linkVersion"]
    assert again["created"] is False
    assert again["link"]["id"] == second["link"]["id"]


def count_holders(client: TestClient, collection: str, alias: str) -> int:
    links = ok(
        graphql(
            client,
            """query($name: String!) { collection(registry: "model",
        name: $name) { links(first: 100) { nodes { aliases { name } } } } }""",
            name=collection,
        )
    )
    return sum(
        any(a["name"] == alias for a in n["aliases"]) for n in links["collection"]["links"]["nodes"]
    )


def test_a_type_the_registry_does_not_accept_is_refused_without_trace(
    client: TestClient, settings: Settings
) -> None:
    data = log_version(client, {"d.csv": b"1,2"}, artifact="data", type="dataset")
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "m"}))
    before = events(settings)
    body = graphql(
        client, LINK, input={"registry": "model", "collection": "m", "version": data["id"]}
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.version"}
    assert "'dataset'" in body["errors"][0]["message"]
    assert events(settings) == before
    assert count(settings, "MATCH (l:Link) RETURN count(l)") == 0


def test_semver_labels_are_validated_unique_and_ordered(
    client: TestClient, settings: Settings
) -> None:
    linked_collection(client, "s", 4)
    label = """mutation($link: String!, $semver: String!) { setSemver(input: {link: $link,
        semver: $semver}) { link { semver } } }"""
    bad = graphql(client, label, link="model/s:v0", semver="1.2")
    assert bad["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.semver"}
    for link, semver in [
        ("model/s:v0", "1.10.0"),
        ("model/s:v1", "1.9.0"),
        ("model/s:v2", "1.10.0-rc.1"),
    ]:
        ok(graphql(client, label, link=link, semver=semver))
    before = events(settings)
    for link, semver, code in (
        ("model/s:latest", "1.9.0", "CONFLICT"),  # v3 is free, but v1 holds the label
        ("model/s:v1", "2.0.0", "CONFLICT"),  # v1 is labelled already: labels do not move
        ("model/s:v9", "3.0.0", "NOT_FOUND"),
    ):
        refused = graphql(client, label, link=link, semver=semver)
        assert refused["errors"][0]["extensions"]["code"] == code, link
    assert events(settings) == before
    history = ok(graphql(client, HISTORY, registry="model", name="s"))["collection"]["history"]
    assert [n["after"]["semver"] for n in history["nodes"] if n["type"] == "link.semver_set"] == [
        "1.10.0-rc.1",
        "1.9.0",
        "1.10.0",
    ]
    times = """{ collection(registry: "model", name: "s") {
      history(first: 50) { nodes { type time after } } } }"""
    nodes = ok(graphql(client, times))["collection"]["history"]["nodes"]
    [labelled] = [n for n in nodes if n["type"] == "link.semver_set" and n["after"]["index"] == 1]
    at = ok(graphql(client, RESOLVE, ref="model/s:1.9.0", asOf=labelled["time"]))
    assert at["linkedVersion"]["index"] == 1
    latest = ok(
        graphql(
            client, '{ collection(registry: "model", name: "s") { latestSemver { name semver } } }'
        )
    )
    assert latest["collection"]["latestSemver"] == {"name": "model/s:v0", "semver": "1.10.0"}
    assert ok(graphql(client, RESOLVE, ref="model/s:1.9.0"))["linkedVersion"]["index"] == 1


def test_stages_resolve_to_their_most_recent_holder_and_aliases_win(client: TestClient) -> None:
    linked_collection(client, "st", 3)
    ok(graphql(client, STAGE, link="model/st:v0", stage="staging"))
    ok(graphql(client, STAGE, link="model/st:v2", stage="staging"))
    assert ok(graphql(client, RESOLVE, ref="model/st:staging"))["linkedVersion"]["index"] == 2
    ok(graphql(client, UNSTAGE, link="model/st:v2", stage="staging"))
    assert ok(graphql(client, RESOLVE, ref="model/st:staging"))["linkedVersion"]["index"] == 0
    ok(graphql(client, STAGE, link="model/st:v1", stage="production"))
    ok(graphql(client, SET_ALIAS, link="model/st:v2", alias="production"))
    assert ok(graphql(client, RESOLVE, ref="model/st:production"))["linkedVersion"]["index"] == 2
    unknown = graphql(client, STAGE, link="model/st:v1", stage="qa")
    assert unknown["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.stage"}


def test_as_of_answers_what_production_was_at_each_moment(client: TestClient) -> None:
    v = models(client, 3)
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "asof"}))
    moments = []
    for x in v:
        link = ok(
            graphql(
                client, LINK, input={"registry": "model", "collection": "asof", "version": x["id"]}
            )
        )["linkVersion"]["link"]
        ok(graphql(client, SET_ALIAS, link=link["id"], alias="production"))
        time.sleep(0.01)
        moments.append(datetime.now(UTC).isoformat())
        time.sleep(0.01)
    answers = [
        ok(graphql(client, RESOLVE, ref="model/asof:production", asOf=t))["linkedVersion"]["index"]
        for t in moments
    ]
    assert answers == [0, 1, 2]
    # and each shows the aliases it held then, not now
    held = """query($ref: String!, $at: DateTime) { linkedVersion(ref: $ref, asOf: $at) {
        aliases { name } } }"""
    then = ok(graphql(client, held, ref="model/asof:v0", at=moments[0]))["linkedVersion"]
    assert sorted(a["name"] for a in then["aliases"]) == ["latest", "production"]
    now = ok(graphql(client, held, ref="model/asof:v0"))["linkedVersion"]
    assert now["aliases"] == []
    before_any = ok(
        graphql(client, RESOLVE, ref="model/asof:production", asOf="2000-01-01T00:00:00+00:00")
    )
    assert before_any["linkedVersion"] is None


def test_twenty_clients_moving_one_alias_leave_one_holder(
    client: TestClient, settings: Settings
) -> None:
    v = models(client, 20)
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "race"}))
    links = [
        ok(
            graphql(
                client, LINK, input={"registry": "model", "collection": "race", "version": x["id"]}
            )
        )["linkVersion"]["link"]["id"]
        for x in v
    ]
    before = count(settings, "MATCH (e:Event {type: 'alias.set'}) RETURN count(e)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda link: graphql(client, SET_ALIAS, link=link, alias="champion"), links)
        )
    assert all("errors" not in a for a in answers)
    assert count_holders(client, "race", "champion") == 1
    assert (
        count(
            settings, "MATCH (a:Assignment {name: 'champion'}) WHERE a.end IS NULL RETURN count(a)"
        )
        == 1
    )
    assert count(settings, "MATCH (e:Event {type: 'alias.set'}) RETURN count(e)") - before == 20


def test_twenty_clients_linking_into_one_collection_get_consecutive_indexes(
    client: TestClient, settings: Settings
) -> None:
    v = models(client, 20)
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "crowd"}))
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(
                lambda x: graphql(
                    client,
                    LINK,
                    input={"registry": "model", "collection": "crowd", "version": x["id"]},
                ),
                v,
            )
        )
    indexes = sorted(a["data"]["linkVersion"]["link"]["index"] for a in answers)
    assert indexes == list(range(20))
    assert count(settings, "MATCH (e:Event {type: 'link.created'}) RETURN count(e)") == 20
    latest = ok(graphql(client, RESOLVE, ref="model/crowd:latest"))
    assert latest["linkedVersion"]["index"] == 19
    # Each event names the index its link got, and the chain they form is whole.
    logged = """{ auditLog(types: ["link.created"], first: 20) { nodes { after } } }"""
    nodes = ok(graphql(client, logged))["auditLog"]["nodes"]
    assert sorted(n["after"]["index"] for n in nodes) == list(range(20))
    check = ok(graphql(client, "{ verifyAuditLog { intact checked } }"))["verifyAuditLog"]
    assert check == {"intact": True, "checked": events(settings)}


def test_collections_are_searched_renamed_and_custom_registries_created(client: TestClient) -> None:
    ok(
        graphql(
            client,
            """mutation { createRegistry(input: {name: "llm", allowedTypes:
        ["model", "adapter"], stages: ["eval", "canary", "live"], protectedAliases: ["live"]})
        { registry { name stages } } }""",
        )
    )
    for name, tags in [("summarizer", ["nlp"]), ("translator", ["nlp", "big"]), ("ranker", [])]:
        ok(
            graphql(
                client, CREATE_COLLECTION, input={"registry": "llm", "name": name, "tags": tags}
            )
        )
    search = ok(graphql(client, '{ collections(search: "AT", tag: "nlp") { nodes { name } } }'))
    assert search["collections"]["nodes"] == [{"name": "translator"}]
    renamed = ok(
        graphql(
            client,
            """mutation { updateCollection(input: {registry: "llm",
        collection: "ranker", name: "reranker"}) { collection { name } } }""",
        )
    )
    assert renamed["updateCollection"]["collection"]["name"] == "reranker"
    history = ok(graphql(client, HISTORY, registry="llm", name="reranker"))
    renames = [
        e for e in history["collection"]["history"]["nodes"] if e["type"] == "collection.renamed"
    ]
    assert renames[0]["before"] == {"name": "ranker"}
    assert renames[0]["after"] == {"name": "reranker"}
    dup = graphql(client, CREATE_COLLECTION, input={"registry": "llm", "name": "reranker"})
    assert dup["errors"][0]["extensions"]["code"] == "CONFLICT"
    taken = graphql(
        client, 'mutation { createRegistry(input: {name: "llm"}) { registry { name } } }'
    )
    assert taken["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_the_audit_log_filters_pages_and_detects_a_tampered_event(
    client: TestClient, settings: Settings
) -> None:
    ok(as_actor(client, "alice", CREATE_COLLECTION, input={"registry": "model", "name": "a"}))
    ok(as_actor(client, "bob", CREATE_COLLECTION, input={"registry": "model", "name": "b"}))
    ok(as_actor(client, "bob", CREATE_COLLECTION, input={"registry": "dataset", "name": "c"}))
    query = """query($actor: String, $registry: String, $after: String) {
        auditLog(actor: $actor, registry: $registry, types: ["collection.created"], first: 1,
                 after: $after) { nodes { actor after } pageInfo { hasNextPage endCursor } } }"""
    page = ok(graphql(client, query, actor="bob"))["auditLog"]
    assert page["nodes"][0]["after"]["name"] == "c"
    rest = ok(graphql(client, query, actor="bob", after=page["pageInfo"]["endCursor"]))
    assert rest["auditLog"]["nodes"][0]["after"]["name"] == "b"
    in_model = ok(graphql(client, query.replace("first: 1", "first: 10"), registry="model"))
    assert [n["after"]["name"] for n in in_model["auditLog"]["nodes"]] == ["b", "a"]
    check = "{ verifyAuditLog { intact checked firstBreak { seq type } reason } }"
    intact = ok(graphql(client, check))["verifyAuditLog"]
    assert intact["intact"] is True
    assert intact["checked"] == events(settings)
    count(
        settings,
        "MATCH (e:Event {type: 'collection.created'}) WHERE e.actor = 'alice' "
        "SET e.actor = 'mallory' RETURN 1",
    )
    broken = ok(graphql(client, check))["verifyAuditLog"]
    assert broken["intact"] is False
    assert broken["firstBreak"]["type"] == "collection.created"
    assert "does not match its hash" in broken["reason"]


def test_compare_shows_the_runs_behind_linked_versions_side_by_side(client: TestClient) -> None:
    from tests.factories import start_run

    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "cmp"}))
    for i, lr in enumerate([0.1, 0.01]):
        run = start_run(client, config={"lr": lr, "layers": 3})
        ok(
            graphql(
                client,
                """mutation($input: LogMetricsInput!) { logMetrics(input: $input)
            { logged } }""",
                input={
                    "run": run["id"],
                    "points": [
                        {"step": s, "key": "loss", "value": 1.0 / (s + 1 + i)} for s in range(3)
                    ],
                },
            )
        )
        version = log_version(client, {"m": f"cmp {i}".encode()}, artifact="cmp", run=run["id"])
        ok(
            graphql(
                client,
                LINK,
                input={"registry": "model", "collection": "cmp", "version": version["id"]},
            )
        )
    answer = ok(
        graphql(
            client,
            """{ compare(links: ["model/cmp:v0", "model/cmp:v1"],
        metricKeys: ["loss"]) { differingConfigKeys summaryKeys
        versions { link { name } run { config } metrics { key points { step value } } } } }""",
        )
    )
    comparison = answer["compare"]
    assert comparison["differingConfigKeys"] == ["lr"]
    assert comparison["summaryKeys"] == ["loss"]
    assert [v["run"]["config"]["lr"] for v in comparison["versions"]] == [0.1, 0.01]
    assert comparison["versions"][1]["metrics"][0]["points"][0] == {"step": 0, "value": 0.5}
    too_many = graphql(
        client,
        "query($links: [String!]!) { compare(links: $links) { summaryKeys } }",
        links=["model/cmp:v0"] * 11,
    )
    assert too_many["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "links"}


def test_a_deregistered_link_loses_its_aliases_and_comes_back_on_restore(
    client: TestClient, settings: Settings
) -> None:
    linked_collection(client, "back", 2)
    ok(graphql(client, SET_ALIAS, link="model/back:v1", alias="best"))
    ok(graphql(client, STAGE, link="model/back:v1", stage="staging"))
    deregister(client, "model/back:v1")
    assert ok(graphql(client, RESOLVE, ref="model/back:best"))["linkedVersion"] is None
    assert ok(graphql(client, RESOLVE, ref="model/back:latest"))["linkedVersion"]["index"] == 0
    before = events(settings)
    for mutation in (
        'setCollectionAlias(input: {link: "model/back:v1", alias: "x"})',
        'deregisterLink(input: {link: "model/back:v1", confirmDependents: true})',
    ):
        refused = graphql(client, f"mutation {{ {mutation} {{ __typename }} }}")
        assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert refused["errors"][0]["message"].endswith(
        "model/back:v1 is deregistered already (restoreLink brings it back)"
    )
    twice = graphql(
        client, 'mutation { restoreLink(input: {link: "model/back:v0"}) { link { id } } }'
    )
    assert twice["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert twice["errors"][0]["message"].endswith(
        "model/back:v0 is registered already: nothing to restore"
    )
    missing = graphql(
        client, 'mutation { restoreLink(input: {link: "model/back:v7"}) { link { id } } }'
    )
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert events(settings) == before
    restored = ok(
        graphql(
            client,
            'mutation { restoreLink(input: {link: "model/back:v1"}) '
            "{ link { deregistered aliases { name } stages } } }",
        )
    )
    assert restored["restoreLink"]["link"] == {
        "deregistered": False,
        "aliases": [{"name": "latest"}],
        "stages": [],
    }


def test_as_of_names_a_links_state_then_through_every_deregistration_and_restore(
    client: TestClient,
) -> None:
    linked_collection(client, "hist", 1)
    query = """query($at: DateTime) { linkedVersion(ref: "model/hist:v0", asOf: $at) {
        deregistered } }"""
    change = 'mutation {{ {0}(input: {{link: "model/hist:v0"}}) {{ __typename }} }}'
    moments: list[tuple[str, bool]] = []
    for mutation, deregistered in [("deregisterLink", True), ("restoreLink", False)] * 2:
        time.sleep(0.01)
        moments.append((datetime.now(UTC).isoformat(), not deregistered))
        time.sleep(0.01)
        ok(graphql(client, change.format(mutation)))
    for at, deregistered in moments:
        seen = ok(graphql(client, query, at=at))["linkedVersion"]
        assert seen == {"deregistered": deregistered}, at
    assert ok(graphql(client, query))["linkedVersion"] == {"deregistered": False}


def test_node_finds_registries_collections_and_linked_versions(client: TestClient) -> None:
    v = models(client, 1)
    made = ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "nodes"}))
    link = ok(
        graphql(
            client, LINK, input={"registry": "model", "collection": "nodes", "version": v[0]["id"]}
        )
    )["linkVersion"]["link"]
    registry_id = ok(graphql(client, '{ registry(name: "model") { id } }'))["registry"]["id"]
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    for node_id, kind in [
        (registry_id, "Registry"),
        (made["createCollection"]["collection"]["id"], "Collection"),
        (link["id"], "LinkedVersion"),
    ]:
        assert ok(graphql(client, query, id=node_id))["node"] == {"__typename": kind, "id": node_id}
    assert ok(graphql(client, query, id="lnk_" + "0" * 24))["node"] is None


def test_collections_page_across_registries_in_name_order(client: TestClient) -> None:
    for registry, name in [("model", "b"), ("dataset", "z"), ("model", "a"), ("model", "c")]:
        ok(graphql(client, CREATE_COLLECTION, input={"registry": registry, "name": name}))
    query = """query($after: String) { collections(first: 1, after: $after) {
        nodes { registry name } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = ok(graphql(client, query, after=after))["collections"]
        seen += [f"{n['registry']}/{n['name']}" for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["dataset/z", "model/a", "model/b", "model/c"]


def test_a_long_page_of_links_comes_typed_or_compact_alike(client: TestClient) -> None:
    """`links` pages up to 1,000 at a time; its compact form carries what the typed nodes do,
    and `versionId` names the linked version without fetching it; each says who linked it."""
    v = linked_collection(client, "long", 3)
    v += models(client, 1, artifact="alices")
    ok(
        as_actor(
            client,
            "alice",
            LINK,
            input={"registry": "model", "collection": "long", "version": v[3]["id"]},
        )
    )
    ok(graphql(client, SET_ALIAS, link="model/long:v1", alias="best"))
    ok(graphql(client, STAGE, link="model/long:v2", stage="staging"))
    deregister(client, "model/long:v0")
    query = """query($first: Int) { collection(registry: "model", name: "long") {
      links(first: $first, includeDeregistered: true) {
        nodes { id index semver deregistered linkedAt linkedBy versionId version { id }
                aliases { name } stages }
        compact pageInfo { hasNextPage } } } }"""
    links = ok(graphql(client, query, first=1000))["collection"]["links"]
    nodes, compact = links["nodes"], links["compact"]
    assert [n["index"] for n in nodes] == [3, 2, 1, 0]
    assert [n["linkedBy"] for n in nodes] == ["alice", "admin", "admin", "admin"]
    assert [n["versionId"] for n in nodes] == [n["version"]["id"] for n in nodes]
    assert [n["versionId"] for n in nodes] == [x["id"] for x in reversed(v)]
    for i, n in enumerate(nodes):
        assert compact["id"][i] == n["id"]
        assert compact["index"][i] == n["index"]
        assert compact["semver"][i] == n["semver"]
        assert compact["deregistered"][i] == n["deregistered"]
        assert compact["versionId"][i] == n["versionId"]
        assert compact["linkedBy"][i] == n["linkedBy"]
        assert compact["aliases"].get(str(i), []) == [a["name"] for a in n["aliases"]]
        assert compact["stages"].get(str(i), []) == n["stages"]
        linked = datetime.fromisoformat(n["linkedAt"])
        assert abs(compact["linkedAt"][i] - linked.timestamp() * 1000) < 1
    assert compact["aliases"] == {"0": ["latest"], "2": ["best"]}
    assert compact["stages"] == {"1": ["staging"]}
    assert links["pageInfo"]["hasNextPage"] is False
    paged = """query($after: String) { collection(registry: "model", name: "long") {
      links(first: 2, after: $after, includeDeregistered: true) {
        edges { cursor node { index } } pageInfo { endCursor } } } }"""
    head = ok(graphql(client, paged))["collection"]["links"]
    assert [e["node"]["index"] for e in head["edges"]] == [3, 2]
    assert head["edges"][-1]["cursor"] == head["pageInfo"]["endCursor"]
    rest = ok(graphql(client, paged, after=head["edges"][-1]["cursor"]))["collection"]["links"]
    assert [e["node"]["index"] for e in rest["edges"]] == [1, 0]
    too_many = graphql(client, query, first=1001)
    assert too_many["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "first"}


def test_named_links_are_those_an_alias_or_stage_names_however_old(client: TestClient) -> None:
    """`links(named: true)`: what a registry's overview shows of a collection (latest, each
    alias's and each stage's holder) in one page, though production sits far below the newest
    links; a deregistered link holds nothing and is not named."""
    linked_collection(client, "named", 6)
    ok(graphql(client, SET_ALIAS, link="model/named:v1", alias="production"))
    ok(graphql(client, STAGE, link="model/named:v0", stage="staging"))
    ok(graphql(client, SET_ALIAS, link="model/named:v3", alias="candidate"))
    deregister(client, "model/named:v3")
    query = """query($first: Int, $after: String) { collections(registry: "model") { nodes {
      name links(named: true, first: $first, after: $after) {
        nodes { index aliases { name } stages } pageInfo { hasNextPage endCursor } } } } }"""

    def page(first: int, after: str | None = None) -> dict[str, Any]:
        nodes = ok(graphql(client, query, first=first, after=after))["collections"]["nodes"]
        links: dict[str, Any] = next(c for c in nodes if c["name"] == "named")["links"]
        return links

    named = page(10)
    assert [
        (n["index"], [a["name"] for a in n["aliases"]], n["stages"]) for n in named["nodes"]
    ] == [
        (5, ["latest"], []),
        (1, ["production"], []),
        (0, [], ["staging"]),
    ]
    assert named["pageInfo"]["hasNextPage"] is False
    head = page(2)
    assert [n["index"] for n in head["nodes"]] == [5, 1]
    assert head["pageInfo"]["hasNextPage"] is True
    rest = page(2, head["pageInfo"]["endCursor"])
    assert [n["index"] for n in rest["nodes"]] == [0]
    # the unnamed default is every linked version still
    every = ok(
        graphql(
            client,
            'query { collection(registry: "model", name: "named") { links { nodes { index } } } }',
        )
    )
    assert [n["index"] for n in every["collection"]["links"]["nodes"]] == [5, 4, 2, 1, 0]


def kept_reads(client: TestClient) -> dict[str, float]:
    return series(client, "forebear_kept_reads_total")


def test_a_kept_page_of_links_lasts_until_anything_changes(client: TestClient) -> None:
    """The same page asked again is the process's kept copy while the audit head stays put;
    any change (here an alias moved, then a link deregistered) is in the next answer. The
    query also asks for runs, so its whole answer is not kept (api.kept) and each request
    reads the page."""
    linked_collection(client, "kept", 3)
    query = """{ collection(registry: "model", name: "kept") {
      links(first: 10) { nodes { index aliases { name } version { producedBy { id } } } } } }"""

    def page() -> list[tuple[int, list[str]]]:
        nodes = ok(graphql(client, query))["collection"]["links"]["nodes"]
        return [(n["index"], [a["name"] for a in n["aliases"]]) for n in nodes]

    first = page()
    assert first == [(2, ["latest"]), (1, []), (0, [])]
    before = kept_reads(client)
    assert page() == first
    assert kept_reads(client) == {"kept": before["kept"] + 1, "read": before["read"]}
    ok(graphql(client, SET_ALIAS, link="model/kept:v0", alias="best"))
    assert page() == [(2, ["latest"]), (1, []), (0, ["best"])]
    deregister(client, "model/kept:v2")
    assert page() == [(1, ["latest"]), (0, ["best"])]
    assert kept_reads(client)["read"] == before["read"] + 2


def test_as_of_an_events_time_sees_the_change_it_records(client: TestClient) -> None:
    """A moment read off the history names the state right after that event: the link it
    created is `latest`, the alias it moved is on its new holder."""
    linked_collection(client, "when", 2)
    ok(graphql(client, SET_ALIAS, link="model/when:v0", alias="production"))
    ok(graphql(client, SET_ALIAS, link="model/when:v1", alias="production"))
    query = """{ collection(registry: "model", name: "when") {
      history(first: 50) { nodes { type time after } } } }"""
    nodes = ok(graphql(client, query))["collection"]["history"]["nodes"]
    moves = [n for n in nodes if n["type"] == "alias.set"]
    links = [n for n in nodes if n["type"] == "link.created"]
    assert [m["after"]["alias"] for m in moves] == ["production", "production"]
    for event, ref, index in (
        (moves[0], "model/when:production", 1),  # newest first
        (moves[1], "model/when:production", 0),
        (links[0], "model/when:latest", 1),
        (links[1], "model/when:latest", 0),
    ):
        at = ok(graphql(client, RESOLVE, ref=ref, asOf=event["time"]))["linkedVersion"]
        assert at["index"] == index


def test_stage_refusals_leave_no_trace_and_as_of_sees_each_stage_change(
    client: TestClient, settings: Settings
) -> None:
    linked_collection(client, "stg", 3)
    ok(graphql(client, STAGE, link="model/stg:v0", stage="staging"))
    deregister(client, "model/stg:v2")
    before = events(settings)
    for query, link, stage, code in (
        (STAGE, "model/stg:v0", "staging", "CONFLICT"),  # holds it already
        (UNSTAGE, "model/stg:v1", "staging", "CONFLICT"),  # does not hold it
        (STAGE, "model/stg:v2", "staging", "CONFLICT"),  # deregistered
        (STAGE, "model/stg:v1", "qa", "BAD_INPUT"),  # not one of the registry's stages
        (STAGE, "model/stg:v7", "staging", "NOT_FOUND"),
    ):
        refused = graphql(client, query, link=link, stage=stage)
        assert refused["errors"][0]["extensions"]["code"] == code, (link, stage)
    assert events(settings) == before
    assert ok(graphql(client, RESOLVE, ref="model/stg:staging"))["linkedVersion"]["index"] == 0

    # Each event's own time sees the change it records.
    ok(graphql(client, STAGE, link="model/stg:v1", stage="staging"))
    ok(graphql(client, UNSTAGE, link="model/stg:v1", stage="staging"))
    nodes = ok(graphql(client, HISTORY, registry="model", name="stg"))["collection"]["history"]
    staged = [n for n in nodes["nodes"] if n["type"].startswith("stage.")]
    assert [(n["type"], n["after"]["index"]) for n in staged] == [
        ("stage.unassigned", 1),
        ("stage.assigned", 1),
        ("stage.assigned", 0),
    ]
    query = """{ collection(registry: "model", name: "stg") {
      history(first: 50) { nodes { type time } } } }"""
    times = [
        n["time"]
        for n in ok(graphql(client, query))["collection"]["history"]["nodes"]
        if n["type"].startswith("stage.")
    ]
    for at, index in zip(times, (0, 1, 0), strict=True):
        found = ok(graphql(client, RESOLVE, ref="model/stg:staging", asOf=at))["linkedVersion"]
        assert found["index"] == index
    assert ok(graphql(client, "{ verifyAuditLog { intact } }"))["verifyAuditLog"]["intact"] is True


def test_linking_may_make_the_collection_first_in_one_change(
    client: TestClient, settings: Settings
) -> None:
    version = models(client, 1)[0]["id"]
    link = """mutation($c: String!, $v: String!, $make: Boolean!) { linkVersion(input: {
        registry: "model", collection: $c, version: $v, aliases: ["candidate"],
        createCollection: $make}) { created link { name index aliases { name } } } }"""
    missing = graphql(client, link, c="mnist", v=version, make=False)
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    before = events(settings)
    made = ok(graphql(client, link, c="mnist", v=version, make=True))["linkVersion"]
    assert made["link"]["name"] == "model/mnist:v0"
    assert {a["name"] for a in made["link"]["aliases"]} == {"latest", "candidate"}
    assert events(settings) == before + 1  # one change, one event, which says it made it
    history = ok(
        graphql(
            client,
            '{ collection(registry: "model", name: "mnist") { history { nodes { type after } } } }',
        )
    )["collection"]["history"]["nodes"]
    assert [(h["type"], h["after"]["collectionCreated"]) for h in history] == [
        ("link.created", "mnist")
    ]
    other = models(client, 2, artifact="other")[1]["id"]
    again = ok(graphql(client, link, c="mnist", v=other, make=True))["linkVersion"]
    assert again["link"]["index"] == 1  # existing: linked into, not made again
    bad = graphql(client, link, c="bad name!", v=version, make=True)
    assert bad["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.collection"}
    nowhere = graphql(
        client,
        """mutation($v: String!) { linkVersion(input: {registry: "nope", collection: "x",
        version: $v, createCollection: true}) { created } }""",
        v=version,
    )
    assert nowhere["errors"][0]["extensions"]["code"] in ("NOT_FOUND", "FORBIDDEN")


def test_concurrent_first_links_make_one_collection(client: TestClient, settings: Settings) -> None:
    versions = [m["id"] for m in models(client, 6)]
    link = """mutation($v: String!) { linkVersion(input: {registry: "model",
        collection: "raced", version: $v, createCollection: true}) { link { index } } }"""
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda v: graphql(client, link, v=v), versions))
    indexes = sorted(ok(a)["linkVersion"]["link"]["index"] for a in answers)
    assert indexes == list(range(6))
    assert count(settings, "MATCH (c:Collection {name: 'raced'}) RETURN count(c)") == 1


def test_collections_are_filtered_by_a_stage_one_of_their_versions_holds(
    client: TestClient,
) -> None:
    linked_collection(client, "held", 2)
    ok(graphql(client, CREATE_COLLECTION, input={"registry": "model", "name": "idle"}))
    query = """query($stage: String) { collections(registry: "model", stage: $stage) {
        nodes { name } } }"""

    def names(stage: str | None) -> list[str]:
        return [n["name"] for n in ok(graphql(client, query, stage=stage))["collections"]["nodes"]]

    assert names(None) == ["held", "idle"]
    assert names("production") == []
    stage = """mutation($link: String!, $stage: String!) { %s(input: {link: $link, stage: $stage})
        { link { id } } }"""
    ok(graphql(client, stage % "assignStage", link="model/held:v1", stage="production"))
    assert names("production") == ["held"]
    assert names("staging") == []
    ok(graphql(client, stage % "unassignStage", link="model/held:v1", stage="production"))
    assert names("production") == []
