"""Many writers, one or two API processes, one Neo4j: no global lock on the write path, and
every invariant kept (graph.events: events are written unsealed and sealed right after)."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from neo4j import GraphDatabase
from starlette.testclient import TestClient

from api.settings import Settings
from graph.events import EVENT_CLAUSE, Change, new_event
from tests.factories import count, ok
from tests.helpers import ADMIN_KEY, api_process, bearer, gql_at, graphql

LOG = """mutation($artifact: String!, $files: [FileInput!]!, $run: ID) {
  createArtifactVersion(input: {project: "fleet", artifact: $artifact, type: "model",
  files: $files, run: $run}) { version { id } missingBlobs } }"""
COMMIT = """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) {
  version { id index } } }"""
LINK = """mutation($version: String!) { linkVersion(input: {registry: "model",
  collection: "fleet", version: $version, aliases: ["champion"], createCollection: true}) {
  link { id index } } }"""
START = """mutation { startRun(input: {project: "fleet", name: "train"}) { run { id } } }"""
CHAMPION = """{ linkedVersion(ref: "model/fleet:champion") { id index } }"""
CHAMPION_VERSION = """{ linkedVersion(ref: "model/fleet:champion") {
  version { id artifactName index } } }"""
DOWNSTREAM = """query($of: ID!) { lineage(of: $of, direction: DOWNSTREAM) { nodes { id } } }"""
VERIFY = "{ verifyAuditLog { intact checked reason } }"
AS_OF = """query($at: DateTime!) { linkedVersion(ref: "model/fleet:champion", asOf: $at) {
  index } }"""
CLIENTS = 12
ROUNDS = 4


def call(base: str, query: str, **variables: Any) -> dict[str, Any]:
    """A GraphQL call that must succeed, on a connection of its own thread."""
    return gql_at(base, query, **variables)


def write_cycles(base: str, artifact: str, done: list[str], lock: threading.Lock) -> None:
    """ROUNDS times: log a version of `artifact` (one file, uploaded), commit it, link it into
    model/fleet with `champion`: three mutations, each recorded in `done` once it succeeds."""
    for round_no in range(ROUNDS):
        data = f"{artifact} round {round_no}".encode()
        sha = hashlib.sha256(data).hexdigest()
        files = [{"path": "model.bin", "size": len(data), "sha256": sha}]
        opened = call(base, LOG, artifact=artifact, files=files)["createArtifactVersion"]
        with lock:
            done.append("log")
        if opened["missingBlobs"]:
            httpx.put(
                f"{base}/blobs/{sha}", content=data, headers=bearer(ADMIN_KEY), timeout=30
            ).raise_for_status()
        version = opened["version"]["id"]
        call(base, COMMIT, id=version)
        with lock:
            done.append("commit")
        call(base, LINK, version=version)
        with lock:
            done.append("link")


def collection_id(settings: Settings) -> str:
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (c:Collection {name: 'fleet'}) RETURN c.id AS id",
            database_=settings.neo4j_database,
        )
    return str(records[0]["id"])


def check_invariants(settings: Settings, base: str, events_before: int, mutations: int) -> None:
    # Indexes in the collection, and in each artifact, are consecutive.
    indexes = count(
        settings,
        "MATCH (:Collection {name: 'fleet'})-[:HAS_LINK]->(l:Link) "
        "RETURN CASE WHEN count(l) = max(l.index) + 1 AND count(DISTINCT l.index) = count(l) "
        "THEN count(l) ELSE -1 END",
    )
    assert indexes == CLIENTS * ROUNDS
    gaps = count(
        settings,
        "MATCH (a:Artifact {project: 'fleet'})-[:HAS_VERSION]->(v:ArtifactVersion) "
        "WITH a, count(v) AS n, max(v.index) AS top, count(DISTINCT v.index) AS distinct "
        "WHERE n <> top + 1 OR distinct <> n RETURN count(a)",
    )
    assert gaps == 0
    # Each alias has one holder.
    holders = count(
        settings,
        "MATCH (a:Assignment {kind: 'alias', open: true}) "
        "WITH a.collectionId AS c, a.name AS name, count(a) AS n WHERE n <> 1 RETURN count(*)",
    )
    assert holders == 0
    # One event per successful mutation; the chain verifies (sealing what is left first) and
    # holds them all, numbered without gaps.
    check = gql_at(base, VERIFY)["verifyAuditLog"]
    assert check == {"intact": True, "checked": events_before + mutations, "reason": None}
    assert count(settings, "MATCH (e:Event) RETURN count(e)") == events_before + mutations
    assert count(settings, "MATCH (e:Event) RETURN max(e.seq)") == events_before + mutations
    # Times follow the order writers took turns in: a later index was linked no earlier, no
    # alias holding ends before it starts, and `asOf` a link's time names that link the
    # champion (each link moved it).
    late = count(
        settings,
        "MATCH (a:Link {collectionId: $c}), (b:Link {collectionId: $c, index: a.index + 1}) "
        "WHERE b.linkedAt < a.linkedAt RETURN count(*)",
        c=collection_id(settings),
    )
    assert late == 0
    assert count(settings, "MATCH (a:Assignment) WHERE a.end < a.start RETURN count(a)") == 0
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (l:Link) WHERE l.index % 7 = 3 RETURN l.index AS index, "
            "toString(l.linkedAt) AS at",
            database_=settings.neo4j_database,
        )
    for record in records:
        then = gql_at(base, AS_OF, at=record["at"])["linkedVersion"]
        assert then["index"] == record["index"]
    # Every link moved `champion` onto itself under the collection's lock, with the next
    # index: the last one holds it, as it holds `latest`.
    for alias in ("champion", "latest"):
        held = gql_at(
            base,
            "query($r: String!) { linkedVersion(ref: $r) { index } }",
            r=f"model/fleet:{alias}",
        )
        assert held["linkedVersion"]["index"] == indexes - 1


@pytest.mark.parametrize("processes", [1, 2])
def test_writers_spread_over_processes_keep_every_invariant(
    settings: Settings, tmp_path: Path, processes: int
) -> None:
    with ExitStack() as stack:
        bases = [
            stack.enter_context(api_process(settings, tmp_path / f"api{i}.log"))[0]
            for i in range(processes)
        ]
        events_before = count(settings, "MATCH (e:Event) RETURN count(e)")
        done: list[str] = []
        lock = threading.Lock()
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [
                pool.submit(write_cycles, bases[i % processes], f"model-{i}", done, lock)
                for i in range(CLIENTS)
            ]
            for future in futures:
                future.result()
        assert len(done) == CLIENTS * ROUNDS * 3
        check_invariants(settings, bases[-1], events_before, len(done))
        # Every process names the same champion and serves its bytes (uploaded through any).
        champion = gql_at(bases[0], CHAMPION)["linkedVersion"]
        version = gql_at(bases[0], CHAMPION_VERSION)["linkedVersion"]["version"]
        artifact = version["artifactName"]
        expected = f"{artifact} round {version['index']}".encode()
        for base in bases:
            assert gql_at(base, CHAMPION)["linkedVersion"] == champion
            got = httpx.get(
                f"{base}/files/{version['id']}/model.bin", headers=bearer(ADMIN_KEY), timeout=30
            )
            assert got.status_code == 200
            assert got.content == expected


def test_a_change_through_one_process_is_in_the_next_answer_of_the_other(
    settings: Settings, tmp_path: Path
) -> None:
    """Kept answers, registry reads and the lineage index of process B learn of a change made
    through process A by the next request, with no wait."""
    with (
        api_process(settings, tmp_path / "a.log") as (a, _),
        api_process(settings, tmp_path / "b.log") as (b, _),
    ):
        run = gql_at(a, START)["startRun"]["run"]["id"]
        for round_no in range(6):
            writer, reader = (a, b) if round_no % 2 == 0 else (b, a)
            # The reader keeps its answers first, so a stale copy would be there to serve.
            for _ in range(2):
                gql_at(reader, CHAMPION)
                gql_at(reader, DOWNSTREAM, of=run)
            opened = gql_at(writer, LOG, artifact="model", files=[], run=run)
            version = opened["createArtifactVersion"]["version"]["id"]
            gql_at(writer, COMMIT, id=version)
            link = gql_at(writer, LINK, version=version)["linkVersion"]["link"]
            assert gql_at(reader, CHAMPION)["linkedVersion"] == link
            reached = {n["id"] for n in gql_at(reader, DOWNSTREAM, of=run)["lineage"]["nodes"]}
            assert version in reached


def raw_event(actor: str) -> dict[str, Any]:
    """An event as a change writes it (graph.events.EVENT_CLAUSE), about nothing."""
    return new_event(Change("test.raw", actor=actor, subjects=[]))


def test_an_open_change_in_one_collection_holds_up_no_other_collection(
    client: TestClient, settings: Settings
) -> None:
    """A change in flight (its event written, not committed, its collection locked) makes
    only writers of that collection wait: others, and their events, go through."""
    for name in ("busy", "free"):
        ok(
            graphql(
                client,
                'mutation($n: String!) { createCollection(input: {registry: "model", name: $n}) '
                "{ collection { id } } }",
                n=name,
            )
        )
    opened = ok(graphql(client, LOG, artifact="m", files=[]))["createArtifactVersion"]
    committed = ok(graphql(client, COMMIT, id=opened["version"]["id"]))
    version = committed["commitArtifactVersion"]["version"]
    link = """mutation($c: String!, $v: String!) { linkVersion(input: {registry: "model",
      collection: $c, version: $v}) { link { index } } }"""
    with (
        GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver,
        driver.session(database=settings.neo4j_database) as session,
    ):
        tx = session.begin_transaction()
        try:
            tx.run(
                "MATCH (c:Collection {name: 'busy'}) SET c._lock = true REMOVE c._lock"
            ).consume()
            tx.run(EVENT_CLAUSE, event=raw_event("in-flight")).consume()
            started = time.monotonic()
            answer = ok(graphql(client, link, c="free", v=version["id"]))
            assert answer["linkVersion"]["link"]["index"] == 0
            assert time.monotonic() - started < 5
            # The free collection's change is sealed and in the log while the other is open.
            log = ok(graphql(client, "{ auditLog(first: 1) { nodes { type seq } } }"))
            assert log["auditLog"]["nodes"][0]["type"] == "link.created"
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(graphql, client, link, c="busy", v=version["id"])
                time.sleep(1.0)
                assert not waiting.done()  # the busy collection's writers take turns
                tx.rollback()
                assert ok(waiting.result(30))["linkVersion"]["link"]["index"] == 0
        finally:
            if not tx.closed():
                tx.rollback()
    check = ok(graphql(client, VERIFY))["verifyAuditLog"]
    assert check["intact"]
    assert check["reason"] is None


def test_an_event_a_stopped_replica_left_unsealed_is_sealed_by_another(
    client: TestClient, settings: Settings
) -> None:
    """A replica that committed and died before sealing leaves its event unsealed: the other
    replicas' sealers chain it within their poll, and the log verifies with it."""
    before = ok(graphql(client, VERIFY))["verifyAuditLog"]["checked"]
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        driver.execute_query(
            EVENT_CLAUSE,
            event=raw_event("gone"),
            database_=settings.neo4j_database,
        )
    deadline = time.monotonic() + 10
    while count(settings, "MATCH (e:Unsealed) RETURN count(e)"):
        assert time.monotonic() < deadline, "the event was never sealed"
        time.sleep(0.05)
    log = ok(graphql(client, "{ auditLog(first: 1) { nodes { actor seq time } } }"))
    [event] = log["auditLog"]["nodes"]
    assert event["actor"] == "gone"
    assert int(event["seq"]) == before + 1
    assert datetime.fromisoformat(event["time"]) <= datetime.now(UTC)
    check = ok(graphql(client, VERIFY))["verifyAuditLog"]
    assert check == {"intact": True, "checked": before + 1, "reason": None}


def lineage_event(kind: str, run: str, job: int) -> bytes:
    """A pipeline's job: it reads a shared source table and the previous job's output."""
    return orjson.dumps(
        {
            "eventType": kind,
            "eventTime": datetime.now(UTC).isoformat(),
            "run": {"runId": run},
            "job": {"namespace": "etl", "name": f"job_{job}"},
            "inputs": [
                {"namespace": "postgres://db:5432", "name": "shop.orders"},
                {"namespace": "s3://lake", "name": f"step_{max(0, job - 1)}"},
            ],
            "outputs": [{"namespace": "s3://lake", "name": f"step_{job}"}],
            "producer": "https://github.com/forebear/tests",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        }
    )


def test_lineage_events_spread_over_processes_are_each_written_once(
    settings: Settings, tmp_path: Path
) -> None:
    """Batches of OpenLineage events written by two processes at once, a job's START through
    one and its COMPLETE through the other: every event answered 201 and written once, every
    run finished, dataset versions numbered without gaps, one `latest` each, the log intact."""
    jobs = 60
    with (
        api_process(settings, tmp_path / "a.log") as (a, _),
        api_process(settings, tmp_path / "b.log") as (b, _),
    ):

        def job(i: int) -> list[int]:
            run = str(uuid.uuid4())
            answers = []
            for kind, base in (("START", (a, b)[i % 2]), ("COMPLETE", (b, a)[i % 2])):
                answers.append(
                    httpx.post(
                        f"{base}/api/v1/lineage",
                        content=lineage_event(kind, run, i),
                        headers={**bearer(ADMIN_KEY), "content-type": "application/json"},
                        timeout=60,
                    ).status_code
                )
            return answers

        with ThreadPoolExecutor(24) as pool:
            answers = [code for codes in pool.map(job, range(jobs)) for code in codes]
        assert answers == [201] * 2 * jobs
        events = "MATCH (e:Event {type: 'openlineage.run_event'}) RETURN count(e)"
        assert count(settings, events) == 2 * jobs
        finished = "MATCH (r:Run {status: 'FINISHED'}) RETURN count(r)"
        assert count(settings, finished) == count(settings, "MATCH (r:Run) RETURN count(r)")
        assert count(settings, finished) == jobs
        gaps = """MATCH (a:Artifact)-[:HAS_VERSION]->(v)
                  WITH a, count(v) AS n, count(DISTINCT v.index) AS distinct, max(v.index) AS top
                  WHERE n <> distinct OR n <> top + 1
                  RETURN count(a)"""
        assert count(settings, gaps) == 0
        latest = """MATCH (a:Artifact) WHERE COUNT {
                      (:Alias {artifactId: a.id, name: 'latest'})-[:POINTS_TO]->() } <> 1
                    RETURN count(a)"""
        assert count(settings, latest) == 0
        produced = "MATCH (:Run)-[:PRODUCED]->(v:ArtifactVersion) RETURN count(DISTINCT v)"
        assert count(settings, produced) == jobs  # each job's output, once
        assert gql_at(a, VERIFY)["verifyAuditLog"]["intact"] is True
