"""Cypher for reading the audit log."""

from __future__ import annotations

from typing import Final, LiteralString

# The hash of the last event ('' before the first): any change anywhere moves it (graph.events).
HEAD: Final[LiteralString] = """
OPTIONAL MATCH (h:AuditHead {id: 'audit'})
RETURN coalesce(h.hash, '') AS head
"""

HISTORY: Final[LiteralString] = """
MATCH (:Entity {id: $subject})<-[:ABOUT]-(e:Event)
WHERE $before_seq IS NULL OR e.seq < $before_seq
RETURN e {.*} AS event
ORDER BY e.seq DESC
LIMIT $limit
"""

AUDIT_LOG: Final[LiteralString] = """
MATCH (e:Event)
WHERE ($before_seq IS NULL OR e.seq < $before_seq)
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

LAST_SEQ: Final[LiteralString] = """
OPTIONAL MATCH (h:AuditHead {id: 'audit'})
RETURN coalesce(h.seq, 0) AS seq
"""
