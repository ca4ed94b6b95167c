"""Property tests: random DAGs of runs and versions written through the API answer lineage,
derivation and depth-limited questions exactly as a plain-Python traversal of the same edges
does, with deleted versions following the filter."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.factories import log_version, ok, start_run
from tests.helpers import graphql, reference

ANSWER = """query($of: ID!, $direction: LineageDirection, $depth: Int, $deleted: Boolean) {
  lineage(of: $of, direction: $direction, depth: $depth, includeDeleted: $deleted,
          first: 10000) { nodes { id distance } truncated } }"""
DERIVED = """query($a: ID!, $b: ID!) { derivation(from: $a, to: $b) { derived chain { id } } }"""
USE = """mutation($run: ID!, $v: String!) { useArtifactVersion(input: {run: $run, version: $v})
  { created } }"""
DELETE = """mutation($v: String!) {
  deleteArtifactVersion(input: {version: $v, confirmDependents: true}) { version { id } } }"""
projects = itertools.count()


@dataclass
class Dag:
    """Runs r0.. each consume some earlier versions and produce one; v0..v{roots-1} are roots."""

    roots: int
    runs: list[list[int]]  # versions each run consumes
    deleted: list[int]


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    roots = draw(st.integers(1, 3))
    runs: list[list[int]] = []
    for i in range(draw(st.integers(1, 6))):
        available = roots + i  # versions made so far
        runs.append(sorted(draw(st.sets(st.integers(0, available - 1), min_size=1, max_size=3))))
    versions = roots + len(runs)
    deleted = sorted(draw(st.sets(st.integers(0, versions - 1), max_size=2)))
    return Dag(roots, runs, deleted)


def build(client: TestClient, dag: Dag) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    project = f"prop{next(projects)}"
    versions = [
        log_version(client, {"x": f"{project}-{i}".encode()}, project=project, artifact=f"d{i}")[
            "id"
        ]
        for i in range(dag.roots)
    ]
    runs, edges = [], []
    for i, consumed in enumerate(dag.runs):
        run = start_run(client, project=project, name=f"r{i}")["id"]
        for used in consumed:
            ok(graphql(client, USE, run=run, v=versions[used]))
            edges.append((run, "CONSUMED", versions[used]))
        made = log_version(
            client, {"x": f"{project}-out-{i}".encode()}, project=project, artifact=f"o{i}", run=run
        )["id"]
        edges.append((run, "PRODUCED", made))
        runs.append(run)
        versions.append(made)
    return versions, runs, edges


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dag=dags(), data=st.data())
def test_random_dags_answer_like_a_reference_traversal(
    client: TestClient, dag: Dag, data: st.DataObject
) -> None:
    versions, runs, edges = build(client, dag)
    # Asked before the deletions too: the process's index then answers from arrays patched
    # by the deletions (their nodes are walked from its dicts), not from arrays made anew.
    start = data.draw(st.sampled_from(versions + runs))
    got = ok(graphql(client, ANSWER, of=start, direction="DOWNSTREAM"))["lineage"]
    assert {n["id"]: n["distance"] for n in got["nodes"]} == reference(edges, start, False)
    for i in dag.deleted:
        ok(graphql(client, DELETE, v=versions[i]))
    dead = {versions[i] for i in dag.deleted}
    for _ in range(3):
        start = data.draw(st.sampled_from(versions + runs))
        upstream = data.draw(st.booleans())
        depth = data.draw(st.one_of(st.none(), st.integers(1, 4)))
        with_deleted = data.draw(st.booleans())
        got = ok(
            graphql(
                client,
                ANSWER,
                of=start,
                direction="UPSTREAM" if upstream else "DOWNSTREAM",
                depth=depth,
                deleted=with_deleted,
            )
        )["lineage"]
        expected = reference(edges, start, upstream, set() if with_deleted else dead, depth)
        assert {n["id"]: n["distance"] for n in got["nodes"]} == expected
        a, b = data.draw(st.sampled_from(versions)), data.draw(st.sampled_from(versions))
        derived = ok(graphql(client, DERIVED, a=a, b=b))["derivation"]
        below = reference(edges, a, False, dead)
        assert derived["derived"] == (b in below)
        if derived["derived"]:
            assert len(derived["chain"]) == below[b] + 1
