"""Identifiers: a short type prefix and 24 random hex digits, unique across the whole graph."""

from __future__ import annotations

import secrets
from typing import Final

PREFIXES: Final = {
    "prj": "Project",
    "run": "Run",
    "art": "Artifact",
    "ver": "ArtifactVersion",
    "evt": "Event",
    "reg": "Registry",
    "col": "Collection",
    "lnk": "LinkedVersion",
    "usr": "User",
    "key": "ApiKey",
    "upl": "UploadSession",
    "aut": "Automation",
    "dlv": "WebhookDelivery",
    "pol": "PromotionPolicy",
    "prq": "PromotionRequest",
}


def new_id(prefix: str) -> str:
    """Return a fresh id such as `ver_3f2a...`; `prefix` must be one of PREFIXES."""
    assert prefix in PREFIXES
    return f"{prefix}_{secrets.token_hex(12)}"


def kind_of(node_id: str) -> str | None:
    """The node type an id belongs to, or None when it is not one of ours."""
    prefix, _, rest = node_id.partition("_")
    return PREFIXES.get(prefix) if len(rest) == 24 else None
