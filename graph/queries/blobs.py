"""Cypher for blobs: what is stored, and what nothing references any more."""

from __future__ import annotations

from typing import Final, LiteralString

# Blobs' locks, taken in sha256 order (so two uploads of overlapping content never deadlock).
# $blobs: [{sha256, size, offset}]
LOCK_BLOBS: Final[LiteralString] = """
UNWIND $blobs AS blob
WITH blob ORDER BY blob.sha256
MERGE (b:Blob {sha256: blob.sha256})
ON CREATE SET b.size = blob.size
SET b._lock = true
REMOVE b._lock
"""

# Where the bytes are now: `object` (null: the blob's own key) from `offset`. A location
# recorded before is replaced (its bytes were found missing, or another upload won a race:
# what it left unreferenced goes with the collector's look through the bucket).
MARK_STORED: Final[LiteralString] = """
UNWIND $blobs AS blob
MATCH (b:Blob {sha256: blob.sha256})
SET b.size = blob.size, b.storedAt = $now, b.object = $object, b.offset = blob.offset
"""

# Someone uploaded this content (verified against its sha256): it is present for them from now
# on, and proven for the PENDING versions of their projects that list it
# (graph.queries.artifacts._PROVEN, UNSTORED_FILES).
PROVE: Final[LiteralString] = """
MATCH (u:User {id: $user})
UNWIND $shas AS sha
MATCH (b:Blob {sha256: sha})
MERGE (u)-[:UPLOADED]->(b)
WITH b
CALL (b) {
  MATCH (v:ArtifactVersion {state: 'PENDING'})-[c:CONTAINS]->(b)
  WHERE v.project IN $projects
  SET c.proven = true
}
"""

# Where the stored ones among $shas are (object null: the blob's own key).
STORED: Final[LiteralString] = """
UNWIND $shas AS sha
MATCH (b:Blob {sha256: sha}) WHERE b.storedAt IS NOT NULL
RETURN b.sha256 AS sha256, b.object AS object, coalesce(b.offset, 0) AS offset
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
RETURN b.storedAt IS NOT NULL AS stored, b.object AS object
"""

DELETE_BLOB: Final[LiteralString] = """
MATCH (b:Blob {sha256: $sha256}) DETACH DELETE b
"""

# Whether another stored blob still has its bytes in the object (a pack holds many).
OBJECT_USED: Final[LiteralString] = """
RETURN EXISTS { MATCH (b:Blob {object: $object}) WHERE b.storedAt IS NOT NULL } AS used
"""

# Which of $shas no Blob node records as stored under its own key: objects in S3 that no
# upload finished (or whose blob has its bytes elsewhere now).
UNRECORDED: Final[LiteralString] = """
UNWIND $shas AS sha
OPTIONAL MATCH (b:Blob {sha256: sha})
WITH sha, b WHERE b IS NULL OR b.storedAt IS NULL OR b.object IS NOT NULL
RETURN collect(sha) AS shas
"""

# Which of $keys (packs, resumable uploads' objects) no stored blob has its bytes in.
UNUSED_OBJECTS: Final[LiteralString] = """
UNWIND $keys AS key
WITH key WHERE NOT EXISTS { MATCH (b:Blob {object: key}) WHERE b.storedAt IS NOT NULL }
RETURN collect(key) AS keys
"""

# An object whose upload never reached the graph, under its blob's lock (taken by MERGE, as
# uploads take it in LOCK_BLOB): still unrecorded? and does anything name the node?
CLAIM_UNRECORDED: Final[LiteralString] = """
MERGE (b:Blob {sha256: $sha256})
SET b._lock = true
REMOVE b._lock
RETURN b.storedAt IS NULL OR b.object IS NOT NULL AS unrecorded, EXISTS { (b)--() } AS named
"""
