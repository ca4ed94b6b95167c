"""Cypher for blobs: what is stored, and what nothing references any more."""

from __future__ import annotations

from typing import Final, LiteralString

LOCK_BLOB: Final[LiteralString] = """
MERGE (b:Blob {sha256: $sha256})
ON CREATE SET b.size = $size
SET b._lock = true
REMOVE b._lock
"""

MARK_STORED: Final[LiteralString] = """
MATCH (b:Blob {sha256: $sha256})
SET b.size = $size, b.storedAt = $now
"""

IS_STORED: Final[LiteralString] = """
MATCH (b:Blob {sha256: $sha256}) RETURN b.storedAt IS NOT NULL AS stored
"""

UNREFERENCED: Final[LiteralString] = """
MATCH (b:Blob)
WHERE NOT EXISTS { (b)<-[:CONTAINS]-(:ArtifactVersion) }
  AND coalesce(b.storedAt, datetime('1970-01-01T00:00:00Z')) < $cutoff
RETURN b.sha256 AS sha256
LIMIT $limit
"""

CLAIM_UNREFERENCED: Final[LiteralString] = """
MATCH (b:Blob {sha256: $sha256})
SET b._lock = true
REMOVE b._lock
WITH b
WHERE NOT EXISTS { (b)<-[:CONTAINS]-(:ArtifactVersion) }
  AND coalesce(b.storedAt, datetime('1970-01-01T00:00:00Z')) < $cutoff
RETURN b.storedAt IS NOT NULL AS stored
"""

DELETE_BLOB: Final[LiteralString] = """
MATCH (b:Blob {sha256: $sha256}) DETACH DELETE b
"""
