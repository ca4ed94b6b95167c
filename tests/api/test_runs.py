"""Runs: start, resume, update, log metrics, finish, and list with filters."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.factories import count, events, ok, start_run, user_key
from tests.helpers import ADMIN_KEY, bearer, graphql

LOG = """
mutation Log($input: LogMetricsInput!) { logMetrics(input: $input) { logged run { summary } } }
"""
HISTORY = """
query History($id: ID!, $keys: [String!]!, $first: Int!) {
  run(id: $id) { metrics(keys: $keys, first: $first) { key points { step value } } }
}
"""
FINISH = """
mutation Finish($id: ID!, $status: RunStatus!) {
  finishRun(input: {run: $id, status: $status}) { run { status endedAt } }
}
"""
RUNS = """
query Runs($project: String!, $where: [RunFilter!], $status: RunStatus, $tag: String,
           $first: Int, $after: String) {
  runs(project: $project, where: $where, status: $status, tag: $tag, first: $first,
       after: $after) {
    nodes { name } pageInfo { hasNextPage endCursor }
  }
}
"""


def test_starting_a_run_creates_its_project_and_records_an_event(
    client: TestClient, settings: Settings
) -> None:
    run = start_run(
        client,
        "churn",
        name="baseline",
        config={"lr": 0.01, "layers": [64, 32]},
        tags=["b", "a", "a"],
        sourceCommit="abc123",
        entryPoint="train.py",
    )
    assert run["status"] == "RUNNING"
    assert run["config"] == {"lr": 0.01, "layers": [64, 32]}
    assert run["tags"] == ["a", "b"]
    project = ok(graphql(client, '{ project(name: "churn") { name } }'))["project"]
    assert project == {"name": "churn"}
    assert (
        count(
            settings,
            "MATCH (e:Event {type: 'run.started'})-[:ABOUT]->(r:Run {id: $id}) RETURN count(e)",
            id=run["id"],
        )
        == 1
    )


def test_a_hundred_thousand_points_come_back_in_step_order(client: TestClient) -> None:
    run = start_run(client)
    for batch in range(10):
        steps = range(batch * 10_000, (batch + 1) * 10_000)
        points = [{"step": s, "key": "loss", "value": 1.0 / (s + 1)} for s in reversed(steps)]
        body = ok(graphql(client, LOG, input={"run": run["id"], "points": points}))
        assert body["logMetrics"]["logged"] == 10_000
    series = ok(graphql(client, HISTORY, id=run["id"], keys=["loss"], first=100_000))
    [loss] = series["run"]["metrics"]
    assert [p["step"] for p in loss["points"]] == list(range(100_000))
    assert loss["points"][-1]["value"] == 1.0 / 100_000


def test_the_summary_keeps_the_value_of_the_highest_step(client: TestClient) -> None:
    run = start_run(client)
    ok(
        graphql(
            client,
            LOG,
            input={
                "run": run["id"],
                "points": [
                    {"step": 10, "key": "acc", "value": 0.9},
                    {"step": 1, "key": "loss", "value": 2.0},
                ],
            },
        )
    )
    late = ok(
        graphql(
            client,
            LOG,
            input={
                "run": run["id"],
                "points": [
                    {"step": 5, "key": "acc", "value": 0.1},
                    {"step": 2, "key": "loss", "value": 1.5},
                ],
            },
        )
    )
    assert late["logMetrics"]["run"]["summary"] == {"acc": 0.9, "loss": 1.5}


def test_a_finished_run_takes_no_more_metrics_and_nothing_is_written(
    client: TestClient, settings: Settings
) -> None:
    run = start_run(client)
    assert (
        ok(graphql(client, FINISH, id=run["id"], status="FAILED"))["finishRun"]["run"]["status"]
        == "FAILED"
    )
    before = events(settings)
    body = graphql(
        client, LOG, input={"run": run["id"], "points": [{"step": 0, "key": "x", "value": 1}]}
    )
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "FAILED" in body["errors"][0]["message"]
    assert events(settings) == before
    assert count(settings, "MATCH (m:MetricChunk) RETURN count(m)") == 0
    again = graphql(client, FINISH, id=run["id"], status="FINISHED")
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_bad_metric_points_are_named(client: TestClient) -> None:
    run = start_run(client)
    body = graphql(
        client,
        LOG,
        input={
            "run": run["id"],
            "points": [
                {"step": 0, "key": "ok", "value": 1},
                {"step": -1, "key": "loss", "value": 1},
            ],
        },
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT", "field": "input.points[1].step"}
    missing = graphql(
        client,
        LOG,
        input={"run": "run_" + "0" * 24, "points": [{"step": 0, "key": "x", "value": 1}]},
    )
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_runs_are_filtered_on_config_summary_status_and_tag_and_paged(client: TestClient) -> None:
    for i in range(5):
        run = start_run(
            client,
            "sweep",
            name=f"r{i}",
            config={"lr": i / 10},
            tags=["even"] if i % 2 == 0 else [],
        )
        ok(
            graphql(
                client,
                LOG,
                input={"run": run["id"], "points": [{"step": 0, "key": "acc", "value": i}]},
            )
        )
        if i == 4:
            ok(graphql(client, FINISH, id=run["id"], status="FINISHED"))
    where = [
        {"source": "CONFIG", "key": "lr", "op": "GTE", "value": 0.2},
        {"source": "SUMMARY", "key": "acc", "op": "LT", "value": 4},
    ]
    names = ok(graphql(client, RUNS, project="sweep", where=where))["runs"]["nodes"]
    assert sorted(n["name"] for n in names) == ["r2", "r3"]
    finished = ok(graphql(client, RUNS, project="sweep", status="FINISHED"))["runs"]["nodes"]
    assert finished == [{"name": "r4"}]
    even = ok(graphql(client, RUNS, project="sweep", tag="even"))["runs"]["nodes"]
    assert sorted(n["name"] for n in even) == ["r0", "r2", "r4"]
    seen: list[str] = []
    after = None
    while True:
        page = ok(graphql(client, RUNS, project="sweep", first=2, after=after))["runs"]
        seen += [n["name"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["r4", "r3", "r2", "r1", "r0"]


def test_a_diverged_loss_is_kept_nan_and_infinities_included(client: TestClient) -> None:
    run = start_run(client)
    points = [
        {"step": 0, "key": "loss", "value": 0.5},
        {"step": 1, "key": "loss", "value": "NaN"},
        {"step": 2, "key": "loss", "value": "Infinity"},
        {"step": 3, "key": "loss", "value": "-Infinity"},
        {"step": 0, "key": "grad", "value": "NaN"},
    ]
    ok(graphql(client, LOG, input={"run": run["id"], "points": points}))
    read = ok(
        graphql(
            client,
            """query($id: ID!) { run(id: $id) { summary
                metrics(keys: ["loss", "grad"]) { key points { step value } } } }""",
            id=run["id"],
        )
    )["run"]
    loss = next(s for s in read["metrics"] if s["key"] == "loss")
    assert [p["value"] for p in loss["points"]] == [0.5, "NaN", "Infinity", "-Infinity"]
    assert read["summary"] == {"loss": "-Infinity", "grad": "NaN"}
    bad = graphql(
        client, LOG, input={"run": run["id"], "points": [{"step": 4, "key": "x", "value": "nan!"}]}
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert '"NaN", "Infinity" or "-Infinity"' in bad["errors"][0]["message"]


START = """
mutation Start($input: StartRunInput!) {
  startRun(input: $input) { resumed run { id key status config tags name lastStep endedAt } }
}
"""


def test_a_run_started_without_a_name_is_given_one_with_its_number(client: TestClient) -> None:
    """As W&B names its runs: two made-up words and the run's number in its project, so that
    run lists and lineage graphs read as names, not ids; a name given is kept, and a resumed
    run keeps the name it has."""
    first = start_run(client, "churn")
    start_run(client, "churn", name="baseline")
    third = start_run(client, "churn")
    keyed = ok(graphql(client, START, input={"project": "churn", "key": "job-7"}))["startRun"]
    elsewhere = start_run(client, "fraud")
    names = [first["name"], third["name"], keyed["run"]["name"], elsewhere["name"]]
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)+-[0-9]+", name) for name in names), names
    assert [name.rsplit("-", 1)[1] for name in names] == ["1", "3", "4", "1"]
    assert first["name"] != first["id"]
    again = ok(
        graphql(client, START, input={"project": "churn", "key": "job-7", "resume": "ALLOW"})
    )["startRun"]
    assert again["resumed"] is True
    assert again["run"]["name"] == keyed["run"]["name"]
    listed = ok(graphql(client, RUNS, project="churn"))["runs"]["nodes"]
    assert sorted(n["name"] for n in listed) == sorted(
        [first["name"], "baseline", third["name"], keyed["run"]["name"]]
    )


def test_a_keyed_run_is_resumed_only_as_asked_and_in_one_transaction(
    client: TestClient, settings: Settings
) -> None:
    first = ok(
        graphql(
            client,
            START,
            input={"project": "churn", "key": "job-7", "config": {"lr": 0.1}, "tags": ["a"]},
        )
    )["startRun"]
    assert first["resumed"] is False
    run = first["run"]
    assert (run["key"], run["status"], run["lastStep"]) == ("job-7", "RUNNING", None)
    points = [{"step": s, "key": "loss", "value": 1.0} for s in range(5)]
    ok(graphql(client, LOG, input={"run": run["id"], "points": points}))
    ok(graphql(client, FINISH, id=run["id"], status="CRASHED"))

    # The key of a run that exists, resume not asked for: refused, nothing written.
    before = events(settings)
    again = graphql(client, START, input={"project": "churn", "key": "job-7"})
    [error] = again["errors"]
    assert error["extensions"]["code"] == "CONFLICT"
    assert "job-7" in error["message"]
    assert "resume" in error["message"]
    assert events(settings) == before

    # ALLOW: the same run RUNNING again, its config merged, tags joined, steps after 4.
    resumed = ok(
        graphql(
            client,
            START,
            input={
                "project": "churn",
                "key": "job-7",
                "resume": "ALLOW",
                "config": {"bs": 32},
                "tags": ["b"],
                "name": "second-try",
            },
        )
    )["startRun"]
    assert resumed["resumed"] is True
    assert resumed["run"] == {
        "id": run["id"],
        "key": "job-7",
        "status": "RUNNING",
        "config": {"bs": 32, "lr": 0.1},
        "tags": ["a", "b"],
        "name": "second-try",
        "lastStep": 4,
        "endedAt": None,
    }
    assert events(settings) == before + 1
    assert (
        count(
            settings,
            "MATCH (e:Event {type: 'run.resumed'})-[:ABOUT]->(r:Run {id: $id}) RETURN count(e)",
            id=run["id"],
        )
        == 1
    )
    more = [{"step": 5, "key": "loss", "value": 0.5}]
    ok(graphql(client, LOG, input={"run": run["id"], "points": more}))

    # MUST by the run's own id resumes it too; MUST of a key no run has makes nothing.
    by_id = ok(
        graphql(client, START, input={"project": "churn", "key": run["id"], "resume": "MUST"})
    )
    assert by_id["startRun"]["run"]["id"] == run["id"]
    runs = count(settings, "MATCH (r:Run) RETURN count(r)")
    missing = graphql(client, START, input={"project": "churn", "key": "job-8", "resume": "MUST"})
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert count(settings, "MATCH (r:Run) RETURN count(r)") == runs

    # A key is per project; a bad one is named.
    other = ok(graphql(client, START, input={"project": "fraud", "key": "job-7"}))["startRun"]
    assert other["resumed"] is False
    assert other["run"]["id"] != run["id"]
    bad = graphql(client, START, input={"project": "churn", "key": "job/7"})
    assert bad["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "input.key"}


def test_starts_with_one_key_at_once_make_one_run(client: TestClient, settings: Settings) -> None:
    def start(_: int) -> dict[str, Any]:
        body = graphql(client, START, input={"project": "churn", "key": "k", "resume": "ALLOW"})
        started: dict[str, Any] = ok(body)["startRun"]
        return started

    with ThreadPoolExecutor(6) as pool:
        started = list(pool.map(start, range(6)))
    assert len({s["run"]["id"] for s in started}) == 1
    assert sorted(s["resumed"] for s in started) == [False] + [True] * 5
    assert count(settings, "MATCH (r:Run {key: 'k'}) RETURN count(r)") == 1


def test_a_run_is_resumed_only_by_members_of_its_project(client: TestClient) -> None:
    run = ok(graphql(client, START, input={"project": "churn", "key": "job-7"}))["startRun"]["run"]
    outsider = user_key(client, "outsider")
    refused = client.post(
        "/graphql",
        json={
            "query": START,
            "variables": {"input": {"project": "churn", "key": run["id"], "resume": "MUST"}},
        },
        headers=bearer(outsider),
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "churn" in refused["errors"][0]["message"]


def test_projects_are_listed_by_name_all_to_org_admins_their_own_to_others(
    client: TestClient,
) -> None:
    for name in ("vision", "churn", "fraud"):
        start_run(client, project=name)
    query = """query($first: Int, $after: String) { projects(first: $first, after: $after) {
      nodes { name createdAt } pageInfo { hasNextPage endCursor } } }"""
    first = ok(graphql(client, query, first=2))["projects"]
    assert [p["name"] for p in first["nodes"]] == ["churn", "fraud"]
    assert first["pageInfo"]["hasNextPage"]
    rest = ok(graphql(client, query, after=first["pageInfo"]["endCursor"]))["projects"]
    assert [p["name"] for p in rest["nodes"]] == ["vision"]
    assert not rest["pageInfo"]["hasNextPage"]

    mia = user_key(client, "mia")
    ok(
        graphql(
            client,
            """mutation { setProjectMember(input: {project: "fraud", principal: "mia",
               member: true}) { project } }""",
        )
    )
    mine = client.post("/graphql", json={"query": query}, headers=bearer(mia)).json()
    assert [p["name"] for p in ok(mine)["projects"]["nodes"]] == ["fraud"]
    # a project mia starts herself is hers at once
    started = client.post(
        "/graphql",
        json={"query": START, "variables": {"input": {"project": "mias-own"}}},
        headers=bearer(mia),
    ).json()
    ok(started)
    mine = client.post("/graphql", json={"query": query}, headers=bearer(mia)).json()
    assert [p["name"] for p in ok(mine)["projects"]["nodes"]] == ["fraud", "mias-own"]
    bad = graphql(client, query, after="not-a-cursor")
    assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT", bad


HEARTBEAT = """
mutation Beat($id: ID!) { heartbeatRun(input: {run: $id}) { run { status heardAt } } }
"""
RUN = "query($id: ID!) { run(id: $id) { status endedAt heardAt heartbeatSeconds } }"


def test_a_run_whose_client_falls_silent_is_crashed_and_comes_back_when_heard(
    settings: Settings,
) -> None:
    """A training process killed by the out-of-memory killer says nothing more: its run,
    started with a heartbeat, is CRASHED by the server after four beats unheard (by `system`,
    saying since when), not left RUNNING for ever. A run that beats stays RUNNING, and so does
    one started without a heartbeat. A client that was only cut off brings its run back."""
    watched = settings.model_copy(update={"run_watch": 0.2})
    with TestClient(create_app(watched), headers=bearer(ADMIN_KEY)) as client:
        start = "mutation($b: Int) { startRun(input: {project: \"oom\", heartbeatSeconds: $b}) " \
            "{ run { id heartbeatSeconds heardAt } } }"  # fmt: skip
        killed, beating, unwatched = (
            ok(graphql(client, start, b=beat))["startRun"]["run"] for beat in (1, 1, None)
        )
        assert (killed["heartbeatSeconds"], bool(killed["heardAt"])) == (1, True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ok(graphql(client, HEARTBEAT, id=beating["id"]))
            if ok(graphql(client, RUN, id=killed["id"]))["run"]["status"] == "CRASHED":
                break
            time.sleep(0.5)
        lost = ok(graphql(client, RUN, id=killed["id"]))["run"]
        assert lost["status"] == "CRASHED"
        assert lost["endedAt"] == lost["heardAt"]  # it ended when it was last heard from
        assert ok(graphql(client, RUN, id=beating["id"]))["run"]["status"] == "RUNNING"
        assert ok(graphql(client, RUN, id=unwatched["id"]))["run"]["status"] == "RUNNING"
        story = "query($id: ID!) { history(subject: $id) { nodes { type actor after } } }"
        told = ok(graphql(client, story, id=killed["id"]))["history"]["nodes"]
        [ended] = [e for e in told if e["type"] == "run.finished"]
        assert (ended["actor"], ended["after"]["status"]) == ("system", "CRASHED")
        assert ended["after"]["silentSince"]
        # Only cut off: its metrics bring it back, and they are kept.
        back = ok(graphql(client, LOG, input={"run": killed["id"], "points": [
            {"step": 0, "key": "loss", "value": 0.5}]}))  # fmt: skip
        assert back["logMetrics"]["logged"] == 1
        assert ok(graphql(client, RUN, id=killed["id"]))["run"]["status"] == "RUNNING"
        told = ok(graphql(client, story, id=killed["id"]))["history"]["nodes"]
        resumed = [e for e in told if e["type"] == "run.resumed"]
        assert [e["after"] for e in resumed] == [{"status": "RUNNING", "heardAgain": True}]
        # A run its client finishes is finished; then a heartbeat is refused, naming why.
        ok(graphql(client, FINISH, id=beating["id"], status="FINISHED"))
        refused = graphql(client, HEARTBEAT, id=beating["id"])
        assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
        assert "ended as FINISHED" in refused["errors"][0]["message"]
        bad = graphql(client, start, b=0)
        assert bad["errors"][0]["extensions"]["code"] == "BAD_INPUT"
        # Only the run's project members may beat for it.
        outsider = user_key(client, "otto")
        foreign = client.post(
            "/graphql",
            json={"query": HEARTBEAT, "variables": {"id": killed["id"]}},
            headers=bearer(outsider),
        ).json()
        assert foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN"
