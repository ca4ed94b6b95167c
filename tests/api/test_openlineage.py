"""OpenLineage in: a pipeline emitted by the real openlineage-python client into a real API
process joins the runs that made a model, so lineage and impact run from a source table to a
model linked in a registry; bad events are refused and change nothing."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
from openlineage.client.generated.schema_dataset import (
    SchemaDatasetFacet,
    SchemaDatasetFacetFields,
)
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from api.settings import Settings
from tests.factories import count, events
from tests.helpers import ADMIN_KEY, api_process, gql_at

PRODUCER = "https://github.com/forebear/tests"
SOURCE = ("postgres://db.internal:5432", "shop.public.clicks")
START = """mutation { startRun(input: {project: "fraud", name: "train"}) { run { id } } }"""
USE = """mutation($run: ID!, $v: String!) { useArtifactVersion(input: {run: $run, version: $v}) {
  created } }"""
VERSION = """mutation($run: ID) { createArtifactVersion(input: {project: "fraud",
  artifact: "clf", type: "model", files: [], run: $run}) { version { id } } }"""
COMMIT = (
    """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) { version { id } } }"""
)
LINK = """mutation($v: String!) { linkVersion(input: {registry: "model", collection: "fraud",
  version: $v, aliases: ["production"], createCollection: true}) { link { id name } } }"""
UPSTREAM = (
    """query($of: ID!) { lineage(of: $of, direction: UPSTREAM) { nodes { id kind name } } }"""
)
IMPACT = """query($of: ID!) { impact(of: $of) { collection { name }
  links { name aliases { name } } } }"""
DATASET = """query($ref: String!) { artifactVersion(ref: $ref) { id metadata fileCount
  references { path uri } producedBy { id name status config } } }"""


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with api_process(settings, tmp_path / "server.log") as (url, _):
        yield url


def client(base: str, key: str = ADMIN_KEY) -> OpenLineageClient:
    config = HttpConfig(url=base, auth=ApiKeyTokenProvider({"apiKey": key}))
    return OpenLineageClient(transport=HttpTransport(config))


def event(
    state: RunState,
    run_id: str,
    job: str,
    inputs: list[InputDataset] | None = None,
    outputs: list[OutputDataset] | None = None,
    at: datetime | None = None,
) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=(at or datetime.now(UTC)).isoformat(),
        run=Run(runId=run_id),
        job=Job(namespace="airflow-prod", name=job),
        producer=PRODUCER,
        inputs=inputs or [],
        outputs=outputs or [],
    )


def ref(namespace: str, name: str) -> str:
    """The Forebear reference of a dataset's latest version (graph.openlineage's naming)."""
    from graph.openlineage import forebear_name

    return f"{forebear_name(namespace)}/{forebear_name(name)}:latest"


def post(base: str, body: Any, key: str | None = ADMIN_KEY) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{base}/api/v1/lineage", content=content, headers=headers)


GOOD: dict[str, Any] = {
    "eventType": "START",
    "eventTime": "2026-01-01T00:00:00Z",
    "run": {"runId": "0192d4a8-1c2b-7d3e-8f40-5a6b7c8d9e0f"},
    "job": {"namespace": "airflow-prod", "name": "job"},
    "inputs": [{"namespace": "s3://lake", "name": "in"}],
    "producer": PRODUCER,
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
}


def test_a_pipeline_and_a_training_run_are_one_lineage(base: str, settings: Settings) -> None:
    ol = client(base)
    schema = SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name="user_id", type="BIGINT")])
    source = InputDataset(namespace=SOURCE[0], name=SOURCE[1], facets={"schema": schema})
    clean = OutputDataset(namespace="s3://lake", name="clicks/clean")
    features = OutputDataset(
        namespace="s3://lake",
        name="features",
        facets={"version": DatasetVersionDatasetFacet(datasetVersion="42")},
    )
    ingest, build = str(uuid4()), str(uuid4())
    started = datetime.now(UTC) - timedelta(minutes=5)
    ol.emit(event(RunState.START, ingest, "ingest_clicks", [source], [clean], at=started))
    ol.emit(event(RunState.COMPLETE, ingest, "ingest_clicks", [source], [clean]))
    # The second job's events arrive out of order: its COMPLETE before its START.
    used = InputDataset(namespace="s3://lake", name="clicks/clean")
    done = event(RunState.COMPLETE, build, "build_features", [used], [features])
    ol.emit(done)
    ol.emit(event(RunState.START, build, "build_features", [used], [features], at=started))

    built = gql_at(base, DATASET, ref=ref("s3://lake", "features"))["artifactVersion"]
    assert built["references"] == [{"path": "features", "uri": "s3://lake/features"}]
    assert built["fileCount"] == 0  # a reference version: the data stays in the lake
    assert built["metadata"]["openlineage"]["facets"]["version"]["datasetVersion"] == "42"
    run = built["producedBy"]
    assert run["status"] == "FINISHED"  # the late START did not undo the COMPLETE
    assert run["name"] == "build_features"
    assert run["config"]["openlineage"]["runId"] == build
    table = gql_at(base, DATASET, ref=ref(*SOURCE))["artifactVersion"]
    assert table["metadata"]["openlineage"]["facets"]["schema"]["fields"][0]["name"] == "user_id"
    assert table["producedBy"] is None  # a source: no run wrote it

    # A training run in Forebear uses the features; its model is linked as production.
    train = gql_at(base, START)["startRun"]["run"]["id"]
    gql_at(base, USE, run=train, v=built["id"])
    model = gql_at(base, VERSION, run=train)["createArtifactVersion"]["version"]["id"]
    gql_at(base, COMMIT, id=model)
    link = gql_at(base, LINK, v=model)["linkVersion"]["link"]

    upstream = gql_at(base, UPSTREAM, of="model/fraud:production")["lineage"]["nodes"]
    names = {n["name"] for n in upstream}
    assert {"build_features", "ingest_clicks", "train"} <= names
    assert table["id"] in {n["id"] for n in upstream}
    impact = gql_at(base, IMPACT, of=table["id"])["impact"]
    assert impact == [
        {
            "collection": {"name": "fraud"},
            "links": [
                {"name": link["name"], "aliases": [{"name": "latest"}, {"name": "production"}]}
            ],
        }
    ]

    # The same event again changes nothing.
    before = (
        events(settings),
        count(settings, "MATCH (v:ArtifactVersion) RETURN count(v)"),
        count(settings, "MATCH (r:Run) RETURN count(r)"),
    )
    ol.emit(done)  # as a client retrying after a lost answer sends it
    late = {**GOOD, "eventType": "COMPLETE", "run": {"runId": ingest}, "inputs": []}
    again = post(base, {**late, "job": {"namespace": "airflow-prod", "name": "ingest_clicks"}})
    assert again.status_code == 201
    repeated = httpx.post(
        f"{base}/api/v1/lineage",
        content=gzip.compress(again.request.content),
        headers={
            "Authorization": f"Bearer {ADMIN_KEY}",
            "content-type": "application/json",
            "content-encoding": "gzip",
        },
    )
    assert repeated.status_code == 200
    assert repeated.json()["duplicate"] is True
    assert repeated.json()["event"] == again.json()["event"]
    after = (
        events(settings),
        count(settings, "MATCH (v:ArtifactVersion) RETURN count(v)"),
        count(settings, "MATCH (r:Run) RETURN count(r)"),
    )
    assert after == (before[0] + 1, before[1], before[2])


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"eventType": "FINISHED"}, 400, "eventType"),
        ({"run": {"runId": "not-a-uuid"}}, 400, "run.runId"),
        ({"job": {"name": "job"}}, 400, "job.namespace"),
        ({"eventTime": "yesterday"}, 400, "eventTime"),
        ({"inputs": [{"namespace": "s3://lake"}]}, 400, "inputs.0.name"),
        ({"schemaURL": "https://example.com/schema.json"}, 400, "schemaURL"),
        (
            {"schemaURL": "https://openlineage.io/spec/9-0-0/OpenLineage.json#/$defs/RunEvent"},
            422,
            "9-0-0",
        ),
        (
            {"schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"},
            422,
            "RunEvents",
        ),
    ],
)
def test_a_bad_event_is_refused_and_writes_nothing(
    base: str, settings: Settings, change: dict[str, Any], status: int, says: str
) -> None:
    before = events(settings)
    answer = post(base, {**GOOD, **change})
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]["message"]
    assert events(settings) == before


def test_only_a_key_that_may_write_sends_events(base: str, settings: Settings) -> None:
    assert post(base, GOOD, key=None).status_code == 401
    assert post(base, b"{not json").status_code == 400
    made = gql_at(base, """mutation { createUser(input: {name: "eve"}) { key } }""")
    gql_at(base, """mutation { createProject(input: {name: "airflow-prod"}) { project { id } } }""")
    refused = post(base, GOOD, key=made["createUser"]["key"])
    assert refused.status_code == 403
    assert "airflow-prod" in refused.json()["error"]["message"]
    assert count(settings, "MATCH (r:Run) RETURN count(r)") == 0


def test_the_same_event_sent_at_once_from_many_clients_is_written_once(
    base: str, settings: Settings
) -> None:
    before = events(settings)
    body = {**GOOD, "eventType": "COMPLETE", "outputs": [{"namespace": "s3://lake", "name": "x"}]}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(base, body), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["event"] for a in answers}) == 1
    assert events(settings) == before + 1
    produced = {tuple(a.json()["produced"]) for a in answers}
    assert len(produced) == 1  # one version of s3://lake/x, named by every answer
    versions = "MATCH (v:ArtifactVersion {reference: 's3://lake/x'}) RETURN count(v)"
    assert count(settings, versions) == 1


def test_events_posted_at_once_each_get_their_own_answer(base: str, settings: Settings) -> None:
    """Events arriving together are written together; each request still hears its own
    outcome, and a refused one takes nothing of the others with it."""
    eve = gql_at(base, """mutation { createUser(input: {name: "eve"}) { key } }""")
    gql_at(base, """mutation { createProject(input: {name: "airflow-prod"}) { project { id } } }""")
    before = events(settings)
    jobs = [
        {
            **GOOD,
            "eventType": "COMPLETE",
            "run": {"runId": str(uuid4())},
            "job": {"namespace": "airflow-prod", "name": f"job_{i}"},
            "outputs": [{"namespace": "s3://lake", "name": f"out_{i}"}],
        }
        for i in range(24)
    ]
    sends = [(body, ADMIN_KEY) for body in jobs] + [(jobs[0], eve["createUser"]["key"])]
    with ThreadPoolExecutor(len(sends)) as pool:
        answers = list(pool.map(lambda sent: post(base, sent[0], key=sent[1]), sends))
    assert [a.status_code for a in answers[:-1]] == [201] * 24
    assert answers[-1].status_code == 403  # eve is no member of airflow-prod
    assert len({a.json()["event"] for a in answers[:-1]}) == 24
    assert events(settings) == before + 24
    for i, answer in enumerate(answers[:-1]):
        made = gql_at(base, DATASET, ref=ref("s3://lake", f"out_{i}"))["artifactVersion"]
        assert answer.json()["produced"] == [made["id"]]
        assert made["producedBy"]["name"] == f"job_{i}"
    # A copy of a written event tells a sender who may not write there nothing of it.
    copied = post(base, jobs[1], key=eve["createUser"]["key"])
    assert copied.status_code == 403
    assert "run" not in copied.json()
