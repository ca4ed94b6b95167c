"""OpenLineage events written in one batch (one transaction) leave the graph and the answers
exactly as the same events written one at a time: runs, their status and times, dataset
versions and their indexes, `latest`, consumption, production, refusals and duplicates."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from neo4j import AsyncDriver

from api.routes.lineage import parse
from graph.errors import GraphError
from graph.repository.openlineage import Delivery, Ingested, OpenLineageRepository

SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
RUN_A, RUN_B, RUN_C = (f"0192d4a8-1c2b-7d3e-8f40-5a6b7c8d9e0{n}" for n in "abc")

SETUP = """
CREATE (alice:User:Principal:Entity {id: 'usr_alice', name: 'alice', kind: 'USER',
                                     orgAdmin: false})
CREATE (:User:Principal:Entity {id: 'usr_eve', name: 'eve', kind: 'USER', orgAdmin: false})
CREATE (p:Project:Entity {id: 'prj_private', name: 'private', description: '',
                          createdAt: datetime()})-[:HAS_MEMBER]->(alice)
CREATE (p)-[:HAS_ARTIFACT]->(:Artifact:Entity {id: 'art_model', project: 'private',
        name: 'model', type: 'model', description: '', createdAt: datetime(), nextIndex: 0})
"""
WIPE = "MATCH (n) DETACH DELETE n"
NAMES = """
MATCH (v:ArtifactVersion)
RETURN v.id AS id, v.project + '/' + v.artifact + ':v' + toString(v.index) AS name
UNION
MATCH (r:Run) RETURN r.id AS id, 'run ' + r.olRunId AS name
"""

# What the graph holds, by names rather than ids (ids are drawn anew in each pass).
SNAPSHOT = """
CALL () {
  MATCH (r:Run)
  RETURN collect([r.olRunId, r.status, r.startedAt, r.endedAt, r.name, r.config]) AS runs
}
CALL () {
  MATCH (a:Artifact)-[:HAS_VERSION]->(v)
  OPTIONAL MATCH (w:Run {id: v.runId})
  RETURN collect([a.project + '/' + a.name, v.index, v.olVersion STARTS WITH 'source:',
                  CASE WHEN v.olVersion STARTS WITH 'source:' THEN null ELSE v.olVersion END,
                  w.olRunId, v.state, v.reference, v.metadata,
                  EXISTS { (w)-[:PRODUCED]->(v) }]) AS versions
}
CALL () {
  MATCH (a:Artifact)
  RETURN collect([a.project + '/' + a.name, a.type, a.nextIndex, COLLECT {
    MATCH (:Alias {artifactId: a.id, name: 'latest'})-[:POINTS_TO]->(v) RETURN v.index
  }]) AS artifacts
}
CALL () {
  MATCH (r:Run)-[c:CONSUMED]->(v:ArtifactVersion)
  RETURN collect([r.olRunId, v.project + '/' + v.artifact, v.index, c.ref]) AS consumed
}
CALL () {
  MATCH (p:Project)
  RETURN collect([p.name, COLLECT { MATCH (p)-[:HAS_MEMBER]->(u) RETURN u.name }]) AS projects
}
CALL () {
  MATCH (e:Event {type: 'openlineage.run_event'})
  RETURN collect([e.actor, e.after, size(e.subjects)]) AS events
}
CALL () {
  MATCH (x:OpenLineageEvent) RETURN count(x) AS claims
}
RETURN runs, versions, artifacts, consumed, projects, events, claims
"""


def event(
    kind: str,
    run: str,
    job: str,
    *,
    inputs: tuple[tuple[str, str], ...] = (),
    outputs: tuple[tuple[str, str], ...] = (),
    at: timedelta = timedelta(0),
    namespace: str = "airflow",
    version: str | None = None,
) -> dict[str, Any]:
    facets = {"version": {"datasetVersion": version}} if version else {}
    return {
        "eventType": kind,
        "eventTime": (T0 + at).isoformat(),
        "run": {"runId": run},
        "job": {"namespace": namespace, "name": job},
        "inputs": [{"namespace": ns, "name": name} for ns, name in inputs],
        "outputs": [{"namespace": ns, "name": name, "facets": facets} for ns, name in outputs],
        "producer": "https://github.com/forebear/tests",
        "schemaURL": SCHEMA,
    }


SOURCE, MID, OUT = ("postgres://db:5432", "shop.orders"), ("s3://lake", "mid"), ("s3://lake", "out")
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("alice", event("START", RUN_A, "a", inputs=(SOURCE,), outputs=(MID,), at=timedelta(1))),
    ("alice", event("COMPLETE", RUN_A, "a", inputs=(SOURCE,), outputs=(MID,), at=timedelta(2))),
    # b's COMPLETE before its START; b reads what a just wrote.
    (
        "alice",
        event("COMPLETE", RUN_B, "b", inputs=(MID,), outputs=(OUT,), version="7", at=timedelta(5)),
    ),
    ("alice", event("START", RUN_B, "b", inputs=(MID,), at=timedelta(3))),
    ("alice", event("COMPLETE", RUN_A, "a", inputs=(SOURCE,), outputs=(MID,), at=timedelta(2))),
    ("eve", event("START", RUN_C, "c", namespace="private")),  # refused: not a member
    # makes eve-ns and s3-eve (eve their member); then refused, so nothing of it is left
    ("eve", event("COMPLETE", RUN_C, "c", namespace="eve-ns", outputs=(("s3://eve", "x"),))),
    ("alice", event("COMPLETE", RUN_C, "c", namespace="private", outputs=(("private", "model"),))),
    ("alice", event("RUNNING", RUN_A, "a", inputs=(SOURCE, MID), at=timedelta(4))),
    ("eve", event("START", RUN_C, "c", namespace="private")),  # the refused one again
]


async def ingest(driver: AsyncDriver, batches: list[list[int]]) -> tuple[list[Any], Any]:
    """The outcomes of EVENTS written in these batches (lists of indexes), as names, and the
    graph's snapshot after."""
    await driver.execute_query(WIPE)
    await driver.execute_query(SETUP)
    repo = OpenLineageRepository(driver, "neo4j")
    answers: list[Any] = [None] * len(EVENTS)
    ids: dict[str, str] = {}  # version id -> project/artifact:vN
    for batch in batches:
        deliveries = [Delivery(parse_event(EVENTS[i][1]), EVENTS[i][0]) for i in batch]
        for i, done in zip(batch, await repo.ingest_many(deliveries), strict=True):
            answers[i] = done
    records, _, _ = await driver.execute_query(NAMES)
    ids = {r["id"]: r["name"] for r in records}
    named = [named_outcome(done, ids) for done in answers]
    snapshot, _, _ = await driver.execute_query(SNAPSHOT)
    return named, normalised(dict(snapshot[0]), ids)


def parse_event(body: dict[str, Any]) -> Any:
    import orjson

    return parse(orjson.dumps(body))


def named_outcome(done: Ingested | GraphError, ids: dict[str, str]) -> Any:
    if isinstance(done, GraphError):
        return type(done).__name__, str(done)
    return (
        done.duplicate,
        done.event_id is not None,
        [ids[v] for v in done.consumed],
        [ids[v] for v in done.produced],
    )


def normalised(snapshot: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Lists sorted (collect has no order), ids in events named."""

    def named(value: Any) -> Any:
        if isinstance(value, str):
            return ids.get(value, value)
        if isinstance(value, list):
            return [named(v) for v in value]
        if isinstance(value, dict):
            return {k: named(v) for k, v in value.items()}
        return value

    out = copy.deepcopy(snapshot)
    out["events"] = [[actor, named(json.loads(after)), n] for actor, after, n in out["events"]]
    for key, value in out.items():
        if isinstance(value, list):
            out[key] = sorted(value, key=repr)
    return out


async def test_a_batch_leaves_what_its_events_one_at_a_time_leave(driver: AsyncDriver) -> None:
    alone, one_by_one = await ingest(driver, [[i] for i in range(len(EVENTS))])
    together, batched = await ingest(driver, [list(range(len(EVENTS)))])
    assert together == alone
    assert batched == one_by_one
    # and what that is
    assert alone[4] == (True, *alone[1][1:])  # the same event again: the first's answer
    assert alone[2][2] == alone[1][3]  # b read what a wrote
    assert alone[5][0] == alone[9][0] == "Forbidden"
    assert alone[7][0] == "Invalid"
    runs = {r[0]: r[1] for r in one_by_one["runs"]}
    assert runs == {RUN_A: "FINISHED", RUN_B: "FINISHED", RUN_C: "FINISHED"}
    assert one_by_one["claims"] == 6  # the duplicate and the refused wrote no claim
    assert ["eve-ns", ["eve"]] in one_by_one["projects"]


async def test_a_batch_split_anywhere_answers_the_same(driver: AsyncDriver) -> None:
    whole, graph = await ingest(driver, [list(range(len(EVENTS)))])
    for cut in (2, 3, 5, 8):
        parts, after = await ingest(driver, [list(range(cut)), list(range(cut, len(EVENTS)))])
        assert parts == whole, cut
        assert after == graph, cut
