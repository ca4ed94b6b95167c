"""Reading the audit log: per subject, org-wide with filters, and the hash chain check."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from graph.events import ENSURE_HEAD, UNSEALED, chained, seal_batch
from graph.queries import events as q
from graph.records import Page, native
from graph.repository.base import DELIVERY_LISTENERS, SEAL_LISTENERS, Repository, Tx, tell

SEAL_BATCH: Final = 2_000  # events chained in one transaction


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    seq: int
    type: str
    actor: str
    time: datetime
    subjects: tuple[str, ...]
    registry: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    hash: str
    prev_hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of recomputing the hash chain: `first_break` is None when it is intact."""

    checked: int
    first_break: Event | None
    reason: str | None


def event_from(node: Mapping[str, Any]) -> Event:
    return Event(
        id=node["id"],
        seq=node["seq"],
        type=node["type"],
        actor=node["actor"],
        time=native(node["time"]),
        subjects=tuple(node.get("subjects") or ()),
        registry=node.get("registry"),
        before=json.loads(node["before"]),
        after=json.loads(node["after"]),
        hash=node["hash"],
        prev_hash=node["prevHash"],
    )


class EventRepository(Repository):
    async def ensure_head(self) -> None:
        """Make the audit chain's head if the graph has none (at start-up)."""

        async def work(tx: Tx) -> None:
            await (await tx.run(ENSURE_HEAD)).consume()

        await self._write(work, notify=False)

    async def seal(self) -> int:
        """Chain every event committed before this call and not sealed yet (graph.events); how
        many this call sealed (another sealer may have sealed the rest)."""

        async def unsealed(tx: Tx) -> int:
            return int((await (await tx.run(UNSEALED)).single(strict=True))["unsealed"])

        if not await self._read(unsealed):
            return 0
        total = 0
        while True:
            # Sealing is no change of its own: it wakes who carries sealed events, not the
            # sealers.
            sealed = await self._write(lambda tx: seal_batch(tx, SEAL_BATCH), notify=False)
            total += sealed.events
            if sealed.events:
                tell(SEAL_LISTENERS)
            if sealed.outbox:
                tell(DELIVERY_LISTENERS)
            if sealed.events < SEAL_BATCH:
                return total

    async def head(self) -> str:
        """The stamp of what is committed (graph.events.STAMP_CLAUSE): it moves with every
        change."""

        async def work(tx: Tx) -> str:
            head: str = (await (await tx.run(q.HEAD)).single(strict=True))["head"]
            return head

        return await self._read(work)

    async def last_seq(self) -> int:
        """The sequence number of the last event (0 before the first)."""

        async def work(tx: Tx) -> int:
            return int((await (await tx.run(q.LAST_SEQ)).single(strict=True))["seq"])

        return await self._read(work)

    async def since(self, after_seq: int, limit: int) -> list[Event]:
        """Up to `limit` sealed events after `after_seq`, oldest first (events are sealed in
        sequence order: the head's lock is held until each batch commits, so none is
        skipped)."""

        async def work(tx: Tx) -> list[Event]:
            result = await tx.run(q.CHAIN_PAGE, after_seq=after_seq, limit=limit)
            return [event_from(row["event"]) async for row in result]

        return await self._read(work)

    async def history(self, subject_id: str, *, first: int, before_seq: int | None) -> Page[Event]:
        """Events about one subject, newest first (what was committed before the call is
        sealed first, so it is there)."""
        await self.seal()

        async def work(tx: Tx) -> list[Event]:
            result = await tx.run(
                q.HISTORY, subject=subject_id, before_seq=before_seq, limit=first + 1
            )
            return [event_from(row["event"]) async for row in result]

        return _page(await self._read(work), first)

    async def audit_log(
        self,
        *,
        actor: str | None,
        types: Sequence[str] | None,
        registry: str | None,
        since: datetime | None,
        until: datetime | None,
        first: int,
        before_seq: int | None,
    ) -> Page[Event]:
        """The org-wide log, newest first, filtered (sealed first, as history)."""
        await self.seal()

        async def work(tx: Tx) -> list[Event]:
            result = await tx.run(
                q.AUDIT_LOG,
                actor=actor,
                types=list(types) if types else None,
                registry=registry,
                since=since,
                until=until,
                before_seq=before_seq,
                limit=first + 1,
            )
            return [event_from(row["event"]) async for row in result]

        return _page(await self._read(work), first)

    async def verify_chain(self, batch: int = 5_000) -> ChainReport:
        """Recompute every event's hash in sequence order; report the first that disagrees.
        What was committed before the call is sealed first, so it is checked too."""
        await self.seal()
        checked, prev_hash, expected_seq = 0, "", 1
        while True:

            async def work(tx: Tx, after: int = expected_seq - 1) -> list[Mapping[str, Any]]:
                result = await tx.run(q.CHAIN_PAGE, after_seq=after, limit=batch)
                return [row["event"] async for row in result]

            nodes = await self._read(work)
            if not nodes:
                return ChainReport(checked, None, None)
            for node in nodes:
                event = event_from(node)
                reason = _check(node, event, prev_hash, expected_seq)
                if reason is not None:
                    return ChainReport(checked, event, reason)
                checked, prev_hash, expected_seq = checked + 1, event.hash, expected_seq + 1


def _check(node: Mapping[str, Any], event: Event, prev_hash: str, seq: int) -> str | None:
    if event.seq != seq:
        return f"sequence {seq} is missing (found {event.seq} next)"
    if event.prev_hash != prev_hash:
        return "its previous-hash does not match the event before it"
    if chained(node, event.seq, prev_hash) != event.hash:
        return "its content does not match its hash"
    return None


def _page(events: list[Event], first: int) -> Page[Event]:
    page = tuple(events[:first])
    return Page(page, len(events) > first, str(page[-1].seq) if page else None)
