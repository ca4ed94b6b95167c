"""Plain, frozen values that repositories return: never driver records or neo4j.time values."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the Neo4j server says of itself."""

    neo4j_version: str
    neo4j_edition: str
    database: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and the cursor to ask for the next."""

    items: tuple[T, ...]
    has_next: bool
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    """A person or a service account."""

    id: str
    name: str
    kind: str  # user | service
    org_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's record; the secret itself is shown once at creation and never stored."""

    id: str
    name: str
    user: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, with every membership access checks need."""

    id: str
    name: str
    kind: str
    org_admin: bool
    key_id: str
    projects: frozenset[str]
    registries: dict[str, str]  # registry name -> role
    key_expires_at: datetime | None = None

    def reader(self) -> dict[str, Any]:
        """What Cypher needs to decide whether this principal may read a version: the
        $reader parameter of graph.queries.artifacts._PROVEN."""
        return {
            "user": self.id,
            "all": self.org_admin,
            "projects": sorted(self.projects),
            "registries": sorted(self.registries),  # every role reads
        }


@dataclass(frozen=True, slots=True)
class Scope:
    """Where an object named by id belongs, for access checks."""

    project: str | None = None
    registry: str | None = None
    linked_in: tuple[str, ...] = ()  # registries that link a version
    user: str | None = None  # the user an API key or user node is


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    project: str
    name: str
    status: str
    config: JsonObject
    summary: JsonObject
    tags: tuple[str, ...]
    source_commit: str | None
    entry_point: str | None
    host: str | None
    actor: str
    started_at: datetime
    ended_at: datetime | None
    job_type: str | None = None
    group: str | None = None
    notes: str | None = None
    key: str | None = None
    last_step: int | None = None
    heartbeat_seconds: int | None = None  # the beat its client promised at start
    heard_at: datetime | None = None  # the last beat or metric batch from its client
    lost: bool = False  # CRASHED by the server: its client fell silent (revived if heard again)


@dataclass(frozen=True, slots=True)
class MetricSeries:
    key: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    id: str
    project: str
    name: str
    type: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest entry whose data lives elsewhere (s3://, gs://, https://, file://...): the
    registry keeps where, and the checksum and size it was given, never the bytes."""

    path: str
    uri: str
    sha256: str | None = None
    size: int | None = None

    def as_map(self) -> dict[str, Any]:
        return {"path": self.path, "uri": self.uri, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A committed file, and where its bytes are: `object` (None: its blob's own key), from
    `offset`."""

    file: FileEntry
    object: str | None
    offset: int


@dataclass(frozen=True, slots=True)
class ArtifactVersion:
    id: str
    artifact_id: str
    project: str
    artifact: str
    type: str
    index: int | None
    state: str
    digest: str
    description: str
    metadata: JsonObject
    size: int
    file_count: int
    run_id: str | None
    created_at: datetime
    committed_at: datetime | None
    expires_at: datetime | None
    deleted_at: datetime | None
    aliases: tuple[str, ...] = field(default=())
    references: tuple[Reference, ...] = field(default=())

    @property
    def name(self) -> str:
        """`project/artifact:vN`, or `…:pending` before commit."""
        label = "pending" if self.index is None else f"v{self.index}"
        return f"{self.project}/{self.artifact}:{label}"


@dataclass(frozen=True, slots=True)
class Registry:
    id: str
    name: str
    description: str
    allowed_types: tuple[str, ...]
    stages: tuple[str, ...]
    protected_aliases: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    registry_id: str
    registry: str
    name: str
    description: str
    tags: tuple[str, ...]
    types: tuple[str, ...]
    deprecated: bool
    deprecated_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Link:
    """An artifact version bookmarked into a collection, with its own index there."""

    id: str
    collection_id: str
    registry_id: str
    version_id: str
    index: int
    semver: str | None
    state: str
    linked_at: datetime
    unlinked_at: datetime | None
    linked_by: str | None = None  # the actor who linked it
    aliases: tuple[str, ...] = field(default=())
    stages: tuple[str, ...] = field(default=())
    version: ArtifactVersion | None = None  # when it was fetched with the link
    # every deregistration and restore, in order: deregistrations at even places
    state_changes: tuple[datetime, ...] = field(default=())

    def state_at(self, at: datetime) -> str:
        """LINKED or UNLINKED as the link stood at `at`."""
        changes = self.state_changes
        if not changes and self.state != "LINKED" and self.unlinked_at is not None:
            changes = (self.unlinked_at,)  # deregistered before its history was kept
        return "UNLINKED" if sum(1 for t in changes if t <= at) % 2 else "LINKED"


def json_number(value: float) -> float | str:
    """A float as JSON can carry it: NaN and the infinities by their names ("NaN",
    "Infinity", "-Infinity"), which metric values and run summaries may hold."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def instant(value: Any) -> datetime | None:
    """A datetime from what a query returned for a time: a neo4j DateTime, or epoch
    milliseconds (how long lists carry their times), or None."""
    if isinstance(value, int):
        return from_millis(value)
    result: datetime | None = native(value)
    return result


def required_instant(value: Any) -> datetime:
    """`instant` of a time that is always set."""
    found = instant(value)
    if found is None:
        raise ValueError("a required time is missing")
    return found


def native(value: Any) -> Any:
    """neo4j.time values to datetime; everything else as it is."""
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


def from_millis(value: int | None) -> datetime | None:
    """A UTC datetime from epoch milliseconds (how long lists carry their times)."""
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def loads(text: str | None) -> JsonObject:
    return dict(json.loads(text)) if text else {}


@dataclass(frozen=True, slots=True)
class Automation:
    """A rule that sends a webhook when an event of its scope sets off one of its triggers.
    `token` and `secret` are as stored: encrypted under the server's secret."""

    id: str
    name: str
    description: str
    scope_kind: str  # registry, collection or project
    scope_id: str  # the registry's, collection's or project's node id
    scope_key: str
    registry_id: str | None
    collection_id: str | None
    registry_name: str | None  # read with it (not kept: collections are renamed)
    collection_name: str | None
    project: str | None
    events: tuple[str, ...]
    alias_pattern: str | None
    url: str
    token: str | None
    secret: str
    template: str | None
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    number: int
    at: datetime
    status_code: int | None
    latency_ms: float
    response: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event's webhook to one automation: PENDING until delivered, FAILED once its retry
    window has passed, CANCELLED when its automation was deleted."""

    id: str
    automation: str
    event: str | None
    event_type: str
    state: str
    test: bool
    created_at: datetime
    next_at: datetime | None
    delivered_at: datetime | None
    attempt_count: int
    attempts: tuple[DeliveryAttempt, ...] = field(default=())  # when they were asked for
