"""Forebear's Python SDK: log, use, link and fetch models and datasets from training code.

import forebear
run = forebear.init(project="mnist", config={"lr": 0.01})
run.log({"acc": 0.91})
run.link_model(path="./model.h5", registered_model_name="MNIST")
run.finish()
"""

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
from forebear._settings import save_key
from forebear._version import __version__


def login(key: str, url: "str | None" = None) -> str:
    """Check `key` against the server and store it for later runs (0600, in the user's config
    directory); return who it belongs to."""
    with Api(url=url, api_key=key) as api:
        who = api.graphql("{ viewer { user { name } } }")["viewer"]["user"]["name"]
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
