"""OpenLineage RunEvents as Forebear lineage: what an event says, and the names it maps to.

A job's namespace is a project and its run (by OpenLineage runId) a Forebear run there, whose
status follows the events whatever order they arrive in. A dataset is a `dataset` artifact in
the project of its own namespace (datasets are named globally in OpenLineage: a table written
by one namespace's job and read by another's is one artifact), its versions are *reference
versions* (no files: the data lives where its namespace and name say). An input is consumed in
the version its version facet names, else the artifact's latest (a source seen for the first
time gets a version of its own); a completed run's outputs are versions it produced, one per
version facet, else one per run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from graph.refs import NAME_RE

# OpenLineage eventType -> the run status it leaves (None: no change).
STATUS: Final = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "FINISHED",
    "FAIL": "FAILED",
    "ABORT": "CRASHED",
    "OTHER": None,
}
EVENT_TYPES: Final = tuple(STATUS)
DATASET_TYPE: Final = "dataset"
TAG: Final = "openlineage"


@dataclass(frozen=True, slots=True)
class Dataset:
    namespace: str
    name: str
    facets: dict[str, Any]  # the dataset's facets with its input or output facets

    @property
    def project(self) -> str:
        return forebear_name(self.namespace)

    @property
    def artifact(self) -> str:
        return forebear_name(self.name)

    @property
    def reference(self) -> str:
        """Where the data is: the namespace and the name, as one URI."""
        return f"{self.namespace.rstrip('/')}/{self.name.lstrip('/')}"

    @property
    def version(self) -> str | None:
        """The dataset version its version facet names, if any."""
        facet = self.facets.get("version")
        found = facet.get("datasetVersion") if isinstance(facet, dict) else None
        return str(found) if found not in (None, "") else None


@dataclass(frozen=True, slots=True)
class RunEvent:
    event_type: str  # one of EVENT_TYPES
    event_time: datetime
    run_id: str  # the OpenLineage runId (a UUID)
    job_namespace: str
    job_name: str
    run_facets: dict[str, Any]
    job_facets: dict[str, Any]
    inputs: tuple[Dataset, ...]
    outputs: tuple[Dataset, ...]
    producer: str
    digest: str  # sha256 of the event as sent: the same event twice is ingested once

    @property
    def project(self) -> str:
        return forebear_name(self.job_namespace)

    @property
    def status(self) -> str | None:
        return STATUS[self.event_type]


def forebear_name(name: str) -> str:
    """A project or artifact name for an OpenLineage namespace or dataset name: itself when it
    is one already, else its characters outside [A-Za-z0-9._-] as '-', with a short hash of
    the original so two different names never map to one (`postgres://db:5432` becomes
    `postgres-db-5432-1f2e3d4c`)."""
    if NAME_RE.match(name):
        return name
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._") or "x"
    suffix = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{plain[:118]}-{suffix}"
