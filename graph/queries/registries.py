"""Cypher for registries, collections, links, and the alias/stage assignments of links."""

from __future__ import annotations

from typing import Final, LiteralString

ENSURE_REGISTRY: Final[LiteralString] = """
MERGE (r:Registry {name: $name})
ON CREATE SET r:Entity, r.id = $id, r.description = $description,
              r.allowedTypes = $allowed_types, r.stages = $stages,
              r.protectedAliases = $protected_aliases, r.createdAt = $now, r.created = true
WITH r, coalesce(r.created, false) AS created
REMOVE r.created
RETURN r {.*} AS registry, created
"""

GET_REGISTRY: Final[LiteralString] = """
MATCH (r:Registry) WHERE r.name = $name OR r.id = $name RETURN r {.*} AS registry
"""

LIST_REGISTRIES: Final[LiteralString] = """
MATCH (r:Registry) RETURN r {.*} AS registry ORDER BY r.name
"""

SET_MEMBER: Final[LiteralString] = """
MATCH (r:Registry {id: $registry_id})
MERGE (p:Principal {name: $principal})
MERGE (r)-[m:HAS_MEMBER]->(p)
WITH m, m.role AS previous
SET m.role = $role, m.since = coalesce(m.since, $now)
RETURN previous
"""

MEMBERS: Final[LiteralString] = """
MATCH (:Registry {id: $registry_id})-[m:HAS_MEMBER]->(p:Principal)
RETURN p.name AS principal, m.role AS role ORDER BY principal
"""

CREATE_COLLECTION: Final[LiteralString] = """
MATCH (r:Registry {id: $registry_id})
CREATE (r)-[:HAS_COLLECTION]->(c:Collection:Entity)
SET c = $props
RETURN c {.*} AS collection
"""

LOCK_COLLECTION: Final[LiteralString] = """
MATCH (r:Registry)-[:HAS_COLLECTION]->(c:Collection {id: $id})
SET c._lock = true
REMOVE c._lock
RETURN c {.*} AS collection, r {.*} AS registry
"""

SET_COLLECTION_PROPS: Final[LiteralString] = """
MATCH (c:Collection {id: $id}) SET c += $props RETURN c {.*} AS collection
"""

FIND_COLLECTION: Final[LiteralString] = """
MATCH (r:Registry)-[:HAS_COLLECTION]->(c:Collection)
WHERE (r.name = $registry AND c.name = $name) OR c.id = $name
RETURN c {.*} AS collection, r {.*} AS registry
"""

LIST_COLLECTIONS: Final[LiteralString] = """
MATCH (r:Registry)-[:HAS_COLLECTION]->(c:Collection)
WHERE ($registry IS NULL OR r.name = $registry)
  AND ($include_deprecated OR NOT c.deprecated)
  AND ($search IS NULL OR toLower(c.name) CONTAINS toLower($search))
  AND ($tag IS NULL OR $tag IN c.tags)
  AND ($type IS NULL OR $type IN c.types OR size(c.types) = 0)
  AND ($after IS NULL OR [r.name, c.name] > $after)
RETURN c {.*} AS collection, r {.*} AS registry
ORDER BY r.name, c.name
LIMIT $limit
"""

LINK_OF_VERSION: Final[LiteralString] = """
MATCH (:Collection {id: $collection_id})-[:HAS_LINK]->(l:Link)
      -[:OF]->(:ArtifactVersion {id: $version_id})
RETURN l {.*} AS link
"""

CREATE_LINK: Final[LiteralString] = """
MATCH (c:Collection {id: $collection_id}), (v:ArtifactVersion {id: $version_id})
WITH c, v, c.nextIndex AS index
CREATE (c)-[:HAS_LINK]->(l:Link:Entity {
  id: $id, collectionId: c.id, registryId: c.registryId, versionId: v.id, index: index,
  state: 'LINKED', linkedAt: $now, actor: $actor})-[:OF]->(v)
SET c.nextIndex = index + 1
RETURN l.id AS id
"""

# Links come back as one row holding a list, with times as epoch milliseconds: the Python
# driver pays per record and per temporal value, and link lists are long.
_LINK: Final[LiteralString] = """
CALL (l) {
  OPTIONAL MATCH (a:Assignment {linkId: l.id, open: true})
  RETURN collect([a.kind, a.name]) AS held
}
WITH l, held
"""
_LINK_MAP: Final[LiteralString] = """
l {.id, .collectionId, .registryId, .versionId, .index, .semver, .state,
   linkedAt: l.linkedAt.epochMillis, unlinkedAt: l.unlinkedAt.epochMillis, held: held}
"""

GET_LINKS: Final[LiteralString] = (
    """
UNWIND $ids AS id
MATCH (l:Link {id: id})
"""
    + _LINK
    + "RETURN collect("
    + _LINK_MAP
    + ") AS links"
)

LINK_CONTEXT: Final[LiteralString] = """
MATCH (r:Registry)-[:HAS_COLLECTION]->(c:Collection)-[:HAS_LINK]->(:Link {id: $id})
RETURN c {.*} AS collection, r {.*} AS registry
"""

SET_LINK_PROPS: Final[LiteralString] = """
MATCH (l:Link {id: $id}) SET l += $props RETURN l {.*} AS link
"""

LINK_BY_INDEX: Final[LiteralString] = """
MATCH (l:Link {collectionId: $collection_id, index: $index})
WHERE l.linkedAt <= $at
RETURN l.id AS id
"""

LINK_BY_SEMVER: Final[LiteralString] = """
MATCH (l:Link {collectionId: $collection_id, semver: $semver})
WHERE l.semverAt <= $at
RETURN l.id AS id
"""

SEMVERS: Final[LiteralString] = """
MATCH (l:Link {collectionId: $collection_id})
WHERE l.semver IS NOT NULL AND l.state = 'LINKED'
RETURN l.id AS id, l.semver AS semver
"""

LIST_LINKS: Final[LiteralString] = (
    """
MATCH (:Collection {id: $collection_id})-[:HAS_LINK]->(l:Link)
WHERE ($include_unlinked OR l.state = 'LINKED')
  AND ($before IS NULL OR l.index < $before)
WITH l ORDER BY l.index DESC LIMIT $limit
"""
    + _LINK
    + "RETURN collect("
    + _LINK_MAP
    + ") AS links"
)

NEWEST_LINKED: Final[LiteralString] = """
MATCH (:Collection {id: $collection_id})-[:HAS_LINK]->(l:Link {state: 'LINKED'})
RETURN l.id AS id ORDER BY l.index DESC LIMIT 1
"""

# An assignment is one holding of an alias or a stage, from `start` until `end`; `open` is true
# while it is held (indexed: current lookups never scan the history). History is kept, so any
# past moment can be resolved.
CURRENT_ASSIGNMENT: Final[LiteralString] = """
MATCH (a:Assignment {collectionId: $collection_id, kind: $kind, name: $name, open: true})
RETURN a.linkId AS id
ORDER BY a.start DESC
LIMIT 1
"""

ASSIGNMENT_AT: Final[LiteralString] = """
MATCH (a:Assignment {collectionId: $collection_id, kind: $kind, name: $name})
WHERE a.start <= $at AND (a.end IS NULL OR a.end > $at)
RETURN a.linkId AS id
ORDER BY a.start DESC
LIMIT 1
"""

OPEN_ASSIGNMENTS: Final[LiteralString] = """
MATCH (a:Assignment {collectionId: $collection_id, kind: $kind, name: $name, open: true})
RETURN a.linkId AS link_id
"""

END_ASSIGNMENTS: Final[LiteralString] = """
MATCH (a:Assignment {collectionId: $collection_id, kind: $kind, open: true})
WHERE ($name IS NULL OR a.name = $name) AND ($link_id IS NULL OR a.linkId = $link_id)
SET a.end = $now, a.open = false
RETURN a.name AS name, a.linkId AS link_id
"""

START_ASSIGNMENT: Final[LiteralString] = """
MATCH (l:Link {id: $link_id})
CREATE (a:Assignment {collectionId: $collection_id, kind: $kind, name: $name,
                      linkId: $link_id, start: $now, open: true, actor: $actor})-[:TO]->(l)
"""

ENSURE_ALIAS_SUBJECT: Final[LiteralString] = """
MERGE (s:AliasSubject {id: $id})
ON CREATE SET s:Entity
"""

VERSION_STATE: Final[LiteralString] = """
MATCH (v:ArtifactVersion {id: $id}) RETURN v.state AS state, v.type AS type
"""
