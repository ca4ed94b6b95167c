"""The audit log: history of a subject, the org-wide log, and the hash chain check."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from api.context import Info
from api.errors import BadInput
from api.schema.audited import AUDITED
from api.schema.relay import Connection, connection, decode_cursor, page_size
from api.schema.scalars import Long
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

    @classmethod
    def from_record(cls, e: EventRecord) -> Event:
        return cls(
            id=strawberry.ID(e.id),
            seq=Long(e.seq),
            type=e.type,
            actor=e.actor,
            time=e.time,
            subjects=list(e.subjects),
            registry=e.registry,
            before=cast(JSON, e.before),
            after=cast(JSON, e.after),
            hash=e.hash,
            prev_hash=e.prev_hash,
        )


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


def event_connection(page: Page[EventRecord]) -> Connection[Event]:
    return connection(page, Event.from_record, lambda e: str(e.seq))


async def history_of(
    info: Info, subject: str, first: int | None, after: str | None
) -> Connection[Event]:
    page = await info.context.repos.events.history(
        subject, first=page_size(first), before_seq=before_seq(after)
    )
    return event_connection(page)


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
        return event_connection(page)

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
