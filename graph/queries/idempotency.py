"""Cypher for idempotency keys: claims on a keyed mutation, and the answers kept for them."""

from __future__ import annotations

from typing import Final, LiteralString

# The record of one caller's key, made on first use and locked for the rest of the
# transaction; `created` says whether this call made it.
CLAIM: Final[LiteralString] = """
MERGE (i:Idempotency {id: $id})
ON CREATE SET i.fingerprint = $fingerprint, i.claim = $claim, i.createdAt = $now,
              i.expiresAt = $expires, i.state = 'pending', i.owner = $owner,
              i.until = $until, i.created = true
SET i._lock = true
REMOVE i._lock
WITH i, coalesce(i.created, false) AS created
REMOVE i.created
RETURN created, i {.fingerprint, .claim, .state, .owner, .status, .body,
                   expired: i.expiresAt <= $now, abandoned: i.until <= $now} AS record,
       EXISTS { (:Event {idempotency: i.claim}) } AS committed
"""

# A record to start over: its key expired, or its request stopped before committing anything.
RECLAIM: Final[LiteralString] = """
MATCH (i:Idempotency {id: $id})
SET i.owner = $owner, i.until = $until
SET i += CASE WHEN $fresh THEN {fingerprint: $fingerprint, claim: $claim, createdAt: $now,
                                 expiresAt: $expires, state: 'pending', status: null,
                                 body: null}
              ELSE {} END
RETURN i.claim AS claim
"""

COMMITTED: Final[LiteralString] = """
RETURN EXISTS { (:Event {idempotency: $claim}) } AS committed
"""

ANSWER: Final[LiteralString] = """
MATCH (i:Idempotency {id: $id, owner: $owner, state: 'pending'})
SET i.state = 'done', i.status = $status, i.body = $body
"""

RELEASE: Final[LiteralString] = """
MATCH (i:Idempotency {id: $id, owner: $owner, state: 'pending'})
DELETE i
"""

EXPIRE: Final[LiteralString] = """
MATCH (i:Idempotency) WHERE i.expiresAt <= $now
WITH i LIMIT $limit
DELETE i
RETURN count(*) AS removed
"""
