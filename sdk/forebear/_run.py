"""Runs: `forebear.init` starts one; metrics are batched and sent in the background; artifacts
are logged, used and linked through it; `finish` (or leaving its `with` block, or the
process exiting) ends it."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import fnmatch
import glob
import json
import math
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import timedelta
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

from forebear._api import Api, LinkedVersion
from forebear._artifact import Artifact, PathLike, registry_path, stand_in
from forebear._errors import BadInput, Conflict, ForebearError, NotFound
from forebear._graphql import jsonable, read_numbers
from forebear._media import MediaLog, media_of
from forebear._runs import project_page

# Points are sent when this many wait, or after FLUSH_SECONDS, whichever comes first.
BATCH = 1000
FLUSH_SECONDS = 1.0

_current: Run | None = None
_open: list[Run] = []  # every run this process started and has not finished, oldest first
_crashed = False


def current() -> Run | None:
    """The run `init` started last in this process, until it finishes."""
    return _current


class _Synced(MutableMapping[str, Any]):
    """A run's config or summary: a dict whose changes are sent to the server (updateRun)."""

    def __init__(self, run: Run, field: str, values: Mapping[str, Any]) -> None:
        self._run, self._field, self._values = run, field, dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise ForebearError(f"run {self._field} keys cannot be removed, only set")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(self._values)

    def __getattr__(self, name: str) -> Any:
        """W&B's attribute access: `config.lr` is `config["lr"]`."""
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"run {self._field} has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        """`config.lr = 0.1` sets the key (and saves it), as in W&B."""
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def setdefaults(self, values: Mapping[str, Any]) -> None:
        """Set the keys not set yet (W&B's `config.setdefaults`)."""
        self.update({k: v for k, v in values.items() if k not in self._values})

    def update(
        self, values: Any = (), /, allow_val_change: bool | None = None, **kwargs: Any
    ) -> None:
        """Set keys from a dict, an argparse Namespace or a dataclass (and keyword arguments),
        as W&B's `config.update` (whose `allow_val_change` is accepted: values may change)."""
        changes = {**_values_of(values, f"run.{self._field}.update"), **jsonable(kwargs)}
        if not changes:
            return
        self._run._update(**{self._field: changes})
        self._values.update(read_numbers(changes))  # NaN kept as NaN, as logged metrics are

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class AlertLevel(str, Enum):
    """How urgent a run's alert is (W&B's `AlertLevel`)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


ALERT_WAIT = timedelta(minutes=1)  # W&B's: the same title is not sent again sooner


class Run:
    """One execution of training code (a W&B run, an MLflow run)."""

    journaled = False  # whether what it logs is written down for `forebear sync` (offline)

    def __init__(self, api: Api, record: dict[str, Any], disabled: bool = False) -> None:
        self.api = api
        self.id: str = record["id"]
        self._name: str = record.get("name") or ""
        self.project: str = record["project"]
        self.job_type: str | None = record.get("jobType")
        self.group: str | None = record.get("group")
        self._notes: str | None = record.get("notes")
        self._tags: tuple[str, ...] = tuple(sorted(set(record.get("tags") or ())))
        self.disabled = disabled
        self.config = _Synced(self, "config", record.get("config") or {})
        self.summary = _Synced(self, "summary", read_numbers(record.get("summary") or {}))
        # W&B's: whether init resumed a run that existed, and the step its history goes on at
        self.resumed: bool = bool(record.get("resumed"))
        last_step = record.get("lastStep")
        self.starting_step: int = 0 if last_step is None else last_step + 1
        self._step = self.starting_step
        self._finished = False
        self._resume_file: Path | None = None  # forgotten when the run finishes cleanly
        self._aggregates = _Aggregates()  # define_metric's summaries
        self._media = MediaLog()  # images, tables and histograms logged
        self._saved = _Saved()  # files kept with the run (save, and what `dir` holds)
        self._alerted: dict[str, float] = {}  # alert title -> when it was last sent
        self._summary_steps: dict[str, int] = {}  # metric -> the step its summary value is at
        self._texts: dict[str, str] = {}  # text logged: each key's latest, for the summary
        self._root = Path.cwd()  # where `dir` is made (init's `dir`)
        self._dir: Path | None = None
        self._sender = (
            None if disabled else _MetricSender(api, self.id, record.get("heartbeatSeconds"))
        )

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.id} {self.name!r}>"

    # As W&B's: a run's name, tags and notes save as they are set.
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._update(name=value)
        self._name = value

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's labels, sorted; setting them replaces them (`run.tags += ("best",)`)."""
        return self._tags

    @tags.setter
    def tags(self, value: Iterable[str]) -> None:
        tags = tuple(sorted(set(value)))
        self._update(tags=list(tags))
        self._tags = tags

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._update(notes=value)
        self._notes = value

    @property
    def path(self) -> str:
        """`project/id`, as `Api().run(path)` and `restore(run_path=)` take it (W&B's
        `entity/project/id`, without the entity)."""
        return f"{self.project}/{self.id}"

    @property
    def url(self) -> str | None:
        """The run on its project's page in the web app (W&B's `run.url`); None for a run
        that is not on a server (offline until synced, or disabled)."""
        return None if self.disabled else f"{self.project_url}?run={self.id}"

    @property
    def project_url(self) -> str | None:
        """The project's page in the web app: its runs, compared (W&B's `run.project_url`)."""
        if self.disabled:
            return None
        return project_page(self.api.settings.url, self.project)

    # --- metrics -----------------------------------------------------------------------------

    def log(
        self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """Record metric values at a step (default: one more than the last log call's).
        Numbers (NaN and infinities are kept: a diverged loss is data; a bool as 1 or 0; None
        logs nothing; a nested dict's under dotted keys, `train.loss`), sent in the
        background, in batches, and each key's latest in `run.summary` at once (as W&B's);
        text (`"phase": "eval"`): its latest in the summary only, sent when the run ends; a
        list of numbers or an array as its Histogram; and forebear media
        (Image, Audio, Video, Html, Table, Histogram, forebear.plot charts: one or a list),
        kept as files of the run's media artifact. `commit=False` (W&B's) keeps the step
        open: the next call logs at the same one."""
        self._require_running()
        if step is None:
            step = self._step
        elif isinstance(step, bool) or not hasattr(step, "__index__") or step < 0:
            raise ForebearError(f"step {step!r}: give the step as a whole number, 0 or more")
        step = int(step)
        numbers, media, texts = {}, {}, {}
        for key, value in _flattened(data).items():
            if value is None:  # W&B's "no value at this step": nothing is logged for the key
                continue
            if isinstance(value, str):
                texts[str(key)] = value
            elif (found := media_of(value)) is None:
                numbers[str(key)] = _number(key, value)
            else:
                media[str(key)] = found
        if not self.disabled or self.journaled:  # once every value is known good
            for key, found in media.items():
                self._media.add(key, step, found)
        points = [{"step": step, "key": k, "value": jsonable(v)} for k, v in numbers.items()]
        self._step = max(self._step, step if commit is False else step + 1)
        self._send(points)
        self._aggregates.add(numbers)
        for key, value in {**numbers, **texts}.items():  # each key's value at its top step
            if step >= self._summary_steps.get(key, -1):
                self._summary_steps[key] = step
                self.summary._values[key] = value
                if key in texts:  # the server has numbers only: text goes in the summary
                    self._texts[key] = texts[key]
                else:  # a number logged after text: the server's summary has it
                    self._texts.pop(key, None)

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> None:
        """W&B's `define_metric`: `summary` names aggregates ("min", "max", "mean", "first",
        "last", "best" with `goal` "minimize" or "maximize"; several with commas) of the
        values this run logs for `name` (a glob: "val/*"); when the run finishes they go in
        its summary under the metric's key (`{"loss": {"min": 0.1}}`). Only finite values
        count. `step_metric`, `step_sync`, `hidden` and `overwrite` are accepted: charts
        plot every metric against the run's steps."""
        self._aggregates.define(name, summary, goal)

    def watch(
        self,
        models: Any,
        criterion: Any = None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
    ) -> None:
        """W&B's `watch`: each model's parameter count goes in the run's summary
        (`model/<class>/parameters`). Gradients and weights are not kept."""
        found = {}
        for model in models if isinstance(models, (list, tuple)) else [models]:
            parameters = getattr(model, "parameters", None)
            if not callable(parameters):
                raise ForebearError(
                    f"watch({type(model).__name__}): not a model with parameters() (a torch "
                    "nn.Module)"
                )
            found[f"model/{type(model).__name__}/parameters"] = sum(
                int(p.numel()) for p in parameters()
            )
        self.summary.update(found)

    def unwatch(self, models: Any = None) -> None:
        """W&B's `unwatch`: `watch` keeps nothing to stop."""

    def alert(
        self,
        title: str,
        text: str = "",
        level: AlertLevel | str = "INFO",
        wait_duration: float | timedelta | None = None,
    ) -> None:
        """Raise an alert, as W&B's `run.alert`: an event that the project's automations with
        the RUN_ALERT trigger send as webhooks (to a Slack channel, a pager, a CI job). An
        alert with the same title within `wait_duration` (seconds or a timedelta; default a
        minute) of the last one sent is not sent again. `level`: INFO, WARN or ERROR."""
        self._require_running()
        try:
            severity = AlertLevel(level.upper() if isinstance(level, str) else level)
        except ValueError:
            raise BadInput(f"alert level {level!r}: give INFO, WARN or ERROR") from None
        if not title:
            raise BadInput("an alert needs a title: what happened, in a line")
        wait = wait_duration if wait_duration is not None else ALERT_WAIT
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        now = time.monotonic()
        last = self._alerted.get(title)
        if last is not None and now - last < seconds:
            return
        self._alerted[title] = now
        self._alert(title, text, severity.value)

    def _alert(self, title: str, text: str, level: str) -> None:
        if not self.disabled:
            self.api._alert_run(self.id, title, text, level)

    def mark_preempting(self) -> None:
        """W&B's `mark_preempting`: nothing to mark; a stopped run goes on when started again
        with `init(id=..., resume="allow")`."""

    def _send(self, points: list[dict[str, Any]]) -> None:
        """Where checked metric points go: the background sender (none when disabled)."""
        if self._sender is not None:
            self._sender.put(points)

    # --- artifacts ---------------------------------------------------------------------------

    def log_artifact(
        self,
        artifact_or_path: Artifact | PathLike | None = None,
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        path: PathLike | None = None,
        desc: str | None = None,
        labels: list[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Artifact:
        """Log an artifact (or a file or directory path) as a new version produced by this
        run; return the logged version. `path`, `desc`, `labels` and `meta` are DVCLive's
        names (labels become aliases)."""
        self._require_running()
        source = artifact_or_path if artifact_or_path is not None else path
        if source is None:
            raise ForebearError("log_artifact needs an Artifact or a path")
        artifact = _artifact_of(source, name, type, description or desc, metadata or meta)
        wanted = [*artifact.aliases, *(aliases or []), *(labels or [])]  # its own, set before
        return self._log_built(artifact, tuple(dict.fromkeys(wanted)))

    def _log_built(self, artifact: Artifact, aliases: tuple[str, ...]) -> Artifact:
        """Where a built artifact goes: the server (nowhere when disabled)."""
        if self.disabled:
            return artifact
        return self.api.log_artifact(artifact, project=self.project, run=self.id, aliases=aliases)

    def use_artifact(
        self,
        ref: str | Artifact,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """Record that this run used a version (project/name:alias|vN, a bare name:alias in
        this run's project, a registry/collection:alias, or a logged Artifact; without
        :alias or :vN, the latest); return it. W&B's `aliases` (for an artifact it logs on
        the spot: here one is logged first) and `use_as` are accepted and unused."""
        self._require_running()
        if self.disabled:  # nothing is read from a server, nor recorded
            if isinstance(ref, Artifact):
                return ref
            return stand_in(ref, type, f"FOREBEAR_MODE=disabled: {ref} is not read from a server")
        if isinstance(ref, Artifact):
            if not ref.logged:
                raise ForebearError(f"{ref.name!r} is not logged: log it before using it")
            ref = ref.id or ""
        elif "/" not in ref and not ref.startswith("ver_"):
            ref = f"{self.project}/{ref}"
        artifact = self.api.artifact(ref, type)
        self.api._use_version(self.id, artifact.id or "")
        return artifact

    def link_artifact(
        self,
        artifact: Artifact | str,
        target_path: str,
        aliases: list[str] | None = None,
    ) -> LinkedVersion | None:
        """Link a logged version (an Artifact, or a name logged by this run's project) into
        a registry collection, `registry/collection`, made first when it does not exist."""
        self._require_running()
        if self.disabled:
            return None
        if isinstance(artifact, str):
            version = artifact if "/" in artifact else f"{self.project}/{artifact}"
        elif artifact.logged:
            version = artifact.id or ""
        else:
            raise ForebearError(f"{artifact.name!r} is not logged: log it with log_artifact first")
        return self.api.link(version, registry_path(target_path), tuple(aliases or ()))

    def log_model(
        self, path: PathLike, name: str | None = None, aliases: list[str] | None = None
    ) -> Artifact:
        """Log a model file or directory as a `model` artifact (named `run-<run id>-<file
        name>` by default), as W&B's log_model does; return the logged version."""
        name = name or f"run-{self.id}-{Path(path).name}"
        return self.log_artifact(path, name=name, type="model", aliases=aliases)

    def use_model(self, name: str) -> Path:
        """Use a `model` artifact (as use_artifact, which records it) and download it; the
        path of its one file, or of the directory when it holds several (W&B's use_model)."""
        root = self.use_artifact(name, type="model").download()
        inside = os.listdir(root)
        return root / inside[0] if len(inside) == 1 else root

    def link_model(
        self,
        path: PathLike,
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> LinkedVersion | None:
        """Log a model file or directory and link it into the `model` registry as
        `registered_model_name` (made when missing), as W&B's link_model does."""
        artifact = self.log_model(path, name)
        return self.link_artifact(artifact, f"model/{registered_model_name}", aliases)

    # --- files kept with the run: W&B's save and log_code ----------------------------------

    def save(
        self,
        glob_str: PathLike | None = None,
        base_path: PathLike | None = None,
        policy: str = "live",
    ) -> list[str]:
        """Keep files with the run (W&B's `save`): those `glob_str` matches (`**` included),
        named by their path from `base_path` (default: the working directory, or a glob's own
        folder when it is absolute). They are logged as the run's `run-<run id>-files`
        artifact when it ends; `forebear.restore` fetches one back. With policy "live" or
        "end" the glob is looked at again then, so files written later count; "now" keeps
        the files as they are at once. Returns the names matched now."""
        self._require_running()
        if policy not in ("live", "now", "end"):
            raise BadInput(f"save(policy={policy!r}): 'live', 'now' or 'end'")
        if glob_str is None:
            return []
        return self._saved.add(os.fspath(glob_str), base_path, now=policy == "now")

    @property
    def dir(self) -> str:
        """A folder of the run's own (W&B's `run.dir`, under `.forebear/` where the run was
        started, or init's `dir`): what is written in it when the run ends is kept with the
        run, as `save` keeps files."""
        if self._dir is None:
            folder = self._root / ".forebear" / f"run-{self.id}" / "files"
            folder.mkdir(parents=True, exist_ok=True)
            self._saved.add(os.path.join(glob.escape(str(folder)), "**", "*"), folder, now=False)
            self._dir = folder
        return str(self._dir)

    def log_code(
        self,
        root: PathLike = ".",
        name: str | None = None,
        include_fn: Callable[..., bool] | None = None,
        exclude_fn: Callable[..., bool] | None = None,
    ) -> Artifact | None:
        """Log the source under `root` as a `code` artifact used by nothing and made by this
        run (W&B's `log_code`): its .py files, or those `include_fn(path, root)` picks, but
        for those `exclude_fn(path, root)` leaves out; hidden folders, virtualenvs, caches
        and node_modules are never looked in. Named `source-<project>-<script>` by default,
        so each script's code is one artifact whose versions are its changes (unchanged code
        is the same version). None when no file matched."""
        self._require_running()
        folder = Path(root)
        if not folder.is_dir():
            raise BadInput(f"log_code({os.fspath(root)!r}): not a directory")
        code = Artifact(name or _source_name(self.project, self.id), type="code")
        found = False
        for path in _source_files(folder, include_fn, exclude_fn):
            code.add_file(path, name=path.relative_to(folder).as_posix())
            found = True
        return self.log_artifact(code) if found else None

    # --- ending ------------------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        if not self.disabled:
            self.api._update_run(self.id, changes)

    def _require_running(self) -> None:
        if self._finished:
            raise ForebearError(f"run {self.id} has finished: start another with forebear.init")

    def _close(self) -> bool:
        """Mark the run finished, no longer open nor current; False when it was already."""
        global _current
        if self._finished:
            return False
        self._finished = True
        if self in _open:
            _open.remove(self)
        if _current is self:
            _current = None
        return True

    def finish(
        self, status: str = "FINISHED", exit_code: int | None = None, quiet: bool | None = None
    ) -> None:
        """Send what is waiting and end the run (FINISHED, FAILED or CRASHED); once. W&B's
        `exit_code` other than 0 ends it FAILED; `quiet` is accepted and unused."""
        status = ended(status, exit_code)
        if not self._close():
            return
        if self._sender is not None:
            self._sender.close()
        failed = self._wrap_up()
        if not self.disabled:
            self.api._finish_run(self.id, status)
            self.api.close()  # reopened if a logged artifact of the run is downloaded later
        if self._resume_file is not None and status == "FINISHED":
            self._resume_file.unlink(missing_ok=True)  # nothing to resume: the next is new
        if self._sender is not None and self._sender.error is not None:
            raise self._sender.error
        for error in failed:
            raise error

    def _wrap_up(self) -> list[ForebearError]:
        """Log the run's media and the files `save` kept, and set its ending summary
        (define_metric's aggregates and each media key's last file, in one change); the errors
        of what was not sent (the run is finished all the same)."""
        media, unsent = self._log_media()
        unsaved = self._log_saved()
        ending = {**self._texts, **self._aggregates.summary(), **media}
        if ending:
            self.summary.update(ending)
        return [error for error in (unsent, unsaved) if error is not None]

    def _log_media(self) -> tuple[dict[str, Any], ForebearError | None]:
        """Log the media logged as the run's `run-<id>-media` artifact: the summary's entries
        naming each key's last one, and the error, if that failed."""
        root = self._media.root
        if root is None:
            return {}, None
        logged, failed = self._log_own("media", lambda media: media._add_dir_when_logged(root))
        return ({} if logged is None else self._media.summary(logged.qualified_name)), failed

    def _log_saved(self) -> ForebearError | None:
        """Log the files `save` kept as the run's `run-<id>-files` artifact; the error, if
        that failed."""
        if not self._saved:
            return None
        return self._log_own("files", self._saved.fill)[1]

    def _log_own(
        self, kind: str, fill: Callable[[Artifact], None]
    ) -> tuple[Artifact | None, ForebearError | None]:
        """Log one of the run's own artifacts, `run-<id>-<kind>` of type `run-<kind>`, going
        on from the one an earlier session of a resumed run logged (a draft of it): the
        logged version, or the error (the run is finished all the same; the error is said)."""
        name = f"run-{self.id}-{kind}"
        try:
            own = Artifact(name, type=f"run-{kind}")
            if self.resumed and not self.disabled:  # what the run logged before goes on too
                with contextlib.suppress(NotFound):
                    own = self.api.artifact(f"{self.project}/{name}").new_draft()
            fill(own)
            return self._log_built(own, ()), None
        except Exception as exc:  # whatever it was, the run is still finished, then it is said
            print(f"forebear: the {kind} of run {self.id} were not sent: {exc}", file=sys.stderr)
            return None, exc if isinstance(exc, ForebearError) else ForebearError(str(exc))

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.finish("FINISHED" if kind is None else "FAILED")


class _Aggregates:
    """The summaries `define_metric` asks for, kept as metrics are logged."""

    KINDS = ("min", "max", "mean", "first", "last", "best")

    def __init__(self) -> None:
        self.defined: list[tuple[str, tuple[str, ...], str | None]] = []
        self.kinds_of: dict[str, tuple[tuple[str, ...], str | None]] = {}  # key: its own
        self.values: dict[str, list[float]] = {}  # key -> [min, max, sum, count, first, last]

    def define(self, name: str, summary: str | None, goal: str | None) -> None:
        kinds = tuple(k.strip() for k in (summary or "").split(",") if k.strip())
        unknown = [k for k in kinds if k not in (*self.KINDS, "copy", "none")]
        if unknown:
            raise ForebearError(
                f"define_metric({name!r}, summary={summary!r}): {', '.join(unknown)} is not "
                f"one of {', '.join(self.KINDS)}"
            )
        if "best" in kinds and goal not in ("minimize", "maximize"):
            raise ForebearError(
                f"define_metric({name!r}, summary='best'): give goal='minimize' or 'maximize'"
            )
        kinds = tuple("last" if k == "copy" else k for k in kinds if k != "none")
        self.defined.append((name, kinds, goal))
        self.kinds_of.clear()  # keys are matched again against every definition

    def add(self, numbers: Mapping[str, float]) -> None:
        if not self.defined:
            return
        for key, value in numbers.items():
            if key not in self.kinds_of:
                found = [
                    (k, g) for pattern, k, g in self.defined if fnmatch.fnmatchcase(key, pattern)
                ]
                self.kinds_of[key] = found[-1] if found else ((), None)  # the last one wins
            if not self.kinds_of[key][0] or not math.isfinite(value):
                continue
            kept = self.values.get(key)
            if kept is None:
                self.values[key] = [value, value, value, 1, value, value]
            else:
                kept[0], kept[1] = min(kept[0], value), max(kept[1], value)
                kept[2], kept[3], kept[5] = kept[2] + value, kept[3] + 1, value

    def summary(self) -> dict[str, dict[str, float]]:
        found = {}
        for key, (low, high, total, count, first, last) in self.values.items():
            kinds, goal = self.kinds_of[key]
            every = {"min": low, "max": high, "mean": total / count, "first": first, "last": last}
            every["best"] = low if goal == "minimize" else high
            found[key] = {kind: every[kind] for kind in kinds}
        return found


class _MetricSender:
    """A thread that sends metric points in batches; `close` sends the rest and stops it. The
    first error is kept and raised by `Run.finish`. With `beat`, it also says the run is alive
    when nothing was sent for that many seconds (the server CRASHES a run long unheard)."""

    def __init__(self, api: Api, run_id: str, beat: float | None = None) -> None:
        self.api, self.run_id, self.beat = api, run_id, beat
        self.heard = time.monotonic()  # when the server last heard from this run
        self.queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()
        self.error: ForebearError | None = None
        self.thread = threading.Thread(target=self._loop, name="forebear-metrics", daemon=True)
        self.thread.start()

    def put(self, points: list[dict[str, Any]]) -> None:
        self.queue.put(points)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _loop(self) -> None:
        waiting: list[dict[str, Any]] = []
        deadline = time.monotonic() + FLUSH_SECONDS
        while True:
            try:
                item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = []
            if item:
                waiting += item
            if item is None or len(waiting) >= BATCH or time.monotonic() >= deadline:
                while waiting:
                    self._send(waiting[:BATCH])
                    waiting = waiting[BATCH:]
                deadline = time.monotonic() + FLUSH_SECONDS
            if item is None:
                return
            if self.beat is not None and time.monotonic() - self.heard >= self.beat:
                self._heartbeat()

    def _heartbeat(self) -> None:
        self.heard = time.monotonic()  # failed or not, the next one is a beat away
        try:
            self.api._heartbeat(self.run_id)
        except Conflict:  # ended elsewhere (finishRun by another client): nothing to say
            self.beat = None
        except ForebearError:  # the server away for a moment: the next beat may reach it
            pass

    def _send(self, points: list[dict[str, Any]]) -> None:
        if self.error is not None:
            return
        try:
            self.api._log_metrics(self.run_id, points)
            self.heard = time.monotonic()  # metrics say it is alive too
        except ForebearError as exc:
            self.error = exc
            print(f"forebear: metrics of run {self.run_id} were not sent: {exc}", file=sys.stderr)


class _Saved:
    """What `save` asked for: globs looked at again when the run ends, and files kept as
    they were (policy "now", copied into a folder removed with this object)."""

    def __init__(self) -> None:
        self._globs: list[tuple[str, Path]] = []
        self._copies: Path | None = None

    def __bool__(self) -> bool:
        return bool(self._globs) or self._copies is not None

    def add(self, pattern: str, base_path: PathLike | None, *, now: bool) -> list[str]:
        # Both made absolute now: a script that changes directory later changes nothing.
        base = Path(base_path).resolve() if base_path is not None else Path.cwd()
        if base_path is None and os.path.isabs(pattern):
            base = Path(pattern).parent
            while glob.has_magic(str(base)):
                base = base.parent
        if not os.path.isabs(pattern):
            pattern = os.path.join(glob.escape(os.getcwd()), pattern)
        matched = _matched(pattern, base)
        if not now:
            self._globs.append((pattern, base))
            return list(matched)
        if self._copies is None:
            self._copies = Path(tempfile.mkdtemp(prefix="forebear-saved-"))
            weakref.finalize(self, shutil.rmtree, str(self._copies), True)
        for entry, path in matched.items():
            copy = self._copies / entry
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
        return list(matched)

    def fill(self, artifact: Artifact) -> None:
        """Add the kept files, then what each glob matches now (a later one wins a name)."""
        if self._copies is not None:
            artifact.add_dir(self._copies)
        for pattern, base in self._globs:
            for entry, path in _matched(pattern, base).items():
                artifact.add_file(path, name=entry)


def _matched(pattern: str, base: Path) -> dict[str, Path]:
    """The files a glob matches, by their path from `base` (refused when outside it)."""
    found = {}
    for match in sorted(glob.glob(pattern, recursive=True)):
        path = Path(match)
        if not path.is_file():
            continue
        try:
            entry = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            raise BadInput(
                f"save(): {match} is not under base_path {os.fspath(base)!r}: pass a base_path "
                "that holds it"
            ) from None
        found[entry] = path
    return found


# Folders log_code never looks in (besides hidden ones and virtualenvs)
NOT_SOURCE = frozenset({"__pycache__", "node_modules", "site-packages", "wandb", "dvclive"})


def _source_files(
    root: Path,
    include_fn: Callable[..., bool] | None,
    exclude_fn: Callable[..., bool] | None,
) -> Iterator[Path]:
    """log_code's files under `root`, in path order."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in NOT_SOURCE
            and not (Path(folder) / d / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            path = Path(folder) / name
            text = os.fspath(path)
            wanted = include_fn(text, os.fspath(root)) if include_fn else name.endswith(".py")
            if wanted and not (exclude_fn and exclude_fn(text, os.fspath(root))):
                yield path


def _source_name(project: str, run_id: str) -> str:
    """log_code's default name: `source-<project>-<script file>` (the run's id when there is
    no script: an interactive session), in the characters a name may hold."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if script in ("", "-c", "-m") or not os.path.isfile(sys.argv[0]):
        script = run_id
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"source-{project}-{script}")[:128]


def ended(status: str, exit_code: int | None) -> str:
    """The status a run ends with: FAILED for a non-zero exit code (W&B's `finish`)."""
    return "FAILED" if exit_code not in (None, 0) and status == "FINISHED" else status


def _flattened(data: Mapping[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """Nested dicts' values under joined keys (`{"train": {"loss": 1}}`: `train.loss`, as
    W&B's charts name them; DVCLive's metrics.json joins with '/'); an empty dict gives
    nothing."""
    found: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            found.update(_flattened(value, sep, f"{prefix}{key}{sep}"))
        else:
            found[f"{prefix}{key}"] = value
    return found


def _number(key: Any, value: Any) -> float:
    """A metric value as a float: a Python, NumPy or one-element tensor number, or a bool as
    1 or 0 (as W&B's charts draw it); not text."""
    if not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ForebearError(
        f"log({key!r}={value!r}): log numbers (or a list of them: a histogram), text, or "
        "forebear media (Image, Audio, Video, Html, Table, Histogram, a forebear.plot chart, "
        "or a list of them); put other values in run.config or run.summary"
    )


def _artifact_of(
    source: Artifact | PathLike,
    name: str | None,
    type: str | None,
    description: str | None,
    metadata: dict[str, Any] | None,
) -> Artifact:
    if isinstance(source, Artifact):
        return source
    path = Path(source)
    artifact = Artifact(
        name=name or path.name,
        type=type or "artifact",
        description=description or "",
        metadata=dict(metadata or {}),
    )
    if path.is_dir():
        artifact._add_dir_when_logged(path)
    else:
        artifact.add_file(path)
    return artifact


def init(
    project: str | None = None,
    config: Any = None,
    name: str | None = None,
    tags: list[str] | None = None,
    mode: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    job_type: str | None = None,
    group: str | None = None,
    notes: str | None = None,
    entity: str | None = None,
    reinit: bool | str | None = None,
    id: str | None = None,
    resume: bool | str | None = None,
    dir: PathLike | None = None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    *,
    settings: Any = None,
    save_code: bool | None = None,
    allow_val_change: bool | None = None,
    anonymous: str | None = None,
    sync_tensorboard: bool | None = None,
    tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    force: bool | None = None,
    resume_from: str | None = None,
    fork_from: str | None = None,
) -> Run:
    """Start a run in `project` (FOREBEAR_PROJECT by default; made on first use). Use it as a
    context manager, or call `finish`; at exit an unfinished run is finished, as CRASHED when
    the program died of an exception.

    As `wandb.init`: `job_type` (train, evaluate...), `group` (the larger experiment) and
    `notes` are kept with the run. `entity` is accepted so that W&B scripts run unchanged and
    is not used: Forebear's projects all belong to one organization, shared by role.

    The project is `project`, else FOREBEAR_PROJECT, else, as W&B's, the name of the git
    repository the script runs in, else `uncategorized`. `reinit` says what a run still open
    in this process becomes, as W&B's: `True` or "finish_previous" finishes every open run
    first; `False` or "return_previous" gives back the current run instead of starting one;
    "create_new" (and, unlike W&B's scripts, the default) starts another beside it.

    Resuming, as W&B's: `id` (or FOREBEAR_RUN_ID) is your own key for the run, unique in the
    project (or a run's Forebear id). With `resume="allow"` (or FOREBEAR_RESUME=allow) the run
    of that id goes on if there is one (RUNNING again, its config merged, its steps after its
    last one: `run.resumed`, `run.starting_step`) and starts otherwise; "must" refuses when
    there is none; "never" (the default) refuses when there is one. `resume="auto"` (or True)
    without an id goes on with the run last started here (`dir`, default the working
    directory, keeps its id in `.forebear/resume.json`) unless it finished cleanly.

    `config` is a dict, an argparse Namespace or a dataclass; values JSON cannot hold (a path,
    a NumPy number) are kept as their text or number. `config_exclude_keys` and
    `config_include_keys` filter it as W&B's. `settings` (`forebear.Settings(...)` as
    `wandb.Settings(...)`, or a mapping) gives `mode`, `silent`, `base_url`, `api_key` and
    `project` when they are not given here; the rest of it, and `save_code`,
    `allow_val_change`, `anonymous`, `sync_tensorboard`, `tensorboard`, `monitor_gym` and
    `force`, are accepted and change nothing; a run is never rewound or forked (`resume_from`,
    `fork_from` are refused)."""
    global _current
    from forebear._settings import Settings

    if resume_from is not None or fork_from is not None:
        raise ForebearError(
            "init(resume_from=/fork_from=): a run is not rewound or forked; go on with it "
            "with init(id=..., resume='allow'), or start a new one"
        )
    if reinit in (False, "return_previous") and _current is not None:
        return _current
    if reinit in (True, "finish_previous"):
        for open_run in reversed(list(_open)):
            open_run.finish()
    elif reinit not in (None, False, "return_previous", "create_new", "allow", "default"):
        raise ForebearError(
            f"reinit={reinit!r}: use True or 'finish_previous', False or 'return_previous', or "
            "'create_new'"
        )
    settings_ = Settings.load(
        url=url or _setting(settings, "base_url"),
        api_key=api_key or _setting(settings, "api_key"),
        project=project or _setting(settings, "project"),
        mode=mode or _setting(settings, "mode"),
    )
    if _setting(settings, "silent") or _setting(settings, "quiet"):
        settings_ = dataclasses.replace(settings_, silent=True)
    config = _filtered(
        _values_of(config, "init(config=)"), config_exclude_keys, config_include_keys
    )
    project = settings_.project or default_project()  # as given, else FOREBEAR_PROJECT
    start = {
        "project": project,
        "name": name,
        "config": config,
        "tags": list(tags or []),
        "sourceCommit": _git("rev-parse", "HEAD"),
        "entryPoint": " ".join(sys.argv) or None,
        "host": socket.gethostname(),
        **{
            field: value
            for field, value in (("jobType", job_type), ("group", group), ("notes", notes))
            if value is not None
        },
    }
    env = os.environ
    plan = _ResumePlan(
        project,
        id or env.get("FOREBEAR_RUN_ID"),
        resume if resume is not None else env.get("FOREBEAR_RESUME"),
        dir,
    )
    if plan.key is not None:
        start.update(key=plan.key, resume=plan.mode)
    record = {**start, "config": config}
    if settings_.mode == "disabled":
        run = Run(_DisabledApi(settings_), {**record, "id": "disabled"}, disabled=True)
        _current = run
        return run
    root = Path(dir).resolve() if dir is not None else Path.cwd()
    if settings_.mode == "offline":
        from forebear._offline import Journal, OfflineRun

        if plan.mode != "NEVER":
            raise ForebearError(
                f"init(resume={resume!r}) offline: resuming needs the server (its last step); "
                "resume online, or start a new run"
            )
        journal = Journal.new(settings_.cache_dir)
        journal.write("start", input=start)
        run = OfflineRun(_DisabledApi(settings_), journal, {**record, "id": journal.root.name})
    else:
        api = Api(url=settings_.url, api_key=settings_.key())
        # a heartbeat: a run whose process is killed (out of memory, say) is CRASHED by the
        # server, as W&B's are, not left RUNNING
        run = Run(api, plan.started(api, {**start, "heartbeatSeconds": settings_.heartbeat}))
        if not settings_.silent and sys.stderr.isatty():
            doing = "resuming" if run.resumed else "view"
            print(f"forebear: {doing} run {run.name or run.id} at {run.url}", file=sys.stderr)
        run._resume_file = plan.remember(run.id)
    run._root = root
    _current = run
    _open.append(run)
    _watch_exit()
    return run


class _ResumePlan:
    """What `init(id=, resume=, dir=)` asks of the server (StartRunInput's key and resume),
    and the file that remembers the run for `resume="auto"` without an id."""

    def __init__(
        self, project: str, key: str | None, resume: bool | str | None, dir: PathLike | None
    ) -> None:
        choices = (None, False, True, "never", "allow", "must", "auto")
        if resume not in choices:
            raise ForebearError(
                f"init(resume={resume!r}): use 'allow' (or True), 'must', 'never' (or False), "
                "or 'auto'"
            )
        self.project = project
        self.file: Path | None = None
        self.key = key
        if resume in (None, False, "never"):
            self.mode = "NEVER"
        elif key is not None or resume in ("allow", "must"):
            self.mode = "MUST" if resume == "must" else "ALLOW"
            if key is None:
                if resume == "must":
                    raise ForebearError("init(resume='must'): give the id of the run to resume")
                self.mode = "NEVER"  # W&B's: nothing named to go on with, a new run
        else:  # True or "auto" without an id: the run last started in `dir`
            self.file = Path(dir if dir is not None else ".") / ".forebear" / "resume.json"
            self.key = kept_run(self.file, project)
            self.mode = "NEVER" if self.key is None else "ALLOW"

    def started(self, api: Api, start: dict[str, Any]) -> dict[str, Any]:
        """Start (or resume) the run: its record, or an error saying what to pass."""
        try:
            return api._start_run(start)
        except Conflict:
            if self.mode != "NEVER":
                raise
            raise Conflict(
                f"init(id={self.key!r}): project {self.project!r} has a run with this id "
                "already; pass resume='allow' to go on with it, or another id"
            ) from None
        except NotFound:
            if self.mode != "MUST":
                raise
            raise NotFound(
                f"init(id={self.key!r}, resume='must'): project {self.project!r} has no run "
                "with this id to resume; resume='allow' starts it"
            ) from None

    def remember(self, run_id: str) -> Path | None:
        """Keep `run_id` for the next `resume="auto"` here; the file, or None."""
        if self.file is not None:
            keep_run(self.file, self.project, run_id)
        return self.file


def kept_run(file: Path, project: str) -> str | None:
    """The id of the run `keep_run` kept in `file`, if it is of `project`; else None."""
    try:
        kept = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("project") != project:
        return None
    run = kept.get("run")
    return run if isinstance(run, str) else None


def keep_run(file: Path, project: str, run_id: str) -> None:
    """Remember a run in `file` (made with its folder), for the next start to resume."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"project": project, "run": run_id}))


def _setting(settings: Any, name: str) -> Any:
    """A value of a W&B `settings` object or mapping (None when it has none)."""
    if settings is None:
        return None
    if isinstance(settings, Mapping):
        return settings.get(name)
    return getattr(settings, name, None)


def _values_of(values: Any, what: str) -> dict[str, Any]:
    """Config or summary keys from a mapping, pairs, an argparse Namespace or a dataclass (as
    W&B's `config=` takes them), each value made JSON (see `jsonable`)."""
    if values is None:
        return {}
    if isinstance(values, argparse.Namespace):
        values = vars(values)
    elif dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = dataclasses.asdict(values)
    try:
        found = dict(values)
    except (TypeError, ValueError):
        raise ForebearError(
            f"{what}: {type(values).__name__} is not a dict, an argparse Namespace or a dataclass"
        ) from None
    return {str(k): v for k, v in jsonable(found).items()}


def _filtered(
    config: Mapping[str, Any], exclude: list[str] | None, include: list[str] | None
) -> dict[str, Any]:
    """`config` without the `exclude` keys, or with only the `include` keys (W&B's)."""
    if exclude is not None and include is not None:
        raise ForebearError("init: give config_exclude_keys or config_include_keys, not both")
    if include is not None:
        return {k: v for k, v in config.items() if k in include}
    return {k: v for k, v in config.items() if k not in (exclude or ())}


class _DisabledApi(Api):
    """The Api of a disabled run: nothing is sent."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def graphql(
        self, query: str, idempotency_key: str | None = None, **variables: Any
    ) -> dict[str, Any]:
        raise ForebearError(f"FOREBEAR_MODE={self.settings.mode}: nothing is sent to a server")


def resolve_project(project: str | None) -> str:
    """The project a run goes to: `project`, else FOREBEAR_PROJECT, else `default_project`."""
    return project or os.environ.get("FOREBEAR_PROJECT") or default_project()


def default_project() -> str:
    """What a run is logged to when no project is named: the git repository's name (made a
    valid project name), else `uncategorized`, as W&B's default."""
    top = _git("rev-parse", "--show-toplevel")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(top).name if top else "").lstrip("._-")
    return name[:128] or "uncategorized"


def _git(*args: str) -> str | None:
    """What `git args` prints here, or None when it fails or there is no git."""
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


_watching = False


def _watch_exit() -> None:
    """Finish the current run when the process exits: CRASHED after an uncaught exception."""
    global _watching
    if _watching:
        return
    _watching = True
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        global _crashed
        _crashed = True
        previous(kind, error, trace)

    sys.excepthook = hook

    def at_exit() -> None:
        # every run left open, not only the current one: another's last metrics are still
        # waiting in its sender, and it would stay RUNNING on the server for ever
        for run in reversed(list(_open)):
            try:
                run.finish("CRASHED" if _crashed else "FINISHED")
            except ForebearError as exc:
                print(f"forebear: could not finish run {run.id}: {exc}", file=sys.stderr)

    atexit.register(at_exit)
