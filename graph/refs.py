"""References people type: `project/artifact:v3`, `project/artifact:latest`, or a version id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from graph.errors import Invalid

NAME: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
ALIAS: Final = r"[a-z][a-z0-9._-]{0,63}"
NAME_RE: Final = re.compile(rf"^{NAME}$")
ALIAS_RE: Final = re.compile(rf"^{ALIAS}$")
INDEX_RE: Final = re.compile(r"^v(0|[1-9][0-9]{0,9})$")
VERSION_REF_RE: Final = re.compile(
    rf"^(?P<project>{NAME})/(?P<artifact>{NAME}):(?P<selector>[^:/]+)$"
)


@dataclass(frozen=True, slots=True)
class VersionRef:
    project: str
    artifact: str
    index: int | None
    alias: str | None

    def __str__(self) -> str:
        selector = f"v{self.index}" if self.index is not None else self.alias
        return f"{self.project}/{self.artifact}:{selector}"


def parse_version_ref(text: str, field: str) -> VersionRef:
    """Parse `project/artifact:vN|alias`; raise Invalid naming `field` when it is neither."""
    match = VERSION_REF_RE.match(text)
    if match is None:
        raise Invalid(
            field,
            f"{text!r} is not a version reference: expected a version id or "
            "project/artifact:v<N> or project/artifact:<alias>",
        )
    selector = match["selector"]
    if index := INDEX_RE.match(selector):
        return VersionRef(match["project"], match["artifact"], int(index[1]), None)
    if not ALIAS_RE.match(selector):
        raise Invalid(field, f"{selector!r} in {text!r} is neither v<N> nor an alias name")
    return VersionRef(match["project"], match["artifact"], None, selector)


LINK_REF_RE: Final = re.compile(
    rf"^(?P<registry>{NAME})/(?P<collection>{NAME}):(?P<selector>[A-Za-z0-9._+-]{{1,128}})$"
)


def parse_link_ref(text: str, field: str) -> tuple[str, str, str]:
    """(registry, collection, selector) of `registry/collection:selector`, where the selector
    is an alias, a stage, a semantic version or vN; raise Invalid naming `field` otherwise."""
    match = LINK_REF_RE.match(text)
    if match is None:
        raise Invalid(
            field,
            f"{text!r} is not a linked-version reference: expected a link id or "
            "registry/collection:<alias|stage|semver|vN>",
        )
    return match["registry"], match["collection"], match["selector"]
