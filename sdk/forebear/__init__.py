"""Forebear's Python SDK: log, use, link and fetch models and datasets from training code.

import forebear
run = forebear.init(project="mnist", config={"lr": 0.01})
run.log({"acc": 0.91})
run.link_model(path="./model.h5", registered_model_name="MNIST")
run.finish()
"""

import getpass
import os
import sys
from typing import IO, Any

from forebear import plot
from forebear._api import (
    Api,
    Event,
    ImpactGroup,
    Lineage,
    LineageEdge,
    LineageNode,
    LinkedVersion,
)
from forebear._artifact import Artifact, ArtifactFile, ArtifactReference
from forebear._errors import (
    AuthError,
    BadInput,
    Conflict,
    ForebearError,
    IntegrityError,
    NotFound,
    Refused,
    ServerError,
    TransportError,
)
from forebear._live import Live
from forebear._media import Audio, Chart, Histogram, Html, Image, Table, Video
from forebear._run import AlertLevel, Run, current, init
from forebear._runs import Project, RunInfo
from forebear._settings import RunSettings as Settings
from forebear._settings import Settings as _ClientSettings
from forebear._settings import save_key
from forebear._version import __version__


def login(key: "str | None" = None, url: "str | None" = None, host: "str | None" = None) -> str:
    """Check an API key against the server; return who it belongs to. A `key` given (or typed
    at the prompt) is stored for later runs (0600, in the user's config directory).

    As `wandb.login()`: with no `key`, the one FOREBEAR_API_KEY or an earlier login gives is
    checked, and at a terminal one is asked for when there is none. `host` is W&B's name for
    `url` (default FOREBEAR_URL)."""
    url = url or host
    store = bool(key)
    if not key:
        key = _ClientSettings.load(url=url).api_key
    if not key:
        if not sys.stdin.isatty():
            raise AuthError(
                "no API key: pass forebear.login(key=...), set FOREBEAR_API_KEY, or run "
                "`forebear login`"
            )
        key, store = getpass.getpass("Forebear API key: ").strip(), True
    with Api(url=url, api_key=key) as api:
        who = api.graphql("{ viewer { user { name } } }")["viewer"]["user"]["name"]
        if store:
            save_key(api.settings.url, key)
    return str(who)


def finish(
    status: str = "FINISHED", exit_code: "int | None" = None, quiet: "bool | None" = None
) -> None:
    """Finish the current run, if there is one (W&B's `exit_code` other than 0: FAILED)."""
    run = current()
    if run is not None:
        run.finish(status, exit_code, quiet)


# The current run's calls at module level, as `wandb.log` and the like after `wandb.init`.


def _active(what: str) -> Run:
    run = current()
    if run is None:
        raise ForebearError(f"forebear.{what} needs a run: call forebear.init() first")
    return run


def log(data: Any, step: "int | None" = None, commit: "bool | None" = None) -> None:
    """The current run's `log`."""
    _active("log()").log(data, step, commit)


def log_artifact(*args: Any, **kwargs: Any) -> Artifact:
    """The current run's `log_artifact`."""
    return _active("log_artifact()").log_artifact(*args, **kwargs)


def use_artifact(*args: Any, **kwargs: Any) -> Artifact:
    """The current run's `use_artifact`."""
    return _active("use_artifact()").use_artifact(*args, **kwargs)


def log_model(*args: Any, **kwargs: Any) -> Artifact:
    """The current run's `log_model`."""
    return _active("log_model()").log_model(*args, **kwargs)


def use_model(*args: Any, **kwargs: Any) -> Any:
    """The current run's `use_model`."""
    return _active("use_model()").use_model(*args, **kwargs)


def link_model(*args: Any, **kwargs: Any) -> Any:
    """The current run's `link_model`."""
    return _active("link_model()").link_model(*args, **kwargs)


def define_metric(*args: Any, **kwargs: Any) -> None:
    """The current run's `define_metric`."""
    _active("define_metric()").define_metric(*args, **kwargs)


def watch(*args: Any, **kwargs: Any) -> None:
    """The current run's `watch`."""
    _active("watch()").watch(*args, **kwargs)


def unwatch(*args: Any, **kwargs: Any) -> None:
    """The current run's `unwatch`."""
    _active("unwatch()").unwatch(*args, **kwargs)


def save(*args: Any, **kwargs: Any) -> "list[str]":
    """The current run's `save`."""
    return _active("save()").save(*args, **kwargs)


def restore(
    name: str,
    run_path: "str | None" = None,
    replace: bool = False,
    root: "str | os.PathLike[str] | None" = None,
) -> "IO[str]":
    """A file a run kept with `save` (W&B's `restore`), fetched into `root` (default: the
    working directory) and opened for reading. `run_path` is "project/<run id or key>" (W&B's
    "entity/project/<id>" too); without it, the current run (one resumed, whose earlier
    session saved it). A file already there is read as it is, unless `replace`."""
    if run_path is None:
        run = _active("restore() without run_path")
        run_path = f"{run.project}/{run.id}"
    with Api() as api:
        kept = api.run(run_path).file(name)
        return kept.download(root if root is not None else ".", replace=replace, exist_ok=True)


def alert(*args: Any, **kwargs: Any) -> None:
    """The current run's `alert`."""
    _active("alert()").alert(*args, **kwargs)


def mark_preempting() -> None:
    """The current run's `mark_preempting`."""
    _active("mark_preempting()").mark_preempting()


def __getattr__(name: str) -> Any:
    """`forebear.run` (None before init), `forebear.config` and `forebear.summary`: the
    current run's, as `wandb.run`, `wandb.config` and `wandb.summary`."""
    if name == "run":
        return current()
    if name in ("config", "summary"):
        run = current()
        if run is None:
            raise AttributeError(f"forebear.{name} needs a run: call forebear.init() first")
        return getattr(run, name)
    raise AttributeError(f"module 'forebear' has no attribute {name!r}")


__all__ = [
    "AlertLevel",
    "Api",
    "Artifact",
    "ArtifactFile",
    "ArtifactReference",
    "Audio",
    "AuthError",
    "BadInput",
    "Chart",
    "Conflict",
    "Event",
    "ForebearError",
    "Histogram",
    "Html",
    "Image",
    "ImpactGroup",
    "IntegrityError",
    "Lineage",
    "LineageEdge",
    "LineageNode",
    "LinkedVersion",
    "Live",
    "NotFound",
    "Project",
    "Refused",
    "Run",
    "RunInfo",
    "ServerError",
    "Settings",
    "Table",
    "TransportError",
    "Video",
    "__version__",
    "alert",
    "current",
    "define_metric",
    "finish",
    "init",
    "link_model",
    "log",
    "log_artifact",
    "log_model",
    "login",
    "mark_preempting",
    "plot",
    "restore",
    "save",
    "unwatch",
    "use_artifact",
    "use_model",
    "watch",
]
