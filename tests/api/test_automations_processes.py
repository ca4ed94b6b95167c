"""Webhook delivery across real API processes: a crash after the commit loses nothing, two
replicas never send the same delivery twice, and a slow receiver never slows a change."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from api.settings import Settings
from tests.factories import count
from tests.helpers import api_process, gql_at
from tests.receiver import Receiver

ALLOW = {"FOREBEAR_WEBHOOK_ALLOW_PRIVATE": "true", "FOREBEAR_WEBHOOK_POLL": "0.2"}
CREATE = """mutation($url: String!) { createAutomation(input: {name: "deploy",
  scope: {registry: "model"}, triggers: [VERSION_LINKED], url: $url}) {
  automation { id } signingSecret } }"""
NAMED = """mutation($name: String!, $url: String!) { createAutomation(input: {name: $name,
  scope: {registry: "model"}, triggers: [VERSION_LINKED], url: $url}) {
  automation { id } signingSecret } }"""
START = """mutation { startRun(input: {project: "fraud", name: "train"}) { run { id } } }"""
VERSION = """mutation($files: [FileInput!]!) { createArtifactVersion(input: {project: "fraud",
  artifact: "model", type: "model", files: $files}) { version { id } missingBlobs } }"""
COMMIT = (
    """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) { version { id } } }"""
)
LINK = """mutation($version: String!, $collection: String!) { linkVersion(input: {
  registry: "model", collection: $collection, version: $version, createCollection: true}) {
  link { id } } }"""
STATES = """query($id: ID!) { automation(id: $id) { deliveries(first: 100) { nodes {
  id state attempts { statusCode } } } } }"""


def committed_version(base: str) -> str:
    """A committed version with no files (nothing to upload)."""
    opened = gql_at(base, VERSION, files=[])["createArtifactVersion"]
    assert opened["missingBlobs"] == []
    return str(
        gql_at(base, COMMIT, id=opened["version"]["id"])["commitArtifactVersion"]["version"]["id"]
    )


def deliveries(base: str, automation_id: str) -> list[dict[str, Any]]:
    return list(gql_at(base, STATES, id=automation_id)["automation"]["deliveries"]["nodes"])


def test_a_change_committed_just_before_a_crash_is_delivered_after_restart(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with Receiver() as receiver:
        # This process commits changes but sends nothing: as if it died right after the commit.
        with api_process(settings, log, env={"FOREBEAR_WEBHOOK_WORKERS": "0", **ALLOW}) as (
            base,
            proc,
        ):
            made = gql_at(base, CREATE, url=receiver.url)["createAutomation"]
            version = committed_version(base)
            gql_at(base, LINK, version=version, collection="churn")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        # The change's transaction wrote its outbox row; no one has turned it into a delivery.
        assert count(settings, "MATCH (o:Outbox) RETURN count(o)") == 1
        assert count(settings, "MATCH (d:Delivery) RETURN count(d)") == 0
        assert receiver.received == []
        with api_process(settings, log, env=ALLOW) as (base, _):
            [got] = receiver.wait_for(1)
            payload = Webhook(made["signingSecret"]).verify(got.body, got.headers)
            assert payload["data"]["collection"] == "churn"
            deadline = time.monotonic() + 10
            while deliveries(base, made["automation"]["id"])[0]["state"] != "DELIVERED":
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_a_worker_killed_mid_send_is_taken_over_once_its_lease_ends(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with Receiver(delay=3.0) as receiver:
        env = {**ALLOW, "FOREBEAR_WEBHOOK_TIMEOUT": "1"}
        with api_process(settings, log, env=env) as (base, proc):
            made = gql_at(base, CREATE, url=receiver.url)["createAutomation"]
            gql_at(base, LINK, version=committed_version(base), collection="churn")
            receiver.wait_for(1)  # the send is under way: kill the process holding it
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        receiver.delay = 0.0
        with api_process(settings, log, env=env) as (base, _):
            got = receiver.wait_for(2, timeout=30)  # after the lease: 1 s + the slack
            assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
            deadline = time.monotonic() + 10
            while (found := deliveries(base, made["automation"]["id"]))[0]["state"] != "DELIVERED":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            # The killed worker wrote nothing; the one that took over wrote its attempt.
            assert [a["statusCode"] for a in found[0]["attempts"]] == [200]


def test_two_replicas_send_each_delivery_once(settings: Settings, tmp_path: Path) -> None:
    """Three automations per event and two slots per replica: each event's automations are
    taken from the outbox a few at a time, by either replica."""
    changes, hooks = 40, 3
    env = {**ALLOW, "FOREBEAR_WEBHOOK_WORKERS": "2"}
    with (
        Receiver() as receiver,
        api_process(settings, tmp_path / "a.log", env=env) as (a, _),
        api_process(settings, tmp_path / "b.log", env=env) as (b, _),
    ):
        made = [
            gql_at(a, NAMED, name=f"deploy-{n}", url=f"{receiver.url}/{n}")["createAutomation"]
            for n in range(hooks)
        ]
        version = committed_version(a)

        def link(i: int) -> None:
            gql_at((a, b)[i % 2], LINK, version=version, collection=f"c{i}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(link, range(changes)))
        got = receiver.wait_for(changes * hooks, timeout=60)
        time.sleep(1.5)  # anything sent twice would arrive by now
        ids = [g.headers["webhook-id"] for g in receiver.received]
        assert len(ids) == changes * hooks
        assert len(set(ids)) == changes * hooks
        for n, automation in enumerate(made):
            mine = [g for g in got if g.path == f"/hook/{n}"]
            webhook = Webhook(automation["signingSecret"])
            collections = {webhook.verify(g.body, g.headers)["data"]["collection"] for g in mine}
            assert collections == {f"c{i}" for i in range(changes)}  # every event, once each
            found = deliveries(b, automation["automation"]["id"])
            assert len(found) == changes
            assert all(
                d["state"] == "DELIVERED" and [x["statusCode"] for x in d["attempts"]] == [200]
                for d in found
            )


def test_a_slow_receiver_never_slows_a_change(settings: Settings, tmp_path: Path) -> None:
    with (
        Receiver(delay=5.0) as receiver,
        api_process(settings, tmp_path / "server.log", env=ALLOW) as (base, _),
    ):
        gql_at(base, CREATE, url=receiver.url)
        version = committed_version(base)
        started = time.monotonic()
        for i in range(5):
            gql_at(base, LINK, version=version, collection=f"c{i}")
        took = time.monotonic() - started
        receiver.wait_for(1)
        # Five links were made while the first webhook's receiver was still answering.
        assert took < receiver.delay, took
        assert all(g.at >= started for g in receiver.received)
