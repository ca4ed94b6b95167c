"""The audit log: every write transaction records exactly one event through `write_event`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, LiteralString

from neo4j import AsyncManagedTransaction

from graph.ids import new_id

WRITE_EVENT: Final[LiteralString] = """
CREATE (e:Event {id: $id, type: $type, actor: $actor, time: $time, subjects: $subjects,
                 before: $before, after: $after})
WITH e
UNWIND $subjects AS subject_id
MATCH (s:Entity {id: subject_id})
CREATE (e)-[:ABOUT]->(s)
"""


async def write_event(
    tx: AsyncManagedTransaction,
    type: str,
    *,
    actor: str,
    subjects: Sequence[str],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    time: datetime | None = None,
) -> str:
    """Record one immutable event about `subjects` inside `tx`; return its id."""
    event_id = new_id("evt")
    await tx.run(
        WRITE_EVENT,
        id=event_id,
        type=type,
        actor=actor,
        time=time or datetime.now(UTC),
        subjects=list(subjects),
        before=json.dumps(before or {}, sort_keys=True, default=str),
        after=json.dumps(after or {}, sort_keys=True, default=str),
    )
    return event_id
