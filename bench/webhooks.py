"""Webhooks: how soon a change reaches its receivers, and what automations cost a change.

Data: one committed version, linked into fresh collections of the `model`
registry by one client (each link is one mutation and one audit event), in four phases:
1. no automations, in four blocks of LINKS links, X Y Y X: the noise, X against Y (a link
   costs a little more as the registry grows; the X Y Y X order cancels that drift);
2. four more blocks, A B B A: A with no automations (the peer), B with 100 automations on
   the registry, all posting to a receiver that takes SLOW seconds to answer; the mutations'
   round trip must not change (deliveries are sent after the commit, by the worker, never by
   the mutation), and B against A must stay within the noise of phase 1;
3. 100 automations posting to a receiver that answers at once (HTTP/1.1, kept alive), one
   link every PACE seconds: delivery latency, from the event's time (taken in the change's
   transaction, just before its commit) to the request's arrival at the receiver, over all
   PACED x 100 deliveries;
4. the same automations, BURST links back to back: how many deliveries a second one API
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

from bench.common import Client, auth_headers, forebear_server, p99
from tests.receiver import Receiver

LINKS = int(os.environ.get("WEBHOOK_BENCH_LINKS", "250"))
BURST = int(os.environ.get("WEBHOOK_BENCH_BURST", "60"))
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

        # Phase 1, X Y Y X: the same mutations, to show the noise.
        without = links(client, version, "x1")
        again = links(client, version, "y1") + links(client, version, "y2")
        without += links(client, version, "x2")
        # Phase 2, A B B A: the peer around the mutations with slow automations.
        peer = links(client, version, "a1")
        with Receiver(delay=SLOW) as slow:
            made = automations(client, slow.url, "slow")
            with_slow = links(client, version, "b1") + links(client, version, "b2")
            for automation_id in made:  # what the slow receiver still owes is cancelled
                client.gql(DELETE, id=automation_id)
            peer += links(client, version, "a2")

        with Receiver() as fast:
            automations(client, fast.url, "fast")
            links(client, version, "paced", PACED, PACE)
            got = fast.wait_for(PACED * AUTOMATIONS, timeout=600)
            latency = []
            for request in got:
                event_time = orjson.loads(request.body)["data"]["event"]["time"]
                latency.append(request.at - datetime.fromisoformat(event_time).timestamp())
            started = time.time()
            links(client, version, "burst", BURST)
            burst = fast.wait_for((PACED + BURST) * AUTOMATIONS, timeout=600)[-1].at - started

    print(f"\n== Webhooks: {AUTOMATIONS} automations on a registry; seconds")
    print(f"{'':44} {'median':>8} {'p99':>8}")
    for label, values in (
        (f"link x{2 * LINKS}, no automations (X)", without),
        (f"link x{2 * LINKS}, no automations (Y)", again),
        (f"link x{2 * LINKS}, no automations (A, the peer)", peer),
        (f"link x{2 * LINKS}, receivers {SLOW:.0f} s slow (B)", with_slow),
        (f"delivery, commit to receiver (x{len(latency)})", latency),
    ):
        print(f"{label:44} {statistics.median(values):8.4f} {p99(values):8.4f}")
    print(
        f"noise, Y / X (the same mutations): median "
        f"{statistics.median(again) / statistics.median(without):.2f}x, "
        f"p99 {p99(again) / p99(without):.2f}x"
    )
    print(
        f"link with slow automations / without, B / A: median "
        f"{statistics.median(with_slow) / statistics.median(peer):.2f}x, "
        f"p99 {p99(with_slow) / p99(peer):.2f}x"
    )
    print(
        f"burst: {BURST} links back to back, {BURST * AUTOMATIONS} deliveries in {burst:.1f} s: "
        f"{BURST * AUTOMATIONS / burst:.0f} deliveries/s from one API process"
    )


if __name__ == "__main__":
    main()
