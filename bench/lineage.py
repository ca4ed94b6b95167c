"""Benchmark: lineage closures in Forebear (GraphQL API and graph layer) against ML Metadata.

Graphs, built in one run in both (bulk writes for set-up): a chain of 1,000 runs; diamond DAGs
of L layers of width W where each run consumes 2-3 random versions of the layer before and
produces one version (L=20/W=50: ~1k versions; L=50/W=200: ~10k; L=100/W=1000: ~100k).
Queries: the full upstream closure of the last version, a 4-hop upstream query, and the
downstream closure of a root. Forebear's API answers are read whole: the node cap and the page
size raised for the run (one page), the packed compact form (every node and edge: orjson for
the JSON, numpy for its base64 int32 columns, as a browser would make Int32Arrays), timed as
timeit does (the client's garbage collector paused; MLMD's too). The API
process's lineage index is warm; two cases are timed: after a change touching the closure (a
new alias on the start version: the API walks again), and after a change elsewhere (a new
project: the API serves the answer it kept, since no node of it changed). The graph layer is
LineageRepository.walk without the index (one Cypher query per hop); MLMD is
get_lineage_subgraph on SQLite (`ml-metadata==1.17.1` in .venv-mlmd, which stops at 100 hops).
Node sets are compared; medians and ratios printed. Last, on the ~1k diamond, a variable-length
pattern (path enumeration) against the same bounded walk.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from neo4j.exceptions import Neo4jError

from api.resources import open_resources
from api.schema.lineage import PACKED_NODE_COLUMNS
from api.settings import Settings
from bench.common import ROOT, Client, auth_headers, forebear_server, gql, timed
from graph.repository.lineage import DOWNSTREAM, UPSTREAM, LineageRepository

REPEAT = 5
PAGE = 1_000_000
# A change elsewhere (a new project: one audit event, no lineage node touched) ...
ELSEWHERE = "mutation($name: String!) { createProject(input: {name: $name}) { project { id } } }"
# ... and one that touches the closure without changing its nodes: a new alias on the start
# version (a node of the answer changed: the API walks again).
TOUCH = """mutation($v: String!, $alias: String!) {
  setArtifactAlias(input: {version: $v, alias: $alias}) { version { id } } }"""
ENUMERATED_HOPS = 8
VARIABLE_LENGTH = """
MATCH (:ArtifactVersion {id: $id})<-[:PRODUCED|CONSUMED*1..8]-(m)
RETURN count(DISTINCT m) AS reached
"""
MLMD_PYTHON = Path(os.environ.get("MLMD_VENV", ".venv-mlmd")) / "bin" / "python"
# One artifact holds every version, so the API can use them (a change touching a closure).
LOAD_ARTIFACT = """
CREATE (:Artifact:Entity {id: 'art_bench', project: 'bench', name: 'bench', type: 'dataset',
  description: '', createdAt: $now, nextIndex: 0})
"""
LOAD_VERSIONS = """
MATCH (a:Artifact {id: 'art_bench'})
UNWIND $rows AS row
CREATE (a)-[:HAS_VERSION]->(v:ArtifactVersion:Lineage:Entity {id: row.id,
  artifactId: 'art_bench', project: 'bench', artifact: row.id, type: 'dataset', index: 0,
  state: 'COMMITTED', digest: '', size: 0, fileCount: 0, createdAt: $now})
"""
LOAD_RUNS = """
UNWIND $rows AS row
CREATE (r:Run:Lineage:Entity {id: row.id, project: 'bench', name: row.id, status: 'FINISHED',
  actor: 'bench', startedAt: $now})
WITH r, row
UNWIND row.consumes AS used
MATCH (v:ArtifactVersion {id: used})
CREATE (r)-[:CONSUMED]->(v)
"""
LOAD_OUTPUTS = """
UNWIND $rows AS row
MATCH (r:Run {id: row.run}), (v:ArtifactVersion {id: row.version})
CREATE (r)-[:PRODUCED]->(v)
"""


def vid(n: int) -> str:
    return f"ver_{n:024x}"


def rid(n: int) -> str:
    return f"run_{n:024x}"


def chain(length: int) -> dict[str, Any]:
    versions = [vid(i) for i in range(length + 1)]
    runs = [{"id": rid(i), "consumes": [vid(i)], "produces": [vid(i + 1)]} for i in range(length)]
    return {"versions": versions, "runs": runs, "last": versions[-1], "root": versions[0]}


def diamond(layers: int, width: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    previous = [vid(i) for i in range(width)]
    versions, runs, count = list(previous), [], width
    for layer in range(1, layers):
        current = []
        for w in range(width):
            out = vid(count)
            count += 1
            runs.append(
                {
                    "id": rid(layer * width + w),
                    "consumes": rng.sample(previous, rng.randint(2, 3)),
                    "produces": [out],
                }
            )
            current.append(out)
        versions += current
        previous = current
    return {"versions": versions, "runs": runs, "last": previous[0], "root": versions[0]}


QUERIES = {
    "upstream, full": ("last", UPSTREAM, None),
    "upstream, 4 hops": ("last", UPSTREAM, 4),
    "downstream, full": ("root", DOWNSTREAM, None),
}


async def load(settings: Settings, graph: dict[str, Any]) -> None:
    async with open_resources(settings) as (driver, _):
        while (
            await driver.execute_query(
                "MATCH (n:Lineage) WITH n LIMIT 20000 DETACH DELETE n RETURN count(*) AS c"
            )
        ).records[0]["c"]:
            pass
        await driver.execute_query("MATCH (a:Artifact {id: 'art_bench'}) DETACH DELETE a")
        now = datetime.now(UTC)
        await driver.execute_query(LOAD_ARTIFACT, now=now)
        for i in range(0, len(graph["versions"]), 5000):
            rows = [{"id": v} for v in graph["versions"][i : i + 5000]]
            await driver.execute_query(LOAD_VERSIONS, rows=rows, now=now)
        for i in range(0, len(graph["runs"]), 2000):
            await driver.execute_query(LOAD_RUNS, rows=graph["runs"][i : i + 2000], now=now)
        outputs = [{"run": r["id"], "version": v} for r in graph["runs"] for v in r["produces"]]
        for i in range(0, len(outputs), 5000):
            await driver.execute_query(LOAD_OUTPUTS, rows=outputs[i : i + 5000])


def touch(http: httpx.Client, start: str) -> None:
    """A change to a node of the closure, through the API: a new alias on the start version."""
    gql(http, TOUCH, v=start, alias=f"touch-{uuid.uuid4().hex[:8]}")


def int32le(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i4")


def api_closure(api: Client, start: str, direction: str, depth: int | None) -> set[str]:
    """Every node and edge of the answer, through every page, in the packed compact form
    (decoded with orjson and numpy, as a client fetching big answers would); the node ids,
    as a set (MLMD's side makes one too)."""
    nodes: set[str] = set()
    edges = 0
    after = None
    while True:
        response = api.send(
            "POST",
            "/graphql",
            {
                "query": """query($of: ID!, $d: LineageDirection, $depth: Int, $first: Int,
            $after: String) {
            lineage(of: $of, direction: $d, depth: $depth, first: $first, after: $after) {
            compact(packed: true) truncated pageInfo { hasNextPage endCursor } } }""",
                "variables": {
                    "of": start,
                    "d": direction,
                    "depth": depth,
                    "first": PAGE,
                    "after": after,
                },
            },
        )
        page = orjson.loads(response)["data"]["lineage"]
        compact = page["compact"]
        columns = {c: int32le(compact["nodes"][c]) for c in PACKED_NODE_COLUMNS}
        links = {c: int32le(text) for c, text in compact["edges"].items()}
        assert len(columns["distance"]) == len(compact["nodes"]["id"])
        nodes.update(compact["nodes"]["id"])
        edges += len(links["source"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def timed_closure(
    api: Client, start: str, direction: str, depth: int | None
) -> tuple[float, set[str]]:
    """Seconds api_closure takes (bench.common.timed), and the nodes it got."""
    got: list[set[str]] = []
    seconds = timed(lambda: got.append(api_closure(api, start, direction, depth)))
    return seconds, got[0]


async def path_enumeration(settings: Settings, start: str, limit: float) -> float | None:
    """Seconds a variable-length pattern takes for the upstream closure within
    ENUMERATED_HOPS (it enumerates every path, which explodes on diamonds), or None past
    `limit` seconds."""
    async with (
        open_resources(settings) as (driver, _),
        driver.session(database=settings.neo4j_database) as session,
    ):
        began = time.perf_counter()
        try:
            result = await session.run(VARIABLE_LENGTH, id=start, timeout=limit)
            await result.consume()
        except Neo4jError:
            return None
        return time.perf_counter() - began


async def graph_closure(
    settings: Settings, start: str, direction: str, depth: int | None
) -> tuple[float, set[str]]:
    async with open_resources(settings) as (driver, _):
        repo = LineageRepository(driver, settings.neo4j_database)
        samples, nodes = [], set()
        for _ in range(REPEAT):
            started = time.perf_counter()
            walk = await repo.walk(
                start, direction, max_depth=depth, max_nodes=10**6, include_deleted=False
            )
            samples.append(time.perf_counter() - started)
            nodes = set(walk.distances)
        return statistics.median(samples), nodes


def mlmd(graph: dict[str, Any]) -> dict[str, Any]:
    spec = {
        "versions": graph["versions"],
        "runs": graph["runs"],
        "queries": {
            name: {"start": graph[which], "direction": direction, "depth": depth, "repeat": REPEAT}
            for name, (which, direction, depth) in QUERIES.items()
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(spec, f)
        f.flush()
        done = subprocess.run(
            [str(MLMD_PYTHON), str(ROOT / "bench" / "mlmd_peer.py"), f.name],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    if not MLMD_PYTHON.exists():
        raise SystemExit(f"{MLMD_PYTHON} not found: `make bench` installs ml-metadata")
    settings = Settings(_env_file=None)
    graphs = {
        "chain of 1,000 runs": chain(1000),
        "diamond L=20 W=50": diamond(20, 50),
        "diamond L=50 W=200": diamond(50, 200),
        "diamond L=100 W=1000": diamond(100, 1000),
    }
    # The cap raised for the run, and pages as large (one request per closure).
    os.environ["FOREBEAR_LINEAGE_MAX_NODES"] = os.environ["FOREBEAR_LINEAGE_MAX_PAGE"] = str(PAGE)
    rows = []
    with (
        forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _),
        httpx.Client(base_url=base, timeout=600, headers=auth_headers()) as http,
    ):
        api = Client(base, keep_alive=True, headers=auth_headers())
        for label, graph in graphs.items():
            asyncio.run(load(settings, graph))
            peer = mlmd(graph)
            for name, (which, direction, depth) in QUERIES.items():
                start = graph[which]
                walks: list[float] = []
                kept: list[float] = []
                api_nodes: set[str] = set()
                api_closure(api, start, direction, depth)  # the index catches up with the load
                for _ in range(REPEAT):
                    touch(http, start)
                    seconds, api_nodes = timed_closure(api, start, direction, depth)
                    walks.append(seconds)
                    gql(http, ELSEWHERE, name=uuid.uuid4().hex[:12])
                    kept.append(timed_closure(api, start, direction, depth)[0])
                layer, layer_nodes = asyncio.run(graph_closure(settings, start, direction, depth))
                theirs = set(peer[name]["nodes"])
                rows.append(
                    (
                        label,
                        name,
                        len(api_nodes),
                        statistics.median(walks),
                        statistics.median(kept),
                        layer,
                        peer[name]["seconds"],
                        api_nodes == layer_nodes,
                        "same"
                        if theirs == api_nodes
                        else f"MLMD {len(theirs)} of {len(api_nodes)}",
                    )
                )
    small = graphs["diamond L=20 W=50"]
    asyncio.run(load(settings, small))
    enumerated = asyncio.run(path_enumeration(settings, small["last"], 60.0))
    bfs, _ = asyncio.run(graph_closure(settings, small["last"], UPSTREAM, ENUMERATED_HOPS))
    print(
        f"\n== diamond L=20 W=50, upstream within {ENUMERATED_HOPS} hops: variable-length "
        f"pattern (enumerates paths) "
        + (f"{enumerated * 1000:.0f} ms" if enumerated is not None else "gave up after 60 s")
        + f"; node-unique walk, one query per hop: {bfs * 1000:.1f} ms"
    )
    print(f"\n== lineage closures, medians of {REPEAT} in ms (API pages through every node)")
    print(
        "walk: the API after a change touching the closure (it walks again); kept: the API "
        "after a change elsewhere (it serves the answer it kept); graph: one Cypher query per "
        "hop, no index"
    )
    print(
        f"{'graph':22} {'query':18} {'nodes':>7} {'walk':>8} {'kept':>8} {'graph':>8} "
        f"{'MLMD':>8} {'MLMD/walk':>9} {'MLMD/kept':>9} {'walk/graph':>10}  answers"
    )
    for label, name, n, walk, served, layer, theirs, agree, vs in rows:
        print(
            f"{label:22} {name:18} {n:7d} {walk * 1000:8.1f} {served * 1000:8.1f} "
            f"{layer * 1000:8.1f} {theirs * 1000:8.1f} {theirs / walk:9.2f} "
            f"{theirs / served:9.2f} {walk / layer:10.2f}  "
            f"{'api=graph' if agree else 'API DIFFERS FROM GRAPH'}, {vs}"
        )


if __name__ == "__main__":
    main()
