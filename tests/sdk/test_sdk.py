"""The SDK as training code uses it: the W&B and DVCLive quick starts as written, artifacts
built, logged, used, downloaded and verified, runs that fail or crash, and the errors a user
sees."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import importlib
import importlib.util
import json
import math
import os
import pty
import re
import select
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import forebear
import forebear._hashing
import forebear._run
import httpx
import numpy
import pytest

from tests.helpers import bearer, counted
from tests.proxy import TcpProxy
from tests.receiver import Receiver
from tests.sdk.conftest import Sdk

QUICKSTART = """
import forebear
run = forebear.init(project="models_quickstart", config={"lr": 0.01})
run.log({"acc": 0.91})                                    # batched, sent in the background
run.link_model(path="./my_model.h5", registered_model_name="MNIST")
run.log_artifact(path="./my_model.h5", name="gemma-finetuned", type="model")
run.link_artifact(artifact="gemma-finetuned", target_path="model/quickstart-collection",
                  aliases=["candidate"])
run.finish()
"""

RUNS = """query { runs(project: "models_quickstart") { nodes { id status config summary
  metrics(keys: ["acc"]) { key points { step value } } } } }"""


def test_the_wandb_quick_start_runs_as_written(sdk: Sdk) -> None:
    (sdk.home / "my_model.h5").write_bytes(b"weights of a small model")
    sdk.python(QUICKSTART)
    [run] = sdk.gql(RUNS)["runs"]["nodes"]
    assert run["status"] == "FINISHED"
    assert run["config"] == {"lr": 0.01}
    assert run["summary"] == {"acc": 0.91}
    assert run["metrics"] == [{"key": "acc", "points": [{"step": 0, "value": 0.91}]}]
    mnist = sdk.gql('{ linkedVersion(ref: "model/MNIST:latest") { name version { type } } }')
    assert mnist["linkedVersion"] == {"name": "model/MNIST:v0", "version": {"type": "model"}}
    candidate = sdk.gql(
        """{ linkedVersion(ref: "model/quickstart-collection:candidate") { name
        version { name producedBy { id } } } }"""
    )["linkedVersion"]
    assert candidate["name"] == "model/quickstart-collection:v0"
    assert candidate["version"]["name"] == "models_quickstart/gemma-finetuned:v0"
    assert candidate["version"]["producedBy"]["id"] == run["id"]


# W&B's artifacts walkthrough and its registry page's `init`, with only the import changed.
WALKTHROUGH = """
import forebear
forebear.login()
run = forebear.init(project="artifacts-example", job_type="upload-dataset")
artifact = forebear.Artifact(name="bicycle-dataset", type="dataset")
artifact.add_file(local_path="dataset.h5")
run.log_artifact(artifact)
artifact.wait()
print(artifact.version)
run.finish()
with forebear.init(entity="team", project="artifacts-example", job_type="train",
                   group="bikes", notes="first try") as run:
    artifact = run.use_artifact("bicycle-dataset:latest")
    artifact_dir = artifact.download()
    print(run.job_type, run.group, artifact_dir)
    model = run.log_model(path="dataset.h5", name="bike-model", aliases=["latest", "best"])
    model.link(target_path="wandb-registry-model/bikes", aliases=["latest", "staging"])
with forebear.init(project="artifacts-example", job_type="evaluate") as run:
    print(run.use_model(name="bike-model:best"))
print(forebear.Api().artifact("artifacts-example/bicycle-dataset:v0").file(root="one"))
"""


def test_the_wandb_artifacts_walkthrough_runs_as_written(sdk: Sdk, tmp_path: Path) -> None:
    (sdk.home / "dataset.h5").write_bytes(b"bicycles")
    version, *shown = sdk.python(WALKTHROUGH).stdout.split()
    assert version == "v0"  # logged when log_artifact returns: wait() has nothing to wait for
    assert shown[:2] == ["train", "bikes"]
    assert (sdk.home / shown[2] / "dataset.h5").read_bytes() == b"bicycles"
    assert (sdk.home / shown[3]).read_bytes() == b"bicycles"  # the model's one file
    assert shown[3].endswith("dataset.h5")
    assert shown[4] == os.path.join("one", "dataset.h5")  # a one-file version's file
    staged = sdk.gql('{ linkedVersion(ref: "model/bikes:staging") { version { name } } }')
    assert staged["linkedVersion"]["version"]["name"] == "artifacts-example/bike-model:v0"
    [registered] = forebear.Api().artifact("artifacts-example/bike-model:v0").linked_artifacts
    assert (registered.name, registered.aliases) == ("model/bikes:v0", ["latest", "staging"])
    # W&B's references: entity/project/name (the entity unused), wandb-registry-<registry>/
    api = forebear.Api()
    by_entity = api.artifact("team/artifacts-example/bicycle-dataset:v0", type="dataset")
    assert by_entity.qualified_name == "artifacts-example/bicycle-dataset:v0"
    assert api.artifact(name="wandb-registry-model/bikes:staging").name == "bike-model"
    linked = api.link("team/artifacts-example/bicycle-dataset:v0", "dataset/bikes")
    assert (linked.name, linked.linked_by) == ("dataset/bikes:v0", "admin")  # who, and when
    assert linked.linked_at is not None
    moved = api.set_alias("dataset/bikes:v0", "prod")  # any link a change answers with
    assert (moved.linked_by, moved.linked_at) == ("admin", linked.linked_at)
    # lineage names a run's job type where it names a version's artifact type
    up = api.lineage("artifacts-example/bike-model:v0", direction="upstream")
    assert sorted((n.kind, n.type) for n in up.nodes) == [
        ("RUN", "train"),
        ("RUN", "upload-dataset"),
        ("VERSION", "dataset"),
        ("VERSION", "model"),
    ]
    with pytest.raises(forebear.ForebearError, match="bicycle-dataset:v0 is a dataset, not a mo"):
        api.artifact("artifacts-example/bicycle-dataset:v0", type="model")
    runs = sdk.gql(
        """{ runs(project: "artifacts-example") { nodes { jobType group notes
        inputs { name } outputs { name } } } }"""
    )["runs"]["nodes"]
    assert sorted(runs, key=lambda r: r["jobType"]) == [
        {"jobType": "evaluate", "group": None, "notes": None,
         "inputs": [{"name": "artifacts-example/bike-model:v0"}], "outputs": []},
        {"jobType": "train", "group": "bikes", "notes": "first try",
         "inputs": [{"name": "artifacts-example/bicycle-dataset:v0"}],
         "outputs": [{"name": "artifacts-example/bike-model:v0"}]},
        {"jobType": "upload-dataset", "group": None, "notes": None,
         "inputs": [], "outputs": [{"name": "artifacts-example/bicycle-dataset:v0"}]},
    ]  # fmt: skip
    # login() checked the key the environment gives, and stored nothing
    assert not (tmp_path / "config" / "forebear" / "credentials.json").exists()
    unkeyed = sdk.python("import forebear\nforebear.login()", check=False, FOREBEAR_API_KEY="")
    assert "pass forebear.login(key=...)" in unkeyed.stderr, unkeyed.stderr
    too_long = sdk.python(
        "import forebear\nforebear.init(project='p', job_type='x' * 200)", check=False
    )
    assert "jobType" in too_long.stderr.splitlines()[-1], too_long.stderr
    # an alias the server would refuse is refused before anything is logged or linked
    with pytest.raises(forebear.BadInput, match="alias 'Best': an alias starts with a lower"):
        api.log_artifact(forebear.Artifact("other", "model"), project="artifacts-example",
                         aliases=("Best",))  # fmt: skip
    with pytest.raises(forebear.BadInput, match=r"alias 'v3'.* is not v<N>"):
        api.link("artifacts-example/bicycle-dataset:v0", "dataset/other", aliases=("v3",))
    assert not api.artifact_exists("artifacts-example/other")
    assert [c.name for c in api.collections("dataset")] == ["bikes"]


# W&B's older quick start: the current run's calls at module level, commit=False.
CLASSIC = """
import forebear
assert forebear.run is None
try:
    forebear.log({"acc": 0.1})
except forebear.ForebearError as exc:
    print(exc)
forebear.init(project="classic", config={"learning_rate": 0.01, "epochs": 3})
config = forebear.config  # read and set as attributes too, as W&B sweeps' scripts do
config.batch_size = 32 * int(config.learning_rate * 100)
config.setdefaults({"epochs": 10, "optimizer": "adam"})
try:
    config.momentum
except AttributeError as exc:
    print(exc)
for epoch in range(forebear.config["epochs"]):
    forebear.log({"loss": 1.0 / (epoch + 1)}, commit=False)  # the same step as the next
    forebear.log({"acc": epoch / 4})
forebear.summary["best_acc"] = 0.5
print(forebear.run.project)
forebear.finish()
"""


def test_the_older_wandb_quick_start_with_module_level_calls(sdk: Sdk) -> None:
    said = sdk.python(CLASSIC).stdout.splitlines()
    assert said == [
        "forebear.log() needs a run: call forebear.init() first",
        "run config has no key 'momentum'",
        "classic",
    ]
    [run] = sdk.gql(
        """{ runs(project: "classic") { nodes { status summary config
        metrics(keys: ["loss", "acc"]) { key points { step value } } } } }"""
    )["runs"]["nodes"]
    assert run["status"] == "FINISHED"
    assert run["config"] == {
        "learning_rate": 0.01,
        "epochs": 3,
        "batch_size": 32,
        "optimizer": "adam",
    }
    series = {m["key"]: [(p["step"], p["value"]) for p in m["points"]] for m in run["metrics"]}
    assert series == {
        "loss": [(0, 1.0), (1, 0.5), (2, 1 / 3)],
        "acc": [(0, 0.0), (1, 0.25), (2, 0.5)],
    }
    assert run["summary"]["best_acc"] == 0.5


def test_the_dvclive_style_call_and_a_context_manager(sdk: Sdk) -> None:
    (sdk.home / "model.pkl").write_bytes(b"a pickled model")
    with forebear.init(project="dvc") as run:
        logged = run.log_artifact(
            "model.pkl",
            type="model",
            name="clf",
            desc="a classifier",
            labels=["best", "cv"],
            meta={"folds": numpy.int64(5), "auc": numpy.float32(0.5)},  # NumPy's, as JSON's
        )
        run.log({"loss": math.nan, "grad": math.inf})
        run.log({"val": {"acc": 0.75}})
        run.log({"val": {"acc": 0.5}}, step=0)  # at an earlier step: the summary keeps 0.75
        # text, as W&B takes it: its latest in the summary (the history is of numbers)
        run.log({"phase": "train", "mixed": "warming up"})
        run.log({"phase": "eval", "mixed": 0.5})  # a number after text: the number
        run.log({"phase": "old"}, step=0)
        assert (run.summary["phase"], run.summary["mixed"]) == ("eval", 0.5)
        # as W&B's, the summary holds each metric's latest at once (the server's is the same)
        assert math.isnan(run.summary["loss"])
        assert (run.summary["grad"], run.summary["val.acc"]) == (math.inf, 0.75)
        run.config.update({"epochs": 3})
        run.summary["best_loss"] = 0.1
        run.summary["worst_loss"] = math.inf  # sent as "Infinity", kept here as inf
        assert run.summary["worst_loss"] == math.inf
        # as W&B's, a run's name, tags and notes save as they are set
        run.name = "fold-3"
        run.tags += ("best", "cv")
        run.notes = "the one to ship"
    assert run.tags == ("best", "cv")
    saved = sdk.gql("query($id: ID!) { run(id: $id) { name tags notes summary } }", id=run.id)[
        "run"
    ]
    assert saved.pop("summary")["val.acc"] == run.summary["val.acc"]
    assert saved == {"name": "fold-3", "tags": ["best", "cv"], "notes": "the one to ship"}
    assert logged.qualified_name == "dvc/clf:v0"
    assert set(logged.aliases) == {"best", "cv", "latest"}
    assert forebear.Api().artifact("dvc/clf:v0").metadata == {"folds": 5, "auc": 0.5}
    # W&B's run.path, run.url and artifact.url: where a script and a person find them
    assert run.path == f"dvc/{run.id}"
    assert forebear.Api().run(run.path).path == ["dvc", run.id]
    assert run.url == f"{sdk.base}/projects/dvc?run={run.id}"
    assert run.project_url == f"{sdk.base}/projects/dvc"
    assert logged.url == f"{sdk.base}/versions/{logged.id}"
    page = httpx.get(run.url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # on a terminal, init says where to look (as wandb.init does); FOREBEAR_SILENT=1 does not
    leader, follower = pty.openpty()
    said = {}
    for silent in ("0", "1"):
        subprocess.run(
            [sys.executable, "-c", "import forebear; forebear.init(project='dvc').finish()"],
            stderr=follower,
            env={**sdk.env, "FOREBEAR_SILENT": silent},
            cwd=sdk.home,
            timeout=120,
            check=True,
        )
        said[silent] = (
            os.read(leader, 65536).decode() if select.select([leader], [], [], 1)[0] else ""
        )
    os.close(follower)
    os.close(leader)
    assert re.search(
        rf"forebear: view run [a-z]+(-[a-z]+)+-[0-9]+ at {sdk.base}/projects/dvc\?run=run_\w+",
        said["0"],
    )
    assert said["1"] == ""
    found = sdk.gql(
        """query($id: ID!) { run(id: $id) { status config summary
        metrics(keys: ["loss", "grad"]) { key points { value } } } }""",
        id=run.id,
    )["run"]
    assert found["status"] == "FINISHED"
    assert found["config"] == {"epochs": 3}
    assert found["summary"] == {
        "best_loss": 0.1,
        "grad": "Infinity",
        "loss": "NaN",
        "mixed": 0.5,
        "phase": "eval",
        "val.acc": 0.75,
        "worst_loss": "Infinity",
    }
    values = {s["key"]: s["points"][0]["value"] for s in found["metrics"]}
    assert values == {"loss": "NaN", "grad": "Infinity"}
    version = sdk.gql('{ artifactVersion(ref: "dvc/clf:best") { description } }')
    assert version["artifactVersion"]["description"] == "a classifier"


# DVCLive's README example (github.com/iterative/dvclive), the import alone changed.
DVCLIVE_README = """
import time
import random

from forebear import Live

params = {"learning_rate": 0.002, "optimizer": "Adam", "epochs": 20}

with Live() as live:

    # log a parameters
    for param in params:
        live.log_param(param, params[param])

    # simulate training
    offset = random.uniform(0.2, 0.1)
    for epoch in range(1, params["epochs"]):
        fuzz = random.uniform(0.01, 0.1)
        accuracy = 1 - (2 ** - epoch) - fuzz - offset
        loss = (2 ** - epoch) + fuzz + offset

        # log metrics to studio
        live.log_metric("accuracy", accuracy)
        live.log_metric("loss", loss)
        live.next_step()
        time.sleep(0.2)
"""


def test_the_dvclive_readme_example_runs_with_only_the_import_changed(
    sdk: Sdk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A DVC project is a git repository: the run goes to the project named after it.
    (sdk.home / "src").mkdir()
    sdk.run(["git", "init", "-q"], True, {})
    sdk.python(DVCLIVE_README)
    [run] = sdk.gql(
        """{ runs(project: "work") { nodes { status config summary
        metrics(keys: ["accuracy", "loss"]) { key points { step value } } } } }"""
    )["runs"]["nodes"]
    assert run["status"] == "FINISHED"
    assert run["config"] == {"learning_rate": 0.002, "optimizer": "Adam", "epochs": 20}
    series = {m["key"]: m["points"] for m in run["metrics"]}
    assert [p["step"] for p in series["accuracy"]] == list(range(19))
    assert [p["step"] for p in series["loss"]] == list(range(19))
    assert run["summary"]["accuracy"] == series["accuracy"][-1]["value"]
    # from a folder inside the repository, the project is still the repository's
    monkeypatch.chdir(sdk.home / "src")
    assert forebear._run.default_project() == "work"


def test_dvclive_artifacts_steps_and_errors(sdk: Sdk) -> None:
    (sdk.home / "model.pt").write_bytes(b"weights")
    (sdk.home / "big.bin").write_bytes(b"too big to upload")
    with forebear.Live(exp_name="cv-fold-1", exp_message="five folds", project="dvc") as live:
        logged = live.log_artifact(
            "model.pt", type="model", desc="a classifier", labels=["best"], meta={"auc": 0.9}
        )
        kept = live.log_artifact("big.bin", type="dataset", cache=False)
        live.step = 10
        live.log_metric("auc", numpy.float32(0.5))
        live.log_metric("loss", numpy.float64("nan"))
        live.log_metric("lr", 0.01, plot=False)
        live.log_metric("phase", "warm-up")  # text: in the summary and metrics.json only
        live.next_step()
        live.log_metric("auc", numpy.float32(0.75))
        live.log_params({"folds": 5, "model": {"depth": 3}})
        live.end()  # inside the block, leaving it ends the run: the next calls still log
        with pytest.raises(
            forebear.ForebearError,
            match=r"log numbers \(or a list of them: a histogram\), text, or forebear media",
        ):
            live.log_metric("note", ["a", "b"])  # type: ignore[arg-type]
        # DVCLive's plots, kept as forebear.plot charts at the current step
        importance = [{"feature": "age", "gain": 0.7}, {"feature": "income", "gain": 0.3}]
        live.log_plot(
            "importance.json", importance, x="gain", y="feature", template="bar_horizontal"
        )
        live.log_sklearn_plot("confusion_matrix", ["cat", "dog", "dog"], ["cat", "cat", "dog"])
        live.log_sklearn_plot(
            "roc", numpy.array([0, 1, 1, 0]), [0.1, 0.8, 0.4, 0.3], name="roc.json"
        )
        with pytest.raises(forebear.ForebearError, match=r"log that with live\.log_artifact"):
            live.log_sklearn_plot("calibration", [0, 1], [0.2, 0.9])
        with pytest.raises(forebear.ForebearError, match="labels are 0 and 1"):
            live.log_sklearn_plot("precision_recall", ["a", "b"], [0.2, 0.9])
        with pytest.raises(forebear.ForebearError, match="template='pie'"):
            live.log_plot("share", importance, x="gain", y="feature", template="pie")
        with pytest.raises(forebear.BadInput, match="Image: give a file's path"):
            live.log_image("img.png", b"")
        with pytest.raises(forebear.ForebearError, match="steps are whole numbers"):
            live.step = -1
    # DVCLive's artifact name is the path's stem; labels become aliases
    assert logged.qualified_name == "dvc/model:v0"
    assert set(logged.aliases) == {"best", "latest"}
    assert (logged.description, logged.metadata) == ("a classifier", {"auc": 0.9})
    # cache=False: the bytes stay where they are, referenced and hashed
    assert kept.qualified_name == "dvc/big:v0"
    [ref] = kept.references()
    assert ref.uri == (sdk.home / "big.bin").resolve().as_uri()
    assert ref.sha256 == hashlib.sha256(b"too big to upload").hexdigest()
    assert kept.files() == []
    found = sdk.gql(
        """query($id: ID!) { run(id: $id) { name notes status config summary
        metrics(keys: ["auc", "loss"]) { key points { step value } } } }""",
        id=live.run.id,
    )["run"]
    assert (found["name"], found["notes"], found["status"]) == (
        "cv-fold-1",
        "five folds",
        "FINISHED",
    )
    assert found["config"] == {"folds": 5, "model": {"depth": 3}}
    numbers = {k: v for k, v in found["summary"].items() if not isinstance(v, dict)}
    assert numbers == {"auc": 0.75, "loss": "NaN", "lr": 0.01, "phase": "warm-up"}
    assert found["summary"]["roc"]["chart"] == "roc_curve"  # the plots name their files
    series = {m["key"]: [(p["step"], p["value"]) for p in m["points"]] for m in found["metrics"]}
    assert series == {"auc": [(10, 0.5), (11, 0.75)], "loss": [(10, "NaN")]}
    # DVCLive's own files, as DVC pipelines, `dvc exp show` and `dvc plots` read them
    dvclive = sdk.home / "dvclive"
    metrics = json.loads((dvclive / "metrics.json").read_text())
    assert metrics == {
        "auc": 0.75,
        "loss": metrics["loss"],
        "lr": 0.01,
        "phase": "warm-up",
        "step": 11,
    }
    assert math.isnan(metrics["loss"])
    rows = (dvclive / "plots/metrics/auc.tsv").read_text().splitlines()
    assert rows[0] == "timestamp\tstep\tauc"
    assert [row.split("\t")[1:] for row in rows[1:]] == [["10", "0.5"], ["11", "0.75"]]
    assert not (dvclive / "plots/metrics/lr.tsv").exists()  # plot=False: metrics.json only
    assert not (dvclive / "plots/metrics/phase.tsv").exists()  # text is not plotted
    assert (dvclive / "params.yaml").read_text() == "folds: 5\nmodel:\n  depth: 3\n"
    plots = forebear.Api().artifact(f"dvc/run-{live.run.id}-media")
    assert [f.path for f in plots.files()] == [
        "confusion_matrix/11.chart.json",
        "importance/11.chart.json",
        "roc/11.chart.json",
    ]
    bars = plots.get("importance/11")
    assert (bars.chart, bars.fields) == ("bar", {"label": "feature", "value": "gain"})  # type: ignore[attr-defined]
    matrix = plots.get("confusion_matrix/11")
    assert ["dog", "cat", 1] in matrix.data  # type: ignore[attr-defined]
    roc = plots.get("roc/11")
    assert {row[0] for row in roc.data} == {"1"}  # type: ignore[attr-defined]

    # an exception inside the block fails the run
    def diverge(live: forebear.Live) -> None:
        with live:
            live.log_metric("auc", 0.5)
            live.next_step()
            live.log_metric("auc", 0.6)
            _ = 1 / 0

    failing = forebear.Live(project="dvc")
    with pytest.raises(ZeroDivisionError):
        diverge(failing)
    status = sdk.gql("query($id: ID!) { run(id: $id) { status } }", id=failing.run.id)
    assert status["run"]["status"] == "FAILED"
    # resume=True goes on with the run the last Live in its dir started, after its last step
    with forebear.Live(resume=True, project="dvc") as again:
        assert again.run.id == failing.run.id
        assert again.step == 2
        again.log_metric("auc", 0.7)
        again.log_params({"extra": "a: b", "odd key": [1, None]})  # added to what was kept
    after = sdk.gql(
        'query($id: ID!) { run(id: $id) { status metrics(keys: ["auc"]) { points { step } } } }',
        id=failing.run.id,
    )["run"]
    assert after["status"] == "FINISHED"
    assert [p["step"] for p in after["metrics"][0]["points"]] == [0, 1, 2]
    # a new Live's plots start afresh; a resumed one's go on
    rows = (dvclive / "plots/metrics/auc.tsv").read_text().splitlines()
    assert [row.split("\t")[1:] for row in rows[1:]] == [["0", "0.5"], ["1", "0.6"], ["2", "0.7"]]
    assert json.loads((dvclive / "metrics.json").read_text()) == {"auc": 0.7, "step": 2}
    assert (dvclive / "params.yaml").read_text() == (
        'folds: 5\nmodel:\n  depth: 3\nextra: "a: b"\n"odd key": [1, null]\n'
    )
    other = forebear.Live(resume=True, project="elsewhere")  # nothing kept for it: a new run
    assert other.run.id != failing.run.id
    assert other.step == 0
    other.end()


def test_init_without_a_project_and_what_reinit_makes_of_an_open_run(sdk: Sdk) -> None:
    def status(run: forebear.Run) -> str:
        found = sdk.gql("query($id: ID!) { run(id: $id) { status } }", id=run.id)
        return str(found["run"]["status"])

    first = forebear.init()  # no project named, and no git repository here: W&B's default
    assert first.project == "uncategorized"
    assert forebear.init(project="other", reinit="return_previous") is first
    assert forebear.init(reinit=False) is first
    second = forebear.init(project="p", reinit=True)  # finishes every open run first
    assert status(first) == "FINISHED"
    third = forebear.init(project="p", reinit="create_new")
    assert forebear.run is third
    assert status(second) == "RUNNING"
    with pytest.raises(forebear.ForebearError, match="reinit='again'"):
        forebear.init(project="p", reinit="again")
    third.finish()
    second.finish()


def test_an_exception_fails_the_run_and_an_uncaught_one_crashes_it(sdk: Sdk) -> None:
    run = forebear.init(project="ends")

    def train() -> None:
        with run:
            run.log({"x": 1})
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()
    status = sdk.gql("query($id: ID!) { run(id: $id) { status } }", id=run.id)["run"]["status"]
    assert status == "FAILED"
    for code, said in ((1, "FAILED"), (0, "FINISHED")):  # W&B's finish(exit_code=)
        coded = forebear.init(project="ends")
        forebear.finish(exit_code=code, quiet=True)
        found = sdk.gql("query($id: ID!) { run(id: $id) { status } }", id=coded.id)["run"]
        assert found["status"] == said
    crashed = sdk.python(
        "import forebear\nrun = forebear.init(project='ends')\nprint(run.id, flush=True)\n"
        "run.log({'x': 1})\nraise RuntimeError('diverged')\n",
        check=False,
    )
    assert crashed.returncode == 1
    run_id = crashed.stdout.split()[0]
    found = sdk.gql(
        'query($id: ID!) { run(id: $id) { status metrics(keys: ["x"]) { key } } }', id=run_id
    )
    assert found["run"] == {"status": "CRASHED", "metrics": [{"key": "x"}]}
    ended = sdk.python("import forebear\nrun = forebear.init(project='ends')\nprint(run.id)\n")
    status = sdk.gql("query($id: ID!) { run(id: $id) { status } }", id=ended.stdout.split()[0])[
        "run"
    ]["status"]
    assert status == "FINISHED"  # a script that just ends finishes its run
    # every run it left open, not only the last one started, with its last metrics
    both = sdk.python(
        "import forebear\nfirst = forebear.init(project='ends')\n"
        "second = forebear.init(project='ends')\nfirst.log({'y': 2})\n"
        "print(first.id, second.id)\n"
    ).stdout.split()
    for run_id in both:
        left = sdk.gql(
            'query($id: ID!) { run(id: $id) { status metrics(keys: ["y"]) { key } } }', id=run_id
        )["run"]
        assert left["status"] == "FINISHED", run_id
    first = sdk.gql("query($id: ID!) { run(id: $id) { summary } }", id=both[0])["run"]
    assert first["summary"] == {"y": 2}


def test_an_artifact_is_built_logged_used_downloaded_and_verified(sdk: Sdk) -> None:
    data = sdk.home / "data"
    (data / "images").mkdir(parents=True)
    (data / "images" / "a.png").write_bytes(b"\x89PNG a")
    (data / "labels.csv").write_text("a,1\n")
    art = forebear.Artifact("mnist", type="dataset", metadata={"rows": 1})
    art.add_dir(data, name="train", skip_cache=True, policy="immutable")  # W&B's, accepted
    with art.new_file("README.md") as f:
        f.write("# mnist\n")
    assert art.state == "PENDING"
    with forebear.init(project="vision") as producer:
        logged = producer.log_artifact(art, aliases=["golden"])
    assert logged.qualified_name == "vision/mnist:v0"
    # W&B's properties of a logged version
    assert (logged.state, logged.source_name, logged.source_project) == (
        "COMMITTED",
        "mnist:v0",
        "vision",
    )
    made = datetime.fromisoformat(str(logged.created_at).replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - made).total_seconds()) < 300
    assert logged.updated_at is not None
    assert not logged.is_link
    assert [f.path for f in logged.files()] == [
        "README.md",
        "train/images/a.png",
        "train/labels.csv",
    ]
    with forebear.init(project="vision") as consumer:
        used = consumer.use_artifact("vision/mnist:golden", use_as="train")  # W&B's, accepted
        root = used.download()
        # without a version, as in W&B: the latest
        assert consumer.use_artifact("mnist").id == used.id
    assert forebear.Api().artifact("vision/mnist").id == used.id
    assert root == Path("artifacts/mnist-v0")
    assert (sdk.home / root / "train" / "labels.csv").read_text() == "a,1\n"
    used.verify(root)
    lineage = forebear.Api().lineage(used.id or "", direction="downstream")
    assert {n.id for n in lineage.nodes} == {used.id, producer.id, consumer.id} - {producer.id}
    # the CLI's words work too; a wrong one names the choices before anything is sent
    up = forebear.Api().lineage(used.id or "", direction="Up")
    assert {n.id for n in up.nodes} == {used.id, producer.id}
    with pytest.raises(forebear.BadInput, match="upstream \\(up\\), downstream"):
        forebear.Api().lineage(used.id or "", direction="sideways")
    (sdk.home / root / "train" / "labels.csv").write_text("tampered")
    (sdk.home / root / "README.md").unlink()
    (sdk.home / root / "extra.txt").write_text("?")
    with pytest.raises(forebear.IntegrityError) as caught:
        used.verify(root)
    assert (caught.value.missing, caught.value.changed, caught.value.extra) == (
        ["README.md"],
        ["train/labels.csv"],
        ["extra.txt"],
    )
    again = forebear.Api().artifact("vision/mnist:v0").download(sdk.home / "second")
    forebear.Api().artifact("vision/mnist:v0").verify(again)  # from the cache, whole
    with pytest.raises(forebear.ForebearError, match="holds 3 files, not one: use download"):
        used.file()  # W&B's file() is for a version of one file


def test_references_are_logged_without_their_bytes(sdk: Sdk) -> None:
    shared = sdk.home / "nfs" / "shard-0.parquet"
    shared.parent.mkdir()
    shared.write_bytes(b"rows")
    art = forebear.Artifact("clicks", type="dataset")
    art.add_reference("s3://lake/clicks/2026-12-01.parquet", size=2048)
    art.add_reference(f"file://{shared}", name="shards/0.parquet")
    with art.new_file("schema.json") as f:
        f.write("{}")
    uploads = _uploads(sdk)
    with forebear.init(project="refs") as run:
        logged = run.log_artifact(art)
    assert _uploads(sdk) == uploads + 1  # schema.json only
    assert logged.references() == [
        forebear.ArtifactReference(
            "2026-12-01.parquet", "s3://lake/clicks/2026-12-01.parquet", None, 2048
        ),
        forebear.ArtifactReference(
            "shards/0.parquet", f"file://{shared}", hashlib.sha256(b"rows").hexdigest(), 4
        ),
    ]
    read = forebear.Api().artifact("refs/clicks:v0")
    assert read.references() == logged.references()
    assert [f.path for f in read.files()] == ["schema.json"]
    root = read.download(sdk.home / "got")
    # The file:// reference is copied there, checked; the s3:// one stays where it points
    # (and is not missing to verify).
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "schema.json",
        "shards/0.parquet",
    ]
    assert (root / "shards" / "0.parquet").read_bytes() == b"rows"
    read.verify(root)
    # Logged again unchanged: the same version, nothing sent.
    again = forebear.Artifact("clicks", type="dataset")
    again.add_reference("s3://lake/clicks/2026-12-01.parquet", size=2048)
    again.add_reference(f"file://{shared}", name="shards/0.parquet")
    with again.new_file("schema.json") as f:
        f.write("{}")
    with forebear.init(project="refs") as run:
        assert run.log_artifact(again).id == logged.id
    with pytest.raises(forebear.BadInput, match="reference URI"):
        forebear.Artifact("x", type="dataset").add_reference("ftp://host/file")
    # A URI as Path.as_uri() writes it (%-escaped) names the file it escapes: hashed, named
    # after it; a file of another host is kept as given.
    spaced = sdk.home / "nfs" / "shard 1 of Zürich.parquet"
    spaced.write_bytes(b"more rows")
    escaped = forebear.Artifact("clicks", type="dataset")
    ref = escaped.add_reference(spaced.as_uri())
    assert "%20" in ref.uri
    assert ref.path == "shard 1 of Zürich.parquet"
    unread = escaped.add_reference(spaced.as_uri(), name="unread", checksum=False)  # W&B's
    assert (unread.sha256, unread.size) == (None, None)
    escaped.add_file(spaced, name="copy.parquet", is_tmp=False, policy="mutable", overwrite=True)
    assert (ref.sha256, ref.size) == (hashlib.sha256(b"more rows").hexdigest(), 9)
    remote = escaped.add_reference("file://fileserver/exports/a.csv")
    assert (remote.path, remote.sha256, remote.size) == ("a.csv", None, None)


def test_download_fetches_file_and_http_references_checked_against_what_was_logged(
    sdk: Sdk, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = sdk.home / "nfs" / "shards"
    shards.mkdir(parents=True)
    (shards / "0.csv").write_text("a\n")
    (shards / "1.csv").write_text("b\n")
    labels = sdk.home / "nfs" / "labels.csv"
    labels.write_text("cat,dog\n")
    with Receiver() as files:
        files.pages = {"/clicks.csv": b"1,2\n", "/notes.txt": b"hello"}
        base = files.url.removesuffix("/hook")
        art = forebear.Artifact("mixed", type="dataset")
        art.add_reference(labels.as_uri())  # hashed here
        art.add_reference(shards.as_uri(), name="shards")  # a directory: no checksum
        art.add_reference(f"{base}/clicks.csv", sha256=hashlib.sha256(b"1,2\n").hexdigest())
        art.add_reference(f"{base}/notes.txt")  # nothing to check it against
        art.add_reference("s3://lake/big.parquet", size=10)
        with forebear.init(project="refs") as run:
            run.log_artifact(art)
        read = forebear.Api().artifact("refs/mixed:v0")
        root = read.download(sdk.home / "got")
        assert {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        } == {
            "labels.csv": b"cat,dog\n",
            "shards/0.csv": b"a\n",
            "shards/1.csv": b"b\n",
            "clicks.csv": b"1,2\n",
            "notes.txt": b"hello",
        }
        # The URLs are anyone's: Forebear's key is not sent to them.
        assert [r.path for r in files.received] == ["/clicks.csv", "/notes.txt"]
        assert all("authorization" not in r.headers for r in files.received)
        read.verify(root)  # the directory's files are not extra, the s3 one not missing
        # One entry alone, as W&B's: fetched where asked; an s3:// one says why it is not.
        notes = read.get_entry("notes.txt")
        assert notes.ref == f"{base}/notes.txt"
        assert notes.download(sdk.home / "one") == sdk.home / "one" / "notes.txt"
        assert [p.name for p in (sdk.home / "one").iterdir()] == ["notes.txt"]
        with pytest.raises(forebear.ForebearError, match="file:// and http"):
            read.get_entry("big.parquet").download(sdk.home / "one")
        (root / "labels.csv").write_text("cat,cow\n")
        with pytest.raises(forebear.IntegrityError) as caught:
            read.verify(root)
        assert caught.value.changed == ["labels.csv"]

        # A URL logged with its sha256 comes through the cache: fetched once, and the bytes
        # logged even after the URL changed or went (what was logged is what comes back).
        files.pages["/clicks.csv"] = b"9,9\n"
        again = read.download(sdk.home / "cached")
        assert (again / "clicks.csv").read_bytes() == b"1,2\n"
        fetched = [r.path for r in files.received]  # notes.txt has no sha256: fetched each time
        assert (fetched.count("/clicks.csv"), fetched.count("/notes.txt")) == (1, 3)

        # On a machine that has not fetched it (a cache of its own), changed where it points
        # since it was logged: refused, nothing of it left.
        monkeypatch.setenv("FOREBEAR_CACHE_DIR", str(sdk.home / "another-cache"))
        read = forebear.Api().artifact("refs/mixed:v0")
        with pytest.raises(forebear.IntegrityError, match=r"clicks\.csv of refs/mixed:v0 changed"):
            read.download(sdk.home / "again")
        assert not list((sdk.home / "again").glob("*clicks*"))
        assert not list((sdk.home / "again").glob(".*"))
        assert not [p for p in (sdk.home / "another-cache/files").rglob("*") if p.is_file()]

        # Gone: named, with what to do; allowed, the rest arrives.
        del files.pages["/clicks.csv"]
        with pytest.raises(forebear.NotFound, match=r"HTTP 404.*allow_missing_references=True"):
            read.download(sdk.home / "third")
        done = read.download(sdk.home / "third", allow_missing_references=True)
        assert not (done / "clicks.csv").exists()
        assert (done / "notes.txt").read_bytes() == b"hello"
        files.pages["/clicks.csv"] = b"1,2\n"
        labels.unlink()  # a file:// one gone
        with pytest.raises(forebear.NotFound, match=r"reference labels\.csv .*No such file"):
            read.download(sdk.home / "fourth")
        refused = sdk.cli("artifact", "get", "refs/mixed:v0", "--root", "cli", check=False)
        assert refused.returncode == 1
        assert "--allow-missing-references" in refused.stderr, refused.stderr
        sdk.cli("artifact", "get", "refs/mixed:v0", "--root", "cli", "--allow-missing-references")
        assert (sdk.home / "cli" / "shards" / "1.csv").read_text() == "b\n"


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:9"])
def test_logging_unchanged_files_again_hashes_and_uploads_nothing(
    sdk: Sdk, monkeypatch: pytest.MonkeyPatch, proxy: str | None
) -> None:
    # The latest version is asked for on a connection of its own, sent before the files are
    # looked at; with a proxy set (here one that is never used: NO_PROXY), through httpx.
    connections = []
    direct = http.client.HTTPConnection

    def connection(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        assert proxy is None, "a proxy is set: the look-up goes through httpx, which honours it"
        connections.append(args)
        return direct(*args, **kwargs)

    monkeypatch.setattr(http.client, "HTTPConnection", connection)
    if proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    big = sdk.home / "weights.bin"
    big.write_bytes(os.urandom(3 * 2**20))
    with forebear.init(project="again") as run:
        first = run.log_artifact(big, name="w", type="model")

    def rehash(*args: object, **kwargs: object) -> str:
        raise AssertionError("an unchanged file was hashed again")

    hashing = forebear._hashing.sha256_of
    monkeypatch.setattr(forebear._hashing, "sha256_of", rehash)
    uploads_before, creates_before = _uploads(sdk), _creates(sdk)
    with forebear.init(project="again") as run:
        second = run.log_artifact(big, name="w", type="model")
    assert second.id == first.id  # the same manifest is the same version
    assert _uploads(sdk) == uploads_before
    assert _creates(sdk) == creates_before  # not even the manifest was sent again
    big.write_bytes(os.urandom(3 * 2**20))  # changed: hashed, sent, a new version
    monkeypatch.setattr(forebear._hashing, "sha256_of", hashing)
    with forebear.init(project="again") as run:
        third = run.log_artifact(big, name="w", type="model")
    assert (third.version, _creates(sdk)) == ("v1", creates_before + 1)
    assert len(connections) == (0 if proxy else 3)


def test_a_directory_logged_again_is_looked_up_as_one_list_and_each_change_is_seen(
    sdk: Sdk, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sdk.home / "shards"
    (data / "meta").mkdir(parents=True)
    for i in range(40):
        (data / f"part-{i:02d}.csv.gz").write_bytes(os.urandom(1000))
    (data / "meta" / "model.pt").write_bytes(b"weights")
    (data / "meta" / "notes.md").write_text("# notes")
    with forebear.init(project="again") as run:
        first = run.log_artifact(data, name="shards", type="dataset")
    # one media type on every machine, named by the last suffix
    types = {f.path: f.content_type for f in first.files()}
    assert types["part-00.csv.gz"] == "application/gzip"
    assert types["meta/model.pt"] == "application/octet-stream"  # not a SNES page table
    assert types["meta/notes.md"] == "text/markdown"

    hashing = forebear._hashing.sha256_of
    rows = forebear._hashing._rows
    seen: list[str] = []

    def rehash(path: str, progress: object = None) -> str:
        seen.append(os.path.basename(path))
        return hashing(path)

    def per_file(*args: object) -> object:
        raise AssertionError("the unchanged list was looked up file by file")

    monkeypatch.setattr(forebear._hashing, "sha256_of", rehash)
    monkeypatch.setattr(forebear._hashing, "_rows", per_file)
    uploads, creates = _uploads(sdk), _creates(sdk)
    with forebear.init(project="again") as run:
        assert run.log_artifact(data, name="shards", type="dataset").id == first.id
    assert (seen, _uploads(sdk), _creates(sdk)) == ([], uploads, creates)

    # a file rewritten in place, same size: the list misses, that file alone is hashed
    monkeypatch.setattr(forebear._hashing, "_rows", rows)
    (data / "part-07.csv.gz").write_bytes(os.urandom(1000))
    with forebear.init(project="again") as run:
        second = run.log_artifact(data, name="shards", type="dataset")
    assert (second.version, seen) == ("v1", ["part-07.csv.gz"])

    # someone else's version is the latest now: the same files again are a new version,
    # with nothing uploaded (the server holds their bytes)
    other = forebear.Artifact("shards", type="dataset")
    with other.new_file("other.txt") as f:
        f.write("other")
    forebear.Api().log_artifact(other, project="again")
    uploads = _uploads(sdk)
    with forebear.init(project="again") as run:
        third = run.log_artifact(data, name="shards", type="dataset")
    assert (third.version, third.digest, _uploads(sdk)) == ("v3", second.digest, uploads)


def _creates(sdk: Sdk) -> float:
    return counted(sdk.base, 'forebear_graphql_operations_total{fields="createArtifactVersion"')


def _uploads(sdk: Sdk) -> float:
    return counted(sdk.base, 'forebear_transfers_total{direction="upload"')


def test_errors_say_what_to_do(sdk: Sdk, tmp_path: Path) -> None:
    with pytest.raises(forebear.AuthError, match="FOREBEAR_API_KEY"):
        forebear.init(project="p", api_key="fbk_not-a-key")
    with pytest.raises(forebear.TransportError, match=r"127\.0\.0\.1:9"):
        forebear.Api(url="http://127.0.0.1:9").graphql("{ __typename }")
    key = sdk.gql('mutation { createUser(input: {name: "eve"}) { key } }')["createUser"]["key"]
    eve = forebear.Api(api_key=key)
    with pytest.raises(forebear.Refused, match="setRegistryMember"):
        eve.link("nothing/here:v0", "model/secret")
    forebear.init(project="admins-only").finish()
    with pytest.raises(forebear.Refused, match=r"'admins-only'.*add you \(setProjectMember\)"):
        forebear.init(project="admins-only", api_key=key)
    (tmp_path / "w.bin").write_bytes(b"w")
    put = sdk.cli(
        "artifact",
        "put",
        str(tmp_path / "w.bin"),
        "-n",
        "admins-only/w",
        check=False,
        FOREBEAR_API_KEY=key,
    )
    assert put.returncode == 1
    assert "'eve' is not a member of project 'admins-only'" in put.stderr
    # A wrong key is said as soon as the server answers, not after the files are hashed:
    # reading all of these 4 GiB (sparse: none on disk) would take seconds, and keep its digest.
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(4 * 2**30)
    artifact = forebear.Artifact("big", "model")
    artifact.add_file(big)
    with pytest.raises(forebear.AuthError, match="FOREBEAR_API_KEY"):
        forebear.Api(api_key="fbk_not-a-key").log_artifact(artifact, project="p")
    assert forebear._hashing.HashCache(tmp_path / "cache").known([big]) == [None]
    # A path that is wrong says where it was looked for; a folder, how it is added.
    with pytest.raises(forebear.ForebearError, match=re.escape(f"no file at {tmp_path}/gone.h5")):
        forebear.Artifact("m", "model").add_file(tmp_path / "gone.h5")
    with pytest.raises(forebear.ForebearError, match="is a directory: add it with add_dir"):
        forebear.Artifact("m", "model").add_file(tmp_path)
    with pytest.raises(forebear.ForebearError, match="FOREBEAR_MODE"):
        forebear.init(project="p", mode="sideways")
    disabled = forebear.init(project="p", mode="disabled")
    disabled.log({"x": 1})
    # a use is a stand-in that says why it holds nothing, not an AttributeError
    used = disabled.use_artifact("p/base:latest", type="model")
    assert (used.name, used.type) == ("base", "model")
    with pytest.raises(forebear.ForebearError, match="FOREBEAR_MODE=disabled: p/base:latest"):
        used.download(sdk.home / "nothing")
    disabled.finish()
    assert sdk.gql('{ runs(project: "p") { nodes { id } } }')["runs"]["nodes"] == []


def test_login_stores_the_key_for_the_user_alone(sdk: Sdk, tmp_path: Path) -> None:
    done = sdk.cli("login", "--key", sdk.env["FOREBEAR_API_KEY"], "--json", FOREBEAR_API_KEY="")
    assert '"user": "admin"' in done.stdout
    stored = tmp_path / "config" / "forebear" / "credentials.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    # a later run with no key in the environment uses the stored one
    sdk.python("import forebear\nforebear.init(project='logged-in').finish()", FOREBEAR_API_KEY="")
    assert sdk.gql('{ runs(project: "logged-in") { nodes { status } } }')["runs"]["nodes"] == [
        {"status": "FINISHED"}
    ]
    refused = sdk.cli("login", "--key", "fbk_wrong", check=False, FOREBEAR_API_KEY="")
    assert refused.returncode == 1
    assert "unknown, expired or revoked" in refused.stderr
    # It asks for the key; a script that gives none is told how, and one piped in is taken.
    unasked = sdk.cli("login", check=False, FOREBEAR_API_KEY="")
    assert (unasked.returncode, "pass --key" in unasked.stderr) == (2, True), unasked.stderr
    piped = sdk.cli("login", "--json", typed=sdk.env["FOREBEAR_API_KEY"] + "\n")
    assert '"user": "admin"' in piped.stdout


def test_a_runs_alerts_are_sent_once_a_minute_per_title(sdk: Sdk) -> None:
    """W&B's run.alert: each reaches the audit log as an event the project's automations
    hear (RUN_ALERT; their webhooks are tested with the server's)."""
    with forebear.init(project="alerts") as run:
        run.alert("loss is NaN", "at step 30", level=forebear.AlertLevel.ERROR)
        run.alert("loss is NaN", "at step 31", level="error")  # within a minute: not sent
        forebear.alert(title="epoch done", text="1 of 3")  # INFO by default
        run.alert("loss is NaN", "at step 90", wait_duration=0)  # no wait asked: sent
        run.alert("slow", wait_duration=timedelta(seconds=30))
        with pytest.raises(forebear.BadInput, match="alert level 'loud': give INFO, WARN or"):
            run.alert("x", level="loud")
        with pytest.raises(forebear.BadInput, match="an alert needs a title"):
            run.alert("")
    found = sdk.gql('{ auditLog(types: ["run.alert"]) { nodes { subjects after } } }')
    assert [e["after"] for e in reversed(found["auditLog"]["nodes"])] == [
        {"title": "loss is NaN", "text": "at step 30", "level": "ERROR"},
        {"title": "epoch done", "text": "1 of 3", "level": "INFO"},
        {"title": "loss is NaN", "text": "at step 90", "level": "INFO"},
        {"title": "slow", "text": "", "level": "INFO"},
    ]
    assert {s for e in found["auditLog"]["nodes"] for s in e["subjects"]} == {run.id}
    with pytest.raises(forebear.ForebearError, match="has finished"):
        run.alert("late")


def test_the_headers_the_sdk_sends(sdk: Sdk) -> None:
    api = forebear.Api()
    assert (
        api._client._http.headers["authorization"]
        == bearer(sdk.env["FOREBEAR_API_KEY"])["Authorization"]
    )
    assert api._client._http.headers["user-agent"].startswith("forebear-sdk/")


OFFLINE = """
import forebear
with forebear.init(project="offline", config={"lr": 0.1}, mode="offline") as run:
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1)})
    run.log({"loss": float("nan")})
    preds = forebear.Table(columns=["input", "label"], data=[[forebear.Image([[0, 255]]), "cat"]])
    run.log({"preds": preds})  # a step of media alone: no metric point
    run.define_metric("acc", summary="max")
    run.log({"acc": 0.75})
    run.log({"acc": 0.5})
    with open("notes.txt", "w") as notes:
        notes.write("written on the cluster")
    run.save("notes.txt")
    run.alert("loss is NaN", "at step 3", level=forebear.AlertLevel.WARN)
    run.summary["note"] = "no network on the cluster"
    run.name, run.tags = "cluster-job", ["hpc"]
    run.log_artifact(path="model.bin", name="clf", type="model", aliases=["offline"])
    base = run.use_artifact("base")  # its latest, when synced
    try:
        base.download()
    except forebear.ForebearError as exc:
        assert "used offline" in str(exc) and "forebear sync" in str(exc), exc
    else:
        raise AssertionError("an offline use holds no files")
    run.link_artifact(artifact="clf", target_path="model/offline-clf", aliases=["candidate"])
    shards = forebear.Artifact("shards", type="dataset")
    shards.add_reference("s3://lake/shards/", size=7)
    run.log_artifact(shards)
"""


def test_an_offline_run_syncs_later_and_syncing_twice_changes_nothing(sdk: Sdk) -> None:
    (sdk.home / "base.bin").write_bytes(b"a base model, logged while online")
    with forebear.init(project="offline") as online:
        base = online.log_artifact("base.bin", name="base", type="model")
    (sdk.home / "model.bin").write_bytes(b"trained where the network is not")
    done = sdk.python(OFFLINE)
    assert "forebear sync" in done.stderr
    runs = sdk.gql('{ runs(project: "offline") { nodes { id } } }')["runs"]["nodes"]
    assert runs == [{"id": online.id}]
    (sdk.home / "model.bin").write_bytes(b"changed after the run: the logged bytes are kept")
    first = json.loads(sdk.cli("sync", "--json").stdout)
    assert len(first) == 1
    run = sdk.gql(
        """query($id: ID!) { run(id: $id) { status config summary name tags
        metrics(keys: ["loss"]) { points { step value } } } }""",
        id=first[0]["run"],
    )["run"]
    assert run["status"] == "FINISHED"
    assert (run["name"], run["tags"]) == ("cluster-job", ["hpc"])
    assert run["config"] == {"lr": 0.1}
    assert run["summary"]["note"] == "no network on the cluster"
    assert [p["value"] for p in run["metrics"][0]["points"]] == [1.0, 0.5, 1 / 3, "NaN"]
    alerts = sdk.gql('{ auditLog(types: ["run.alert"]) { nodes { subjects after } } }')
    assert alerts["auditLog"]["nodes"] == [
        {
            "subjects": [first[0]["run"]],
            "after": {"title": "loss is NaN", "text": "at step 3", "level": "WARN"},
        }
    ]
    media = forebear.Api().artifact(f"offline/run-{first[0]['run']}-media")
    assert [f.path for f in media.files()] == ["preds/4.table.json", "preds/4.table/0_0.png"]
    table = media.get("preds/4")
    assert isinstance(table, forebear.Table)
    assert isinstance(table.data[0][0], forebear.Image)
    assert run["summary"]["preds"]["artifact"] == media.qualified_name  # named as synced
    assert run["summary"]["acc"] == {"max": 0.75}  # define_metric's, made as the run ended
    saved = forebear.Api().artifact(f"offline/run-{first[0]['run']}-files")
    assert [f.path for f in saved.files()] == ["notes.txt"]
    assert forebear.Api().artifact("offline/shards:v0").references() == [
        forebear.ArtifactReference("shards", "s3://lake/shards/", None, 7)
    ]  # a reference logged offline is kept through the journal
    linked = forebear.Api().artifact("model/offline-clf:candidate")
    root = linked.download(sdk.home / "got")
    assert (root / "model.bin").read_bytes() == b"trained where the network is not"
    events_before = sdk.gql("{ auditLog(first: 100) { nodes { id } } }")
    skipped = sdk.cli("sync", "--json")
    assert json.loads(skipped.stdout) == []  # done once: skipped
    assert "no offline run is waiting to be sent" in skipped.stderr
    # even a journal synced again (its mark removed) changes nothing within the key TTL
    journal = Path(first[0]["journal"])
    (journal / ".synced").unlink()
    again = json.loads(sdk.cli("sync", str(journal), "--json").stdout)
    assert again[0]["run"] == first[0]["run"]
    assert sdk.gql("{ auditLog(first: 100) { nodes { id } } }") == events_before
    assert len(sdk.gql('{ runs(project: "offline") { nodes { id } } }')["runs"]["nodes"]) == 2
    used = sdk.gql("query($id: ID!) { run(id: $id) { inputs { id } } }", id=first[0]["run"])["run"][
        "inputs"
    ]
    assert used == [{"id": base.id}]


def test_a_refused_step_names_itself_and_the_other_offline_runs_are_still_sent(
    sdk: Sdk,
) -> None:
    sdk.python(
        "import forebear\n"
        "with forebear.init(project='offline', mode='offline') as run:\n"
        "    run.log({'loss': 1.0})\n"
        "    run.use_artifact('offline/later:latest')\n"
    )
    sdk.python(
        "import forebear\n"
        "with forebear.init(project='offline', mode='offline') as run:\n"
        "    run.log({'loss': 2.0})\n"
    )
    refused = sdk.cli("sync", check=False)
    assert refused.returncode == 1
    assert "step 2 (use offline/later:latest)" in refused.stderr
    assert "sent 1 other run(s)" in refused.stderr
    runs = sdk.gql('{ runs(project: "offline") { nodes { id status } } }')["runs"]["nodes"]
    assert sorted(r["status"] for r in runs) == ["FINISHED", "RUNNING"]  # up to the refusal
    # once what it used exists, the next sync carries on where it stopped
    (sdk.home / "later.bin").write_bytes(b"logged afterwards")
    with forebear.init(project="offline") as online:
        later = online.log_artifact("later.bin", name="later", type="model")
    [done] = json.loads(sdk.cli("sync", "--json").stdout)
    run = sdk.gql("query($id: ID!) { run(id: $id) { status inputs { id } } }", id=done["run"])[
        "run"
    ]
    assert run == {"status": "FINISHED", "inputs": [{"id": later.id}]}
    assert len(sdk.gql('{ runs(project: "offline") { nodes { id } } }')["runs"]["nodes"]) == 3


def test_downloads_share_no_bytes_and_an_edited_one_never_poisons_the_cache(sdk: Sdk) -> None:
    big, small = os.urandom(3 * 2**20), b"a small file\n"  # one GET, and one tar of small ones
    (sdk.home / "m").mkdir()
    (sdk.home / "m" / "weights.bin").write_bytes(big)
    (sdk.home / "m" / "config.txt").write_bytes(small)
    art = forebear.Artifact("net", type="model")
    art.add_dir(sdk.home / "m")
    forebear.Api().log_artifact(art, project="share")
    first = forebear.Api().artifact("share/net:v0").download(sdk.home / "first")
    second = forebear.Api().artifact("share/net:v0").download(sdk.home / "second")
    with open(first / "weights.bin", "r+b") as f:  # edited in place
        f.write(b"overwritten")
    (first / "config.txt").write_bytes(b"edited too\n")
    assert (second / "weights.bin").read_bytes() == big  # downloads share nothing
    assert (second / "config.txt").read_bytes() == small
    third = forebear.Api().artifact("share/net:v0").download(sdk.home / "third")
    assert (third / "weights.bin").read_bytes() == big  # the cache noticed, fetched again
    assert (third / "config.txt").read_bytes() == small
    forebear.Api().artifact("share/net:v0").verify(third)


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:9"])
def test_a_download_cut_midway_resumes_where_it_stopped(
    sdk: Sdk, monkeypatch: pytest.MonkeyPatch, proxy: str | None
) -> None:
    # Read from a connection of the SDK's own, or (a proxy set, never used: NO_PROXY) from
    # httpx's pool: either way a body cut short is asked for again from where it stopped,
    # never taken for the whole file nor fetched from its start.
    payload = os.urandom(12 * 2**20)
    (sdk.home / "w.bin").write_bytes(payload)
    art = forebear.Artifact("w", type="model")
    art.add_file(sdk.home / "w.bin")
    logged = forebear.Api().log_artifact(art, project="cut")
    if proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    port = int(sdk.base.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as cutter:
        monkeypatch.setenv("FOREBEAR_URL", f"http://127.0.0.1:{cutter.port}")
        cutter.cut(after=5 * 2**20, starting=b"GET /files/")
        got = forebear.Api().artifact(logged.id or "").download(sdk.home / "back")
    assert hashlib.sha256((got / "w.bin").read_bytes()).digest() == hashlib.sha256(payload).digest()
    gets = [r.split(b"\r\n\r\n")[0] for r in cutter.requests if r.startswith(b"GET /files/")]
    assert len(gets) == 2
    assert b"range" not in gets[0].lower()
    ranges = [line for line in gets[1].lower().split(b"\r\n") if line.startswith(b"range:")]
    assert len(ranges) == 1
    assert int(ranges[0].split(b"=")[1].rstrip(b"-")) >= 4 * 2**20
    assert cutter.carried < len(payload) + 2 * 2**20  # 5 MiB, then from 4 MiB on: not 17


PREEMPTIBLE = """
import forebear
run = forebear.init(project="pre", id="job-1", resume="allow", config={"lr": 0.1, "token": "x"},
                    config_exclude_keys=["token"], save_code=True, allow_val_change=True)
print(run.id, run.resumed, run.starting_step, flush=True)
for step in range(run.starting_step, 10):
    run.log({"loss": 1 / (step + 1)})
    if step % 3 == 0:
        run.log({"sample": forebear.Image([[step * 20]])}, step=step)
    if step == 4 and not run.resumed:
        raise RuntimeError("preempted")
"""


def test_a_crashed_job_started_again_with_its_id_goes_on_where_it_stopped(sdk: Sdk) -> None:
    crashed = sdk.python(PREEMPTIBLE, check=False)
    assert crashed.returncode == 1
    assert "preempted" in crashed.stderr
    run_id, resumed, starting = crashed.stdout.split()
    assert (resumed, starting) == ("False", "0")
    again = sdk.python(PREEMPTIBLE).stdout.split()
    assert again == [run_id, "True", "5"]
    found = sdk.gql(
        'query($id: ID!) { run(id: $id) { key status config lastStep metrics(keys: ["loss"]) '
        "{ points { step } } } }",
        id=run_id,
    )["run"]
    assert found["key"] == "job-1"
    assert found["status"] == "FINISHED"
    assert found["config"] == {"lr": 0.1}  # the excluded key was never sent
    assert found["lastStep"] == 9
    assert [p["step"] for p in found["metrics"][0]["points"]] == list(range(10))
    runs = sdk.gql('{ runs(project: "pre") { nodes { id } } }')["runs"]["nodes"]
    assert runs == [{"id": run_id}]
    # the media of both sessions: the crashed one's logged as it ended, then the rest with them
    media = forebear.Api().artifact(f"pre/run-{run_id}-media")
    assert media.version == "v1"
    assert [f.path for f in media.files()] == [f"sample/{n}.png" for n in (0, 3, 6, 9)]


def test_resume_refusals_and_auto_resume_in_a_directory(sdk: Sdk, tmp_path: Path) -> None:
    first = forebear.init(project="res", id="exp-1")
    first.finish()
    with pytest.raises(forebear.Conflict, match="resume='allow'"):
        forebear.init(project="res", id="exp-1")
    with pytest.raises(forebear.NotFound, match="no run with this id"):
        forebear.init(project="res", id="exp-2", resume="must")
    again = forebear.init(project="res", id=first.id, resume="must")  # its Forebear id
    assert again.id == first.id
    assert again.resumed
    again.finish()
    with pytest.raises(forebear.ForebearError, match="resume='sometimes'"):
        forebear.init(project="res", resume="sometimes")
    with pytest.raises(forebear.ForebearError, match="not rewound or forked"):
        forebear.init(project="res", fork_from="exp-1?_step=3")
    with pytest.raises(forebear.ForebearError, match="offline"):
        forebear.init(project="res", id="exp-1", resume="allow", mode="offline")
    disabled = forebear.init(project="res", settings={"mode": "disabled"})
    assert disabled.disabled
    disabled.finish()
    # W&B's wandb.Settings(...): its own process's settings taken, the ones that say where
    # the run goes used
    tuned = forebear.Settings(start_method="thread", console="off", project="tuned", api_key="x")
    assert "api_key" not in repr(tuned)
    with pytest.raises(forebear.AuthError):  # its api_key is the one sent
        forebear.init(settings=tuned)
    tuned.api_key = None
    with forebear.init(settings=tuned, save_code=True, force=True, tensorboard=False) as run:
        assert run.project == "tuned"

    # resume="auto": the run last started in `dir` goes on unless it finished cleanly
    where = tmp_path / "job"
    crashed = forebear.init(project="res", resume="auto", dir=where)
    assert (where / ".forebear" / "resume.json").exists()
    crashed.finish("CRASHED")
    resumed = forebear.init(project="res", resume=True, dir=where)
    assert resumed.id == crashed.id
    assert resumed.resumed
    resumed.finish()
    assert not (where / ".forebear" / "resume.json").exists()
    fresh = forebear.init(project="res", resume="auto", dir=where)
    assert fresh.id != crashed.id
    assert not fresh.resumed
    fresh.finish()
    with pytest.raises(forebear.ForebearError, match="give the id of the run to resume"):
        forebear.init(project="res", resume="must", dir=where)
    allowed = forebear.init(project="res", resume="allow")  # no id: nothing to go on with
    assert not allowed.resumed
    allowed.finish()
    # a scheduler that starts the job again sets the id and resume in the environment
    os.environ.update(FOREBEAR_RUN_ID="slurm-881", FOREBEAR_RESUME="allow")
    try:
        queued = forebear.init(project="res")
        queued.finish("CRASHED")
        requeued = forebear.init(project="res")
        assert (requeued.id, requeued.resumed) == (queued.id, True)
        requeued.finish()
    finally:
        del os.environ["FOREBEAR_RUN_ID"], os.environ["FOREBEAR_RESUME"]


class _Weights:
    def __init__(self, count: int) -> None:
        self.count = count

    def numel(self) -> int:
        return self.count


class TwoLayers:
    """What `watch` reads of a torch nn.Module: parameters() of tensors that count their
    numbers (numel)."""

    def parameters(self) -> Iterator[_Weights]:
        return iter([_Weights(784 * 128), _Weights(128), _Weights(128 * 10), _Weights(10)])


def test_define_metric_summaries_and_watch_as_in_wandb_scripts(sdk: Sdk) -> None:
    run = forebear.init(project="defs")
    forebear.define_metric("epoch")  # a step metric: accepted, charts plot against steps
    forebear.define_metric("val/*", step_metric="epoch", summary="min,max,mean")
    forebear.define_metric("acc", summary="best", goal="maximize")
    history = [(3.0, 0.5), (1.0, 0.7), (2.0, 0.6), (math.nan, 0.65)]
    for epoch, (loss, acc) in enumerate(history):
        # a nested dict's values under dotted keys, as W&B's charts name them
        forebear.log({"val/loss": loss, "acc": acc, "opt": {"lr": 0.1, "no": {}}, "epoch": epoch})
    forebear.watch(TwoLayers(), log="all", log_freq=10)
    forebear.unwatch()
    forebear.mark_preempting()
    with pytest.raises(forebear.ForebearError, match="median is not one of min, max"):
        forebear.define_metric("loss", summary="median")
    with pytest.raises(forebear.ForebearError, match="goal='minimize' or 'maximize'"):
        forebear.define_metric("loss", summary="best")
    with pytest.raises(forebear.ForebearError, match="not a model with parameters"):
        forebear.watch("a model")
    run.finish()
    summary = sdk.gql("query($id: ID!) { run(id: $id) { summary } }", id=run.id)["run"]["summary"]
    assert summary == {
        "val/loss": {"min": 1.0, "max": 3.0, "mean": 2.0},  # NaN does not count
        "acc": {"best": 0.7},
        "opt.lr": 0.1,  # no summary asked: the last value, as for every metric
        "epoch": 3,
        "model/TwoLayers/parameters": 784 * 128 + 128 + 128 * 10 + 10,
    }


@dataclasses.dataclass
class TrainArgs:
    epochs: int = 3
    out: Path = Path("runs/out")


def test_config_from_argparse_a_dataclass_and_values_json_cannot_hold(sdk: Sdk) -> None:
    args = argparse.Namespace(
        lr=numpy.float32(0.5),
        layers=(64, 32),
        data=Path("data/train"),
        seed=numpy.int64(7),
        mean=numpy.array([0.5, 0.25]),
    )
    run = forebear.init(project="cfg", config=args)  # W&B's wandb.init(config=args)
    assert dict(run.config) == {
        "lr": 0.5,
        "layers": [64, 32],
        "data": "data/train",
        "seed": 7,
        "mean": [0.5, 0.25],
    }
    run.config.update(TrainArgs(), allow_val_change=True)  # W&B's keyword: not a key
    run.config.update({"lr": 0.25}, allow_val_change=True)
    with pytest.raises(forebear.ForebearError, match="int is not a dict, an argparse Namespace"):
        run.config.update(5)
    run.finish()
    saved = sdk.gql("query($id: ID!) { run(id: $id) { config } }", id=run.id)["run"]["config"]
    assert saved == {
        "lr": 0.25,
        "layers": [64, 32],
        "data": "data/train",
        "seed": 7,
        "mean": [0.5, 0.25],
        "epochs": 3,
        "out": "runs/out",
    }


def test_api_runs_filters_history_and_what_a_run_logged_and_used(sdk: Sdk) -> None:
    (sdk.home / "data.csv").write_text("x,y\n1,2\n")
    made = []
    for i, (lr, accs) in enumerate([(0.1, [0.5, 0.8]), (0.01, [0.6, 0.9]), (0.1, [0.7])]):
        with forebear.init(project="sweep", id=f"trial-{i}", config={"lr": lr}) as run:
            for acc in accs:
                run.log({"acc": acc, "loss": math.nan if acc == 0.9 else 1 - acc})
            if i == 0:
                dataset = run.log_artifact("data.csv", name="data", type="dataset")
            else:
                run.use_artifact("data:latest")
            run.tags = ["best"] if i == 1 else []
        made.append(run.id)
    forebear.init(project="sweep", id="trial-3").finish("FAILED")
    api = forebear.Api()

    def ids(runs: list[forebear.RunInfo]) -> list[str]:
        return [r.key or "" for r in runs]

    assert ids(api.runs("sweep")) == ["trial-3", "trial-2", "trial-1", "trial-0"]  # newest first
    assert ids(api.runs("my-team/sweep", order="+created_at"))[0] == "trial-0"
    assert ids(api.runs("sweep", {"config.lr": 0.1})) == ["trial-2", "trial-0"]
    high = api.runs("sweep", {"summary_metrics.acc": {"$gt": 0.75}, "state": "finished"})
    assert ids(high) == ["trial-1", "trial-0"]
    assert ids(api.runs("sweep", {"$and": [{"tags": "best"}, {"config.lr": {"$lt": 0.1}}]})) == [
        "trial-1"
    ]
    assert ids(api.runs("sweep", {"state": "failed"})) == ["trial-3"]
    by_acc = api.runs("sweep", order="-summary_metrics.acc")
    assert ids(by_acc) == ["trial-1", "trial-0", "trial-2", "trial-3"]  # none: last

    first = api.run("sweep/trial-0")  # by key, as W&B's entity/project/run_id
    assert first == api.run(made[0]) == api.run(f"my-team/sweep/{made[0]}")
    assert (first.state, first.config, first.last_step) == ("finished", {"lr": 0.1}, 1)
    assert first.history(keys=["acc"], pandas=False) == [
        {"_step": 0, "acc": 0.5},
        {"_step": 1, "acc": 0.8},
    ]
    rows = list(api.run("sweep/trial-1").scan_history())
    assert [sorted(r) for r in rows] == [["_step", "acc", "loss"]] * 2
    assert math.isnan(rows[1]["loss"])  # a diverged value comes back as NaN
    diverged = api.run("sweep/trial-1")
    assert math.isnan(diverged.summary["loss"])  # in the summary too, as W&B's
    assert diverged.metric_keys() == ["acc", "loss"]
    diverged.summary["note"] = "diverged"  # its NaN saves back as it was
    assert math.isnan(diverged.update().summary["loss"])
    try:
        importlib.import_module("pandas")  # not installed here; W&B's default DataFrame if it is
    except ImportError:
        with pytest.raises(forebear.ForebearError, match="pip install pandas"):
            first.history()
    else:
        assert list(first.history()["acc"]) == [0.5, 0.8]
    assert [a.id for a in first.logged_artifacts()] == [dataset.id]
    assert [a.id for a in api.run("sweep/trial-2").used_artifacts()] == [dataset.id]
    assert first.url == f"{sdk.base}/projects/sweep?run={made[0]}"

    with pytest.raises(forebear.NotFound, match="no run 'trial-9'"):
        api.run("sweep/trial-9")
    with pytest.raises(forebear.NotFound, match="no run"):
        api.run(f"other/{made[0]}")  # not that project's
    with pytest.raises(forebear.ForebearError, match="a key needs its project"):
        api.run("trial-0")
    with pytest.raises(forebear.ForebearError, match="'created' is not config"):
        api.runs("sweep", {"created": 1})
    with pytest.raises(forebear.ForebearError, match=r"\$regex is not one of"):
        api.runs("sweep", {"config.lr": {"$regex": "0.*"}})


def test_wandb_artifact_calls_entries_lineage_aliases_and_delete(sdk: Sdk) -> None:
    """What W&B scripts call on artifacts besides logging them: get_entry and remove while
    building, save() with no run, logged_by/used_by, aliases edited then saved,
    artifact_exists, and delete with its refusals."""
    data = sdk.home / "data"
    (data / "scratch").mkdir(parents=True)
    (data / "train.csv").write_text("x\n1\n")
    (data / "test.csv").write_text("x\n22\n")
    (data / "scratch" / "tmp.bin").write_bytes(b"junk")
    art = forebear.Artifact("corpus", type="dataset", description="two splits")
    art.add_dir(data)
    art.add_reference("https://example.com/LICENSE", sha256="ab" * 32)
    train = art.get_entry("train.csv")
    assert train == forebear.ArtifactFile(
        "train.csv", 4, hashlib.sha256(b"x\n1\n").hexdigest(), "text/csv"
    )
    assert art.get_entry("LICENSE").uri == "https://example.com/LICENSE"  # type: ignore[union-attr]
    art.remove("scratch")  # a directory: every entry under it
    art.remove(art.get_entry("LICENSE"))
    with pytest.raises(forebear.NotFound, match="no file, reference or directory 'nope'"):
        art.remove("nope")

    art.aliases.append("fresh")  # given before logging: set when it is logged
    art.save(project="lineage")  # no run: one of job type `auto` logs it, as W&B's
    assert [f.path for f in art.files()] == ["test.csv", "train.csv"]
    assert not art.references()
    assert sorted(art.aliases) == ["fresh", "latest"]
    art.aliases = ["latest"]
    art.save()
    maker = art.logged_by()
    assert maker is not None
    assert (maker.project, maker.job_type, maker.state) == ("lineage", "auto", "finished")
    assert art.used_by() == []
    with forebear.init(project="lineage", id="trainer") as run:
        used = run.use_artifact("lineage/corpus:latest")
    with forebear.init(project="lineage", id="evaluator") as run:
        run.use_artifact(art)
    assert [r.key for r in used.used_by()] == ["trainer", "evaluator"]
    assert used.get_entry("train.csv") == train
    # one file fetched alone (W&B's entry.download; its public API's files() have names)
    fetched = used.get_entry("train.csv").download(sdk.home / "one")
    assert fetched == sdk.home / "one" / "train.csv"
    assert fetched.read_text() == "x\n1\n"
    assert sorted(p.name for p in (sdk.home / "one").iterdir()) == ["train.csv"]
    assert [(f.name, f.size) for f in used.files()] == [("test.csv", 5), ("train.csv", 4)]
    with pytest.raises(forebear.ForebearError, match="not a logged version's file"):
        train.download()
    with pytest.raises(forebear.NotFound, match=r"no entry 'scratch/tmp\.bin'"):
        used.get_entry("scratch/tmp.bin")
    with pytest.raises(forebear.ForebearError, match="immutable"):
        used.remove("train.csv")

    api = forebear.Api()
    used.aliases.append("golden")  # W&B's way: edit the list, then save
    used.save()
    assert api.artifact("lineage/corpus:golden").id == used.id
    assert sorted(used.aliases) == ["golden", "latest"]
    assert api.artifact_exists("lineage/corpus:golden")
    assert api.artifact_exists("lineage/corpus", type="dataset")
    assert not api.artifact_exists("lineage/corpus", type="model")
    assert not api.artifact_exists("lineage/corpus:v7")
    # W&B's api.artifacts(type_name, name): that artifact's versions
    assert [v.id for v in api.artifacts("dataset", "my-team/lineage/corpus")] == [used.id]
    assert [v.id for v in api.artifact_versions("dataset", "lineage/corpus")] == [used.id]
    with pytest.raises(forebear.BadInput, match="is a dataset, not a model"):
        api.artifacts("model", "lineage/corpus")
    used.description = "edited"
    with pytest.raises(forebear.BadInput, match="description and metadata are fixed"):
        used.save()
    used.description = "two splits"
    used.aliases.remove("latest")
    with pytest.raises(forebear.BadInput, match="`latest` goes with the newest version"):
        used.save()
    used.aliases.append("latest")

    # Deleting: held aliases and dependents are refused before anything changes.
    with pytest.raises(forebear.Conflict, match="holds aliases golden: remove them with it"):
        used.delete()
    with pytest.raises(forebear.Conflict, match=r"2 run\(s\) used it.*\(confirm=True"):
        used.delete(delete_aliases=True)
    assert api.artifact_exists("lineage/corpus:golden")  # the refusal took nothing away
    used.delete(delete_aliases=True, confirm=True)
    assert not api.artifact_exists("lineage/corpus:golden")
    assert not api.artifact_exists("lineage/corpus:v0")
    assert api.history(str(used.id))[0].type == "artifact_version.deleted"  # newest first


def test_a_draft_of_a_logged_version_is_the_next_one_without_moving_kept_bytes(
    sdk: Sdk,
) -> None:
    """W&B's new_draft: the next version of a dataset from the last one plus this week's
    files, with nothing downloaded and the files kept from it not uploaded again."""
    week = sdk.home / "week1"
    week.mkdir()
    big = os.urandom(2 * 2**20)
    (week / "big.bin").write_bytes(big)
    (week / "a.csv").write_text("a\n")
    (week / "b.csv").write_text("b\n")
    with forebear.init(project="drafts") as run:
        v0 = run.log_artifact(week, name="clicks", type="dataset", aliases=["golden"])
    api = forebear.Api()
    downloaded = counted(sdk.base, 'forebear_transfer_bytes_total{direction="download"')
    draft = api.artifact("drafts/clicks:golden").new_draft()
    assert not draft.logged
    assert [f.path for f in draft.files()] == ["a.csv", "b.csv", "big.bin"]
    (sdk.home / "c.csv").write_text("c\n")
    (sdk.home / "b2.csv").write_text("b, revised\n")
    draft.add_file(sdk.home / "c.csv")
    draft.add_file(sdk.home / "b2.csv", name="b.csv")  # takes the kept one's place
    draft.remove("a.csv")
    assert draft.get_entry("big.bin").sha256 == hashlib.sha256(big).hexdigest()
    uploaded = _uploaded_bytes(sdk)
    with forebear.init(project="drafts") as run:
        v1 = run.log_artifact(draft)
    assert v1.version == "v1"
    assert _uploaded_bytes(sdk) - uploaded < 2**20  # the kept 2 MiB did not go up again
    assert counted(sdk.base, 'forebear_transfer_bytes_total{direction="download"') == downloaded
    assert {f.path: f.size for f in v1.files()} == {"b.csv": 11, "big.bin": 2**20 * 2, "c.csv": 2}
    root = v1.download(sdk.home / "v1")
    v1.verify(root)
    assert (root / "b.csv").read_text() == "b, revised\n"
    assert (root / "big.bin").read_bytes() == big
    # A draft of the latest left as it was is that version; an unlogged artifact is no draft.
    with forebear.init(project="drafts") as run:
        assert run.log_artifact(api.artifact("drafts/clicks").new_draft()).id == v1.id
    assert api.artifact("drafts/clicks:golden").id == v0.id
    with pytest.raises(forebear.ForebearError, match="not logged: it is a draft already"):
        forebear.Artifact("fresh", type="dataset").new_draft()
    offline = forebear.init(project="drafts", mode="offline")
    with pytest.raises(forebear.ForebearError, match="so it is logged online"):
        offline.log_artifact(v1.new_draft())
    with pytest.raises(forebear.ForebearError, match="so it is logged online"):
        offline.log_artifact(forebear.Artifact("clicks", "dataset", incremental=True))
    offline.finish()


def test_an_incremental_artifact_is_the_latest_version_with_its_changes(sdk: Sdk) -> None:
    """W&B's incremental=True: a version made of the latest one's files and references, those
    added and removed since, with nothing downloaded and only the new bytes uploaded."""
    shard = sdk.home / "shard"
    for name in ("0", "1", "2"):
        (sdk.home / f"{name}.bin").write_bytes(name.encode() * 1000)
    first = forebear.Artifact("shards", "dataset", incremental=True)  # no version yet: as is
    first.add_file(sdk.home / "0.bin", name="train/0.bin")
    first.add_file(sdk.home / "1.bin", name="train/1.bin")
    first.add_reference("s3://lake/extra.parquet", name="extra.parquet", size=10)
    with forebear.init(project="inc") as run:
        v0 = run.log_artifact(first)
    uploaded = _uploaded_bytes(sdk)
    more = forebear.Artifact("shards", "dataset", "shard 2 in, shard 0 out", incremental=True)
    more.add_file(sdk.home / "2.bin", name="train/2.bin")
    more.remove("train/0.bin")  # the latest version's: taken out when it is logged
    with forebear.init(project="inc") as run:
        v1 = run.log_artifact(more)
    assert (v0.version, v1.version) == ("v0", "v1")
    assert [f.path for f in v1.files()] == ["train/1.bin", "train/2.bin"]
    assert [r.path for r in v1.references()] == ["extra.parquet"]
    assert _uploaded_bytes(sdk) - uploaded == 1000  # shard 2 alone went up
    shard.mkdir()
    v1.verify(v1.download(shard))
    # removing a whole folder of the latest, and a type that is not the latest's
    gone = forebear.Artifact("shards", "dataset", incremental=True)
    gone.remove("train")
    with forebear.init(project="inc") as run:
        assert [r.path for r in run.log_artifact(gone).references()] == ["extra.parquet"]
        with pytest.raises(forebear.BadInput, match="incremental on inc/shards:v2, a dataset"):
            run.log_artifact(forebear.Artifact("shards", "model", incremental=True))
    assert forebear.Api().artifact("inc/shards:v2").files() == []


def _uploaded_bytes(sdk: Sdk) -> float:
    return counted(sdk.base, 'forebear_transfer_bytes_total{direction="upload"')


def test_lineage_and_changes_of_a_version_stop_at_what_the_caller_may_see(sdk: Sdk) -> None:
    """A registry viewer who is a member of one project: logged_by and used_by leave out the
    runs of the project they are not in, and delete or alias edits of a version there are
    refused."""
    (sdk.home / "w.bin").write_bytes(b"weights")
    with forebear.init(project="secret") as maker:
        made = maker.log_artifact(sdk.home / "w.bin", name="w", type="model")
        made.link("model/shared")
    with forebear.init(project="open", id="reader-run") as run:
        run.use_artifact("model/shared:v0")
    with forebear.init(project="secret", id="hidden-run") as run:
        run.use_artifact(made)
    key = sdk.gql('mutation { createUser(input: {name: "vic"}) { key } }')["createUser"]["key"]
    for grant in (
        'setProjectMember(input: {project: "open", principal: "vic"}) { __typename }',
        'setRegistryMember(input: {registry: "model", principal: "vic", role: VIEWER})'
        " { __typename }",
    ):
        sdk.gql(f"mutation {{ {grant} }}")
    seen = sdk.python(
        "import forebear\n"
        "v = forebear.Api().artifact('model/shared:v0')\n"
        "print(v.logged_by(), [r.key for r in v.used_by()])\n"
        "v.aliases.append('mine')\n"
        "for attempt in (v.save, lambda: v.delete(delete_aliases=True, confirm=True)):\n"
        "    try:\n"
        "        attempt()\n"
        "    except forebear.Refused as refused:\n"
        "        print('refused')\n",
        FOREBEAR_API_KEY=key,
    )
    assert seen.stdout.split("\n")[:3] == ["None ['reader-run']", "refused", "refused"]
    assert forebear.Api().artifact("secret/w:v0").aliases == ["latest"]  # nothing changed


def test_a_run_read_back_is_edited_and_saved_as_in_wandb(sdk: Sdk) -> None:
    """W&B's public-API edits: change a finished run's name, notes, tags, config and summary
    on the object, then `update()`; keys are never removed, job type and group stay."""
    with forebear.init(project="edits", id="r1", config={"lr": 0.1}, tags=["a"]) as run:
        run.log({"acc": 0.5})
    api = forebear.Api()
    found = api.run("edits/r1")
    assert found.update() is found  # nothing changed: nothing sent
    assert api.history(run.id)[0].type == "run.finished"
    found.name = "renamed"
    found.notes = "the good one"
    found.tags.append("best")
    found.config["seed"] = 7
    found.summary["best_acc"] = 0.5
    assert found.update() is found
    again = api.run("edits/r1")
    assert (again.name, again.notes, again.tags) == ("renamed", "the good one", ["a", "best"])
    assert again.config == {"lr": 0.1, "seed": 7}
    assert (again.summary["acc"], again.summary["best_acc"]) == (0.5, 0.5)
    assert again == found  # the object is the run as the server has it now
    assert api.history(run.id)[0].type == "run.updated"
    del again.config["lr"]
    with pytest.raises(forebear.BadInput, match=r"config\.lr: a run's keys are set, never removed"):
        again.update()
    again.config["lr"] = 0.1
    again.group = "sweep-1"
    with pytest.raises(forebear.BadInput, match="job_type and group are kept"):
        again.update()


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """A PNG's width, height and first row of pixels (8-bit, unfiltered rows)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    at, idat = 8, b""
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + size]
        at += 12 + size
    raw = zlib.decompress(idat)
    return width, height, raw[1 : 1 + len(raw) // height - 1]


def test_images_tables_and_histograms_logged_as_in_wandb_scripts(sdk: Sdk) -> None:
    red = numpy.zeros((4, 6, 3), dtype=numpy.uint8)
    red[:, :, 0] = 255
    grey = numpy.full((2, 2), 0.5)  # floats 0-1: scaled to 0-255
    photo = sdk.home / "cat.png"
    with forebear.init(project="media", mode="disabled") as scratch:  # nothing sent
        scratch.log({"x": forebear.Image(red)})
    photo.write_bytes(forebear.Image(red)._data)
    with forebear.init(project="media") as run:
        for step in range(2):
            run.log(
                {
                    "loss": 1.0 / (step + 1),
                    "val/examples": [forebear.Image(red, caption="red"), forebear.Image(grey)],
                    "weights": forebear.Histogram(numpy.arange(10.0), num_bins=5),
                    "grads": [0.5, 0.5, 1.5],  # W&B's list: logged as its histogram
                    "done": step == 1,  # a bool: 1 or 0
                    "val/acc": None,  # no value at this step: nothing logged
                }
            )
        with pytest.raises(forebear.ForebearError, match="step '3': give the step as a whole"):
            run.log({"loss": 0.1}, step="3")  # type: ignore[arg-type]
        table = forebear.Table(columns=["x", "y"], data=[[1, "a"]])
        table.add_data(2, "b")
        run.log({"preds": table})
        run.log({"photo": forebear.Image(photo)})
        with pytest.raises(forebear.ForebearError, match=r"log numbers \(or a list of them"):
            run.log({"lost": forebear.Image(red), "note": {"a", "set"}})  # refused whole
    api = forebear.Api()
    media = api.artifact(f"media/run-{run.id}-media")
    assert (media.type, media.logged_by().id) == ("run-media", run.id)  # type: ignore[union-attr]
    assert [f.path for f in media.files()] == [
        "grads/0.histogram.json",
        "grads/1.histogram.json",
        "photo/3.png",
        "preds/2.table.json",
        "val/examples/0_0.png",
        "val/examples/0_1.png",
        "val/examples/1_0.png",
        "val/examples/1_1.png",
        "weights/0.histogram.json",
        "weights/1.histogram.json",
    ]
    only = media.download(sdk.home / "only", path_prefix="val/")  # W&B's: part of it
    assert sorted(p.name for p in only.rglob("*") if p.is_file()) == [
        "0_0.png",
        "0_1.png",
        "1_0.png",
        "1_1.png",
    ]
    root = media.download(sdk.home / "media")
    assert _png_pixels((root / "val/examples/1_0.png").read_bytes()) == (6, 4, b"\xff\0\0" * 6)
    assert _png_pixels((root / "val/examples/1_1.png").read_bytes()) == (2, 2, b"\x80\x80")
    assert (root / "photo/3.png").read_bytes() == photo.read_bytes()
    assert json.loads((root / "preds/2.table.json").read_text()) == {
        "columns": ["x", "y"],
        "data": [[1, "a"], [2, "b"]],
    }
    histogram = json.loads((root / "weights/1.histogram.json").read_text())
    assert histogram == {"bins": [0.0, 1.8, 3.6, 5.4, 7.2, 9.0], "values": [2.0] * 5}
    found = api.run(run.id)
    assert found.summary["val/examples"][0] == {
        "_type": "image-file",
        "path": "val/examples/1_0.png",
        "format": "png",
        "width": 6,
        "height": 4,
        "caption": "red",
        "artifact": media.qualified_name,
    }
    assert found.summary["preds"]["nrows"] == 2
    assert found.metric_keys() == ["done", "loss"]  # media are no metrics
    assert [r["done"] for r in found.scan_history(keys=["done"])] == [0.0, 1.0]
    assert "val/acc" not in found.summary
    grads = json.loads((root / "grads/0.histogram.json").read_text())
    assert (sum(grads["values"]), grads["bins"][0], grads["bins"][-1]) == (3.0, 0.5, 1.5)
    assert [r["_step"] for r in found.scan_history()] == [0, 1]
    with pytest.raises(
        forebear.BadInput, match=r"give a \.png, \.jpg, \.jpeg, \.gif or \.bmp file"
    ):
        forebear.Image(sdk.home / "missing.png")
    with pytest.raises(forebear.BadInput, match="a row of 1 values in a table of 2 columns"):
        table.add_data(3)
    # W&B's columns: added whole, read back
    scores = forebear.Table(columns=["id"], data=[[1], [2]])
    scores.add_column("score", numpy.array([0.5, 0.25]))
    assert (scores.columns, scores.data) == (["id", "score"], [[1, 0.5], [2, 0.25]])
    assert scores.get_column("score") == [0.5, 0.25]
    empty = forebear.Table(columns=[])
    empty.add_column("a", [1, 2])
    assert empty.data == [[1], [2]]
    with pytest.raises(forebear.BadInput, match="column 'x': 1 values for 2 rows"):
        scores.add_column("x", [1])
    with pytest.raises(forebear.BadInput, match="no column 'nope': the table has id, score"):
        scores.get_column("nope")
    if importlib.util.find_spec("pandas") is None:  # not installed with the SDK
        with pytest.raises(forebear.BadInput, match="get_dataframe needs pandas"):
            scores.get_dataframe()
    with pytest.raises(forebear.BadInput, match="with 2 channels: use 1, 3 or 4"):
        forebear.Image(numpy.zeros((2, 2, 2)))
    # A torch tensor is channels first; a PIL image saves itself (neither is installed here:
    # stand-ins with the calls the SDK makes of them).
    chw = numpy.zeros((3, 2, 5), dtype=numpy.uint8)
    chw[2] = 255  # blue

    class Tensor:
        shape = chw.shape

        def detach(self) -> Tensor:
            return self

        def cpu(self) -> Tensor:
            return self

        def numpy(self) -> Any:
            return chw

    class PilImage:
        size = (6, 4)

        def save(self, out: Any, format: str) -> None:
            assert format == "PNG"
            out.write(forebear.Image(red)._data)

    assert _png_pixels(forebear.Image(Tensor())._data) == (5, 2, b"\0\0\xff" * 5)
    from_pil = forebear.Image(PilImage())
    assert (from_pil.width, from_pil.height, from_pil._data) == (6, 4, forebear.Image(red)._data)
    # W&B's artifact.add and get: media kept in an artifact of one's own, and read back
    preds = forebear.Artifact("preds", type="predictions")
    preds.add(table, "val_preds")
    preds.add(forebear.Image(red), "sample")
    assert preds.get("val_preds").data == table.data  # type: ignore[attr-defined]
    with forebear.init(project="media") as run:
        run.log_artifact(preds)
    back = api.artifact("media/preds")
    assert [f.path for f in back.files()] == ["sample.png", "val_preds.table.json"]
    got = back.get("val_preds")
    assert isinstance(got, forebear.Table)
    assert (got.columns, got.data) == (["x", "y"], [[1, "a"], [2, "b"]])
    assert isinstance(back.get("sample.png"), forebear.Image)
    with pytest.raises(forebear.NotFound, match="holds no media 'nope'"):
        back.get("nope")
    with pytest.raises(forebear.BadInput, match="add files with add_file"):
        preds.new_draft().add(red, "raw")  # type: ignore[arg-type]
    # DVCLive's log_image: the name without its suffix is the key, at the Live's step
    with forebear.Live(dir=str(sdk.home / "dvclive"), project="media") as live:
        live.log_image("confusion.png", red)
        live.next_step()
        live.log_image("plots/roc.v1.png", grey)
    from_live = api.artifact(f"media/run-{live.run.id}-media")
    assert [f.path for f in from_live.files()] == ["confusion/0.png", "plots/roc.v1/1.png"]
    written = sdk.home / "dvclive/plots/images"  # and where DVCLive writes them
    assert _png_pixels((written / "confusion.png").read_bytes()) == (6, 4, b"\xff\0\0" * 6)
    assert (written / "plots/roc.v1.png").is_file()


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks, (tag, body), each checked against its CRC."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    at, chunks = 8, []
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        tag, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        assert int.from_bytes(data[at + 8 + size : at + 12 + size], "big") == zlib.crc32(tag + body)
        chunks.append((tag, body))
        at += 12 + size
    return chunks


def test_a_tables_cells_hold_images_sounds_and_pages_as_in_wandb(sdk: Sdk) -> None:
    """W&B's prediction table: an image per row beside its label and score, logged with the
    run and kept in an artifact; each media cell is a file beside the table's, and `get`
    gives the media back."""
    red = numpy.zeros((2, 3, 3), dtype=numpy.uint8)
    red[:, :, 0] = 255
    preds = forebear.Table(columns=["image", "label", "score"])
    preds.add_data(forebear.Image(red, caption="first"), "cat", 0.9)
    preds.add_data(forebear.Image(numpy.full((1, 1), 1.0)), "dog", 0.4)
    preds.add_column("note", [forebear.Html("<b>sure</b>"), None])
    preds.add_column("tone", [None, forebear.Audio(numpy.zeros(80), sample_rate=8000)])
    with forebear.init(project="cells") as run:
        run.log({"preds": preds})
        kept = forebear.Artifact("eval", type="predictions")
        kept.add(preds, "preds")
        unlogged = kept.get("preds")  # before logging
        assert isinstance(unlogged, forebear.Table)
        assert unlogged.get_column("label") == ["cat", "dog"]
        dropped = forebear.Artifact("dropped", type="predictions")  # a table taken back out
        dropped.add(preds, "preds")
        dropped.add(preds, "preds2")  # another table, and its cells: they stay
        assert len(dropped.files()) == 10
        dropped.remove("preds.table.json")
        assert [f.path for f in dropped.files()] == [
            "preds2.table.json",
            "preds2.table/0_0.png",
            "preds2.table/0_3.html",
            "preds2.table/1_0.png",
            "preds2.table/1_4.wav",
        ]
        logged = run.log_artifact(kept)
    api = forebear.Api()
    media = api.artifact(f"cells/run-{run.id}-media")
    assert [f.path for f in media.files()] == [
        "preds/0.table.json",
        "preds/0.table/0_0.png",
        "preds/0.table/0_3.html",
        "preds/0.table/1_0.png",
        "preds/0.table/1_4.wav",
    ]
    root = media.download(sdk.home / "media")
    table = json.loads((root / "preds/0.table.json").read_text())
    assert table["data"][0] == [
        {"_type": "image-file", "path": "0.table/0_0.png", "format": "png", "width": 3,
         "height": 2, "caption": "first"},
        "cat",
        0.9,
        {"_type": "html-file", "path": "0.table/0_3.html"},
        None,
    ]  # fmt: skip
    assert _png_pixels((root / "preds/0.table/0_0.png").read_bytes()) == (3, 2, b"\xff\0\0" * 3)
    assert api.run(run.id).summary["preds"]["nrows"] == 2
    for version in (logged, api.artifact("cells/eval:latest")):
        assert sorted(f.path for f in version.files()) == [
            "preds.table.json",
            "preds.table/0_0.png",
            "preds.table/0_3.html",
            "preds.table/1_0.png",
            "preds.table/1_4.wav",
        ]
        got = version.get("preds")
        assert isinstance(got, forebear.Table)
        image, html, audio = got.data[0][0], got.data[0][3], got.data[1][4]
        assert isinstance(image, forebear.Image)
        assert (image.width, image.height, image.caption) == (3, 2, "first")
        assert isinstance(html, forebear.Html)
        assert html.html == "<b>sure</b>"
        assert isinstance(audio, forebear.Audio)
        assert (audio.sample_rate, audio.duration) == (8000, 0.01)
        assert got.get_column("score") == [0.9, 0.4]
    logged.verify(logged.download(sdk.home / "eval"))
    # A table, chart or histogram is no cell; a chart's cells are numbers and text.
    with pytest.raises(
        forebear.BadInput, match="a Table in a table's cell: a cell holds numbers, text, an Image"
    ):
        preds.add_data(forebear.Table(columns=["a"]), "x", 1, None, None)
    with pytest.raises(
        forebear.BadInput, match="an Image in a chart's cell: a chart draws numbers and text"
    ):
        forebear.plot.bar(
            forebear.Table(columns=["a", "b"], data=[[forebear.Image(red), 1]]), "a", "b"
        )
    assert len(preds.data) == 2  # the refused row was not added
    # A cell naming a file outside its table's cells folder is left as written, not read.
    (sdk.home / "secret.html").write_text("<p>not yours</p>")
    crafted = {"_type": "html-file", "path": f"../{sdk.home.name}/secret.html"}
    (sdk.home / "evil.table.json").write_text(json.dumps({"columns": ["c"], "data": [[crafted]]}))
    evil = forebear.Artifact("evil", type="predictions")
    evil.add_file(sdk.home / "evil.table.json")
    read = evil.get("evil")
    assert isinstance(read, forebear.Table)
    assert read.data == [[crafted]]


def test_audio_video_html_and_charts_logged_as_in_wandb_scripts(sdk: Sdk) -> None:
    import wave

    tone = numpy.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0])  # 2.0 is clipped
    frames = numpy.zeros((3, 3, 2, 4), dtype=numpy.uint8)  # time x channels x height x width
    for t in range(3):
        frames[t, t] = 255  # red, then green, then blue
    clip = sdk.home / "clip.mp4"
    clip.write_bytes(b"\0\0\0\x18ftypmp42")  # kept as it is: never decoded
    y_true = [0, 1, 1, 0, 2]
    y_probas = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.3, 0.6, 0.1], [0, 0, 1]]
    losses = forebear.Table(columns=["epoch", "loss"], data=[[0, 1.0], [1, 0.5]])
    with forebear.init(project="media") as run:
        run.log(
            {
                "sound": forebear.Audio(tone, sample_rate=8000, caption="tone"),
                "rollout": forebear.Video(frames, fps=2),
                "clip": forebear.Video(clip),
                "report": forebear.Html("<h1>Report</h1><script>alert(1)</script>"),
                "cm": forebear.plot.confusion_matrix(
                    y_true=y_true, probs=y_probas, class_names=["cat", "dog", "owl"]
                ),
                "pr": forebear.plot.pr_curve(y_true, y_probas, labels=["cat", "dog", "owl"]),
                "roc": forebear.plot.roc_curve(y_true, y_probas, classes_to_plot=[1]),
                "losses": forebear.plot.line(losses, "epoch", "loss", title="Loss"),
                "series": forebear.plot.line_series([0, 1], [[1, 2], [3, 4]], keys=["a", "b"]),
            }
        )
    api = forebear.Api()
    media = api.artifact(f"media/run-{run.id}-media")
    assert [(f.path, f.content_type) for f in media.files()] == [
        ("clip/0.mp4", "video/mp4"),
        ("cm/0.chart.json", "application/json"),
        ("losses/0.chart.json", "application/json"),
        ("pr/0.chart.json", "application/json"),
        ("report/0.html", "text/html"),
        ("roc/0.chart.json", "application/json"),
        ("rollout/0.apng", "image/apng"),
        ("series/0.chart.json", "application/json"),
        ("sound/0.wav", "audio/wav"),
    ]
    root = media.download(sdk.home / "media")
    with wave.open(str(root / "sound/0.wav")) as sound:
        assert (sound.getnchannels(), sound.getsampwidth(), sound.getframerate()) == (1, 2, 8000)
        pcm = numpy.frombuffer(sound.readframes(6), dtype="<i2").tolist()
    assert pcm == [0, 16384, -16384, 32767, -32767, 32767]
    # an animated PNG: 3 frames at 2 a second, the first also the still image
    chunks = _png_chunks((root / "rollout/0.apng").read_bytes())
    assert [tag for tag, _ in chunks] == [
        b"IHDR", b"acTL", b"fcTL", b"IDAT", b"fcTL", b"fdAT", b"fcTL", b"fdAT", b"IEND"
    ]  # fmt: skip
    assert chunks[1][1] == (3).to_bytes(4, "big") + (0).to_bytes(4, "big")
    assert [body[20:24] for tag, body in chunks if tag == b"fcTL"] == [b"\0\1\0\2"] * 3
    numbered = [body for tag, body in chunks if tag in (b"fcTL", b"fdAT")]
    assert [int.from_bytes(body[:4], "big") for body in numbered] == [0, 1, 2, 3, 4]
    last = zlib.decompress(chunks[7][1][4:])
    assert last[1:4] == b"\0\0\xff"  # the third frame is blue
    assert (root / "clip/0.mp4").read_bytes() == clip.read_bytes()
    assert "<script>" in (root / "report/0.html").read_text()  # kept as given
    cm = json.loads((root / "cm/0.chart.json").read_text())
    assert (cm["chart"], cm["columns"]) == (
        "confusion_matrix",
        ["Actual", "Predicted", "nPredictions"],
    )
    counts = {(a, p): n for a, p, n in cm["data"] if n}
    assert counts == {
        ("cat", "cat"): 1,
        ("dog", "dog"): 1,
        ("dog", "cat"): 1,
        ("cat", "dog"): 1,
        ("owl", "owl"): 1,
    }
    pr = json.loads((root / "pr/0.chart.json").read_text())
    assert pr["fields"] == {"x": "recall", "y": "precision", "class": "class"}
    dog = [(r, p) for c, r, p in pr["data"] if c == "dog"]
    # dog's scores, highest first: 0.7 (dog), 0.6 (cat), 0.3 (dog): precision 1 up to recall
    # 0.5, then 2/3 at recall 1
    assert (len(dog), dog[0], dog[10], dog[11], dog[20]) == (
        21,
        (0.0, 1.0),
        (0.5, 1.0),
        (0.55, 0.666667),
        (1.0, 0.666667),
    )
    roc = json.loads((root / "roc/0.chart.json").read_text())
    assert roc["data"] == [
        ["1", 0.0, 0.0],
        ["1", 0.0, 0.5],
        ["1", 0.333333, 0.5],
        ["1", 0.333333, 1.0],
        ["1", 0.666667, 1.0],
        ["1", 1.0, 1.0],
    ]  # scores 0.7 (1), 0.6, 0.3 (1), 0.1, 0: a point at each
    series = json.loads((root / "series/0.chart.json").read_text())
    assert series["data"] == [["a", 1, 0], ["a", 2, 1], ["b", 3, 0], ["b", 4, 1]]
    assert series["xname"] == "x"
    summary = api.run(run.id).summary
    assert summary["sound"] == {
        "_type": "audio-file",
        "path": "sound/0.wav",
        "format": "wav",
        "sample_rate": 8000,
        "duration": 0.00075,
        "caption": "tone",
        "artifact": media.qualified_name,
    }
    assert (summary["rollout"]["fps"], summary["rollout"]["width"]) == (2, 4)
    assert (summary["losses"]["chart"], summary["losses"]["title"]) == ("line", "Loss")
    assert summary["report"]["_type"] == "html-file"
    # kept with add and read back, before and after logging
    kept = forebear.Artifact("kept", type="media")
    kept.add(forebear.Audio(tone, sample_rate=8000), "tone")
    kept.add(forebear.plot.bar(losses, "epoch", "loss"), "bars")
    kept.add(forebear.Html("<p>hi</p>"), "page")
    assert kept.get("bars").chart == "bar"  # type: ignore[attr-defined]
    with forebear.init(project="media") as run:
        run.log_artifact(kept)
    back = api.artifact("media/kept")
    assert isinstance(back.get("tone"), forebear.Audio)
    assert back.get("tone").duration == 0.00075  # type: ignore[attr-defined]
    assert back.get("page").html == "<p>hi</p>"  # type: ignore[attr-defined]
    bars = back.get("bars.chart.json")
    assert (bars.fields, bars.data) == ({"label": "epoch", "value": "loss"}, losses.data)  # type: ignore[attr-defined]
    # an image file's size is read from its header, whichever the format
    gif = sdk.home / "a.gif"
    gif.write_bytes(b"GIF89a" + (7).to_bytes(2, "little") + (5).to_bytes(2, "little") + b"\0" * 20)
    jpeg = sdk.home / "a.jpg"  # SOI, an APP0 segment, then a start of frame: 8 bits, 3 x 9
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\0\x04ab\xff\xc0\0\x11\x08\0\x03\0\x09\x03" + b"\0" * 9)
    assert (forebear.Image(gif).width, forebear.Image(gif).height) == (7, 5)
    assert (forebear.Image(jpeg).width, forebear.Image(jpeg).height) == (9, 3)
    # what is refused, naming what to give
    with pytest.raises(forebear.BadInput, match="give the sample_rate of an array of samples"):
        forebear.Audio(tone)
    with pytest.raises(forebear.BadInput, match="not a WAV file"):
        forebear.Audio(clip.rename(sdk.home / "fake.wav"))
    with pytest.raises(forebear.BadInput, match="a batch of videos: log each apart"):
        forebear.Video(numpy.zeros((2, 3, 3, 2, 2)))
    with pytest.raises(
        forebear.BadInput, match=r"y='lost' is no column of the table \(epoch, loss\)"
    ):
        forebear.plot.line(losses, "epoch", "lost")
    with pytest.raises(forebear.BadInput, match="5 labels but 4 predictions"):
        forebear.plot.confusion_matrix(y_true=y_true, preds=[0, 1, 1, 0])
    with pytest.raises(forebear.BadInput, match="with 2 class_names, labels and predictions"):
        forebear.plot.confusion_matrix(y_true=y_true, preds=y_true, class_names=["a", "b"])
    with pytest.raises(forebear.BadInput, match="examples of at least two classes"):
        forebear.plot.roc_curve([1, 1], [[0.2, 0.8], [0.4, 0.6]])


TRAIN_AND_SAVE = """
import forebear, os, pathlib, tempfile
run = forebear.init(project="saves")
ckpt = pathlib.Path("ckpt"); ckpt.mkdir(exist_ok=True)
(ckpt / "model-0.pt").write_text("epoch 0")
print(run.save("ckpt/*.pt"))  # looked at again when the run ends
pathlib.Path("config.yaml").write_text("lr: 0.1")
forebear.save("config.yaml", policy="now")  # kept as it is now
pathlib.Path("config.yaml").write_text("lr: 0.2")
(ckpt / "model-1.pt").write_text("epoch 1")
pathlib.Path(run.dir, "notes.txt").write_text("in run.dir")  # W&B's: kept with the run too
print(run.log_code().qualified_name)
os.chdir(tempfile.gettempdir())  # the globs were taken from where save() was called
run.finish()
print(run.id)
"""


def test_files_saved_with_a_run_are_restored_and_its_code_is_logged(sdk: Sdk) -> None:
    """W&B's `save`, `restore` and `log_code`, as a training script calls them."""
    (sdk.home / "train.py").write_text(TRAIN_AND_SAVE)
    for folder, name in (("pkg", "util.py"), ("pkg", "notes.txt"), (".hidden", "x.py")):
        (sdk.home / folder).mkdir(exist_ok=True)
        (sdk.home / folder / name).write_text(name)
    (sdk.home / "venv").mkdir()
    (sdk.home / "venv" / "pyvenv.cfg").write_text("home = /usr")  # a virtualenv: not source
    (sdk.home / "venv" / "lib.py").write_text("x = 1")
    said = sdk.run([sys.executable, "train.py"], check=True, env={}).stdout.split("\n")
    assert said[:2] == ["['ckpt/model-0.pt']", "saves/source-saves-train.py:v0"]
    run_id = said[2]
    api = forebear.Api()
    files = api.artifact(f"saves/run-{run_id}-files")
    assert (files.type, [f.path for f in files.files()]) == (
        "run-files",
        ["ckpt/model-0.pt", "ckpt/model-1.pt", "config.yaml", "notes.txt"],
    )
    code = api.artifact("saves/source-saves-train.py")
    assert (code.type, [f.path for f in code.files()]) == ("code", ["pkg/util.py", "train.py"])
    # the same code run again is the same version; a change is the next one
    again = sdk.run([sys.executable, "train.py"], check=True, env={}).stdout.split("\n")
    assert again[1] == "saves/source-saves-train.py:v0"
    (sdk.home / "pkg" / "util.py").write_text("changed")
    assert sdk.run([sys.executable, "train.py"], check=True, env={}).stdout.split("\n")[1] == (
        "saves/source-saves-train.py:v1"
    )
    # restore: fetched into root and opened; what is there already is read unless replaced
    elsewhere = sdk.home / "elsewhere"
    with forebear.restore("ckpt/model-1.pt", run_path=f"saves/{run_id}", root=elsewhere) as f:
        assert f.read() == "epoch 1"
    with forebear.restore("config.yaml", run_path=f"me/saves/{run_id}", root=elsewhere) as f:
        assert f.read() == "lr: 0.1"  # as it was when saved with policy "now"
    (elsewhere / "config.yaml").write_text("mine")
    with forebear.restore("config.yaml", run_path=f"saves/{run_id}", root=elsewhere) as f:
        assert f.read() == "mine"
    with forebear.restore(
        "config.yaml", run_path=f"saves/{run_id}", root=elsewhere, replace=True
    ) as f:
        assert f.read() == "lr: 0.1"
    with pytest.raises(forebear.NotFound, match=r"kept no file 'model.pt' with save\(\); it kept"):
        forebear.restore("model.pt", run_path=f"saves/{run_id}")
    with pytest.raises(forebear.NotFound, match="no run 'saves/run_missing'"):
        forebear.restore("model.pt", run_path="saves/run_missing")
    # W&B's public API: a run's files, each downloaded where asked
    kept = api.run(f"saves/{run_id}")
    assert [(f.name, f.size) for f in kept.files()] == [
        ("ckpt/model-0.pt", 7),
        ("ckpt/model-1.pt", 7),
        ("config.yaml", 7),
        ("notes.txt", 10),
    ]
    with kept.file("ckpt/model-0.pt").download(sdk.home / "dl") as f:
        assert f.read() == "epoch 0"
    with pytest.raises(forebear.ForebearError, match="exists: pass replace=True"):
        kept.file("ckpt/model-0.pt").download(sdk.home / "dl")
    # a run named by the script's own id (W&B's) is found by it
    with forebear.init(project="saves", id="nightly-7") as keyed:
        (sdk.home / "keyed.txt").write_text("by key")
        keyed.save("keyed.txt")
    assert api.run("saves/nightly-7").files()[0].name == "keyed.txt"
    with forebear.restore("keyed.txt", run_path="saves/nightly-7", root=sdk.home / "k") as f:
        assert f.read() == "by key"
    with forebear.init(project="saves") as bare:
        pass
    with pytest.raises(
        forebear.NotFound, match="kept no file 'x' with save\\(\\); it kept: nothing"
    ):
        api.run(bare.id).file("x")
    with forebear.init(project="saves") as run:
        with pytest.raises(forebear.BadInput, match="'live', 'now' or 'end'"):
            run.save("*.pt", policy="often")
        with pytest.raises(forebear.BadInput, match="is not under base_path"):
            run.save("../*", base_path="pkg")
        notes = run.log_code("pkg", include_fn=lambda path, root: path.endswith(".txt"))
        assert notes is not None
        assert run.log_code("ckpt", name="none") is None  # nothing matched: nothing logged
    assert [f.path for f in notes.files()] == ["notes.txt"]


def test_a_training_process_killed_leaves_its_run_crashed_not_running(sdk: Sdk) -> None:
    """The out-of-memory killer's SIGKILL gives a script no last word: its run is CRASHED by
    the server once its heartbeats stop (four beats), as W&B's are, not RUNNING for ever.
    While the process lives and logs nothing (a long epoch), its heartbeats keep it RUNNING."""
    script = (
        "import forebear, time\n"
        "run = forebear.init(project='oom')\n"
        "run.log({'loss': 1.0})\n"
        "print(run.id, flush=True)\n"
        "time.sleep(600)\n"
    )
    status = "query($id: ID!) { run(id: $id) { status heartbeatSeconds summary } }"
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env={**sdk.env, "FOREBEAR_HEARTBEAT": "1"},
        cwd=sdk.home,
        stdout=subprocess.PIPE,
        text=True,
    ) as training:
        try:
            assert training.stdout is not None
            run_id = training.stdout.readline().strip()
            time.sleep(6)  # well past four beats, nothing logged: alive all the same
            alive = sdk.gql(status, id=run_id)["run"]
            assert (alive["status"], alive["heartbeatSeconds"]) == ("RUNNING", 1)
        finally:
            training.kill()
    deadline = time.monotonic() + 20
    while sdk.gql(status, id=run_id)["run"]["status"] == "RUNNING":
        assert time.monotonic() < deadline, "a killed run was left RUNNING"
        time.sleep(0.2)
    lost = sdk.gql(status, id=run_id)["run"]
    assert (lost["status"], lost["summary"]) == ("CRASHED", {"loss": 1.0})
    assert forebear.Api().run(f"oom/{run_id}").state == "crashed"  # as W&B's Api says it
