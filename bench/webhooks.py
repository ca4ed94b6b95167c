"""Webhooks: how soon a change reaches its receivers, and what automations cost a change.

Data: one committed version, linked into fresh collections of the `model`
registry by one client (each link is one mutation and one audit event), in three phases:
1. no automations: the mutation's round trip, the peer the next phase is compared with
   (measured twice: the two show the noise);
2. 100 automations on the registry, all posting to a receiver that takes SLOW seconds to
   answer: the same mutations, whose round trip must not change (deliveries are sent after
   the commit, by the worker, never by the mutation);
3. 100 automations posting to a receiver that answers at once (HTTP/1.1, kept alive), one
   link every PACE seconds: delivery latency, from the event's time (taken in the change's
   transaction, just before its commit) to the request's arrival at the receiver, over all
   PACED x 100 deliveries;
4. the same automations, LINKS links back to back: how many deliveries a second one API
   process sends, from the first commit until the last delivery arrives.
Prints medians and p99s, the ratio of phase 2 to phase 1, and phase 4's rate.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import datetime

import orjson

from bench.common import Client, auth_headers, forebear_server
from tests.receiver import Receiver

LINKS = int(os.environ.get("WEBHOOK_BENCH_LINKS", "60"))
PACED = int(os.environ.get("WEBHOOK_BENCH_PACED", "30"))
PACE = 1.0
AUTOMATIONS = 100
SLOW = 2.0

CREATE = """mutation($name: String!, $url: String!) { createAutomation(input: {name: $name,
  scope: {registry: "model"}, triggers: [VERSION_LINKED], url: $url}) { automation { id } } }"""
DELETE = """mutation($id: ID!) { deleteAutomation(input: {automation: $id}) { id } }"""
LINK = """mutation($version: String!, $collection: String!) { linkVersion(input: {
  registry: "model", collection: $collection, version: $version, createCollection: true}) {
  link { id } } }"""
VERSION = """mutation { createArtifactVersion(input: {project: "bench", artifact: "model",
  type: "model", files: []}) { version { id } } }"""
COMMIT = (
    """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) { version { id } } }"""
)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def links(
    client: Client, version: str, phase: str, n: int = LINKS, pace: float = 0.0
) -> list[float]:
    """Seconds of each of `n` link mutations (a round trip each), one every `pace` seconds."""
    took = []
    for i in range(n):
        started = time.perf_counter()
        client.gql(LINK, version=version, collection=f"{phase}-{i}")
        took.append(time.perf_counter() - started)
        time.sleep(max(0.0, pace - took[-1]))
    return took


def automations(client: Client, url: str, phase: str) -> list[str]:
    return [
        client.gql(CREATE, name=f"{phase}-{i}", url=url)["createAutomation"]["automation"]["id"]
        for i in range(AUTOMATIONS)
    ]


def main() -> None:
    os.environ["FOREBEAR_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receivers are on loopback
    with forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _):
        client = Client(base, keep_alive=True, headers=auth_headers())
        opened = client.gql(VERSION)["createArtifactVersion"]["version"]["id"]
        version = client.gql(COMMIT, id=opened)["commitArtifactVersion"]["version"]["id"]
        links(client, version, "warm")

        without = links(client, version, "none")
        again = links(client, version, "again")  # the same, to show the noise
        with Receiver(delay=SLOW) as slow:
            made = automations(client, slow.url, "slow")
            with_slow = links(client, version, "slow")
            for automation_id in made:  # what the slow receiver still owes is cancelled
                client.gql(DELETE, id=automation_id)

        with Receiver() as fast:
            automations(client, fast.url, "fast")
            links(client, version, "paced", PACED, PACE)
            got = fast.wait_for(PACED * AUTOMATIONS, timeout=600)
            latency = []
            for request in got:
                event_time = orjson.loads(request.body)["data"]["event"]["time"]
                latency.append(request.at - datetime.fromisoformat(event_time).timestamp())
            started = time.time()
            links(client, version, "burst")
            burst = fast.wait_for((PACED + LINKS) * AUTOMATIONS, timeout=600)[-1].at - started

    print(f"\n== Webhooks: {AUTOMATIONS} automations on a registry; seconds")
    print(f"{'':44} {'median':>8} {'p99':>8}")
    for label, values in (
        (f"link x{LINKS}, no automations (the peer)", without),
        (f"link x{LINKS}, no automations, again", again),
        (f"link x{LINKS}, receivers {SLOW:.0f} s slow", with_slow),
        (f"delivery, commit to receiver (x{len(latency)})", latency),
    ):
        print(f"{label:44} {statistics.median(values):8.4f} {p99(values):8.4f}")
    print(
        f"noise, the peer run twice: median "
        f"{statistics.median(again) / statistics.median(without):.2f}x, "
        f"p99 {p99(again) / p99(without):.2f}x"
    )
    print(
        f"link with slow automations / without: median "
        f"{statistics.median(with_slow) / statistics.median(without):.2f}x, "
        f"p99 {p99(with_slow) / p99(without):.2f}x"
    )
    print(
        f"burst: {LINKS} links back to back, {LINKS * AUTOMATIONS} deliveries in {burst:.1f} s: "
        f"{LINKS * AUTOMATIONS / burst:.0f} deliveries/s from one API process"
    )


if __name__ == "__main__":
    main()
