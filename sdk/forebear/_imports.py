"""What the importers share: sending another registry's changes (`importRegistryChanges`) and
what became of them, and logging a version that only references its data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forebear._api import Api

IMPORT = """mutation($input: ImportRegistryChangesInput!) { importRegistryChanges(input: $input) {
  results { key status message } } }"""
CREATE = """mutation($input: CreateArtifactVersionInput!) { createArtifactVersion(input: $input) {
  version { id state } } }"""
CHUNK = 500  # changes a call


def name_of(text: str, default: str) -> str:
    """A Forebear name for another tool's: characters outside [A-Za-z0-9._-] as '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:128] or default


@dataclass
class ImportReport:
    """What an import did: the changes imported now, those imported before, and failures."""

    source: str
    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def send(api: Api, registry: str, source: str, changes: list[dict[str, Any]]) -> ImportReport:
    """Import `changes` (in order) into `registry`, CHUNK a call."""
    report = ImportReport(source)
    for start in range(0, len(changes), CHUNK):
        results = api.graphql(
            IMPORT,
            input={
                "registry": registry,
                "source": source,
                "changes": changes[start : start + CHUNK],
            },
        )["importRegistryChanges"]["results"]
        for result in results:
            if result["status"] == "IMPORTED":
                report.imported.append(result["key"])
            elif result["status"] == "ALREADY_IMPORTED":
                report.already.append(result["key"])
            else:
                report.failed[result["key"]] = result["message"] or "failed"
    return report


def reference_version(api: Api, **version: Any) -> str:
    """Log a version whose manifest has no files to upload, committed as it opens; its id."""
    created = api.graphql(CREATE, input={"files": [], "commit": True, **version})
    return str(created["createArtifactVersion"]["version"]["id"])
