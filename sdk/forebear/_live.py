"""DVCLive's `Live`, logging to Forebear: a DVCLive script runs with `from forebear import
Live` in place of `from dvclive import Live`. Each `Live()` is a Forebear run; parameters go
to its config, metrics to its history at `live.step`, artifacts are logged versions."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from types import TracebackType
from typing import Any, SupportsFloat

from forebear._artifact import Artifact, PathLike
from forebear._errors import ForebearError
from forebear._media import Image
from forebear._run import Run, init, keep_run, kept_run, resolve_project

KEPT = "forebear-run.json"  # in Live's dir: the run it started, for the next resume=True


class Live:
    """A Forebear run with DVCLive's methods.

    The project is `project`, else FOREBEAR_PROJECT, else the name of the git repository the
    script runs in (a DVC project is one), else `uncategorized`, as `forebear.init`'s.
    `exp_name` names the run and `exp_message` is its notes. `report`, `save_dvc_exp`, `dvcyaml`,
    `cache_images` and `monitor_system` are accepted and change nothing: the run's page is its
    report, and no DVC experiment is saved. `resume=True` goes on with the run the last `Live`
    in `dir` started (kept in `dir/forebear-run.json`), at the step after its last one, as
    DVCLive goes on from its metrics file; without one it starts a new run."""

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
        self, name: str, val: SupportsFloat, timestamp: bool = False, plot: bool = True
    ) -> None:
        """Record `val` for metric `name` at the current step (in the run's summary only,
        with `plot=False`). NaN and infinities are kept. `timestamp` changes nothing: every
        point is stored with the time it arrived."""
        if plot:
            self.run.log({name: val}, step=self.step, commit=False)
        else:
            self.run.summary[name] = val

    def next_step(self) -> None:
        """End the current step: metrics logged next go to the one after it."""
        self.step = self.step + 1

    def log_param(self, name: str, val: Any) -> None:
        """Keep a parameter in the run's config."""
        self.log_params({name: val})

    def log_params(self, params: dict[str, Any]) -> None:
        """Keep parameters in the run's config."""
        self.run.config.update(params)

    def make_summary(self) -> None:
        """Nothing to do: the summary is sent as it changes."""

    def make_report(self) -> None:
        """Nothing to do: the run's page in Forebear is its report."""

    def make_dvcyaml(self) -> None:
        """Nothing to do: no dvc.yaml is written."""

    def sync(self) -> None:
        """Nothing to do: metrics are sent in the background and the summary as it changes."""

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
        self.run.log({posixpath.splitext(name)[0]: Image(val)}, step=self.step, commit=False)

    def log_plot(self, name: str, datapoints: Any, *args: Any, **kwargs: Any) -> None:
        raise self._not_here("log_plot")

    def log_sklearn_plot(self, kind: str, labels: Any, predictions: Any, **kwargs: Any) -> None:
        raise self._not_here("log_sklearn_plot")

    # --- ending ------------------------------------------------------------------------------

    def end(self) -> None:
        """Finish the run (inside a `with Live()` block, leaving the block does)."""
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
        self.run.__exit__(kind, error, trace)
