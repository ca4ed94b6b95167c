"""The audit log: every write transaction records exactly one event through `write_event`.

Events form one hash chain in commit order: each carries a sequence number, the hash of the
event before it and its own hash over its content. The chain head is a single node whose write
lock every event takes, so sequence numbers are gapless and the chain has no forks; a change to
any stored event shows up as a break when `verify_chain` recomputes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, LiteralString

from graph.automations import HEARS, outbox_fields
from graph.ids import new_id
from graph.importing import IMPORTING
from graph.repository.base import Tx
from graph.repository.idempotency import CLAIM

# Takes the chain head's write lock. A query that takes it and returns the head's `seq` and
# `hash` can make its event with `new_event` and write it with EVENT_CLAUSE, a round trip fewer
# than write_event.
LOCK_HEAD_CLAUSE: Final[LiteralString] = """
MERGE (h:AuditHead {id: 'audit'})
ON CREATE SET h.seq = 0, h.hash = ''
SET h._lock = true
REMOVE h._lock
"""

LOCK_HEAD: Final[LiteralString] = LOCK_HEAD_CLAUSE + "RETURN h.seq AS seq, h.hash AS hash"

# Appends the event $event (a map made by `new_event`) to the chain: a query that locked the
# head (LOCK_HEAD_CLAUSE, in this transaction) may end in it, in a CALL, and save a round trip.
# It is also the outbox: when some active automation hears the event, one Outbox row carrying
# what automations are matched by (scopes, triggers, aliases) is written in the same
# transaction, so a rolled-back change never fires and a committed one always does
# (api.services.webhooks takes the row and sends the deliveries). The change only asks whether
# one automation hears it; which ones do is worked out when the row is first taken: what
# automations cost a change stays small however many there are.
EVENT_CLAUSE: Final[LiteralString] = (
    """
MATCH (h:AuditHead {id: 'audit'})
SET h.seq = $event.seq, h.hash = $event.hash
CREATE (e:Event {id: $event.id, seq: $event.seq, type: $event.type, actor: $event.actor,
                 time: $event.time, subjects: $event.subjects, registry: $event.registry,
                 before: $event.before, after: $event.after, prevHash: $event.prevHash,
                 hash: $event.hash, idempotency: $event.idempotency,
                 importKey: $event.importKey})
WITH e
CALL (e) {
  WITH e, $event.scopes AS scopes, $event.triggers AS triggers, $event.aliases AS aliases
  WHERE size(scopes) > 0 AND EXISTS { MATCH (a:Automation) WHERE """
    + HEARS
    + """ }
  CREATE (:Outbox {event: e.id, eventType: e.type, time: e.time, scopes: scopes,
                   triggers: triggers, aliases: aliases})
}
WITH e
UNWIND $event.subjects AS subject_id
MATCH (s:Entity {id: subject_id})
CREATE (e)-[:ABOUT]->(s)
"""
)


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256 over the previous hash and the event's fields in a canonical JSON form."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def hashed_fields(
    *,
    seq: int,
    type: str,
    actor: str,
    time: datetime,
    subjects: Sequence[str],
    registry: str | None,
    before: str,
    after: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": type,
        "actor": actor,
        "time": time.isoformat(),
        "subjects": list(subjects),
        "registry": registry,
        "before": before,
        "after": after,
    }


def new_event(
    head: Mapping[str, Any],
    type: str,
    *,
    actor: str,
    subjects: Sequence[str],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    registry: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """The event after the chain head `head` (its `seq` and `hash`, read under its lock), as
    the map EVENT_CLAUSE writes. `project` (a project's name, not recorded) lets automations on
    that project hear it."""
    seq = int(head["seq"]) + 1
    # Microseconds are kept exactly, so the hash can be recomputed from the stored time.
    time = datetime.now(UTC)
    imported = IMPORTING.get()
    if imported is not None:
        time = imported.time
        after = {
            **(after or {}),
            "imported": {
                "source": imported.source,
                "key": imported.key,
                "by": imported.by,
                "at": datetime.now(UTC).isoformat(),
            },
        }
    before_json = json.dumps(before or {}, sort_keys=True, default=str)
    after_json = json.dumps(after or {}, sort_keys=True, default=str)
    fields = hashed_fields(
        seq=seq,
        type=type,
        actor=actor,
        time=time,
        subjects=subjects,
        registry=registry,
        before=before_json,
        after=after_json,
    )
    claim = CLAIM.get()
    if claim is not None:
        claim.events += 1
    return fields | {
        "id": new_id("evt"),
        "time": time,
        "subjects": list(subjects),
        "prevHash": head["hash"],
        "hash": event_hash(head["hash"], fields),
        "idempotency": claim.id if claim is not None else None,
        "importKey": imported.key if imported is not None else None,
        **outbox_fields(type, subjects, registry, project, after),
    }


async def write_event(
    tx: Tx,
    type: str,
    *,
    actor: str,
    subjects: Sequence[str],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    registry: str | None = None,
    project: str | None = None,
) -> str:
    """Record one immutable event about `subjects` inside `tx`, chained to the one before;
    return its id."""
    head = await (await tx.run(LOCK_HEAD)).single(strict=True)
    event = new_event(
        head,
        type,
        actor=actor,
        subjects=subjects,
        before=before,
        after=after,
        registry=registry,
        project=project,
    )
    await tx.run(EVENT_CLAUSE, event=event)
    event_id: str = event["id"]
    return event_id
