"""Forebear's Python SDK: log, use, link and fetch models and datasets from training code.

import forebear
run = forebear.init(project="mnist", config={"lr": 0.01})
run.log({"acc": 0.91})
run.link_model(path="./model.h5", registered_model_name="MNIST")
run.finish()
"""

import getpass
import sys

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
from forebear._run import Run, current, init
from forebear._settings import Settings, save_key
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
        key = Settings.load(url=url).api_key
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


def finish(status: str = "FINISHED") -> None:
    """Finish the current run, if there is one."""
    run = current()
    if run is not None:
        run.finish(status)


__all__ = [
    "Api",
    "Artifact",
    "ArtifactFile",
    "ArtifactReference",
    "AuthError",
    "BadInput",
    "Conflict",
    "Event",
    "ForebearError",
    "ImpactGroup",
    "IntegrityError",
    "Lineage",
    "LineageEdge",
    "LineageNode",
    "LinkedVersion",
    "NotFound",
    "Refused",
    "Run",
    "ServerError",
    "TransportError",
    "__version__",
    "current",
    "finish",
    "init",
    "login",
]
