"""DVCLive's `Live`, logging to Forebear: a DVCLive script runs with `from forebear import
Live` in place of `from dvclive import Live`. Each `Live()` is a Forebear run; parameters go
to its config, metrics to its history at `live.step`, artifacts are logged versions; and the
files DVCLive writes in its `dir` are written too."""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import Any, SupportsFloat

from forebear import plot
from forebear._artifact import Artifact, PathLike
from forebear._errors import ForebearError
from forebear._graphql import jsonable
from forebear._media import Image, Table
from forebear._run import Run, _flattened, init, keep_run, kept_run, resolve_project

KEPT = "forebear-run.json"  # in Live's dir: the run it started, for the next resume=True


class Live:
    """A Forebear run with DVCLive's methods.

    The project is `project`, else FOREBEAR_PROJECT, else the name of the git repository the
    script runs in (a DVC project is one), else `uncategorized`, as `forebear.init`'s.
    `exp_name` names the run and `exp_message` is its notes. `report`, `save_dvc_exp`, `dvcyaml`,
    `cache_images` and `monitor_system` are accepted and change nothing: the run's page is its
    report, and no DVC experiment is saved (DVCLive's metrics.json, plots/metrics/*.tsv,
    params.yaml and plots/images are written in `dir`, for DVC to read). `resume=True` goes
    on with the run the last `Live` in `dir` started (kept in `dir/forebear-run.json`), at
    the step after its last one, as DVCLive goes on from its metrics file; without one it
    starts a new run."""

    def __init__(
        self,
        dir: str = "dvclive",
        resume: bool = False,
        report: str | None = None,
        save_dvc_exp: bool = True,
        dvcyaml: str | os.PathLike[str] | bool | None = "dvc.yaml",
        cache_images: bool = False,
        exp_name: str | None = None,
        exp_message: str | None = None,
        monitor_system: bool = False,
        *,
        project: str | None = None,
    ) -> None:
        self.dir = str(dir)
        kept = Path(dir) / KEPT
        project = resolve_project(project)
        run_id = kept_run(kept, project) if resume else None
        self.run: Run = init(
            project=project,
            name=exp_name,
            notes=exp_message,
            id=run_id,
            resume="must" if run_id else None,
        )
        self._step = self.run.starting_step  # resumed: the step after its last one
        keep_run(kept, project, self.run.id)
        self._inside_with = False
        self._files = _DvcFiles(Path(dir), resume=run_id is not None)

    def __repr__(self) -> str:
        return f"<Live {self.run.project}/{self.run.id} step {self.step}>"

    # --- steps and metrics -------------------------------------------------------------------

    @property
    def step(self) -> int:
        """The step metrics are logged at: 0 at first (resumed: the step after the run's
        last), one more after each `next_step`."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ForebearError(f"live.step = {value!r}: steps are whole numbers, 0 or more")
        self._step = value

    @property
    def summary(self) -> Any:
        """The run's summary: the last value of each metric, and what is set in it."""
        return self.run.summary

    def log_metric(
        self, name: str, val: SupportsFloat | str, timestamp: bool = False, plot: bool = True
    ) -> None:
        """Record `val` for metric `name` at the current step (in the run's summary only,
        with `plot=False`, or when it is text). NaN and infinities are kept. `timestamp`
        changes nothing: every point is stored with the time it arrived."""
        if plot:
            self.run.log({name: val}, step=self.step, commit=False)
        else:
            self.run.summary[name] = val
        self._files.metric(name, val, self.step, plot)

    def next_step(self) -> None:
        """End the current step: metrics logged next go to the one after it (DVCLive's
        metrics.json is written with this step's)."""
        self._files.summary(self.step)
        self.step = self.step + 1

    def log_param(self, name: str, val: Any) -> None:
        """Keep a parameter in the run's config."""
        self.log_params({name: val})

    def log_params(self, params: dict[str, Any]) -> None:
        """Keep parameters in the run's config (and in DVCLive's params.yaml)."""
        self.run.config.update(params)
        self._files.params(params)

    def make_summary(self) -> None:
        """Write DVCLive's metrics.json (the run's summary is sent as it changes)."""
        self._files.summary(self.step)

    def make_report(self) -> None:
        """Nothing to do: the run's page in Forebear is its report."""

    def make_dvcyaml(self) -> None:
        """Nothing to do: no dvc.yaml is written."""

    def sync(self) -> None:
        """Write DVCLive's metrics.json (metrics are sent in the background and the summary
        as it changes)."""
        self._files.summary(self.step)

    # --- artifacts ---------------------------------------------------------------------------

    def log_artifact(
        self,
        path: PathLike,
        type: str | None = None,
        name: str | None = None,
        desc: str | None = None,
        labels: list[str] | None = None,
        meta: dict[str, Any] | None = None,
        copy: bool = False,
        cache: bool = True,
    ) -> Artifact:
        """Log a file or directory as a new version of `name` (default: the path's stem, as
        DVCLive's) made by this run; `labels` become its aliases. With `cache=False` its bytes
        stay where they are: the version holds a `file://` reference to them. `copy` changes
        nothing (the bytes are uploaded from where they are). Return the logged version."""
        if not isinstance(path, (str, os.PathLike)):
            raise ForebearError(f"log_artifact({path!r}): pass the path of a file or directory")
        source = Path(path)
        if not source.exists():
            raise ForebearError(f"log_artifact: {source} does not exist")
        name = name or source.stem
        if cache:
            return self.run.log_artifact(
                source, name=name, type=type, desc=desc, labels=labels, meta=meta
            )
        artifact = Artifact(
            name=name, type=type or "artifact", description=desc or "", metadata=dict(meta or {})
        )
        artifact.add_reference(source.resolve().as_uri(), source.name)
        return self.run.log_artifact(artifact, labels=labels)

    def _not_here(self, what: str) -> ForebearError:
        return ForebearError(
            f"Live.{what} is not supported by Forebear: save it to a file and log that with "
            "live.log_artifact(path)"
        )

    def log_image(self, name: str, val: Any) -> None:
        """An image (a PIL image, an array of pixels, or an image file's path) at the current
        step, as `run.log({key: forebear.Image(val)})` logs it; the key is `name` without
        its suffix (`"confusion.png"`: `confusion`)."""
        image = Image(val)
        self.run.log({posixpath.splitext(name)[0]: image}, step=self.step, commit=False)
        self._files.image(name, image)

    def log_plot(
        self,
        name: str,
        datapoints: Any,
        x: str,
        y: str,
        template: str | None = "linear",
        title: str | None = None,
        x_label: str | None = None,
        y_label: str | None = None,
    ) -> None:
        """A chart of `datapoints` (a list of dicts, or a pandas DataFrame) at the current
        step, kept as a forebear.plot chart under `name` without its suffix: templates
        `linear`, `simple` and `smooth` draw `y` against `x`, `scatter` points,
        `bar_horizontal(_sorted)` a bar per `y` label of length `x`, `confusion(_normalized)`
        the counts of `x` (actual) against `y` (predicted). Labels are accepted and unused."""
        if hasattr(datapoints, "to_dict"):  # a DataFrame
            datapoints = datapoints.to_dict("records")
        rows = list(datapoints)
        if not rows or not all(isinstance(row, dict) for row in rows):
            raise ForebearError(
                f"log_plot({name!r}): datapoints are a list of dicts or a DataFrame"
            )
        columns = list(dict.fromkeys(key for row in rows for key in row))
        table = Table(columns=columns, data=[[row.get(c) for c in columns] for row in rows])
        kind = template or "linear"
        if kind in ("linear", "simple", "smooth"):
            chart = plot.line(table, x, y, title=title or "")
        elif kind == "scatter":
            chart = plot.scatter(table, x, y, title=title or "")
        elif kind in ("bar_horizontal", "bar_horizontal_sorted"):
            chart = plot.bar(table, y, x, title=title or "")
        elif kind in ("confusion", "confusion_normalized"):
            chart = plot.confusion_matrix(
                y_true=[row.get(x) for row in rows],
                preds=[row.get(y) for row in rows],
                title=title or "Confusion Matrix",
            )
        else:
            raise ForebearError(
                f"log_plot(template={template!r}): linear, simple, smooth, scatter, "
                "bar_horizontal, bar_horizontal_sorted, confusion or confusion_normalized"
            )
        self.run.log({posixpath.splitext(name)[0]: chart}, step=self.step, commit=False)

    def log_sklearn_plot(
        self,
        kind: str,
        labels: Any,
        predictions: Any,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        """DVCLive's scikit-learn plots at the current step, as forebear.plot charts under
        `name` (default: `kind`): `confusion_matrix` of labels and predicted labels; `roc` and
        `precision_recall` of binary labels (0 and 1) and the scores of class 1. `det` and
        `calibration` are not drawn: save them to a file and log_artifact it."""
        truth = [v.item() if hasattr(v, "item") else v for v in labels]
        if kind == "confusion_matrix":
            chart = plot.confusion_matrix(y_true=truth, preds=list(predictions))
        elif kind in ("roc", "precision_recall"):
            if not set(truth) <= {0, 1}:
                raise ForebearError(
                    f"log_sklearn_plot({kind!r}): labels are 0 and 1, and predictions the "
                    "scores of class 1"
                )
            scores = [[1.0 - float(p), float(p)] for p in predictions]
            draw = plot.roc_curve if kind == "roc" else plot.pr_curve
            chart = draw([int(t) for t in truth], scores, classes_to_plot=[1])
        else:
            raise self._not_here(f"log_sklearn_plot({kind!r})")
        self.run.log({posixpath.splitext(name or kind)[0]: chart}, step=self.step, commit=False)

    # --- ending ------------------------------------------------------------------------------

    def end(self) -> None:
        """Finish the run (inside a `with Live()` block, leaving the block does), having
        written DVCLive's metrics.json."""
        self._files.summary(self.step)
        if not self._inside_with:
            self.run.finish()

    def __enter__(self) -> Live:
        self._inside_with = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._inside_with = False
        self._files.summary(self.step)
        self.run.__exit__(kind, error, trace)


class _DvcFiles:
    """The files DVCLive writes in its `dir`, so that a DVC pipeline declaring them, `dvc exp
    show` and `dvc plots` go on working: `metrics.json` (each metric's latest value, nested
    at its '/'s, and the step), `plots/metrics/<name>.tsv` (timestamp, step and value of each
    point), `params.yaml` and `plots/images/<name>`."""

    def __init__(self, root: Path, *, resume: bool) -> None:
        self.root = root
        self.latest: dict[str, float | str] = {}
        self.kept: dict[str, Any] = {}
        if resume:  # go on from what the stopped session wrote
            with contextlib.suppress(OSError, ValueError):
                self.kept = _yaml_read(self.root / "params.yaml")
            with contextlib.suppress(OSError, ValueError):
                metrics = json.loads((self.root / "metrics.json").read_text())
                metrics.pop("step", None)
                self.latest = {
                    name: value if isinstance(value, str) else float(value)
                    for name, value in _flattened(metrics, "/").items()
                    if isinstance(value, (int, float, str))
                }
        elif (root / "plots" / "metrics").is_dir():  # a new experiment's plots start afresh
            shutil.rmtree(root / "plots" / "metrics")

    def metric(self, name: str, val: Any, step: int, plot: bool) -> None:
        if isinstance(val, str):  # text: in metrics.json, never plotted
            self.latest[name] = val
            return
        try:
            value = float(val)
        except (TypeError, ValueError):  # kept in the summary only (plot=False)
            return
        self.latest[name] = value
        if not plot:
            return
        path = self.root / "plots" / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with open(path, "a", encoding="utf-8") as f:
            if new:
                f.write(f"timestamp\tstep\t{posixpath.basename(name)}\n")
            f.write(f"{int(time.time() * 1000)}\t{step}\t{value}\n")

    def summary(self, step: int) -> None:
        nested: dict[str, Any] = {}
        for name, value in self.latest.items():
            *folders, leaf = name.split("/")
            into = nested
            for folder in folders:
                into = into.setdefault(folder, {})
            into[leaf] = value
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "metrics.json").write_text(json.dumps({**nested, "step": step}, indent=4))

    def params(self, params: dict[str, Any]) -> None:
        self.kept.update(params)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "params.yaml").write_text(_yaml(self.kept))

    def image(self, name: str, image: Image) -> None:
        path = self.root / "plots" / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.write(path)


PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _yaml(values: dict[str, Any], indent: str = "") -> str:
    """Parameters as block YAML: nested dicts indented, every other value in JSON's form
    (which YAML reads as the same value)."""
    lines = []
    for key, value in values.items():
        name = key if isinstance(key, str) and PLAIN_KEY.match(key) else json.dumps(str(key))
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{name}:\n{_yaml(value, indent + '  ')}")
        else:
            lines.append(f"{indent}{name}: {json.dumps(jsonable(value))}\n")
    return "".join(lines)


def _yaml_read(path: Path) -> dict[str, Any]:
    """Read back what `_yaml` wrote (and no other YAML): ValueError otherwise."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for line in path.read_text().splitlines():
        depth = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if text.startswith('"'):  # a quoted key, which may hold a colon
            name, end = json.JSONDecoder().raw_decode(text)
            value = text[end:].strip().removeprefix(":")
        else:
            name, _, value = text.partition(":")
        while stack[-1][0] >= depth:
            stack.pop()
        if value.strip():
            stack[-1][1][name] = json.loads(value)
        else:
            stack[-1][1][name] = {}
            stack.append((depth, stack[-1][1][name]))
    return root
