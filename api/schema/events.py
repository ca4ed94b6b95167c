"""The audit log: history of a subject, the org-wide log, and the hash chain check."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Final, cast

import strawberry
from strawberry.scalars import JSON

from api.access import Access
from api.context import Info
from api.errors import BadInput
from api.schema.audited import AUDITED
from api.schema.relay import Connection, connection, decode_cursor, page_size
from api.schema.scalars import Long
from graph.ids import kind_of
from graph.records import Page
from graph.repository.events import Event as EventRecord


@strawberry.type(
    directives=[AUDITED], description="One immutable audit event: who did what to which subjects."
)
class Event:
    id: strawberry.ID = strawberry.field(description="Event id.")
    seq: Long = strawberry.field(description="Position in the org-wide log (gapless).")
    type: str = strawberry.field(description="What happened, e.g. alias.set, link.created.")
    actor: str = strawberry.field(description="Who did it.")
    time: datetime = strawberry.field(description="When it was committed.")
    subjects: list[str] = strawberry.field(description="Ids of what it touched.")
    registry: str | None = strawberry.field(description="Id of the registry it belongs to.")
    before: JSON = strawberry.field(description="Values before the change.")
    after: JSON = strawberry.field(description="Values after the change.")
    hash: str = strawberry.field(description="sha256 over the previous hash and this event.")
    prev_hash: str = strawberry.field(description="Hash of the event before it in the log.")
    withheld: bool = strawberry.field(
        default=False,
        description="True when `before` and `after` are left out (empty), and `subjects` "
        "names only what you may read: the event is also about something you may not read "
        "(another project's version a run used, a collection you hold no role in).",
    )

    @classmethod
    def from_record(cls, e: EventRecord, hidden: AbstractSet[str] = frozenset()) -> Event:
        """The event; with `hidden` subjects, as withheld from a caller who may not read them."""
        return cls(
            id=strawberry.ID(e.id),
            seq=Long(e.seq),
            type=e.type,
            actor=e.actor,
            time=e.time,
            subjects=[s for s in e.subjects if s not in hidden],
            registry=e.registry,
            before=cast(JSON, {} if hidden else e.before),
            after=cast(JSON, {} if hidden else e.after),
            hash=e.hash,
            prev_hash=e.prev_hash,
            withheld=bool(hidden),
        )


# What a role decides the reading of; users and keys are named as actors and members anyway.
GUARDED: Final = frozenset(
    {"Project", "Run", "Artifact", "ArtifactVersion", "Registry", "Collection", "LinkedVersion"}
)


def _guarded(subject: str) -> bool:
    return subject.startswith("alias:") or kind_of(subject) in GUARDED


async def shown(access: Access, records: Sequence[EventRecord]) -> list[Event]:
    """Events as `access`'s caller may see them: one also about something the caller may not
    read keeps its type, actor, time and place in the log, but not its before and after
    (which name that thing), nor the subjects it may not read. As lineage leaves unreadable
    nodes unnamed, history does not name them either."""
    guarded = {s for e in records for s in e.subjects if _guarded(s)}
    unreadable = guarded - await access.readable(guarded)
    return [Event.from_record(e, unreadable.intersection(e.subjects)) for e in records]


@strawberry.type(description="The outcome of recomputing the audit log's hash chain.")
class AuditLogCheck:
    intact: bool = strawberry.field(description="True when every event matches its hash.")
    checked: int = strawberry.field(description="Events verified before the first break.")
    first_break: Event | None = strawberry.field(description="The first event that fails.")
    reason: str | None = strawberry.field(description="Why it fails.")


def before_seq(after: str | None) -> int | None:
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise BadInput("after", "not a cursor of this list")
    return int(cursor)


async def event_connection(info: Info, page: Page[EventRecord]) -> Connection[Event]:
    """A page of events, each as the caller may see it (`shown`)."""
    events = {str(e.id): e for e in await shown(info.context.access, page.items)}
    return connection(page, lambda e: events[e.id], lambda e: str(e.seq))


async def history_of(
    info: Info, subject: str, first: int | None, after: str | None
) -> Connection[Event]:
    page = await info.context.repos.events.history(
        subject, first=page_size(first), before_seq=before_seq(after)
    )
    return await event_connection(info, page)


@strawberry.type
class EventQuery:
    @strawberry.field(
        directives=[AUDITED],
        description="Events about one subject (any id: run, version, collection, "
        "linked version, registry), newest first.",
    )
    async def history(
        self, info: Info, subject: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await history_of(info, str(subject), first, after)

    @strawberry.field(
        directives=[AUDITED],
        description="The org-wide audit log, newest first, filtered; cursors "
        "stay valid as new events arrive.",
    )
    async def audit_log(
        self,
        info: Info,
        actor: str | None = None,
        types: list[str] | None = None,
        registry: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Event]:
        registry_id = None
        if registry is not None:
            registry_id = (await info.context.repos.registries.get_registry(registry)).id
        page = await info.context.repos.events.audit_log(
            actor=actor,
            types=types,
            registry=registry_id,
            since=since,
            until=until,
            first=page_size(first),
            before_seq=before_seq(after),
        )
        return await event_connection(info, page)

    @strawberry.field(
        description="Recompute the audit log's hash chain; report the first "
        "event that was altered, if any."
    )
    async def verify_audit_log(self, info: Info) -> AuditLogCheck:
        report = await info.context.repos.events.verify_chain()
        return AuditLogCheck(
            intact=report.first_break is None,
            checked=report.checked,
            first_break=Event.from_record(report.first_break) if report.first_break else None,
            reason=report.reason,
        )
