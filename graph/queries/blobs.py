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

# Someone uploaded this content (verified against its sha256): it is present for them from now
# on, and proven for the PENDING versions of their projects that list it
# (graph.queries.artifacts._PROVEN, UNSTORED_FILES).
PROVE: Final[LiteralString] = """
MATCH (b:Blob {sha256: $sha256})
MATCH (u:User {id: $user})
MERGE (u)-[:UPLOADED]->(b)
WITH b
CALL (b) {
  MATCH (v:ArtifactVersion {state: 'PENDING'})-[c:CONTAINS]->(b)
  WHERE v.project IN $projects
  SET c.proven = true
}
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

# Which of $shas no Blob node records as stored: objects in S3 that no upload finished.
UNRECORDED: Final[LiteralString] = """
UNWIND $shas AS sha
OPTIONAL MATCH (b:Blob {sha256: sha})
WITH sha, b WHERE b IS NULL OR b.storedAt IS NULL
RETURN collect(sha) AS shas
"""

# An object whose upload never reached the graph, under its blob's lock (taken by MERGE, as
# uploads take it in LOCK_BLOB): still unrecorded? and does anything name the node?
CLAIM_UNRECORDED: Final[LiteralString] = """
MERGE (b:Blob {sha256: $sha256})
SET b._lock = true
REMOVE b._lock
RETURN b.storedAt IS NULL AS unrecorded, EXISTS { (b)--() } AS named
"""
