"""Automations (webhooks on audit events) and their deliveries: the outbox rows the change's
own transaction wrote (graph.events.EVENT_CLAUSE), claimed by whichever replica's worker asks
first, and the log of every attempt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.errors import Conflict, NotFound
from graph.events import Change, write_event
from graph.ids import new_id
from graph.queries import automations as q
from graph.records import Automation, Delivery, DeliveryAttempt, Page, instant, native
from graph.repository.base import DELIVERY_LISTENERS, Repository, Tx, tell


def automation_from(node: Mapping[str, Any]) -> Automation:
    created_at = instant(node["createdAt"])
    assert created_at is not None
    return Automation(
        id=node["id"],
        name=node["name"],
        description=node.get("description") or "",
        scope_kind=node["scopeKind"],
        scope_id=node["scopeId"],
        scope_key=node["scopeKey"],
        registry_id=node.get("registryId"),
        collection_id=node.get("collectionId"),
        registry_name=node.get("registryName"),
        collection_name=node.get("collectionName"),
        project=node.get("project"),
        events=tuple(node["events"]),
        alias_pattern=node.get("aliasPattern"),
        url=node["url"],
        token=node.get("token"),
        secret=node["secret"],
        template=node.get("template"),
        active=bool(node["active"]),
        created_at=created_at,
        created_by=node["createdBy"],
        updated_at=instant(node.get("updatedAt")),
    )


def delivery_from(node: Mapping[str, Any]) -> Delivery:
    created_at = instant(node["createdAt"])
    assert created_at is not None
    return Delivery(
        id=node["id"],
        automation=node["automation"],
        event=node.get("event"),
        event_type=node["eventType"],
        state=node["state"],
        test=bool(node.get("test")),
        created_at=created_at,
        next_at=instant(node.get("nextAt")) if node["state"] == "PENDING" else None,
        delivered_at=instant(node.get("deliveredAt")),
        attempt_count=int(node["attempts"]),
        attempts=tuple(
            DeliveryAttempt(
                number=t["number"],
                at=native(t["at"]),
                status_code=t.get("statusCode"),
                latency_ms=float(t.get("latencyMs") or 0.0),
                response=t.get("response") or "",
                error=t.get("error"),
            )
            for t in node.get("tries") or ()
        ),
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds (its `claim` number proves it when the outcome is written),
    with its automation and event (None for a test)."""

    delivery: Delivery
    claim: int
    retry_from: datetime
    automation: Automation
    event: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one try to deliver brought back."""

    at: datetime
    status_code: int | None
    latency_ms: float
    response: str
    error: str | None

    def as_map(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "statusCode": self.status_code,
            "latencyMs": self.latency_ms,
            "response": self.response,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """A sent attempt and where it leaves its delivery: DELIVERED, FAILED, or PENDING again
    until `next_at`."""

    claimed: Claimed
    attempt: Attempt
    state: str
    next_at: datetime | None


async def _audit(
    tx: Tx,
    automation: Automation,
    type: str,
    *,
    actor: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """The event of a change to an automation: about it and its scope, in the scope's
    registry (or project)."""
    await write_event(
        tx,
        Change(
            type,
            actor=actor,
            subjects=[automation.id, automation.scope_id],
            registry=automation.registry_id,
            project=automation.project,
            before=before,
            after=after,
        ),
    )


class AutomationRepository(Repository):
    async def create(self, props: dict[str, Any], *, actor: str) -> Automation:
        """Create an automation on the scope node props["scopeId"] (props as stored; the
        secret and token encrypted by the caller)."""

        async def work(tx: Tx) -> Automation:
            row = await (
                await tx.run(
                    q.LOCK_SCOPE,
                    {
                        "id": props["scopeId"],
                        "scope_key": props["scopeKey"],
                        "name": props["name"],
                        "except": None,
                    },
                )
            ).single()
            if row is None:
                raise NotFound("scope", props["scopeId"])
            if row["taken"]:
                raise Conflict(f"an automation named {props['name']!r} exists in this scope")
            now = datetime.now(UTC)
            stored = {
                **props,
                "id": new_id("aut"),
                "active": True,
                "deleted": False,
                "createdAt": now,
                "createdBy": actor,
            }
            node = (await (await tx.run(q.CREATE_AUTOMATION, props=stored)).single(strict=True))[
                "automation"
            ]
            made = automation_from(node)
            await _audit(
                tx,
                made,
                "automation.created",
                actor=actor,
                after=_public(stored),
            )
            return made

        return await self._write(work)

    async def update(
        self, automation_id: str, changes: dict[str, Any], *, actor: str
    ) -> Automation:
        """Change an automation's settings (pause and resume too: `active`)."""

        async def work(tx: Tx) -> Automation:
            before = await _lock(tx, automation_id)
            if "name" in changes and changes["name"] != before.name:
                row = await (
                    await tx.run(
                        q.LOCK_SCOPE,
                        {
                            "id": before.scope_id,
                            "scope_key": before.scope_key,
                            "name": changes["name"],
                            "except": automation_id,
                        },
                    )
                ).single()
                if row is not None and row["taken"]:
                    raise Conflict(f"an automation named {changes['name']!r} exists in this scope")
            node = (
                await (
                    await tx.run(
                        q.UPDATE_AUTOMATION,
                        id=automation_id,
                        props={**changes, "updatedAt": datetime.now(UTC)},
                    )
                ).single(strict=True)
            )["automation"]
            after = automation_from(node)
            old = _public(_stored_view(before))
            await _audit(
                tx,
                after,
                "automation.updated",
                actor=actor,
                before={k: old.get(k) for k in _public(changes)},
                after=_public(changes),
            )
            return after

        updated = await self._write(work)
        if changes.get("active"):
            # resumed: what it was owed while paused is sent now, not at the worker's next look
            tell(DELIVERY_LISTENERS)
        return updated

    async def delete(self, automation_id: str, *, actor: str) -> int:
        """Delete an automation; return how many of its pending deliveries were cancelled."""

        async def work(tx: Tx) -> int:
            before = await _lock(tx, automation_id)
            row = await (
                await tx.run(q.DELETE_AUTOMATION, id=automation_id, now=datetime.now(UTC))
            ).single(strict=True)
            await _audit(
                tx,
                before,
                "automation.deleted",
                actor=actor,
                before={"name": before.name},
                after={"cancelledDeliveries": row["cancelled"]},
            )
            cancelled: int = row["cancelled"]
            return cancelled

        return await self._write(work)

    async def get(self, automation_id: str) -> Automation:
        async def work(tx: Tx) -> Automation | None:
            row = await (await tx.run(q.GET_AUTOMATION, id=automation_id)).single()
            return automation_from(row["automation"]) if row else None

        found = await self._read(work)
        if found is None:
            raise NotFound("automation", automation_id)
        return found

    async def in_scope(
        self,
        *,
        registry_id: str | None = None,
        collection_id: str | None = None,
        project: str | None = None,
    ) -> list[Automation]:
        """A registry's automations (its collections' too), a collection's, or a project's."""

        async def work(tx: Tx) -> list[Automation]:
            result = await tx.run(
                q.LIST_AUTOMATIONS,
                registry_id=registry_id,
                collection_id=collection_id,
                project=project,
            )
            return [automation_from(row["automation"]) async for row in result]

        return await self._read(work)

    async def deliveries(
        self,
        automation_id: str,
        *,
        first: int,
        before: tuple[datetime, str] | None,
        state: str | None,
    ) -> Page[Delivery]:
        """An automation's deliveries, newest first, each with its attempts."""

        async def work(tx: Tx) -> list[Delivery]:
            result = await tx.run(
                q.LIST_DELIVERIES,
                automation=automation_id,
                state=state,
                before=before[1] if before else None,
                before_time=before[0] if before else None,
                limit=first + 1,
            )
            return [delivery_from(row["delivery"]) async for row in result]

        found = await self._read(work)
        items = tuple(found[:first])
        return Page(items, len(found) > first, items[-1].id if items else None)

    async def delivery(self, delivery_id: str) -> Delivery:
        async def work(tx: Tx) -> Delivery | None:
            row = await (await tx.run(q.GET_DELIVERY, id=delivery_id)).single()
            return delivery_from(row["delivery"]) if row else None

        found = await self._read(work)
        if found is None:
            raise NotFound("delivery", delivery_id)
        return found

    # --- the worker's side -----------------------------------------------------------------

    async def outbox_waiting(self) -> bool:
        """Whether any change left outbox rows to take, their events sealed (a read)."""

        async def work(tx: Tx) -> bool:
            row = await (await tx.run(q.OUTBOX_WAITING)).single(strict=True)
            return bool(row["waiting"])

        return await self._read(work)

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease_until: datetime,
        limit: int,
        outbox: bool = True,
    ) -> list[Claimed]:
        """Take up to `limit` deliveries for `owner` until `lease_until`: due ones first (retries,
        those another worker's lease lost), then, when `outbox`, new ones from the outbox."""

        async def work(tx: Tx) -> list[Claimed]:
            result = await tx.run(
                q.CLAIM_DELIVERIES,
                owner=owner,
                now=now,
                lease_until=lease_until,
                limit=limit,
                scan=limit * 4 + 64,
            )
            claimed = [_claimed(row) async for row in result]
            if outbox and len(claimed) < limit:
                claimed += await _take_outbox(tx, owner, lease_until, limit - len(claimed))
            return claimed

        return await self._write(work, notify=False)

    async def prune(self, before: datetime, limit: int = 5_000) -> int:
        """Delete up to `limit` settled deliveries (with their attempts) last tried before
        `before`; how many went."""

        async def work(tx: Tx) -> int:
            row = await (await tx.run(q.PRUNE_DELIVERIES, before=before, limit=limit)).single()
            return int(row["pruned"]) if row else 0

        return await self._write(work, notify=False)

    async def record(self, owner: str, outcomes: Sequence[Outcome]) -> set[str]:
        """Write attempts' outcomes in one transaction; the ids of the deliveries written (an
        outcome whose claim was lost, another worker having taken the delivery over after
        this one's lease ran out, writes nothing)."""

        async def work(tx: Tx) -> set[str]:
            rows = [
                {
                    "id": o.claimed.delivery.id,
                    "claim": o.claimed.claim,
                    "state": o.state,
                    "nextAt": o.next_at or o.attempt.at,
                    "attempt": o.attempt.as_map(),
                }
                for o in outcomes
            ]
            result = await tx.run(q.RECORD_ATTEMPTS, owner=owner, rows=rows)
            return {row["id"] async for row in result}

        return await self._write(work, notify=False)

    async def record_test(
        self, automation: Automation, delivery_id: str, attempt: Attempt, *, actor: str
    ) -> None:
        """Keep a test delivery (already sent, as `delivery_id`) in the automation's log."""

        async def work(tx: Tx) -> None:
            await tx.run(
                q.RECORD_TEST,
                id=delivery_id,
                automation=automation.id,
                state="DELIVERED" if _succeeded(attempt) else "FAILED",
                attempt=attempt.as_map(),
            )
            await _audit(
                tx,
                automation,
                "automation.tested",
                actor=actor,
                after={"delivery": delivery_id, "status": attempt.status_code},
            )

        await self._write(work)

    async def redeliver(self, delivery_id: str, *, actor: str) -> Delivery:
        """Send a delivery again (a failed one, or a delivered one the receiver lost): it is
        due now, with a fresh retry window, under the same webhook-id."""

        async def work(tx: Tx) -> Automation:
            row = await (await tx.run(q.LOCK_DELIVERY, id=delivery_id)).single()
            if row is None:
                raise NotFound("delivery", delivery_id)
            delivery = delivery_from(row["delivery"])
            if delivery.test:
                raise Conflict(f"{delivery_id} was a test: send another (testAutomation)")
            if delivery.state == "CANCELLED":
                raise Conflict(f"{delivery_id} was cancelled with its automation")
            automation = await _lock(tx, delivery.automation)
            await tx.run(q.REDELIVER, id=delivery_id, now=datetime.now(UTC))
            await _audit(
                tx,
                automation,
                "automation.redelivered",
                actor=actor,
                before={"delivery": delivery_id, "state": delivery.state},
                after={"delivery": delivery_id, "state": "PENDING"},
            )
            return automation

        await self._write(work)
        tell(DELIVERY_LISTENERS)  # sent now, not at the worker's next look
        return await self.delivery(delivery_id)

    async def names(
        self, collection_id: str | None, registry_id: str | None, run_id: str | None
    ) -> dict[str, str | None]:
        """The collection, registry and run names a payload shows, and the run's project."""

        async def work(tx: Tx) -> dict[str, str | None]:
            row = await (
                await tx.run(q.NAMES, collection=collection_id, registry=registry_id, run=run_id)
            ).single(strict=True)
            return dict(row)

        return await self._read(work)


OUTBOX_PAGE = 8  # outbox rows read at a time while taking
OUTBOX_SCAN = 256  # outbox rows one take may go through


def _claimed(row: Mapping[str, Any]) -> Claimed:
    node = row["delivery"]
    event = {k: native(v) for k, v in row["event"].items()} if row["event"] else None
    retry_from = instant(node.get("retryFrom") or node["createdAt"])
    assert retry_from is not None
    return Claimed(
        delivery_from(node), node["claim"], retry_from, automation_from(row["automation"]), event
    )


async def _take_outbox(tx: Tx, owner: str, lease_until: datetime, budget: int) -> list[Claimed]:
    """Deliveries made now, leased to `owner`, for the first `budget` automations the oldest
    outbox rows are owed (see q.TAKE_OUTBOX). Rows owed nothing any more (their automations
    were deleted since) are dropped on the way, up to OUTBOX_SCAN rows in all."""
    await (await tx.run(q.LOCK_OUTBOX)).consume()
    rows: list[dict[str, Any]] = []
    after: tuple[Any, Any] = (None, None)
    while budget > 0 and len(rows) < OUTBOX_SCAN:
        result = await tx.run(
            q.OUTBOX_HEAD, after_time=after[0], after_event=after[1], limit=OUTBOX_PAGE
        )
        page = [row async for row in result]
        for row in page:
            automations = list(row["automations"])
            taken, rest = automations[:budget], automations[budget:]
            rows.append({"event": row["event"], "taken": taken, "rest": rest})
            budget -= len(taken)
            if budget <= 0:
                break
        if len(page) < OUTBOX_PAGE:
            break
        after = (page[-1]["time"], page[-1]["event"])
    if not rows:
        return []
    result = await tx.run(q.TAKE_OUTBOX, rows=rows, owner=owner, lease_until=lease_until)
    return [_claimed(row) async for row in result]


async def _lock(tx: Tx, automation_id: str) -> Automation:
    row = await (await tx.run(q.LOCK_AUTOMATION, id=automation_id)).single()
    if row is None:
        raise NotFound("automation", automation_id)
    return automation_from(row["automation"])


def _succeeded(attempt: Attempt) -> bool:
    return attempt.status_code is not None and 200 <= attempt.status_code < 300


# Stored keys an audit event may show: never the token or the signing secret.
_SHOWN = frozenset(
    {"name", "description", "scopeKind", "events", "aliasPattern", "url", "template", "active"}
)


def _public(props: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in props.items() if k in _SHOWN}
    if "token" in props:
        shown["token"] = "set" if props["token"] else None
    return shown


def _stored_view(a: Automation) -> dict[str, Any]:
    return {
        "name": a.name,
        "description": a.description,
        "scopeKind": a.scope_kind,
        "events": list(a.events),
        "aliasPattern": a.alias_pattern,
        "url": a.url,
        "template": a.template,
        "active": a.active,
        "token": a.token,
    }
