"""Cypher for resumable upload sessions: one per uploader and content (which parts arrived,
S3 itself says: storage.blobs.BlobStore.parts)."""

from __future__ import annotations

from typing import Final, LiteralString

_SESSION_MAP: Final[LiteralString] = """
s {.id, .sha256, .size, .partSize, .s3UploadId, .owner, .object}
"""

# The open session of this uploader for this content, made now (with the S3 upload begun for
# it) unless one exists: a client that starts again finds the parts it sent.
OPEN_SESSION: Final[LiteralString] = (
    """
MERGE (s:UploadSession {owner: $owner, sha256: $sha256})
ON CREATE SET s.id = $id, s.size = $size, s.partSize = $part_size,
              s.s3UploadId = $s3_upload_id, s.object = $object, s.createdAt = $now,
              s.made = true
WITH s, coalesce(s.made, false) AS made
REMOVE s.made
RETURN made, """
    + _SESSION_MAP
    + " AS session"
)

GET_SESSION: Final[LiteralString] = (
    "MATCH (s:UploadSession {id: $id}) RETURN " + _SESSION_MAP + " AS session"
)

FIND_SESSION: Final[LiteralString] = (
    "MATCH (s:UploadSession {owner: $owner, sha256: $sha256}) RETURN "
    + _SESSION_MAP
    + " AS session"
)

CLOSE_SESSION: Final[LiteralString] = """
MATCH (s:UploadSession {id: $id}) DETACH DELETE s
"""

STALE_SESSIONS: Final[LiteralString] = """
MATCH (s:UploadSession) WHERE s.createdAt < $cutoff
RETURN s.id AS id, s.s3UploadId AS s3_upload_id, s.object AS object
LIMIT $limit
"""
