"""`forebear import mlflow` against a real MLflow server (`.venv-mlflow`, installed by `make
test`) populated with the real MLflow client: every alias resolves to the same files in
Forebear as in MLflow, runs and dataset inputs come along, and importing again brings only
what is new."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import mlflow_server
from tests.sdk.conftest import Sdk

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MLFLOW_VENV", ROOT / ".venv-mlflow"))

POPULATE = """
import sys
import mlflow
import mlflow.pyfunc
import pandas as pd

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("churn")


class Echo(mlflow.pyfunc.PythonModel):
    def __init__(self, weight):
        self.weight = weight

    def predict(self, context, model_input):
        return model_input * self.weight


def train(i, model):
    with mlflow.start_run(run_name=f"train-{i}"):
        mlflow.log_param("lr", 0.1 * (i + 1))
        mlflow.log_metric("acc", 0.8 + 0.05 * i)
        mlflow.set_tag("team", "fraud")
        frame = pd.DataFrame({"x": [1, 2, 3]})
        data = mlflow.data.from_pandas(frame, source="s3://lake/clicks.parquet", name="clicks")
        mlflow.log_input(data, context="training")
        mlflow.pyfunc.log_model(
            name="model", python_model=Echo(i), registered_model_name=model, pip_requirements=[]
        )

for step in sys.argv[2:]:
    kind, *args = step.split(":")
    if kind == "train":
        train(int(args[0]), args[1])
    elif kind == "alias":
        mlflow.MlflowClient().set_registered_model_alias(args[0], args[1], args[2])
    elif kind == "describe":
        mlflow.MlflowClient().update_model_version(args[0], args[1], description=args[2])
"""

FILES = """
import hashlib, os, sys, tempfile
import mlflow

mlflow.set_tracking_uri(sys.argv[1])
root = mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[2], dst_path=tempfile.mkdtemp())
for folder, _, names in os.walk(root):
    for name in names:
        path = os.path.join(folder, name)
        print(os.path.relpath(path, root), hashlib.sha256(open(path, "rb").read()).hexdigest())
"""

ALIAS = """query($ref: String!) { linkedVersion(ref: $ref) { version { id description metadata
  files { nodes { path sha256 } } producedBy { name config summary } } } }"""


@pytest.fixture
def mlflow(tmp_path: Path) -> Iterator[str]:
    if not (VENV / "bin" / "mlflow").exists():
        pytest.fail(f"{VENV} has no MLflow: `make test` installs it (the Makefile's MLflow step)")
    destination = ("--artifacts-destination", str(tmp_path / "artifacts"))
    with mlflow_server(VENV / "bin" / "mlflow", tmp_path, *destination) as url:
        yield url


def mlflow_run(url: str, script: str, *args: str) -> str:
    done = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", script, url, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MLFLOW_TRACKING_URI": url},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def mlflow_files(url: str, uri: str) -> dict[str, str]:
    lines = mlflow_run(url, FILES, uri).splitlines()
    found = dict(line.rsplit(" ", 1) for line in lines)
    # MLflow's client writes this beside a registered model it downloads (the name and version
    # it came from); it is not one of the version's stored files.
    found.pop("registered_model_meta", None)
    return found


def forebear_files(sdk: Sdk, ref: str) -> dict[str, str]:
    found = sdk.gql(ALIAS, ref=ref)
    nodes = found["linkedVersion"]["version"]["files"]["nodes"]
    return {n["path"]: n["sha256"] for n in nodes}


def test_an_mlflow_registry_imports_with_its_files_runs_and_aliases(sdk: Sdk, mlflow: str) -> None:
    mlflow_run(
        mlflow,
        POPULATE,
        "train:0:churn",
        "train:1:churn",
        "train:2:segment",
        "alias:churn:champion:1",
        "alias:churn:challenger:2",
        "describe:churn:1:the first one",
    )
    done = json.loads(sdk.cli("import", "mlflow", "--tracking-uri", mlflow, "--json").stdout)
    assert (done["imported"], done["failed"]) == (5, 0)  # 3 versions, 2 aliases

    for alias, version in (("champion", "1"), ("challenger", "2")):
        ours = forebear_files(sdk, f"model/churn:{alias}")
        theirs = mlflow_files(mlflow, f"models:/churn@{alias}")
        assert ours == theirs, alias
        assert ours  # the model's files, not nothing
        read = sdk.gql(ALIAS, ref=f"model/churn:{alias}")["linkedVersion"]["version"]
        assert read["metadata"]["mlflow"]["version"] == version
        run = read["producedBy"]
        assert run["name"] == f"train-{int(version) - 1}"
        assert float(run["config"]["lr"]) == pytest.approx(0.1 * int(version))
        assert run["summary"]["acc"] == pytest.approx(0.8 + 0.05 * (int(version) - 1))
        assert run["config"]["mlflow"]["tags"]["team"] == "fraud"
    first = sdk.gql(ALIAS, ref="model/churn:champion")["linkedVersion"]["version"]
    assert first["description"] == "the first one"
    # The dataset the run logged as its input is upstream of the model.
    upstream = sdk.gql(
        """query($of: ID!) { lineage(of: $of, direction: UPSTREAM) { nodes { name } } }""",
        of=first["id"],
    )["lineage"]["nodes"]
    assert any(n["name"].startswith("mlflow/clicks:") for n in upstream)
    # Each link keeps MLflow's time.
    history = sdk.gql(
        """{ collection(registry: "model", name: "churn") { history(first: 20) {
        nodes { type after } } } }"""
    )["collection"]["history"]["nodes"]
    assert {n["type"] for n in history if n["after"].get("imported")} >= {
        "link.created",
        "alias.set",
    }

    # Again: nothing new. Then MLflow moves on: a version and an alias move come, alone.
    again = json.loads(sdk.cli("import", "mlflow", "--tracking-uri", mlflow, "--json").stdout)
    assert again["imported"] == 0
    mlflow_run(mlflow, POPULATE, "train:3:churn", "alias:churn:champion:3")
    later = json.loads(sdk.cli("import", "mlflow", "--tracking-uri", mlflow, "--json").stdout)
    assert later["failed"] == 0
    assert later["imported"] == 2
    assert forebear_files(sdk, "model/churn:champion") == mlflow_files(
        mlflow, "models:/churn@champion"
    )


def test_an_mlflow_server_out_of_reach_is_named(sdk: Sdk) -> None:
    gone = sdk.cli("import", "mlflow", "--tracking-uri", "http://127.0.0.1:9", check=False)
    assert gone.returncode == 1
    assert "cannot reach MLflow at http://127.0.0.1:9" in gone.stderr
