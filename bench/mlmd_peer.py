"""The ML Metadata side of bench/lineage.py; runs in MLMD's own virtualenv (protobuf < 5).

Reads a graph spec (JSON: versions, runs with what they consume and produce, queries) from
argv[1], builds it in a SQLite-backed MLMD store, times get_lineage_subgraph for each query
and prints JSON: per query the median seconds and the node set it returned.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb


def build(spec: dict[str, Any], store: metadata_store.MetadataStore) -> dict[str, int]:
    artifact_type = store.put_artifact_type(pb.ArtifactType(name="Version"))
    execution_type = store.put_execution_type(pb.ExecutionType(name="Run"))
    names = spec["versions"]
    ids = store.put_artifacts([pb.Artifact(type_id=artifact_type, name=n, uri=n) for n in names])
    by_name = dict(zip(names, ids, strict=True))
    runs = spec["runs"]
    run_ids = store.put_executions(
        [pb.Execution(type_id=execution_type, name=r["id"]) for r in runs]
    )
    events = []
    for run, run_id in zip(runs, run_ids, strict=True):
        by_name[run["id"]] = run_id
        events += [
            pb.Event(artifact_id=by_name[v], execution_id=run_id, type=pb.Event.INPUT)
            for v in run["consumes"]
        ]
        events += [
            pb.Event(artifact_id=by_name[v], execution_id=run_id, type=pb.Event.OUTPUT)
            for v in run["produces"]
        ]
    for i in range(0, len(events), 5000):
        store.put_events(events[i : i + 5000])
    return by_name


def query(
    store: metadata_store.MetadataStore, artifact_id: int, direction: str, hops: int
) -> set[str]:
    options = pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id = {artifact_id}"
        ),
        max_num_hops=hops,
        direction=getattr(pb.LineageSubgraphQueryOptions, direction),
    )
    graph = store.get_lineage_subgraph(options)
    return {a.name for a in graph.artifacts} | {e.name for e in graph.executions}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = f"{tmp}/mlmd.db"
        config.sqlite.connection_mode = 3
        store = metadata_store.MetadataStore(config)
        by_name = build(spec, store)
        results = {}
        for name, q in spec["queries"].items():
            hops = min(q["depth"] or 100, 100)  # MLMD refuses more than 100 hops
            samples, nodes = [], set()
            for _ in range(q["repeat"]):
                gc.disable()  # as timeit does, and as bench.common.timed does for Forebear
                started = time.perf_counter()
                nodes = query(store, by_name[q["start"]], q["direction"], hops)
                samples.append(time.perf_counter() - started)
                gc.enable()
                gc.collect()
            results[name] = {"seconds": statistics.median(samples), "nodes": sorted(nodes)}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
