"""Benchmark: Forebear's registry against the MLflow Model Registry, on the same machine.

Data: one registered model with N = 1,000 versions, each created and then given the alias
`champion` (moved every time); then, on that model: resolve a version by alias, get a version,
list versions (a page of 100 as typed GraphQL objects, and all of them at once in the compact
form), and read the model's history (MLflow keeps none).
MLflow: `mlflow server` (its default workers) on a SQLite store, from its own virtualenv
(MLFLOW, made by `make bench`). Both are driven over HTTP by the same stdlib client, on one
kept-alive connection and with a fresh connection per call. Medians in ms; the speed-up is
MLflow's median over Forebear's (target: >= 3 on every operation).
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.common import (
    Client,
    auth_headers,
    forebear_server,
    gql,
    median_ms,
    mlflow_server,
    timed,
)

N = 1_000
SAMPLES = 100
MLFLOW = Path(os.environ.get("MLFLOW_VENV", ".venv-mlflow")) / "bin" / "mlflow"


class Forebear:
    name = "Forebear"

    def __init__(self, client: Client) -> None:
        self.c = client

    def register(self, version_id: str) -> None:
        # One call, as W&B's link_model(aliases=...): link and move the alias in one transaction.
        self.c.gql(
            """mutation($v: String!) { linkVersion(input: {registry: "model",
            collection: "bench", version: $v, aliases: ["champion"]}) { link { id index } } }""",
            v=version_id,
        )

    def by_alias(self) -> None:
        self.c.gql('{ linkedVersion(ref: "model/bench:champion") { id index } }')

    def get(self, index: int) -> None:
        self.c.gql(
            "query($r: String!) { linkedVersion(ref: $r) { id index semver version { id name } } }",
            r=f"model/bench:v{index}",
        )

    def page(self) -> None:
        self.c.gql(LINKS)

    def all(self) -> None:
        # Long pages come compact: one JSON value of parallel lists (a typed field costs the
        # server per item), in one call as MLflow's search does.
        links = self.c.gql(ALL_LINKS, first=N)["collection"]["links"]
        assert not links["pageInfo"]["hasNextPage"]

    def history(self) -> None:
        self.c.gql(
            '{ collection(registry: "model", name: "bench") { history(first: 100) '
            "{ nodes { type actor time after } } } }"
        )


LINKS = """{ collection(registry: "model", name: "bench") {
  links(first: 100) { nodes { id index aliases { name } versionId }
                      pageInfo { hasNextPage endCursor } } } }"""
ALL_LINKS = """query($first: Int!) { collection(registry: "model", name: "bench") {
  links(first: $first) { compact pageInfo { hasNextPage endCursor } } } }"""


class MLflow:
    name = "MLflow"

    def __init__(self, client: Client) -> None:
        self.c = client

    def register(self, version_id: str) -> None:
        created = self.c.call(
            "POST",
            "/api/2.0/mlflow/model-versions/create",
            {"name": "bench", "source": f"s3://bench/{version_id}"},
        )
        self.c.call(
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": "bench", "alias": "champion", "version": created["model_version"]["version"]},
        )

    def by_alias(self) -> None:
        self.c.call("GET", "/api/2.0/mlflow/registered-models/alias?name=bench&alias=champion")

    def get(self, index: int) -> None:
        self.c.call("GET", f"/api/2.0/mlflow/model-versions/get?name=bench&version={index + 1}")

    def _search(self, limit: int) -> None:
        query = quote("name='bench'")
        self.c.call(
            "GET", f"/api/2.0/mlflow/model-versions/search?filter={query}&max_results={limit}"
        )

    def page(self) -> None:
        self._search(100)

    def all(self) -> None:
        self._search(N)

    def history(self) -> None:
        raise NotImplementedError


def make_versions(base: str) -> list[str]:
    """N committed artifact versions to link (set-up, not measured)."""
    ids = []
    with httpx.Client(base_url=base, timeout=60, headers=auth_headers()) as http:
        for i in range(N):
            data = f"model {i}".encode()
            sha = hashlib.sha256(data).hexdigest()
            created = gql(
                http,
                """mutation($input: CreateArtifactVersionInput!) {
                createArtifactVersion(input: $input) { version { id } missingBlobs } }""",
                input={
                    "project": "bench",
                    "artifact": "clf",
                    "type": "model",
                    "files": [{"path": "m.bin", "size": len(data), "sha256": sha}],
                },
            )
            http.put(f"/blobs/{sha}", content=data).raise_for_status()
            version = created["createArtifactVersion"]["version"]["id"]
            gql(
                http,
                "mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) "
                "{ version { id } } }",
                id=version,
            )
            ids.append(version)
        gql(
            http,
            'mutation { createCollection(input: {registry: "model", name: "bench"}) '
            "{ collection { id } } }",
        )
    return ids


def run_ops(
    system: Forebear | MLflow, ids: list[str], rows: dict[str, dict[str, float]], mode: str
) -> None:
    rng = random.Random(7)
    half = ids[: N // 2] if mode == "keep-alive" else ids[N // 2 :]
    ops: list[tuple[str, Callable[[], None], int]] = [
        ("get by alias", system.by_alias, SAMPLES),
        ("get a version", lambda: system.get(rng.randrange(N // 2)), SAMPLES),
        ("search, page of 100", system.page, 30),
        ("search, all", system.all, 10),
    ]
    register = [timed(functools.partial(system.register, v)) for v in half]
    rows.setdefault(f"create + alias ({mode})", {})[system.name] = median_ms(register)
    for label, op, samples in ops:
        rows.setdefault(f"{label} ({mode})", {})[system.name] = median_ms(
            [timed(op) for _ in range(samples)]
        )
    if isinstance(system, Forebear):
        rows.setdefault(f"history of the model ({mode})", {})[system.name] = median_ms(
            [timed(system.history) for _ in range(30)]
        )


def main() -> None:
    if not MLFLOW.exists():
        raise SystemExit(f"{MLFLOW} not found: `make bench` installs MLflow into .venv-mlflow")
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    rows: dict[str, dict[str, float]] = {}
    mlflow = mlflow_server(MLFLOW, workdir, "--default-artifact-root", str(workdir / "artifacts"))
    try:
        with mlflow as mlflow_url, forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _):
            Client(mlflow_url, keep_alive=True).call(
                "POST", "/api/2.0/mlflow/registered-models/create", {"name": "bench"}
            )
            ids = make_versions(base)
            for mode in ("keep-alive", "fresh connection"):
                keep = mode == "keep-alive"
                forebear = Client(base, keep_alive=keep, headers=auth_headers())
                run_ops(Forebear(forebear), ids, rows, mode)
                run_ops(MLflow(Client(mlflow_url, keep_alive=keep)), ids, rows, mode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n== model registry: one model, {N} versions (half registered per mode); "
        f"medians in ms; speed-up = MLflow / Forebear"
    )
    print(f"{'operation':42} {'Forebear':>9} {'MLflow':>9} {'speed-up':>9}")
    for label, found in rows.items():
        ours, theirs = found["Forebear"], found.get("MLflow")
        if theirs is None:
            print(f"{label:42} {ours:9.1f} {'none':>9} {'MLflow keeps no history':>24}")
        else:
            print(f"{label:42} {ours:9.1f} {theirs:9.1f} {theirs / ours:8.1f}x")


if __name__ == "__main__":
    main()
