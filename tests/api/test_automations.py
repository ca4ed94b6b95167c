"""Automations: webhooks set off by changes, delivered from the outbox, signed per Standard
Webhooks, retried, logged, tested and redelivered; managed only by the scope's admins."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from neo4j import GraphDatabase
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from graph.repository.base import DELIVERY_LISTENERS
from tests.factories import count, log_version, ok, start_run, user_key
from tests.helpers import ADMIN_KEY, bearer, graphql
from tests.receiver import Receiver

CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { id name active triggers aliasPattern url hasToken payloadTemplate
               scope { kind registry collection project } createdBy }
  signingSecret } }"""
UPDATE = """mutation($input: UpdateAutomationInput!) { updateAutomation(input: $input) {
  automation { id name active triggers aliasPattern url } } }"""
DELETE = """mutation($id: ID!) { deleteAutomation(input: {automation: $id}) {
  id cancelledDeliveries } }"""
TEST = """mutation($id: ID!) { testAutomation(input: {automation: $id}) { delivery {
  id state test eventType attempts { number statusCode response error latencyMs } } } }"""
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {delivery: $id}) { delivery {
  id state attempts { statusCode } } } }"""
DELIVERIES = """query($id: ID!) { automation(id: $id) { deliveries(first: 50) { nodes {
  id eventId eventType state test nextAttemptAt deliveredAt
  attempts { number statusCode response error } } } } }"""
LINK = """mutation($version: String!, $collection: String!, $aliases: [String!]!) {
  linkVersion(input: {registry: "model", collection: $collection, version: $version,
                      aliases: $aliases, createCollection: true}) { link { id name } } }"""
SET_ALIAS = """mutation($link: String!, $alias: String!) {
  setCollectionAlias(input: {link: $link, alias: $alias}) { link { name } } }"""
AUDIT = "{ auditLog(first: 1) { nodes { type } } }"
STAGE = """mutation($link: String!, $stage: String!) {
  assignStage(input: {link: $link, stage: $stage}) { link { name stages } } }"""


@pytest.fixture
def hooks(settings: Settings) -> Iterator[TestClient]:
    """The app, with webhooks to loopback allowed (the receiver runs there)."""
    allowed = settings.model_copy(update={"webhook_allow_private": True, "webhook_poll": 0.2})
    with TestClient(create_app(allowed), headers=bearer(ADMIN_KEY)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def automation(client: TestClient, url: str, **fields: Any) -> dict[str, Any]:
    made = ok(
        graphql(
            client,
            CREATE,
            input={
                "name": "deploy",
                "scope": {"registry": "model"},
                "triggers": ["VERSION_LINKED", "ALIAS_SET"],
                "url": url,
                **fields,
            },
        )
    )["createAutomation"]
    return dict(made)


def model(client: TestClient, data: bytes = b"weights") -> dict[str, Any]:
    run = start_run(client, name="train", project="fraud")
    return log_version(client, {"model.bin": data}, run=run["id"])


def verified(secret: str, got: Any) -> dict[str, Any]:
    """The payload, after checking its signature the way a receiver does."""
    payload: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    return payload


def deliveries(client: TestClient, automation_id: str) -> list[dict[str, Any]]:
    found = ok(graphql(client, DELIVERIES, id=automation_id))["automation"]
    return list(found["deliveries"]["nodes"])


def settled(client: TestClient, automation_id: str, states: set[str]) -> list[dict[str, Any]]:
    """The deliveries once none is PENDING (each in `states`), waiting up to 20 s."""
    deadline = time.monotonic() + 20
    while True:
        found = deliveries(client, automation_id)
        if found and all(d["state"] in states for d in found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_a_link_sends_one_signed_event_with_what_a_deployer_needs(
    hooks: TestClient, receiver: Receiver
) -> None:
    made = automation(hooks, receiver.url)
    assert made["signingSecret"].startswith("whsec_")
    assert made["automation"]["scope"] == {
        "kind": "registry",
        "registry": "model",
        "collection": None,
        "project": None,
    }
    version = model(hooks)
    link = ok(graphql(hooks, LINK, version=version["id"], collection="churn", aliases=["staging"]))[
        "linkVersion"
    ]["link"]

    [got] = receiver.wait_for(1)
    payload = verified(made["signingSecret"], got)
    assert got.headers["content-type"] == "application/json"
    assert payload["type"] == "link.created"
    data = payload["data"]
    assert data["triggers"] == ["VERSION_LINKED", "ALIAS_SET"]
    assert data["event"]["actor"] == "admin"
    assert (data["registry"], data["collection"]) == ("model", "churn")
    assert data["linkedVersion"]["id"] == link["id"]
    assert data["linkedVersion"]["ref"] == "model/churn:v0"
    assert set(data["linkedVersion"]["aliases"]) == {"latest", "staging"}
    assert data["alias"] == "staging"
    assert data["version"]["ref"] == version["name"]
    # The producing run is a project's: a registry's automation is not told of it.
    assert data["run"] is None
    # One change, one delivery, kept in the log with the receiver's answer.
    [delivery] = settled(hooks, made["automation"]["id"], {"DELIVERED"})
    assert delivery["id"] == got.headers["webhook-id"]
    assert delivery["eventType"] == "link.created"
    assert [(a["number"], a["statusCode"]) for a in delivery["attempts"]] == [(1, 200)]
    assert delivery["attempts"][0]["response"] == "answered 200"
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_a_tampered_body_fails_verification(hooks: TestClient, receiver: Receiver) -> None:
    made = automation(hooks, receiver.url)
    ok(graphql(hooks, LINK, version=model(hooks)["id"], collection="churn", aliases=[]))
    [got] = receiver.wait_for(1)
    verified(made["signingSecret"], got)
    forged = got.body.replace(b"churn", b"chur2")
    with pytest.raises(Exception, match="signature"):
        Webhook(made["signingSecret"]).verify(forged, got.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(got.body, got.headers)


def test_the_worker_is_woken_by_what_sets_off_automations_and_by_nothing_else(
    settings: Settings, receiver: Receiver
) -> None:
    """A change that sets off an automation is sent as soon as its event is sealed, and a
    redelivery as soon as it is asked for, not at the worker's next look (a minute away here);
    a change that sets off nothing does not wake the worker (no read of the outbox after every
    commit), nor does a pause; a resume does (what was owed meanwhile goes at once)."""
    woken: list[float] = []

    def listener() -> None:
        woken.append(time.monotonic())

    slow = settings.model_copy(update={"webhook_allow_private": True, "webhook_poll": 60.0})
    with TestClient(create_app(slow), headers=bearer(ADMIN_KEY)) as client:
        made = automation(client, receiver.url)  # on registry "model": runs, versions unheard
        ok(graphql(client, AUDIT))  # reading the log seals what is committed
        DELIVERY_LISTENERS.add(listener)
        try:
            version = model(client)
            assert ok(graphql(client, AUDIT))["auditLog"]["nodes"][0]["type"] == (
                "artifact_version.committed"
            )
            assert woken == []
            ok(graphql(client, LINK, version=version["id"], collection="churn", aliases=[]))
            linked = time.monotonic()
            [got] = receiver.wait_for(1, timeout=10)
            assert json.loads(got.body)["type"] == "link.created"
            assert woken
            assert woken[0] >= linked
            settled(client, made["automation"]["id"], {"DELIVERED"})
            ok(graphql(client, REDELIVER, id=got.headers["webhook-id"]))
            again = receiver.wait_for(2, timeout=10)[1]
            assert again.headers["webhook-id"] == got.headers["webhook-id"]
            automation_id = made["automation"]["id"]
            woken.clear()
            ok(graphql(client, UPDATE, input={"automation": automation_id, "active": False}))
            assert woken == []
            ok(graphql(client, UPDATE, input={"automation": automation_id, "active": True}))
            assert woken
        finally:
            DELIVERY_LISTENERS.discard(listener)


def test_the_alias_pattern_and_the_triggers_choose_what_fires(
    hooks: TestClient, receiver: Receiver
) -> None:
    made = automation(hooks, receiver.url, triggers=["ALIAS_SET"], aliasPattern="prod*")
    link = ok(graphql(hooks, LINK, version=model(hooks)["id"], collection="churn", aliases=[]))[
        "linkVersion"
    ]["link"]
    ok(graphql(hooks, STAGE, link=link["id"], stage="staging"))  # not a trigger of it
    ok(graphql(hooks, SET_ALIAS, link=link["id"], alias="canary"))  # not matching prod*
    ok(graphql(hooks, SET_ALIAS, link=link["id"], alias="production"))
    [got] = receiver.wait_for(1)
    payload = verified(made["signingSecret"], got)
    assert (payload["type"], payload["data"]["alias"]) == ("alias.set", "production")
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_a_collection_scope_hears_only_its_collection(
    hooks: TestClient, receiver: Receiver
) -> None:
    first = model(hooks, b"a")
    ok(graphql(hooks, LINK, version=first["id"], collection="churn", aliases=[]))
    made = automation(hooks, receiver.url, scope={"registry": "model", "collection": "churn"})
    assert made["automation"]["scope"]["kind"] == "collection"
    ok(graphql(hooks, LINK, version=first["id"], collection="other", aliases=[]))
    second = log_version(hooks, {"model.bin": b"b"})
    ok(graphql(hooks, LINK, version=second["id"], collection="churn", aliases=[]))
    [got] = receiver.wait_for(1)
    assert verified(made["signingSecret"], got)["data"]["linkedVersion"]["ref"] == "model/churn:v1"
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_a_project_scope_hears_commits_and_its_aliases(
    hooks: TestClient, receiver: Receiver
) -> None:
    start_run(hooks, project="fraud")
    made = automation(
        hooks,
        receiver.url,
        scope={"project": "fraud"},
        triggers=["VERSION_COMMITTED", "ALIAS_SET"],
    )
    run = start_run(hooks, project="fraud", name="nightly")
    version = log_version(hooks, {"m.bin": b"x"}, project="fraud", run=run["id"])
    log_version(hooks, {"m.bin": b"y"}, project="elsewhere")
    got = receiver.wait_for(1)[0]
    payload = verified(made["signingSecret"], got)
    assert payload["type"] == "artifact_version.committed"
    assert payload["data"]["version"]["ref"] == version["name"]
    assert payload["data"]["project"] == "fraud"
    assert payload["data"]["run"] == {"id": run["id"], "name": "nightly"}
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_a_failing_receiver_is_retried_until_it_answers(hooks: TestClient) -> None:
    with Receiver(statuses=(500, 503, 200)) as receiver:
        made = automation(hooks, receiver.url)
        ok(graphql(hooks, LINK, version=model(hooks)["id"], collection="churn", aliases=[]))
        got = receiver.wait_for(3)
        # The same message each time: one webhook-id the receiver can deduplicate on.
        assert len({g.headers["webhook-id"] for g in got}) == 1
        assert len({g.body for g in got}) == 1
        [delivery] = settled(hooks, made["automation"]["id"], {"DELIVERED"})
        assert [a["statusCode"] for a in delivery["attempts"]] == [500, 503, 200]
        time.sleep(0.5)
        assert len(receiver.received) == 3


def test_the_log_keeps_settled_deliveries_for_a_while_and_pending_ones_always(
    settings: Settings, receiver: Receiver
) -> None:
    kept = settings.model_copy(
        update={"webhook_allow_private": True, "webhook_poll": 0.2, "webhook_keep": 2.0}
    )
    with (
        Receiver(statuses=(500,)) as failing,
        TestClient(create_app(kept), headers=bearer(ADMIN_KEY)) as client,
    ):
        answered = automation(client, receiver.url)["automation"]["id"]
        retried = automation(client, failing.url, name="retried")["automation"]["id"]
        ok(graphql(client, LINK, version=model(client)["id"], collection="churn", aliases=[]))
        assert settled(client, answered, {"DELIVERED"})
        failing.wait_for(1)
        deadline = time.monotonic() + 20
        while deliveries(client, answered):  # gone once FOREBEAR_WEBHOOK_KEEP has passed
            assert time.monotonic() < deadline
            time.sleep(0.2)
        [waiting] = deliveries(client, retried)  # still being retried: kept
        assert waiting["state"] == "PENDING"
        assert waiting["attempts"][0]["statusCode"] == 500


def test_an_unreachable_receiver_fails_once_the_retry_window_ends(settings: Settings) -> None:
    short = settings.model_copy(
        update={"webhook_allow_private": True, "webhook_poll": 0.2, "webhook_retry_for": 2.0}
    )
    with Receiver() as gone:
        url = gone.url  # closed from here on: connections are refused
    with TestClient(create_app(short), headers=bearer(ADMIN_KEY)) as client:
        made = automation(client, url)
        ok(graphql(client, LINK, version=model(client)["id"], collection="churn", aliases=[]))
        [delivery] = settled(client, made["automation"]["id"], {"FAILED"})
        assert len(delivery["attempts"]) >= 2
        assert all(a["statusCode"] is None and a["error"] for a in delivery["attempts"])
        assert delivery["nextAttemptAt"] is None
        # Once the receiver is back, the operator sends it again.
        with Receiver() as back:
            ok(
                graphql(
                    client, UPDATE, input={"automation": made["automation"]["id"], "url": back.url}
                )
            )
            again = ok(graphql(client, REDELIVER, id=delivery["id"]))["redeliverWebhook"]
            assert again["delivery"]["state"] == "PENDING"
            [got] = back.wait_for(1)
            assert got.headers["webhook-id"] == delivery["id"]
            [done] = settled(client, made["automation"]["id"], {"DELIVERED"})
            assert done["attempts"][-1]["statusCode"] == 200


def test_a_refused_change_sends_nothing(
    hooks: TestClient, receiver: Receiver, settings: Settings
) -> None:
    automation(hooks, receiver.url, triggers=["STAGE_ASSIGNED", "VERSION_LINKED"])
    link = ok(graphql(hooks, LINK, version=model(hooks)["id"], collection="churn", aliases=[]))[
        "linkVersion"
    ]["link"]
    receiver.wait_for(1)
    refused = graphql(hooks, STAGE, link=link["id"], stage="no-such-stage")
    assert refused["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    time.sleep(0.5)
    assert len(receiver.received) == 1
    assert count(settings, "MATCH (d:Delivery) RETURN count(d)") == 1


def test_pause_resume_and_delete(hooks: TestClient, receiver: Receiver) -> None:
    made = automation(hooks, receiver.url)
    automation_id = made["automation"]["id"]
    paused = ok(graphql(hooks, UPDATE, input={"automation": automation_id, "active": False}))
    assert paused["updateAutomation"]["automation"]["active"] is False
    version = model(hooks)
    ok(graphql(hooks, LINK, version=version["id"], collection="paused", aliases=[]))
    ok(graphql(hooks, UPDATE, input={"automation": automation_id, "active": True}))
    ok(graphql(hooks, LINK, version=version["id"], collection="resumed", aliases=[]))
    [got] = receiver.wait_for(1)
    assert verified(made["signingSecret"], got)["data"]["collection"] == "resumed"

    gone = ok(graphql(hooks, DELETE, id=automation_id))["deleteAutomation"]
    assert gone["id"] == automation_id
    assert (
        ok(graphql(hooks, "query($id: ID!) { automation(id: $id) { id } }", id=automation_id))[
            "automation"
        ]
        is None
    )
    ok(graphql(hooks, LINK, version=version["id"], collection="deleted", aliases=[]))
    time.sleep(0.5)
    assert len(receiver.received) == 1
    # Each change to the automation is audited, secrets never shown.
    history = ok(
        graphql(
            hooks,
            """query($id: ID!) { history(subject: $id, first: 10) { nodes { type after } } }""",
            id=automation_id,
        )
    )["history"]["nodes"]
    assert [e["type"] for e in history] == [
        "automation.deleted",
        "automation.updated",
        "automation.updated",
        "automation.created",
    ]
    assert made["signingSecret"] not in json.dumps(history)


def test_test_and_redeliver(hooks: TestClient) -> None:
    with Receiver(statuses=(200, 404)) as receiver:
        made = automation(hooks, receiver.url, token="s3cret-token")
        assert made["automation"]["hasToken"] is True
        tested = ok(graphql(hooks, TEST, id=made["automation"]["id"]))["testAutomation"]
        [got] = receiver.wait_for(1)
        assert got.headers["authorization"] == "Bearer s3cret-token"
        payload = verified(made["signingSecret"], got)
        assert payload["type"] == "automation.test"
        assert tested["delivery"]["state"] == "DELIVERED"
        assert tested["delivery"]["test"] is True
        assert tested["delivery"]["attempts"][0]["statusCode"] == 200
        # The second answer is 404: the test says so, and the log keeps it.
        failed = ok(graphql(hooks, TEST, id=made["automation"]["id"]))["testAutomation"]
        assert failed["delivery"]["state"] == "FAILED"
        assert failed["delivery"]["attempts"][0]["statusCode"] == 404
        refused = graphql(hooks, REDELIVER, id=failed["delivery"]["id"])
        assert "test" in refused["errors"][0]["message"]

    with Receiver() as receiver:
        ok(
            graphql(
                hooks, UPDATE, input={"automation": made["automation"]["id"], "url": receiver.url}
            )
        )
        ok(graphql(hooks, LINK, version=model(hooks)["id"], collection="churn", aliases=[]))
        [first] = receiver.wait_for(1)
        delivery_id = first.headers["webhook-id"]
        settled(hooks, made["automation"]["id"], {"DELIVERED", "FAILED"})
        ok(graphql(hooks, REDELIVER, id=delivery_id))
        [_, again] = receiver.wait_for(2)
        assert again.headers["webhook-id"] == delivery_id
        assert again.body == first.body


ALERT = """mutation($input: AlertRunInput!) { alertRun(input: $input) { run { id } } }"""
FINISH = """mutation($run: ID!) { finishRun(input: {run: $run, status: CRASHED}) {
  run { status } } }"""


def test_a_runs_alert_and_its_end_reach_its_projects_automations(
    hooks: TestClient, receiver: Receiver, settings: Settings
) -> None:
    """W&B's run.alert and its run-crashed notice: a Slack message made by a template."""
    start_run(hooks, project="fraud")
    slack = '{"text": "[${alert_level}] ${run}: ${alert_title} (${alert_text}) ${run_status}"}'
    made = automation(
        hooks,
        receiver.url,
        scope={"project": "fraud"},
        triggers=["RUN_ALERT", "RUN_FINISHED"],
        payloadTemplate=slack,
    )
    run = start_run(hooks, project="fraud", name="nightly")
    other = start_run(hooks, project="elsewhere")
    alert = {"title": "loss is NaN", "text": "at step 30", "level": "ERROR"}
    ok(graphql(hooks, ALERT, input={"run": other["id"], **alert}))  # not this project's
    ok(graphql(hooks, ALERT, input={"run": run["id"], **alert}))
    ok(graphql(hooks, FINISH, run=run["id"]))
    got = {verified(made["signingSecret"], g)["text"] for g in receiver.wait_for(2)}
    assert got == {"[ERROR] nightly: loss is NaN (at step 30) ", "[] nightly:  () CRASHED"}
    time.sleep(0.5)
    assert len(receiver.received) == 2
    # without a template: the event, the run and the alert as data
    plain = automation(
        hooks, receiver.url, name="pager", scope={"project": "fraud"}, triggers=["RUN_ALERT"]
    )
    ok(graphql(hooks, ALERT, input={"run": run["id"], "title": "done"}))  # INFO, no text
    [payload] = [
        verified(plain["signingSecret"], g) for g in receiver.wait_for(4)[2:] if b'"type"' in g.body
    ]
    assert payload["type"] == "run.alert"
    assert payload["data"]["alert"] == {"title": "done", "text": "", "level": "INFO"}
    assert payload["data"]["run"] == {"id": run["id"], "name": "nightly"}
    assert payload["data"]["project"] == "fraud"
    assert payload["data"]["triggers"] == ["RUN_ALERT"]
    history = ok(graphql(hooks, "{ auditLog(first: 50) { nodes { type subjects } } }"))
    alerts = [e for e in history["auditLog"]["nodes"] if e["type"] == "run.alert"]
    assert sorted(e["subjects"] for e in alerts) == sorted(
        [[run["id"]], [run["id"]], [other["id"]]]
    )
    # a title is needed; a caller who may not write to the project raises nothing
    empty = graphql(hooks, ALERT, input={"run": run["id"], "title": ""})
    assert empty["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "input.title" in empty["errors"][0]["message"]
    stranger = user_key(hooks, "stranger")
    refused = hooks.post(
        "/graphql",
        json={"query": ALERT, "variables": {"input": {"run": run["id"], "title": "x"}}},
        headers=bearer(stranger),
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    time.sleep(0.5)
    assert len(receiver.received) == 4


def test_a_trigger_its_scope_never_hears_is_refused_by_name(
    hooks: TestClient, receiver: Receiver
) -> None:
    """A run ends and a version is committed in a project; links, stages and collections
    change in a registry. An automation listening for the other kind would never fire."""
    start_run(hooks, project="fraud")

    def refused(scope: dict[str, str], triggers: list[str]) -> str:
        answer = graphql(
            hooks,
            CREATE,
            input={"name": "x", "scope": scope, "triggers": triggers, "url": receiver.url},
        )
        [error] = answer["errors"]
        assert error["extensions"]["code"] == "BAD_INPUT", answer
        return str(error["message"])

    said = refused({"registry": "model"}, ["VERSION_LINKED", "RUN_ALERT", "VERSION_COMMITTED"])
    assert "input.triggers" in said
    assert "RUN_ALERT, VERSION_COMMITTED never fire for a registry's automation" in said
    assert "VERSION_LINKED" in said  # what it does hear
    said = refused({"project": "fraud"}, ["STAGE_ASSIGNED"])
    assert "STAGE_ASSIGNED never fires for a project's automation" in said
    assert "RUN_FINISHED" in said
    assert ok(graphql(hooks, '{ automations(registry: "model") { id } }'))["automations"] == []

    # aliases are heard in both: an artifact's in a project, a collection's in a registry
    made = automation(
        hooks, receiver.url, scope={"project": "fraud"}, triggers=["ALIAS_SET", "RUN_ALERT"]
    )
    changed = graphql(
        hooks, UPDATE, input={"automation": made["automation"]["id"], "triggers": ["DEREGISTERED"]}
    )
    assert changed["errors"][0]["extensions"]["code"] == "BAD_INPUT", changed
    assert "DEREGISTERED never fires for a project's automation" in changed["errors"][0]["message"]
    kept = ok(
        graphql(
            hooks,
            "query($id: ID!) { automation(id: $id) { triggers } }",
            id=made["automation"]["id"],
        )
    )
    assert kept["automation"]["triggers"] == ["ALIAS_SET", "RUN_ALERT"]


def test_an_openlineage_run_that_ends_sets_off_run_finished(
    hooks: TestClient, receiver: Receiver
) -> None:
    """A pipeline's run (Airflow, Spark, dbt) reported through OpenLineage ends as a run of
    the SDK does: COMPLETE, FAIL and ABORT set off RUN_FINISHED, START and RUNNING do not."""
    start_run(hooks, project="airflow-prod")
    made = automation(
        hooks,
        receiver.url,
        scope={"project": "airflow-prod"},
        triggers=["RUN_FINISHED"],
        payloadTemplate='{"text": "${run} ended ${run_status}"}',
    )
    for kind, run_id in [
        ("START", "0192d4a8-1c2b-7d3e-8f40-5a6b7c8d9e01"),
        ("FAIL", "0192d4a8-1c2b-7d3e-8f40-5a6b7c8d9e01"),
        ("RUNNING", "0192d4a8-1c2b-7d3e-8f40-5a6b7c8d9e02"),
        ("COMPLETE", "0192d4a8-1c2b-7d3e-8f40-5a6b7c8d9e02"),
    ]:
        sent = hooks.post(
            "/api/v1/lineage",
            json={
                "eventType": kind,
                "eventTime": datetime.now(UTC).isoformat(),
                "run": {"runId": run_id},
                "job": {"namespace": "airflow-prod", "name": "nightly_etl"},
                "producer": "https://github.com/forebear/tests",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            },
        )
        assert sent.status_code in (200, 201), sent.text
    got = sorted(verified(made["signingSecret"], g)["text"] for g in receiver.wait_for(2))
    assert [t.rsplit(" ", 1)[1] for t in got] == ["FAILED", "FINISHED"]
    time.sleep(0.5)
    assert len(receiver.received) == 2


def test_a_template_shapes_the_body(hooks: TestClient, receiver: Receiver) -> None:
    template = (
        '{"text": "${event_author} moved ${alias} of ${linked_version} to ${artifact_version}"}'
    )
    made = automation(hooks, receiver.url, payloadTemplate=template, triggers=["ALIAS_SET"])
    version = model(hooks)
    ok(graphql(hooks, LINK, version=version["id"], collection="churn", aliases=["production"]))
    [got] = receiver.wait_for(1)
    body = verified(made["signingSecret"], got)
    assert body == {"text": f"admin moved production of model/churn:v0 to {version['name']}"}


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ('{"text": "${nope}"}', "${nope}"),
        ('{"text": ${event_type}}', "not JSON"),
        ('{"text": "$"}', "$$"),
    ],
)
def test_a_bad_template_is_refused_with_what_to_write(
    hooks: TestClient, template: str, says: str
) -> None:
    refused = graphql(
        hooks,
        CREATE,
        input={
            "name": "slack",
            "scope": {"registry": "model"},
            "triggers": ["ALIAS_SET"],
            "url": "http://127.0.0.1:9/x",
            "payloadTemplate": template,
        },
    )
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "input.payloadTemplate"
    assert says in error["message"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:8080/hook", "FOREBEAR_WEBHOOK_ALLOW_PRIVATE"),
        ("http://169.254.169.254/latest/meta-data", "FOREBEAR_WEBHOOK_ALLOW_PRIVATE"),
        ("http://10.1.2.3/hook", "FOREBEAR_WEBHOOK_ALLOW_PRIVATE"),
        ("http://[::1]/hook", "FOREBEAR_WEBHOOK_ALLOW_PRIVATE"),
        ("http://localhost/hook", "FOREBEAR_WEBHOOK_ALLOW_PRIVATE"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("https://user:pw@example.com/hook", "token"),
    ],
)
def test_webhooks_into_the_network_are_refused(client: TestClient, url: str, says: str) -> None:
    refused = graphql(
        client,
        CREATE,
        input={"name": "x", "scope": {"registry": "model"}, "triggers": ["ALIAS_SET"], "url": url},
    )
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == "input.url"
    assert says in error["message"]


def test_an_address_is_checked_when_the_connection_is_made(
    settings: Settings, receiver: Receiver
) -> None:
    """A host that resolved to a public address when its automation was made may resolve to
    an internal one later (DNS rebinding, or the operator's policy changed): each connection
    checks the address it connects to, and refuses for good."""
    allowed = settings.model_copy(update={"webhook_allow_private": True, "webhook_poll": 0.2})
    with TestClient(create_app(allowed), headers=bearer(ADMIN_KEY)) as client:
        made = automation(client, receiver.url.replace("127.0.0.1", "localhost"))
        version = model(client)
    strict = settings.model_copy(update={"webhook_poll": 0.2})
    with TestClient(create_app(strict), headers=bearer(ADMIN_KEY)) as client:
        ok(graphql(client, LINK, version=version["id"], collection="internal", aliases=[]))
        [failed] = settled(client, made["automation"]["id"], {"FAILED"})
        [attempt] = failed["attempts"]
        assert attempt["statusCode"] is None
        assert "'localhost' resolves to" in attempt["error"]
        assert "FOREBEAR_WEBHOOK_ALLOW_PRIVATE" in attempt["error"]
    assert receiver.received == []


def test_only_the_scope_admins_manage_automations(
    hooks: TestClient, receiver: Receiver, settings: Settings
) -> None:
    made = automation(hooks, receiver.url)
    member = user_key(hooks, "mia")
    ok(
        graphql(
            hooks,
            """mutation { setRegistryMember(input: {registry: "model", principal: "mia",
               role: MEMBER}) { registry { name } } }""",
        )
    )
    as_member = {"Authorization": f"Bearer {member}"}

    def call(query: str, **variables: Any) -> dict[str, Any]:
        body: dict[str, Any] = hooks.post(
            "/graphql", json={"query": query, "variables": variables}, headers=as_member
        ).json()
        return body

    for refused in (
        call(
            CREATE,
            input={
                "name": "mine",
                "scope": {"registry": "model"},
                "triggers": ["ALIAS_SET"],
                "url": receiver.url,
            },
        ),
        call('{ automations(registry: "model") { id } }'),
        call(UPDATE, input={"automation": made["automation"]["id"], "url": "http://evil"}),
        call(DELETE, id=made["automation"]["id"]),
        call(TEST, id=made["automation"]["id"]),
        call("query($id: ID!) { automation(id: $id) { url } }", id=made["automation"]["id"]),
    ):
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    # A project member manages the project's automations, and sees only those.
    start_run(hooks, project="fraud")
    ok(
        graphql(
            hooks,
            """mutation { setProjectMember(input: {project: "fraud", principal: "mia",
       member: true}) { project } }""",
        )
    )
    mine = call(
        CREATE,
        input={
            "name": "mine",
            "scope": {"project": "fraud"},
            "triggers": ["VERSION_COMMITTED"],
            "url": receiver.url,
        },
    )
    assert "errors" not in mine, mine
    listed = call('{ automations(project: "fraud") { name scope { kind project } } }')
    assert listed["data"]["automations"] == [
        {"name": "mine", "scope": {"kind": "project", "project": "fraud"}}
    ]
    # The signing secret is stored encrypted: not in the graph as given.
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        records, _, _ = driver.execute_query("MATCH (a:Automation) RETURN a.secret AS s")
    assert records
    assert all(made["signingSecret"] not in r["s"] for r in records)
