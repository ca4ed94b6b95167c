"""Subscriptions (graphql-transport-ws on /graphql, the key in connection_init): audit events
as they commit, and changes to a node's lineage closure."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Final, TypeVar

import strawberry

from api.access import RULES, Access
from api.context import Info
from api.errors import BadInput, Unauthenticated, shaped_stream
from api.schema.events import Event, shown
from api.schema.lineage import LineageDirection, _start
from api.schema.scalars import Long
from api.services.live import EventFeed

# The events that add or remove lineage edges or nodes: a run consuming a version, a version
# committed by its run, a version deleted, restored or expired.
LINEAGE_TYPES: Final = frozenset(
    {
        "run.used_version",
        "artifact_version.committed",
        "artifact_version.deleted",
        "artifact_version.restored",
        "artifact_version.expired",
    }
)


@strawberry.type(description="A change that touched a lineage closure, and what it changed.")
class LineageChange:
    event_id: strawberry.ID = strawberry.field(description="The audit event of the change.")
    seq: Long = strawberry.field(description="Its position in the audit log.")
    type: str = strawberry.field(description="What happened, e.g. run.used_version.")
    actor: str = strawberry.field(description="Who did it.")
    time: datetime = strawberry.field(description="When it was committed.")
    touched: list[strawberry.ID] = strawberry.field(
        description="The runs and versions it was about (those the caller may read)."
    )
    added: list[strawberry.ID] = strawberry.field(
        description="Runs and versions now in the closure that were not (readable ones)."
    )
    removed: list[strawberry.ID] = strawberry.field(
        description="Runs and versions no longer in it, deleted or cut off (readable ones)."
    )
    size: int = strawberry.field(description="Runs and versions in the closure now.")


async def _closure(info: Info, start: str, direction: LineageDirection) -> set[str]:
    lineage = info.context.repos.lineage
    lineage.fresh = False  # the index catches up with the change just heard of
    reached: set[str] = set()
    for way in (
        ("UPSTREAM", "DOWNSTREAM")
        if direction == LineageDirection.BOTH
        else (str(direction.value),)
    ):
        walk = await lineage.walk(
            start,
            way,
            max_depth=None,
            max_nodes=info.context.settings.lineage_max_nodes,
            include_deleted=False,
        )
        reached |= set(walk.distances)
    return reached


T = TypeVar("T")


async def _while_allowed(
    info: Info, items: AsyncIterator[T], check: Callable[[Access], Awaitable[None]]
) -> AsyncIterator[T]:
    """`items` while the socket's caller may still have them: before each, its key is asked
    again (trusted for FOREBEAR_AUTH_CACHE_TTL, like any request's) and, when who it is has
    changed (a role granted or taken, the key revoked), the subscription's rule is checked
    again; a refusal ends the stream with the error."""
    context = info.context
    async for item in items:
        if context.connection_params is not None:
            principal = await context.socket_principal()
            if principal is None:
                raise Unauthenticated(
                    "this subscription's API key is no longer live: reconnect with a live key"
                )
            if principal is not context.access.principal:
                context.access = Access(principal, context.repos.access)
                await check(context.access)
        yield item


def _feed(info: Info) -> EventFeed:
    feed = info.context.feed
    if feed is None:
        raise BadInput("subscription", "subscriptions are served over WebSocket at /graphql")
    return feed


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Audit events as they commit, oldest first: a registry's (its viewers), "
        "one subject's (whoever may read it), or all (org admins), optionally of some types. "
        "`after` (an event's seq) resumes where a dropped connection stopped: nothing is "
        "missed, nothing comes twice."
    )
    async def events(
        self,
        info: Info,
        registry: str | None = None,
        subject: strawberry.ID | None = None,
        types: list[str] | None = None,
        after: Long | None = None,
    ) -> AsyncGenerator[Event, None]:
        items = _events(info, registry, subject, types, after)
        async for item in shaped_stream(items, info.context.actor, "events"):
            yield item

    @strawberry.subscription(
        description="Changes touching the lineage closure of a run or version (id or "
        "reference): a new consumer, a new version downstream, a deletion, a restore. Each "
        "says which runs and versions entered or left the closure."
    )
    async def lineage_changed(
        self,
        info: Info,
        of: strawberry.ID,
        direction: LineageDirection = LineageDirection.DOWNSTREAM,
    ) -> AsyncGenerator[LineageChange, None]:
        items = _lineage_changes(info, str(of), direction)
        async for item in shaped_stream(items, info.context.actor, "lineageChanged"):
            yield item


async def _events(
    info: Info,
    registry: str | None,
    subject: strawberry.ID | None,
    types: list[str] | None,
    after: Long | None,
) -> AsyncIterator[Event]:

    async def check(access: Access) -> None:
        if subject is not None:
            await RULES["history"](access, {"subject": subject}, "events")
        else:
            await RULES["audit_log"](access, {"registry": registry}, "events")

    await check(info.context.access)
    registry_id = None
    if registry is not None:
        registry_id = (await info.context.repos.registries.get_registry(registry)).id
    wanted = set(types or ())
    following = _feed(info).follow(None if after is None else int(after))
    async for event in _while_allowed(info, following, check):
        if wanted and event.type not in wanted:
            continue
        if registry_id is not None and event.registry != registry_id:
            continue
        if subject is not None and str(subject) not in event.subjects:
            continue
        # What may be read is decided afresh for each event (a link or a role may change it).
        access = Access(info.context.access.principal, info.context.repos.access)
        yield (await shown(access, [event]))[0]


async def _lineage_changes(
    info: Info, of: str, direction: LineageDirection
) -> AsyncIterator[LineageChange]:

    async def check(access: Access) -> None:
        await RULES["lineage"](access, {"of": of}, "lineageChanged")

    await check(info.context.access)
    start = await _start(info, of, "of")
    closure = await _closure(info, start, direction)
    async for event in _while_allowed(info, _feed(info).follow(None), check):
        if event.type not in LINEAGE_TYPES or not closure & set(event.subjects):
            continue
        now = await _closure(info, start, direction)
        added, removed = now - closure, closure - now
        closure = now
        readable = await info.context.access.readable(added | removed | set(event.subjects))
        yield LineageChange(
            event_id=strawberry.ID(event.id),
            seq=Long(event.seq),
            type=event.type,
            actor=event.actor,
            time=event.time,
            touched=[strawberry.ID(i) for i in event.subjects if i in readable],
            added=[strawberry.ID(i) for i in sorted(added & readable)],
            removed=[strawberry.ID(i) for i in sorted(removed & readable)],
            size=len(now),
        )
