"""Idempotency keys: who holds a keyed mutation, whether it committed, and its first answer."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from graph.queries import idempotency as q
from graph.repository.base import Repository, Tx


@dataclass(slots=True)
class Claim:
    """The idempotency key a request's mutation runs under (api.idempotency): its event
    carries `id`, unique among events, so the same keyed request can never commit twice."""

    id: str
    events: int = 0  # events made under it in this request (committed or not)


# Set by api.idempotency around a keyed mutation; the events it makes carry the claim
# (graph.events.new_event).
CLAIM: ContextVar[Claim | None] = ContextVar("forebear_idempotency_claim", default=None)

Outcome = Literal["run", "replay", "mismatch", "busy", "lost"]


@dataclass(frozen=True, slots=True)
class Claimed:
    """What to do with a keyed request: run it (under `claim`), replay the first answer
    (`status`, `body`), refuse it (another request used the key), or wait: the first is
    still running (`busy`), or committed and its answer was never stored (`lost`)."""

    outcome: Outcome
    claim: str = ""
    status: int = 0
    body: bytes = b""


class IdempotencyRepository(Repository):
    """Its writes record no event: they do not wake the sealer (`notify=False`)."""

    async def claim(
        self,
        key_id: str,
        fingerprint: str,
        *,
        owner: str,
        ttl: timedelta,
        lease: timedelta,
    ) -> Claimed:
        """Take the key `key_id` for a request with this fingerprint, or say why not."""

        async def work(tx: Tx) -> Claimed:
            now = datetime.now(UTC)
            claim = f"{key_id}@{now.isoformat()}"
            fresh: dict[str, object] = {
                "id": key_id,
                "fingerprint": fingerprint,
                "claim": claim,
                "now": now,
                "expires": now + ttl,
                "owner": owner,
                "until": now + lease,
            }
            row = await (await tx.run(q.CLAIM, fresh)).single(strict=True)
            record = row["record"]
            if row["created"]:
                return Claimed("run", claim)
            if record["expired"]:
                return await _reclaim(tx, fresh, start_over=True)
            if record["fingerprint"] != fingerprint:
                return Claimed("mismatch")
            if record["state"] == "done":
                return Claimed("replay", record["claim"], record["status"], record["body"])
            if row["committed"]:
                return Claimed("lost", record["claim"])
            if record["abandoned"]:  # its request died before committing: run it afresh
                return await _reclaim(tx, fresh, start_over=False)
            return Claimed("busy", record["claim"])

        return await self._write(work, notify=False)

    async def committed(self, claim: str) -> bool:
        """Whether a mutation under this claim committed (its event exists)."""

        async def work(tx: Tx) -> bool:
            row = await (await tx.run(q.COMMITTED, claim=claim)).single(strict=True)
            return bool(row["committed"])

        return await self._read(work)

    async def answer(self, key_id: str, owner: str, status: int, body: bytes) -> None:
        """Keep the first answer to a committed keyed mutation (while `owner` holds it)."""

        async def work(tx: Tx) -> None:
            await tx.run(q.ANSWER, id=key_id, owner=owner, status=status, body=body)

        await self._write(work, notify=False)

    async def release(self, key_id: str, owner: str) -> None:
        """Give a key back: its request committed nothing, so a retry runs afresh."""

        async def work(tx: Tx) -> None:
            await tx.run(q.RELEASE, id=key_id, owner=owner)

        await self._write(work, notify=False)

    async def expire(self, *, now: datetime, limit: int = 1000) -> int:
        """Forget keys past their time; return how many."""

        async def work(tx: Tx) -> int:
            row = await (await tx.run(q.EXPIRE, now=now, limit=limit)).single(strict=True)
            return int(row["removed"])

        return await self._write(work, notify=False)


async def _reclaim(tx: Tx, fresh: dict[str, object], *, start_over: bool) -> Claimed:
    row = await (await tx.run(q.RECLAIM, fresh, fresh=start_over)).single(strict=True)
    return Claimed("run", str(row["claim"]))
