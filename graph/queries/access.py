"""Cypher for users, service accounts, API keys, memberships, and the scopes access checks need."""

from __future__ import annotations

from typing import Final, LiteralString

# A key is found by its HMAC (unique, indexed): the secret itself is never stored. Looking a
# key up also records when it was used (at most once per cache period, see api.access).
PRINCIPAL_FOR_KEY: Final[LiteralString] = """
MATCH (k:ApiKey {hash: $hash})-[:KEY_OF]->(u:User)
WHERE k.revokedAt IS NULL AND (k.expiresAt IS NULL OR k.expiresAt > $now)
SET k.lastUsedAt = $now
RETURN u {.id, .name, .kind, .orgAdmin} AS user, k.id AS key,
       k.expiresAt.epochMillis AS expiresAt,
       COLLECT { MATCH (p:Project)-[:HAS_MEMBER]->(u) RETURN p.name } AS projects,
       COLLECT { MATCH (r:Registry)-[m:HAS_MEMBER]->(u) RETURN [r.name, m.role] } AS registries
"""

MEMBERSHIPS: Final[LiteralString] = """
MATCH (u:User {id: $id})
RETURN COLLECT { MATCH (p:Project)-[:HAS_MEMBER]->(u) RETURN p.name } AS projects,
       COLLECT { MATCH (r:Registry)-[m:HAS_MEMBER]->(u) RETURN [r.name, m.role] } AS registries
"""

# The first org admin and their key, from configuration; nothing changes when the user exists.
BOOTSTRAP_ADMIN: Final[LiteralString] = """
MERGE (u:User {name: $name})
ON CREATE SET u:Principal:Entity, u.id = $user_id, u.kind = 'user', u.orgAdmin = true,
              u.createdAt = $now, u.createdBy = 'configuration', u.created = true
WITH u, coalesce(u.created, false) AS created
REMOVE u.created
WITH u, created WHERE created
CREATE (:ApiKey:Entity {id: $key_id, hash: $hash, name: 'bootstrap', userId: u.id,
                        createdAt: $now})-[:KEY_OF]->(u)
RETURN u.id AS id
"""

CREATE_USER: Final[LiteralString] = """
MERGE (u:User {name: $name})
ON CREATE SET u:Principal:Entity, u.id = $id, u.kind = $kind, u.orgAdmin = $org_admin,
              u.createdAt = $now, u.createdBy = $actor, u.created = true
WITH u, coalesce(u.created, false) AS created
REMOVE u.created
RETURN u {.*} AS user, created
"""

GET_USER: Final[LiteralString] = """
MATCH (u:User) WHERE u.name = $name OR u.id = $name RETURN u {.*} AS user
"""

LIST_USERS: Final[LiteralString] = """
MATCH (u:User) RETURN u {.*} AS user ORDER BY u.name
"""

CREATE_KEY: Final[LiteralString] = """
MATCH (u:User {id: $user_id})
CREATE (k:ApiKey:Entity {id: $id, hash: $hash, name: $name, userId: u.id, createdAt: $now,
                         expiresAt: $expires_at, createdBy: $actor})-[:KEY_OF]->(u)
RETURN k {.*, user: u.name} AS key
"""

REVOKE_KEY: Final[LiteralString] = """
MATCH (k:ApiKey {id: $id})-[:KEY_OF]->(u:User)
WITH k, u, k.revokedAt AS before
SET k.revokedAt = coalesce(k.revokedAt, $now)
RETURN k {.*, user: u.name} AS key, before
"""

KEYS_OF: Final[LiteralString] = """
MATCH (k:ApiKey)-[:KEY_OF]->(u:User {id: $user_id})
RETURN k {.*, user: u.name} AS key ORDER BY k.createdAt DESC
"""

SET_PROJECT_MEMBER: Final[LiteralString] = """
MATCH (p:Project {name: $project}), (u:User {name: $principal})
MERGE (p)-[m:HAS_MEMBER]->(u)
ON CREATE SET m.since = $now
RETURN p.id AS project_id, u.id AS user_id
"""

REMOVE_PROJECT_MEMBER: Final[LiteralString] = """
MATCH (p:Project {name: $project})-[m:HAS_MEMBER]->(u:User {name: $principal})
DELETE m
RETURN p.id AS project_id, u.id AS user_id
"""

PROJECT_MEMBERS: Final[LiteralString] = """
MATCH (:Project {name: $project})-[:HAS_MEMBER]->(u:User)
RETURN u.name AS name ORDER BY name
"""


# What access checks need to know of objects named by id: the project a run, artifact,
# version or project belongs to; the registry a registry, collection or link belongs to; and,
# for versions, the registries that link them (a registry's viewers may read those).
SCOPES: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN id,
       CASE
         WHEN n:Run OR n:ArtifactVersion OR n:Artifact THEN n.project
         WHEN n:Project THEN n.name
         WHEN n:Automation THEN n.project
       END AS project,
       CASE
         WHEN n:Registry THEN n.name
         WHEN n:Collection OR n:Link OR n:Automation OR n:Policy OR n:PromotionRequest
           THEN COLLECT {
           MATCH (r:Registry {id: n.registryId}) RETURN r.name }[0]
       END AS registry,
       CASE WHEN n:ArtifactVersion THEN COLLECT {
         MATCH (l:Link {versionId: n.id, state: 'LINKED'})
         MATCH (r:Registry {id: l.registryId})
         RETURN DISTINCT r.name } ELSE [] END AS linkedIn,
       CASE WHEN n:ApiKey THEN n.userId WHEN n:User THEN n.id END AS user
"""

# Which of $shas a principal may upload: some PENDING version of a project they belong to
# ($projects; null for org admins: any project) lists it in its manifest. Each blob is found by
# its key and the versions listing it are walked from there: with the blob unbound inside the
# EXISTS, Neo4j scanned the whole sha256 index once per sha (36 million rows for 1,000 shas
# among 36,000 blobs; a log of 1,000 new files took 2 s and grew with every blob stored).
BLOBS_EXPECTED: Final[LiteralString] = """
UNWIND $shas AS sha
MATCH (b:Blob {sha256: sha})
WHERE EXISTS {
  MATCH (b)<-[:CONTAINS]-(v:ArtifactVersion {state: 'PENDING'})
  WHERE $projects IS NULL OR v.project IN $projects
}
RETURN collect(sha) AS expected
"""

PROTECTED_ALIASES: Final[LiteralString] = """
MATCH (r:Registry {name: $name}) RETURN r.protectedAliases AS aliases
"""
