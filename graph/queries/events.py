"""Cypher for reading the audit log."""

from __future__ import annotations

from typing import Final, LiteralString

from graph.events import STAMP_CLAUSE

# The stamp of what is committed: any change anywhere moves it (graph.events).
HEAD: Final[LiteralString] = STAMP_CLAUSE + "RETURN head"

HISTORY: Final[LiteralString] = """
MATCH (:Entity {id: $subject})<-[:ABOUT]-(e:Event)
WHERE e.seq < coalesce($before_seq, 9223372036854775807)
RETURN e {.*} AS event
ORDER BY e.seq DESC
LIMIT $limit
"""

AUDIT_LOG: Final[LiteralString] = """
MATCH (e:Event)
WHERE e.seq < coalesce($before_seq, 9223372036854775807)
  AND ($actor IS NULL OR e.actor = $actor)
  AND ($types IS NULL OR e.type IN $types)
  AND ($registry IS NULL OR e.registry = $registry)
  AND ($since IS NULL OR e.time >= $since)
  AND ($until IS NULL OR e.time < $until)
RETURN e {.*} AS event
ORDER BY e.seq DESC
LIMIT $limit
"""

CHAIN_PAGE: Final[LiteralString] = """
MATCH (e:Event)
WHERE e.seq > $after_seq
RETURN e {.*} AS event
ORDER BY e.seq
LIMIT $limit
"""

# The sequence number of the last sealed event.
LAST_SEQ: Final[LiteralString] = """
OPTIONAL MATCH (h:AuditHead {id: 'audit'})
RETURN coalesce(h.seq, 0) AS seq
"""
