"""Imports: how fast `forebear import mlflow` copies an MLflow Model Registry.

Data: an `mlflow server` (from `.venv-mlflow`, SQLite store, artifacts served) holding MODELS
registered models of VERSIONS versions each, logged with the real MLflow client: each version a
pyfunc model (its MLmodel, python_env, requirements and pickled model: a few small files) from
a run with one param, one metric and one dataset input. One `forebear import mlflow` copies
them all (files through MLflow's artifact service, runs, datasets, links, aliases); a second
finds nothing new. Prints versions imported a second, and the second run's time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import ROOT, auth_headers, forebear_server, mlflow_server

MODELS = int(os.environ.get("IMPORT_BENCH_MODELS", "2"))
VERSIONS = int(os.environ.get("IMPORT_BENCH_VERSIONS", "10"))
VENV = Path(os.environ.get("MLFLOW_VENV", ROOT / ".venv-mlflow"))

POPULATE = """
import sys
import mlflow
import mlflow.pyfunc
import pandas as pd

mlflow.set_tracking_uri(sys.argv[1])
models, versions = int(sys.argv[2]), int(sys.argv[3])


class Echo(mlflow.pyfunc.PythonModel):
    def __init__(self, weight):
        self.weight = weight

    def predict(self, context, model_input):
        return model_input * self.weight


for m in range(models):
    for v in range(versions):
        with mlflow.start_run(run_name=f"train-{m}-{v}"):
            mlflow.log_param("lr", 0.01 * (v + 1))
            mlflow.log_metric("acc", 0.5 + v / 100)
            frame = pd.DataFrame({"x": [v]})
            source = f"s3://lake/{m}-{v}.parquet"
            data = mlflow.data.from_pandas(frame, source=source, name="clicks")
            mlflow.log_input(data, context="training")
            mlflow.pyfunc.log_model(
                name="model", python_model=Echo(v), registered_model_name=f"model-{m}",
                pip_requirements=[],
            )
    mlflow.MlflowClient().set_registered_model_alias(f"model-{m}", "champion", str(versions))
"""


def main() -> None:
    mlflow = VENV / "bin" / "mlflow"
    if not mlflow.exists():
        raise SystemExit(f"{mlflow} not found: `make bench` installs MLflow into .venv-mlflow")
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-import-bench-"))
    destination = ("--artifacts-destination", str(workdir / "artifacts"))
    with (
        mlflow_server(mlflow, workdir, *destination) as url,
        forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _),
    ):
        subprocess.run(
            [str(VENV / "bin" / "python"), "-c", POPULATE, url, str(MODELS), str(VERSIONS)],
            check=True,
            capture_output=True,
        )
        env = {
            **os.environ,
            "FOREBEAR_URL": base,
            "FOREBEAR_API_KEY": auth_headers()["Authorization"].split(" ", 1)[1],
            "FOREBEAR_SILENT": "1",
            "FOREBEAR_CACHE_DIR": str(workdir / "cache"),
        }
        forebear = str(Path(sys.executable).parent / "forebear")
        command = [forebear, "import", "mlflow", "--tracking-uri", url, "--json"]
        started = time.perf_counter()
        first = json.loads(
            subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        )
        took = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        again = time.perf_counter() - started
    versions = MODELS * VERSIONS
    print(
        f"\n== MLflow import: {MODELS} models x {VERSIONS} versions (with runs, datasets, "
        "files), one forebear import mlflow"
    )
    print(
        f"first import: {first['imported']} changes in {took:.1f} s: "
        f"{versions / took:.1f} versions/s"
    )
    print(f"second import (nothing new): {again:.1f} s")


if __name__ == "__main__":
    main()
