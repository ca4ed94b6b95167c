"""Lineage: upstream, downstream, both, impact and derivation, against a reference traversal."""

from __future__ import annotations

import base64
import random
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.schema.lineage import PACKED_NODE_COLUMNS
from api.settings import Settings
from graph.ids import new_id
from tests.factories import count, log_version, ok, start_run
from tests.helpers import ADMIN_KEY, bearer, graphql, reference, series

LINEAGE = """
query($of: ID!, $direction: LineageDirection, $depth: Int, $first: Int, $after: String,
      $kinds: [LineageKind!], $types: [String!], $deleted: Boolean) {
  lineage(of: $of, direction: $direction, depth: $depth, first: $first, after: $after,
          kinds: $kinds, artifactTypes: $types, includeDeleted: $deleted) {
    nodes { id kind distance name }
    edges { source target kind }
    depth truncated truncatedReason totalNodes
    pageInfo { hasNextPage endCursor }
  }
}
"""


def use(client: TestClient, run: str, version: str) -> None:
    ok(
        graphql(
            client,
            """mutation($run: ID!, $v: String!) {
        useArtifactVersion(input: {run: $run, version: $v}) { created } }""",
            run=run,
            v=version,
        )
    )


def delete_version(client: TestClient, version: str) -> None:
    ok(
        graphql(
            client,
            "mutation($v: String!) { deleteArtifactVersion(input: {version: $v, "
            "confirmDependents: true}) "
            "{ version { state } } }",
            v=version,
        )
    )


def lineage(client: TestClient, of: str, **args: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(graphql(client, LINEAGE, of=of, **args))["lineage"]
    return answer


@pytest.fixture
def story(client: TestClient) -> dict[str, str]:
    """data:v0 -> A -> model:v0 -> B (also uses data:v1) -> eval:v0; C also uses data:v0."""
    ids = {
        "data0": log_version(client, {"d": b"0"}, artifact="data", type="dataset")["id"],
        "data1": log_version(client, {"d": b"1"}, artifact="data", type="dataset")["id"],
    }
    ids["A"] = start_run(client, name="A")["id"]
    use(client, ids["A"], "fraud/data:v0")
    ids["model0"] = log_version(client, {"m": b"m"}, run=ids["A"])["id"]
    ids["B"] = start_run(client, name="B")["id"]
    use(client, ids["B"], ids["model0"])
    use(client, ids["B"], ids["data1"])
    ids["eval0"] = log_version(
        client, {"e": b"e"}, artifact="eval", type="evaluation", run=ids["B"]
    )["id"]
    ids["C"] = start_run(client, name="C")["id"]
    use(client, ids["C"], ids["data0"])
    return ids


def by_id(answer: dict[str, Any]) -> dict[str, int]:
    return {n["id"]: n["distance"] for n in answer["nodes"]}


def test_upstream_of_an_evaluation_reaches_every_ancestor_with_its_distance(
    client: TestClient, story: dict[str, str]
) -> None:
    answer = lineage(client, story["eval0"])
    assert by_id(answer) == {
        story["eval0"]: 0,
        story["B"]: 1,
        story["model0"]: 2,
        story["data1"]: 2,
        story["A"]: 3,
        story["data0"]: 4,
    }
    assert {(e["source"], e["kind"], e["target"]) for e in answer["edges"]} == {
        (story["B"], "PRODUCED", story["eval0"]),
        (story["B"], "CONSUMED", story["model0"]),
        (story["B"], "CONSUMED", story["data1"]),
        (story["A"], "PRODUCED", story["model0"]),
        (story["A"], "CONSUMED", story["data0"]),
    }
    assert (answer["truncated"], answer["depth"]) == (False, 4)


def test_both_directions_do_not_wander_sideways(client: TestClient, story: dict[str, str]) -> None:
    answer = lineage(client, story["model0"], direction="BOTH")
    assert by_id(answer) == {
        story["model0"]: 0,
        story["A"]: -1,
        story["data0"]: -2,
        story["B"]: 1,
        story["eval0"]: 2,
    }
    assert story["C"] not in by_id(answer)  # a sibling consumer of data:v0, not a relative


def test_depth_kind_and_type_filters_are_exact(client: TestClient, story: dict[str, str]) -> None:
    shallow = lineage(client, story["data0"], direction="DOWNSTREAM", depth=2)
    assert by_id(shallow) == {story["data0"]: 0, story["A"]: 1, story["C"]: 1, story["model0"]: 2}
    assert (shallow["truncated"], shallow["truncatedReason"]) == (True, "depth")
    runs = lineage(client, story["eval0"], kinds=["RUN"])
    assert set(by_id(runs)) == {story["A"], story["B"]}
    datasets = lineage(client, story["eval0"], kinds=["VERSION"], types=["dataset"])
    assert set(by_id(datasets)) == {story["data0"], story["data1"]}


def test_a_deleted_version_bridges_nothing_unless_asked(
    client: TestClient, story: dict[str, str]
) -> None:
    delete_version(client, story["model0"])
    hidden = lineage(client, story["eval0"])
    assert set(by_id(hidden)) == {story["eval0"], story["B"], story["data1"]}
    shown = lineage(client, story["eval0"], deleted=True)
    assert story["data0"] in by_id(shown)


def test_impact_lists_the_linked_descendants_by_collection(
    client: TestClient, story: dict[str, str]
) -> None:
    ok(
        graphql(
            client,
            """mutation { createCollection(input: {registry: "model",
        name: "fraud-clf"}) { collection { id } } }""",
        )
    )
    ok(
        graphql(
            client,
            """mutation($v: String!) { linkVersion(input: {registry: "model",
        collection: "fraud-clf", version: $v, aliases: ["production"]}) { link { id } } }""",
            v=story["model0"],
        )
    )
    impact = ok(
        graphql(
            client,
            """query($of: ID!) { impact(of: $of) {
        collection { registry name } links { name aliases { name } } } }""",
            of=story["data0"],
        )
    )["impact"]
    assert impact == [
        {
            "collection": {"registry": "model", "name": "fraud-clf"},
            "links": [
                {
                    "name": "model/fraud-clf:v0",
                    "aliases": [{"name": "latest"}, {"name": "production"}],
                }
            ],
        }
    ]
    assert (
        ok(
            graphql(
                client, "query($of: ID!) { impact(of: $of) { links { name } } }", of=story["data1"]
            )
        )["impact"]
        == []
    )


def test_derivation_gives_a_shortest_chain_or_says_no(
    client: TestClient, story: dict[str, str]
) -> None:
    query = """query($a: ID!, $b: ID!) { derivation(from: $a, to: $b) {
        derived chain { id } } }"""
    found = ok(graphql(client, query, a=story["data0"], b=story["eval0"]))["derivation"]
    assert found["derived"] is True
    assert [n["id"] for n in found["chain"]] == [
        story["data0"],
        story["A"],
        story["model0"],
        story["B"],
        story["eval0"],
    ]
    unrelated = ok(graphql(client, query, a=story["data1"], b=story["model0"]))["derivation"]
    assert unrelated == {"derived": False, "chain": []}
    bad = graphql(client, query, a="nonsense", b=story["eval0"])
    assert bad["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "from"}
    # A collection without a version: the answer says how to name one.
    whole = graphql(client, query, a="model/churn", b=story["eval0"])
    assert "add a version: model/churn:latest" in whole["errors"][0]["message"]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_dags_match_a_reference_traversal(client: TestClient, seed: int) -> None:
    rng = random.Random(seed)
    edges: list[tuple[str, str, str]] = []
    layers = [
        [
            log_version(
                client, {"x": f"{seed}-root-{i}".encode()}, artifact=f"root{i}", type="dataset"
            )["id"]
            for i in range(3)
        ]
    ]
    for depth in range(1, 5):
        layer = []
        for width in range(3):
            run = start_run(client, name=f"r{depth}-{width}")["id"]
            earlier = [v for level in layers for v in level]
            for used in rng.sample(earlier, k=min(len(earlier), rng.randint(1, 3))):
                use(client, run, used)
                edges.append((run, "CONSUMED", used))
            made = log_version(
                client,
                {"x": f"{seed}-{depth}-{width}".encode()},
                artifact=f"a{depth}{width}",
                run=run,
            )["id"]
            edges.append((run, "PRODUCED", made))
            layer.append(made)
        layers.append(layer)
    for start in (layers[-1][0], layers[2][1]):
        assert by_id(lineage(client, start, first=1000)) == reference(edges, start, True)
    for start in (layers[0][0], layers[1][2]):
        got = lineage(client, start, direction="DOWNSTREAM", first=1000)
        assert by_id(got) == reference(edges, start, False)


def test_a_closure_pages_in_distance_order_and_stops_at_the_node_cap(settings: Settings) -> None:
    with TestClient(
        create_app(settings.model_copy(update={"lineage_max_nodes": 5})), headers=bearer(ADMIN_KEY)
    ) as client:
        previous = None
        for i in range(8):  # a chain of 8 runs
            run = start_run(client, name=f"step{i}")["id"]
            if previous:
                use(client, run, previous)
            previous = log_version(client, {"x": f"chain {i}".encode()}, artifact="chain", run=run)[
                "id"
            ]
        assert previous is not None
        capped = lineage(client, previous, first=2)
        assert (capped["truncated"], capped["truncatedReason"], capped["totalNodes"]) == (
            True,
            "node cap",
            5,
        )
        seen, after, edges = [], None, 0
        while True:
            page = lineage(client, previous, first=2, after=after)
            seen += [n["distance"] for n in page["nodes"]]
            edges += len(page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == [0, 1, 2, 3, 4]
        assert edges == 4  # a chain of 5 nodes, each edge on exactly one page


def test_provenance_names_the_source_datasets_of_a_linked_model(
    client: TestClient, story: dict[str, str]
) -> None:
    ok(
        graphql(
            client,
            """mutation { createCollection(input: {registry: "model", name: "prov"})
        { collection { id } } }""",
        )
    )
    ok(
        graphql(
            client,
            """mutation($v: String!) { linkVersion(input: {registry: "model",
        collection: "prov", version: $v}) { link { id } } }""",
            v=story["model0"],
        )
    )
    query = """query($types: [String!]) { provenance(of: "model/prov:latest", types: $types)
        { id distance } }"""
    sources = ok(graphql(client, query))["provenance"]
    assert sources == [{"id": story["data0"], "distance": 2}]
    typed = ok(graphql(client, query, types=["dataset"]))["provenance"]
    assert [s["id"] for s in typed] == [story["data0"]]


def test_lineage_diff_names_the_inputs_and_settings_that_differ(client: TestClient) -> None:
    made = {}
    for name, data, lr in [("a", b"data v0", 0.1), ("b", b"data v1", 0.01)]:
        version = log_version(client, {"d": data}, artifact="data", type="dataset")["id"]
        run = start_run(
            client, name=name, config={"lr": lr, "epochs": 3}, sourceCommit=f"commit-{name}"
        )["id"]
        use(client, run, version)
        made[name] = (version, run, log_version(client, {"m": data}, run=run)["id"])
    diff = ok(
        graphql(
            client,
            """query($a: ID!, $b: ID!) { lineageDiff(a: $a, b: $b) {
        onlyInA { id } onlyInB { id } runDifferences { field a b } } }""",
            a=made["a"][2],
            b=made["b"][2],
        )
    )["lineageDiff"]
    assert {n["id"] for n in diff["onlyInA"]} == set(made["a"])
    assert {n["id"] for n in diff["onlyInB"]} == set(made["b"])
    assert diff["runDifferences"] == [
        {"field": "config.lr", "a": 0.1, "b": 0.01},
        {"field": "sourceCommit", "a": "commit-a", "b": "commit-b"},
    ]


def test_lineage_as_of_a_past_time_leaves_out_later_edges_and_keeps_later_deletions(
    client: TestClient,
) -> None:
    data = log_version(client, {"d": b"asof"}, artifact="data", type="dataset")["id"]
    trainer = start_run(client, name="trainer")["id"]
    use(client, trainer, data)
    model = log_version(client, {"m": b"asof"}, run=trainer)["id"]
    time.sleep(0.01)
    then = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    late = start_run(client, name="late")["id"]
    use(client, late, data)
    delete_version(client, model)
    query = """query($of: ID!, $at: DateTime) { lineage(of: $of, direction: DOWNSTREAM,
        asOf: $at) { nodes { id } } }"""
    now = {n["id"] for n in ok(graphql(client, query, of=data))["lineage"]["nodes"]}
    past = {n["id"] for n in ok(graphql(client, query, of=data, at=then))["lineage"]["nodes"]}
    assert now == {data, trainer, late}
    assert past == {data, trainer, model}


def instant() -> str:
    """Now, between two changes: each side of it is at least 10 ms away."""
    time.sleep(0.01)
    at = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return at


def test_lineage_as_of_a_time_a_deletion_was_later_undone_leaves_the_version_out(
    client: TestClient,
) -> None:
    """S -> A -> R1 -> B; B deleted, then restored, then deleted and restored again: as of
    each moment the walk sees B exactly when it was live, and never walks through it."""
    source = log_version(client, {"s": b"undone"}, artifact="s", type="dataset")["id"]
    r0 = start_run(client, name="r0")["id"]
    use(client, r0, source)
    a = log_version(client, {"a": b"undone"}, artifact="a", run=r0)["id"]
    r1 = start_run(client, name="r1")["id"]
    use(client, r1, a)
    b = log_version(client, {"b": b"undone"}, artifact="b", run=r1)["id"]
    r2 = start_run(client, name="r2")["id"]
    use(client, r2, b)
    delete, restore = (
        f"mutation($v: String!) {{ {verb}ArtifactVersion(input: {{version: $v{confirm}}}) "
        "{ __typename } }"
        for verb, confirm in (("delete", ", confirmDependents: true"), ("restore", ""))
    )
    moments = {"live": instant()}
    ok(graphql(client, delete, v=b))
    moments["deleted"] = instant()
    ok(graphql(client, restore, v=b))
    moments["restored"] = instant()
    ok(graphql(client, delete, v=b))
    moments["deleted again"] = instant()
    ok(graphql(client, restore, v=b))
    query = """query($of: ID!, $at: DateTime, $deleted: Boolean) { lineage(of: $of,
        direction: DOWNSTREAM, asOf: $at, includeDeleted: $deleted) { nodes { id } } }"""

    def seen(at: str | None, deleted: bool = False) -> set[str]:
        answer = ok(graphql(client, query, of=a, at=at, deleted=deleted))["lineage"]
        return {n["id"] for n in answer["nodes"]}

    whole = {a, r1, b, r2}
    assert seen(moments["live"]) == whole
    assert seen(moments["deleted"]) == {a, r1}
    assert seen(moments["deleted"], deleted=True) == whole
    assert seen(moments["restored"]) == whole
    assert seen(moments["deleted again"]) == {a, r1}
    assert seen(None) == whole
    upstream = """query($of: ID!, $at: DateTime) { lineage(of: $of, direction: UPSTREAM,
        asOf: $at) { nodes { id } } }"""
    past = ok(graphql(client, upstream, of=r2, at=moments["deleted"]))["lineage"]["nodes"]
    assert {n["id"] for n in past} == {r2}


def test_truncated_only_when_a_node_lies_past_the_depth_limit(client: TestClient) -> None:
    data = log_version(client, {"d": b"depth"}, artifact="data", type="dataset")["id"]
    run = start_run(client, name="trainer")["id"]
    use(client, run, data)
    model = log_version(client, {"m": b"depth"}, run=run)["id"]
    at = instant()
    for now in (None, at):
        args = {} if now is None else {"at": now}
        query = """query($of: ID!, $depth: Int, $at: DateTime) { lineage(of: $of,
            direction: DOWNSTREAM, depth: $depth, asOf: $at) {
            nodes { id } truncated truncatedReason depth } }"""
        exact = ok(graphql(client, query, of=data, depth=2, **args))["lineage"]
        assert {n["id"] for n in exact["nodes"]} == {data, run, model}
        assert (exact["truncated"], exact["truncatedReason"]) == (False, None), now
        cut = ok(graphql(client, query, of=data, depth=1, **args))["lineage"]
        assert {n["id"] for n in cut["nodes"]} == {data, run}
        assert (cut["truncated"], cut["truncatedReason"]) == (True, "depth"), now
        leaf = ok(graphql(client, query, of=model, depth=1, **args))["lineage"]
        assert (leaf["truncated"], leaf["truncatedReason"]) == (False, None), now
    # a deleted version past the limit is not left out unless deletions are asked for
    delete_version(client, model)
    query = """query($of: ID!, $deleted: Boolean) { lineage(of: $of, direction: DOWNSTREAM,
        depth: 1, includeDeleted: $deleted) { truncated } }"""
    assert ok(graphql(client, query, of=data, deleted=False))["lineage"]["truncated"] is False
    assert ok(graphql(client, query, of=data, deleted=True))["lineage"]["truncated"] is True


COMPACT = """query($of: ID!, $direction: LineageDirection, $at: DateTime) {
  lineage(of: $of, direction: $direction, first: 10000, asOf: $at) {
    nodes { id kind distance name type index status aliases }
    edges { source target kind }
    compact packed: compact(packed: true) } }"""


def nodes_of(compact: dict[str, Any]) -> list[dict[str, Any]]:
    """The node rows of a compact page, codes replaced by the values they stand for."""
    nodes, values = compact["nodes"], compact["values"]
    rows = []
    for i in range(len(nodes["id"])):
        row = {name: nodes[name][i] for name in ("id", "distance", "name", "index")}
        row |= {name: values[name][nodes[name][i]] for name in ("kind", "type", "status")}
        rows.append(row | {"aliases": nodes["aliases"].get(str(i), [])})
    return rows


def unpacked(packed: dict[str, Any]) -> dict[str, Any]:
    """A packed compact page (base64 little-endian int32 lists) read back into lists, as a
    client would with numpy."""
    assert packed.pop("packed") == "int32le"

    def ints(text: str) -> list[int]:
        return np.frombuffer(base64.b64decode(text), dtype="<i4").tolist()  # type: ignore[no-any-return]

    nodes = packed["nodes"] | {c: ints(packed["nodes"][c]) for c in PACKED_NODE_COLUMNS}
    nodes["index"] = [None if i == -1 else i for i in nodes["index"]]
    edges = {c: ints(text) for c, text in packed["edges"].items()}
    return packed | {"nodes": nodes, "edges": edges}


def edges_of(compact: dict[str, Any], ids: list[str]) -> list[dict[str, str]]:
    """The edges of a compact page, named by the ids of the answer's nodes so far."""
    edges, kinds = compact["edges"], compact["values"]["edgeKind"]
    for s, t in zip(edges["source"], edges["target"], strict=True):
        assert max(s, t) < len(ids)  # both ends already delivered
    return [
        {"source": ids[s], "target": ids[t], "kind": kinds[k]}
        for s, t, k in zip(edges["source"], edges["target"], edges["kind"], strict=True)
    ]


def test_the_compact_form_carries_what_the_typed_lists_do(
    client: TestClient, story: dict[str, str]
) -> None:
    ok(
        graphql(
            client,
            """mutation { setArtifactAlias(input: {version: "fraud/data:v0", alias: "gold"})
            { version { id } } }""",
        )
    )
    answer = ok(graphql(client, COMPACT, of=story["data0"], direction="DOWNSTREAM"))["lineage"]
    compact = answer["compact"]
    assert unpacked(answer["packed"]) == compact
    assert isinstance(answer["packed"]["edges"]["source"], str)
    rows = nodes_of(compact)
    assert rows == answer["nodes"]
    assert edges_of(compact, compact["nodes"]["id"]) == answer["edges"]
    assert len(rows) == 6  # data0, A, model0, B, C, eval0
    assert compact["offset"] == 0
    aliases = compact["nodes"]["aliases"]  # only for the nodes holding some
    assert aliases["0"] == ["gold"]  # data0, the start
    assert all(aliases.values())
    assert len(aliases) < len(rows)
    # As of now, the walk goes to Neo4j (no index): the same compact form, made otherwise.
    at = datetime.now(UTC).isoformat()
    walked = ok(graphql(client, COMPACT, of=story["data0"], direction="DOWNSTREAM", at=at))
    compact = walked["lineage"]["compact"]
    assert unpacked(walked["lineage"]["packed"]) == compact
    assert nodes_of(compact) == walked["lineage"]["nodes"] == answer["nodes"]
    assert edges_of(compact, compact["nodes"]["id"]) == walked["lineage"]["edges"]


def test_compact_pages_number_edge_ends_across_the_whole_answer(
    client: TestClient, story: dict[str, str]
) -> None:
    """Paged two nodes at a time, the compact form delivers every edge once, after both its
    ends, numbered by position in the whole answer."""
    whole = ok(graphql(client, COMPACT, of=story["data0"], direction="DOWNSTREAM"))["lineage"]
    query = """query($of: ID!, $after: String) { lineage(of: $of, direction: DOWNSTREAM,
        first: 2, after: $after) { compact pageInfo { hasNextPage endCursor } } }"""
    ids: list[str] = []
    rows: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    after = None
    while True:
        page = ok(graphql(client, query, of=story["data0"], after=after))["lineage"]
        compact = page["compact"]
        assert compact["offset"] == len(ids)
        ids += compact["nodes"]["id"]
        rows += nodes_of(compact)
        edges += edges_of(compact, ids)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert rows == whole["nodes"]
    key = lambda e: (e["source"], e["kind"], e["target"])  # noqa: E731
    assert sorted(edges, key=key) == sorted(whole["edges"], key=key)


def test_changes_made_behind_the_apis_back_are_seen(
    client: TestClient, story: dict[str, str], settings: Settings
) -> None:
    """The process's lineage index follows the audit log; a bulk write that bypasses the API
    (no event) still changes the node and edge counts, and the index reloads."""
    before = by_id(lineage(client, story["eval0"]))
    assert story["data1"] in before
    lonely = log_version(client, {"x": b"lonely"}, artifact="other", type="dataset")["id"]
    count(
        settings,
        "MATCH (r:Run {id: $run}), (v:ArtifactVersion {id: $v}) "
        "CREATE (r)-[:CONSUMED]->(v) RETURN 1",
        run=story["B"],
        v=lonely,
    )
    after = by_id(lineage(client, story["eval0"]))
    assert after == {**before, lonely: 2}


def test_index_walks_and_per_hop_queries_agree_after_every_kind_of_change(
    client: TestClient, story: dict[str, str]
) -> None:
    """The same question answered from the index and from Neo4j (as of now, which takes the
    per-hop path) gives the same nodes, after uses, commits, deletions and restores."""
    as_of_query = LINEAGE.replace(
        "includeDeleted: $deleted)", "includeDeleted: $deleted, asOf: $at)"
    ).replace("$deleted: Boolean)", "$deleted: Boolean, $at: DateTime)")

    def both_ways(of: str, direction: str) -> None:
        indexed = by_id(lineage(client, of, direction=direction, first=10000))
        at = datetime.now(UTC).isoformat()
        from_neo4j = ok(
            graphql(client, as_of_query, of=of, direction=direction, first=10000, at=at)
        )
        assert indexed == by_id(from_neo4j["lineage"]), (of, direction)

    extra = start_run(client, name="D")["id"]
    use(client, extra, "fraud/model:v0")
    log_version(client, {"e": b"d-out"}, artifact="eval", type="evaluation", run=extra)
    delete = (
        "mutation($v: String!) { deleteArtifactVersion(input: {version: $v, "
        "confirmDependents: true}) { version { id } } }"
    )
    restore = (
        "mutation($v: String!) { restoreArtifactVersion(input: {version: $v}) { version { id } } }"
    )
    for step in ("start", "delete", "restore"):
        if step == "delete":
            ok(graphql(client, delete, v=story["data1"]))
        elif step == "restore":
            ok(graphql(client, restore, v=story["data1"]))
        for of in (story["data0"], story["eval0"], extra):
            for direction in ("UPSTREAM", "DOWNSTREAM", "BOTH"):
                both_ways(of, direction)


def test_lineage_starts_from_references_too(client: TestClient, story: dict[str, str]) -> None:
    ok(
        graphql(
            client,
            'mutation { createCollection(input: {registry: "model", name: "ref"}) '
            "{ collection { id } } }",
        )
    )
    link = ok(
        graphql(
            client,
            """mutation($v: String!) { linkVersion(input: {registry: "model", collection: "ref",
            version: $v, aliases: ["production"]}) { link { id } } }""",
            v=story["model0"],
        )
    )["linkVersion"]["link"]["id"]
    ok(
        graphql(
            client,
            'mutation { setSemver(input: {link: "model/ref:v0", semver: "1.0.0"}) '
            "{ link { id } } }",
        )
    )
    by_version = by_id(lineage(client, story["model0"]))
    for start in (
        link,
        "model/ref:production",
        "model/ref:1.0.0",
        "model/ref:v0",
        "fraud/model:v0",
        "fraud/model:latest",
    ):
        assert by_id(lineage(client, start)) == by_version, start
    missing = graphql(client, LINEAGE, of="model/ref:staging")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_a_subgraph_exports_as_dot_and_mermaid(client: TestClient, story: dict[str, str]) -> None:
    query = """query($of: ID!) { lineage(of: $of) { dot mermaid } }"""
    answer = ok(graphql(client, query, of=story["model0"]))["lineage"]
    dot, mermaid = answer["dot"], answer["mermaid"]
    assert dot.startswith("digraph lineage {")
    assert dot.rstrip().endswith("}")
    assert f'"{story["A"]}" [label="A", shape=box];' in dot
    assert f'"{story["A"]}" -> "{story["model0"]}" [label="PRODUCED"];' in dot
    # arrows along the data, as the explorer draws it: the dataset into the run that used it
    assert f'"{story["data0"]}" -> "{story["A"]}" [label="CONSUMED"];' in dot
    assert f'"{story["A"]}" -> "{story["data0"]}"' not in dot
    assert mermaid.startswith("flowchart LR\n")
    assert f'  {story["model0"]}(["fraud/model:v0"])' in mermaid
    assert f"  {story['A']} -->|PRODUCED| {story['model0']}" in mermaid
    assert f"  {story['data0']} -->|CONSUMED| {story['A']}" in mermaid


def test_derivation_gives_the_k_shortest_chains(client: TestClient) -> None:
    """root feeds two runs whose outputs both feed `join`: two chains of equal length, and a
    longer third one through `slow`."""
    root = log_version(client, {"r": b"root"}, artifact="root", type="dataset")["id"]
    mids, runs = [], []
    for name in ("left", "right"):
        runs.append(start_run(client, name=name)["id"])
        use(client, runs[-1], root)
        mids.append(log_version(client, {"m": name.encode()}, artifact=name, run=runs[-1])["id"])
    slow = start_run(client, name="slow")["id"]
    use(client, slow, mids[0])
    detour = log_version(client, {"d": b"detour"}, artifact="detour", run=slow)["id"]
    join = start_run(client, name="join")["id"]
    for used in (*mids, detour):
        use(client, join, used)
    final = log_version(client, {"f": b"final"}, artifact="final", run=join)["id"]
    query = """query($a: ID!, $b: ID!, $k: Int!) { derivation(from: $a, to: $b, k: $k) {
        derived chain { id } chains { id } } }"""
    found = ok(graphql(client, query, a=root, b=final, k=5))["derivation"]
    chains = [[n["id"] for n in chain] for chain in found["chains"]]
    assert sorted(chains[:2]) == sorted([[root, runs[i], mids[i], join, final] for i in range(2)])
    assert chains[2] == [root, runs[0], mids[0], slow, detour, join, final]
    assert len(chains) == 3  # no more exist
    assert found["chain"] == found["chains"][0]
    one = ok(graphql(client, query, a=root, b=final, k=1))["derivation"]
    assert len(one["chains"]) == 1
    refused = graphql(client, query, a=root, b=final, k=11)
    assert refused["errors"][0]["extensions"] == {"code": "BAD_INPUT", "field": "k"}


def test_the_project_filter_keeps_the_walk_whole(client: TestClient) -> None:
    source = log_version(client, {"s": b"src"}, project="lake", artifact="raw", type="dataset")
    run = start_run(client, project="fraud", name="train")["id"]
    use(client, run, source["id"])
    model = log_version(client, {"m": b"model"}, artifact="m", run=run)["id"]
    everything = by_id(lineage(client, model))
    assert set(everything) == {model, run, source["id"]}
    only_lake = ok(
        graphql(
            client,
            """query($of: ID!) { lineage(of: $of, projects: ["lake"]) {
        nodes { id distance } } }""",
            of=model,
        )
    )["lineage"]["nodes"]
    assert only_lake == [{"id": source["id"], "distance": 2}]


def test_the_index_is_loaded_at_start_up_and_its_size_is_a_metric(
    client: TestClient, story: dict[str, str]
) -> None:
    lineage(client, story["eval0"])  # brings it up to date with the story
    metrics = {
        line.split()[0]: float(line.split()[1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("forebear_lineage_index")
    }
    assert metrics["forebear_lineage_index_nodes"] == 7  # 4 versions, 3 runs
    assert metrics["forebear_lineage_index_reloads_total"] >= 1


def answers_served(client: TestClient) -> dict[str, float]:
    return series(client, "forebear_lineage_answers_total")


def test_arrays_built_again_drop_the_answers_kept_on_the_old_ones(
    client: TestClient, story: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When patches wear the arrays out they are built again at once, and the kept answers,
    which hold the arrays they were walked on, go with them: the next ask walks the new ones."""
    query = """query($of: ID!) { lineage(of: $of, direction: UPSTREAM) { nodes { id } } }"""
    first = ok(graphql(client, query, of=story["eval0"]))["lineage"]["nodes"]
    assert ok(graphql(client, query, of=story["eval0"]))["lineage"]["nodes"] == first
    before = answers_served(client)
    # From now on any patched node wears the arrays out.
    monkeypatch.setattr("graph.lineage_index.REBUILD_AT_LEAST", 0)
    monkeypatch.setattr("graph.lineage_index.REBUILD_SHARE", 0.0)
    log_version(client, {"o": b"o"}, project="elsewhere", artifact="o")  # reaches no answer
    assert ok(graphql(client, query, of=story["eval0"]))["lineage"]["nodes"] == first
    after = answers_served(client)
    assert after == {"walked": before["walked"] + 1, "kept": before["kept"]}


def test_a_kept_answer_lasts_until_a_change_touches_its_nodes(
    client: TestClient, story: dict[str, str]
) -> None:
    """An answer is kept across changes elsewhere (the closure of finished runs does not
    change), and every change to one of its nodes, their edges, names, aliases, states or
    statuses is in the next answer, exactly as a walk of Neo4j (asOf now) gives it."""
    query = """query($of: ID!, $d: LineageDirection, $at: DateTime) {
      lineage(of: $of, direction: $d, asOf: $at, first: 10000) {
        nodes { id distance name status aliases } edges { source target kind } } }"""

    def ask(of: str, direction: str) -> dict[str, Any]:
        indexed: dict[str, Any] = ok(graphql(client, query, of=of, d=direction))["lineage"]
        at = datetime.now(UTC).isoformat()
        walked = ok(graphql(client, query, of=of, d=direction, at=at))["lineage"]
        walked["nodes"] = [{**n, "aliases": sorted(n["aliases"])} for n in walked["nodes"]]
        key = lambda e: (e["source"], e["kind"], e["target"])  # noqa: E731
        assert indexed["nodes"] == walked["nodes"]
        assert sorted(indexed["edges"], key=key) == sorted(walked["edges"], key=key)
        return indexed

    def served() -> tuple[float, float]:
        counts = answers_served(client)
        return counts["walked"], counts["kept"]

    questions = [(story["eval0"], "UPSTREAM"), (story["data0"], "DOWNSTREAM")]
    first = [ask(of, d) for of, d in questions]
    walked, kept = served()
    # Changes elsewhere: a project, a run and a version no answer reached.
    ok(
        graphql(
            client,
            'mutation { createProject(input: {name: "elsewhere"}) { project { id } } }',
        )
    )
    other = start_run(client, project="elsewhere", name="other")["id"]
    log_version(client, {"o": b"o"}, project="elsewhere", artifact="o", run=other)
    assert [ask(of, d) for of, d in questions] == first
    assert served() == (walked, kept + 2)  # both answers kept

    # Changes that touch an answer's nodes: each is seen, and only the answers touched walk.
    def new_input() -> None:  # of B, which both answers reach
        use(client, story["B"], log_version(client, {"n": b"new"}, artifact="new")["id"])

    def alias() -> None:  # on data0, in both answers
        ok(
            graphql(
                client,
                """mutation { setArtifactAlias(input: {version: "fraud/data:v0",
                alias: "gold"}) { version { id } } }""",
            )
        )

    def finish() -> None:  # C, downstream of data0 only
        ok(
            graphql(
                client,
                "mutation($r: ID!) { finishRun(input: {run: $r, status: FAILED}) { run { id } } }",
                r=story["C"],
            )
        )

    before = first
    for change, walks in ((new_input, 2), (alias, 2), (finish, 1)):
        change()
        walked, kept = served()
        after = [ask(of, d) for of, d in questions]
        assert after != before
        assert served() == (walked + walks, kept + 2 - walks)
        before = after
    upstream, downstream = before
    assert {n["name"]: n["distance"] for n in upstream["nodes"]}["fraud/new:v0"] == 2
    assert [n["aliases"] for n in downstream["nodes"] if n["id"] == story["data0"]] == [["gold"]]
    assert [n["status"] for n in downstream["nodes"] if n["id"] == story["C"]] == ["FAILED"]


WIDE = """
UNWIND $versions AS v
CREATE (:ArtifactVersion:Lineage:Entity {id: v.id, artifactId: 'art_wide', project: 'wide',
  artifact: v.id, type: 'dataset', index: 0, state: v.state, createdAt: datetime()})
WITH count(*) AS made
UNWIND $runs AS r
CREATE (run:Run:Lineage:Entity {id: r.id, project: 'wide', name: r.id, status: 'FINISHED',
  startedAt: datetime()})
WITH run, r
UNWIND r.consumes AS used
MATCH (v:ArtifactVersion {id: used})
CREATE (run)-[:CONSUMED]->(v)
WITH DISTINCT run, r
MATCH (out:ArtifactVersion {id: r.produces})
CREATE (run)-[:PRODUCED]->(out)
RETURN count(*) AS runs
"""


def test_wide_levels_walk_like_narrow_ones(settings: Settings) -> None:
    """Levels wider than a few dozen nodes are expanded in array operations, narrow ones in
    plain Python: on a graph with both (written behind the API, which the index reloads for),
    answers, deletions and the node cap agree with the reference traversal."""
    root, final = new_id("ver"), new_id("ver")
    middle = [new_id("ver") for _ in range(60)]
    dead = set(middle[::7])
    # (run, the versions it consumed, the version it produced)
    runs = [(new_id("run"), [root], m) for m in middle] + [(new_id("run"), middle, final)]
    versions = [{"id": v, "state": "DELETED" if v in dead else "COMMITTED"} for v in middle]
    versions += [{"id": root, "state": "COMMITTED"}, {"id": final, "state": "COMMITTED"}]
    rows = [{"id": r, "consumes": used, "produces": made} for r, used, made in runs]
    count(settings, WIDE, versions=versions, runs=rows)
    edges = [(r, "CONSUMED", v) for r, used, _ in runs for v in used]
    edges += [(r, "PRODUCED", made) for r, _, made in runs]
    with (
        TestClient(
            create_app(settings.model_copy(update={"lineage_max_nodes": 50})),
            headers=bearer(ADMIN_KEY),
        ) as capped,
        TestClient(create_app(settings), headers=bearer(ADMIN_KEY)) as client,
    ):
        for start, upstream in ((root, False), (final, True)):
            direction = "UPSTREAM" if upstream else "DOWNSTREAM"
            for deleted in (False, True):
                got = lineage(client, start, direction=direction, deleted=deleted, first=1000)
                expected = reference(edges, start, upstream, set() if deleted else dead)
                assert by_id(got) == expected
                assert len(got["edges"]) == sum(
                    1 for s, _, t in edges if s in expected and t in expected
                )
            cut = lineage(capped, start, direction=direction, deleted=True, first=1000)
            assert (cut["truncatedReason"], cut["totalNodes"]) == ("node cap", 50)
            whole = reference(edges, start, upstream)
            assert all(whole[n["id"]] == n["distance"] for n in cut["nodes"])
