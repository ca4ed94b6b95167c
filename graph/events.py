"""The audit log: every write transaction records exactly one event through `write_event`.

A change writes its event *unsealed*, in its own transaction, and takes no lock for it: the
event has its content (type, actor, time, subjects, before, after) but no place in the chain
yet. A sealer (`seal`, run by every API process after its commits, and by anyone who reads the
log) then chains the unsealed events in batches: under the chain head's write lock, the only
place that lock is taken, it gives each the next sequence number, the hash of the event
before it and its own hash over its content, and moves the head. So writers of different
projects and collections never wait for each other, sequence numbers stay gapless, the chain
has no forks, and a change to any sealed event shows up as a break when `verify_chain`
recomputes it. An event is unsealed for milliseconds (Certificate Transparency's merge delay,
in small): the audit reads seal what is committed before they read, so they never miss it.

"What changed since I last looked" is answered without the lock: `STAMP_CLAUSE` names what is
committed by the number of events (graph.read_cache, api.kept).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, LiteralString, NamedTuple

from graph.automations import HEARS, outbox_fields
from graph.ids import new_id
from graph.importing import IMPORTING
from graph.records import native
from graph.repository.base import Tx
from graph.repository.idempotency import CLAIM

# Names what is committed, as the column `head`: how many events there are (every change
# writes one, none is ever deleted, so the number moves with every commit and sealing leaves
# it alone), read from Neo4j's count store, not a scan; and the chain head's epoch, drawn when
# the head is made, so a wiped graph that counts up again is told apart.
STAMP_CLAUSE: Final[LiteralString] = """
CALL () { MATCH (e:Event) RETURN count(e) AS events }
OPTIONAL MATCH (h:AuditHead {id: 'audit'})
WITH coalesce(h.epoch, '') + ':' + toString(events) AS head
"""

# Writes the event `event` (a map made by `new_event`, bound by the query), unsealed. It is
# also the outbox: when some active automation hears the event, one Outbox row carrying what
# automations are matched by (scopes, triggers, aliases) is written in the same transaction,
# so a rolled-back change never fires and a committed one always does (api.services.webhooks
# takes the row once the event is sealed and sends the deliveries). The change only asks
# whether one automation hears it; which ones do is worked out when the row is first taken:
# what automations cost a change stays small however many there are.
EVENT_OF_CLAUSE: Final[LiteralString] = (
    """
CREATE (e:Event:Unsealed {id: event.id, type: event.type, actor: event.actor,
                          time: event.time, subjects: event.subjects,
                          registry: event.registry, before: event.before,
                          after: event.after, idempotency: event.idempotency,
                          importKey: event.importKey})
WITH e, event
CALL (e, event) {
  WITH e, event.scopes AS scopes, event.triggers AS triggers, event.aliases AS aliases
  WHERE size(scopes) > 0 AND EXISTS { MATCH (a:Automation) WHERE """
    + HEARS
    + """ }
  CREATE (:Outbox {event: e.id, eventType: e.type, time: e.time, scopes: scopes,
                   triggers: triggers, aliases: aliases})
}
WITH e, event
UNWIND event.subjects AS subject_id
MATCH (s:Entity {id: subject_id})
CREATE (e)-[:ABOUT]->(s)
"""
)

# Writes the event $event: a query may end in it, in a CALL, and save a round trip.
EVENT_CLAUSE: Final[LiteralString] = "UNWIND [$event] AS event\n" + EVENT_OF_CLAUSE

# Several changes' events in one round trip ($events, in order).
EVENTS_CLAUSE: Final[LiteralString] = "UNWIND $events AS event\n" + EVENT_OF_CLAUSE

# The chain head, made at start-up before any event (its epoch names this graph: STAMP_CLAUSE).
ENSURE_HEAD: Final[LiteralString] = """
MERGE (h:AuditHead {id: 'audit'})
ON CREATE SET h.seq = 0, h.hash = '', h.epoch = randomUUID()
"""

# Sealing, step 1: the chain head under its write lock (made on first use), and the oldest
# unsealed events after it. Whoever holds the lock seals; a second sealer waits, then finds
# what the first left.
SEAL_HEAD: Final[LiteralString] = """
MERGE (h:AuditHead {id: 'audit'})
ON CREATE SET h.seq = 0, h.hash = ''
SET h._lock = true, h.epoch = coalesce(h.epoch, randomUUID())
REMOVE h._lock
WITH h
CALL (h) {
  MATCH (e:Unsealed) WHERE e.seq IS NULL
  WITH e ORDER BY e.time, e.id LIMIT $limit
  RETURN collect(e {.*}) AS events
}
RETURN h.seq AS seq, h.hash AS hash, events
"""

# Sealing, step 2: each of $rows (id, seq, prevHash, hash) placed in the chain, and the head
# moved to the last; whether any of these events set off automations (left outbox rows,
# which the webhook worker takes only once their events are sealed).
SEAL: Final[LiteralString] = """
UNWIND $rows AS row
MATCH (e:Unsealed {id: row.id})
SET e.seq = row.seq, e.prevHash = row.prevHash, e.hash = row.hash
REMOVE e:Unsealed
WITH count(e) AS sealed
MATCH (h:AuditHead {id: 'audit'})
SET h.seq = $seq, h.hash = $hash
RETURN sealed, EXISTS { MATCH (o:Outbox) WHERE o.event IN [row IN $rows | row.id] } AS outbox
"""

UNSEALED: Final[LiteralString] = "MATCH (u:Unsealed) RETURN count(u) AS unsealed"


@dataclass(frozen=True, slots=True)
class Change:
    """What one mutation records: its event's type (`link.created`), who made it, the ids it
    is about, the state before and after, and the registry it happened in. `project` (a
    project's name, not recorded) lets automations on that project hear it."""

    type: str
    actor: str
    subjects: Sequence[str]
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    registry: str | None = None
    project: str | None = None


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


def new_event(change: Change) -> dict[str, Any]:
    """The event recording `change`, as the map EVENT_CLAUSE writes (unsealed)."""
    # Microseconds are kept exactly, so the hash can be computed from the stored time.
    time = datetime.now(UTC)
    after = dict(change.after or {})
    imported = IMPORTING.get()
    if imported is not None:
        time = imported.time
        after["imported"] = {
            "source": imported.source,
            "key": imported.key,
            "by": imported.by,
            "at": datetime.now(UTC).isoformat(),
        }
    claim = CLAIM.get()
    if claim is not None:
        claim.events += 1
    return {
        "id": new_id("evt"),
        "type": change.type,
        "actor": change.actor,
        "time": time,
        "subjects": list(change.subjects),
        "registry": change.registry,
        "before": json.dumps(change.before or {}, sort_keys=True, default=str),
        "after": json.dumps(after, sort_keys=True, default=str),
        "idempotency": claim.id if claim is not None else None,
        "importKey": imported.key if imported is not None else None,
        **outbox_fields(change.type, change.subjects, change.registry, change.project, after),
    }


async def write_event(tx: Tx, change: Change) -> str:
    """Record `change` as one immutable event inside `tx` (sealed into the chain after the
    commit); return its id."""
    event = new_event(change)
    await tx.run(EVENT_CLAUSE, event=event)
    event_id: str = event["id"]
    return event_id


def chained(node: Mapping[str, Any], seq: int, prev_hash: str) -> str:
    """The hash of a stored event (`node`, its properties) at `seq` after `prev_hash`."""
    fields = hashed_fields(
        seq=seq,
        type=node["type"],
        actor=node["actor"],
        time=native(node["time"]),
        subjects=node.get("subjects") or (),
        registry=node.get("registry"),
        before=node["before"],
        after=node["after"],
    )
    return event_hash(prev_hash, fields)


class Sealed(NamedTuple):
    """What one seal_batch did: how many events it chained, and whether any of them set off
    automations (left outbox rows for the webhook worker)."""

    events: int
    outbox: bool


async def seal_batch(tx: Tx, limit: int = 2_000) -> Sealed:
    """Chain up to `limit` unsealed events, oldest first, in `tx` (a write transaction: it
    holds the head's lock until it commits)."""
    head = await (await tx.run(SEAL_HEAD, limit=limit)).single(strict=True)
    seq, prev = int(head["seq"]), str(head["hash"])
    rows = []
    for node in head["events"]:
        seq += 1
        digest = chained(node, seq, prev)
        rows.append({"id": node["id"], "seq": seq, "prevHash": prev, "hash": digest})
        prev = digest
    if not rows:
        return Sealed(0, outbox=False)
    done = await (await tx.run(SEAL, rows=rows, seq=seq, hash=prev)).single(strict=True)
    return Sealed(len(rows), outbox=bool(done["outbox"]))
