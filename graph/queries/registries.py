"""Cypher for registries, collections, links, and the alias/stage assignments of links."""

from __future__ import annotations

from typing import Final, LiteralString

from graph.events import EVENT_CLAUSE, EVENT_OF_CLAUSE, STAMP_CLAUSE
from graph.queries.artifacts import VERSION_MAP

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
MATCH (r:Registry {id: $registry_id}), (p:User {name: $principal})
MERGE (r)-[m:HAS_MEMBER]->(p)
WITH m, m.role AS previous
SET m.role = $role, m.since = coalesce(m.since, $now)
RETURN previous
"""

REMOVE_MEMBER: Final[LiteralString] = """
MATCH (r:Registry {name: $registry})-[m:HAS_MEMBER]->(u:User {name: $principal})
WITH r, u, m, m.role AS role
DELETE m
RETURN r.id AS registry_id, u.id AS user_id, role
"""

MEMBERS: Final[LiteralString] = """
MATCH (:Registry {id: $registry_id})-[m:HAS_MEMBER]->(p:User)
RETURN p.name AS principal, m.role AS role ORDER BY principal
"""

CREATE_COLLECTION: Final[LiteralString] = """
MATCH (r:Registry {id: $registry_id})
CREATE (r)-[:HAS_COLLECTION]->(c:Collection:Entity)
SET c = $props
RETURN c {.*} AS collection
"""

# A collection made on first link (linkVersion with createCollection): MERGE on the unique
# (registryId, name), so two callers racing to make one both link into the same collection.
# An existing collection is only read here (a MERGE of the relationship would lock the
# registry, and every link into any of its collections would queue behind it).
ENSURE_COLLECTION: Final[LiteralString] = """
MATCH (r:Registry {name: $registry})
MERGE (c:Collection {registryId: r.id, name: $name})
ON CREATE SET c:Entity, c += $props, c.made = true
WITH r, c, coalesce(c.made, false) AS made
CALL (r, c, made) {
  WITH * WHERE made
  CREATE (r)-[:HAS_COLLECTION]->(c)
  REMOVE c.made
}
RETURN made
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

# A collection `c` and its registry `r`, by registry and collection name, or by the
# collection's id in $name: index seeks either way (a scan of all collections otherwise).
_COLLECTION_BY_REF: Final[LiteralString] = """
CALL () {
  MATCH (r:Registry {name: $registry}), (c:Collection {registryId: r.id, name: $name})
  RETURN r, c
  UNION
  MATCH (c:Collection {id: $name}), (r:Registry {id: c.registryId})
  RETURN r, c
}
"""

FIND_COLLECTION: Final[LiteralString] = (
    _COLLECTION_BY_REF
    + """
RETURN c {.*} AS collection, r {.*} AS registry
"""
)

LIST_COLLECTIONS: Final[LiteralString] = """
MATCH (r:Registry)-[:HAS_COLLECTION]->(c:Collection)
WHERE ($registry IS NULL OR r.name = $registry)
  AND ($visible IS NULL OR r.name IN $visible)
  AND ($include_deprecated OR NOT c.deprecated)
  AND ($search IS NULL OR toLower(c.name) CONTAINS toLower($search))
  AND ($tag IS NULL OR $tag IN c.tags)
  AND ($type IS NULL OR $type IN c.types OR size(c.types) = 0)
  AND ($stage IS NULL OR EXISTS {
    MATCH (:Assignment {collectionId: c.id, kind: 'stage', name: $stage, open: true}) })
  AND ($after IS NULL OR [r.name, c.name] > $after)
RETURN c {.*} AS collection, r {.*} AS registry
ORDER BY r.name, c.name
LIMIT $limit
"""

# Collections and registries as maps with times as epoch milliseconds (cheaper to decode).
_COLLECTION_MAP: Final[LiteralString] = (
    "c {.*, createdAt: c.createdAt.epochMillis, deprecatedAt: c.deprecatedAt.epochMillis}"
)
_REGISTRY_MAP: Final[LiteralString] = "r {.*, createdAt: r.createdAt.epochMillis}"

# Takes the write lock of the collection `c`: writers of one collection take turns (its
# indexes stay consecutive, an alias has one holder); the audit log takes no lock of theirs.
_LOCK_COLLECTION: Final[LiteralString] = """
SET c._lock = true
REMOVE c._lock
WITH *
"""

# Linking, step 1, without a lock: the collection (named by registry and name, or by id) and
# what the checks need: the version's state and type, its link here if it has one, and the
# policies on each of $policed (graph.policies). Step 2 reads again under the lock what may
# have moved since.
PREPARE_LINK: Final[LiteralString] = (
    _COLLECTION_BY_REF
    + """
OPTIONAL MATCH (v:ArtifactVersion {id: $version_id})
OPTIONAL MATCH (c)-[:HAS_LINK]->(existing:Link {versionId: $version_id})
USING INDEX existing:Link(versionId)
RETURN """
    + _COLLECTION_MAP
    + " AS collection, "
    + _REGISTRY_MAP
    + """ AS registry, v.state AS state, v.type AS type,
       existing.id AS existing,
       [alias IN $policed | [alias, COLLECT {
         MATCH (p:Policy {registryId: c.registryId, kind: 'alias', target: alias})
         WHERE NOT p.deleted
         RETURN p {.*} ORDER BY p.createdAt, p.id }]] AS policies
"""
)

# A link as a map, times as epoch milliseconds (the Python driver pays per record and per
# temporal value, and link lists are long), with the aliases and stages it holds, and with its
# artifact version when $with_versions (the version field was asked for).
_LINK_MAP: Final[LiteralString] = (
    """
l {.id, .collectionId, .registryId, .versionId, .index, .semver, .state, .actor,
   linkedAt: l.linkedAt.epochMillis, unlinkedAt: l.unlinkedAt.epochMillis,
   stateChanges: [t IN coalesce(l.stateChanges, []) | t.epochMillis],
   held: [(l)<-[:TO]-(a:Assignment WHERE a.open) | [a.kind, a.name]],
   version: CASE WHEN $with_versions THEN COLLECT {
     MATCH (l)-[:OF]->(v:ArtifactVersion) RETURN """
    + VERSION_MAP
    + """ }[0] END}
"""
)

# Linking, step 2, the only one under the collection's write lock: unless the version was
# linked here meanwhile ($existing) or the collection deprecated, the link as the collection's
# next vN, each of $aliases (with `latest`: the new link is always the newest) moved onto it,
# and the event. Step 1 read without the lock, so the event $event leaves what only the lock
# makes certain to placeholders ("@$mark:index@", and "@$mark:N@" for the former holder of
# $aliases[N]), filled in here from what is read under it; the holders join its subjects.
# The link, the alias moves and the event are stamped with the time read under the lock (or
# $now, an imported change's own), so times follow the order writers took turns in and `asOf`
# stays exact. Writers of one collection take turns for one round trip and the commit.
CREATE_LINK_WITH_ALIASES: Final[LiteralString] = (
    """
MATCH (c:Collection {id: $collection_id})"""
    + _LOCK_COLLECTION
    + """
OPTIONAL MATCH (c)-[:HAS_LINK]->(linked:Link {versionId: $version_id})
USING INDEX linked:Link(versionId)
WITH c, linked.id AS existing,
     coalesce($now, datetime.truncate('microsecond', datetime.realtime())) AS now
OPTIONAL CALL (c, existing, now) {
  WITH c, now WHERE existing IS NULL AND NOT c.deprecated
  MATCH (v:ArtifactVersion {id: $version_id})
  WITH c, v, now, c.nextIndex AS index, [alias IN $aliases | COLLECT {
    MATCH (a:Assignment {collectionId: c.id, kind: 'alias', name: alias, open: true})
    RETURN a.linkId }[0]] AS former
  CREATE (c)-[:HAS_LINK]->(l:Link:Entity {
    id: $id, collectionId: c.id, registryId: c.registryId, versionId: v.id, index: index,
    state: 'LINKED', linkedAt: now, actor: $actor})-[:OF]->(v)
  SET c.nextIndex = index + 1
  WITH c, l, now, index, former
  CALL (c, l, now) {
    UNWIND $aliases AS alias
    OPTIONAL MATCH (old:Assignment {collectionId: c.id, kind: 'alias', name: alias, open: true})
    SET old.end = now, old.open = false
    WITH DISTINCT c, l, now, alias
    CREATE (:Assignment {collectionId: c.id, kind: 'alias', name: alias, linkId: l.id,
                         start: now, open: true, actor: $actor})-[:TO]->(l)
    MERGE (s:AliasSubject {id: 'alias:' + c.id + ':' + alias})
    ON CREATE SET s:Entity
  }
  WITH l, now, index, former, $event AS template,
       [h IN tail(former) WHERE h IS NOT NULL AND NOT h IN $event.subjects] AS holders
  WITH l, template {.*,
    time: CASE WHEN $now IS NULL THEN now ELSE template.time END,
    subjects: template.subjects + holders,
    scopes: CASE WHEN size(template.scopes) > 0 THEN template.scopes + holders ELSE [] END,
    before: reduce(text = template.before, i IN range(0, size(former) - 1) |
      replace(text, '"@' + $mark + ':' + toString(i) + '@"',
              CASE WHEN former[i] IS NULL THEN 'null' ELSE '"' + former[i] + '"' END)),
    after: replace(template.after, '"@' + $mark + ':index@"', toString(index))} AS event
  CALL (event) {"""
    + EVENT_OF_CLAUSE
    + """}
  RETURN l
}
RETURN existing, c.deprecated AS deprecated,
       CASE WHEN l IS NULL THEN null ELSE """
    + _LINK_MAP
    + """ END AS link
"""
)

GET_LINKS: Final[LiteralString] = (
    """
UNWIND $ids AS id
MATCH (l:Link {id: id})
RETURN collect("""
    + _LINK_MAP
    + ") AS links"
)

# A link `l` (or null) with its collection `c` and registry `r`: what a linked version shows.
_LINK_IN_CONTEXT: Final[LiteralString] = (
    "RETURN "
    + _LINK_MAP
    + " AS link, "
    + _COLLECTION_MAP
    + " AS collection, "
    + _REGISTRY_MAP
    + " AS registry"
)

LINK_CONTEXT: Final[LiteralString] = (
    """
MATCH (r:Registry)-[:HAS_COLLECTION]->(c:Collection)-[:HAS_LINK]->(l:Link {id: $id})
"""
    + _LINK_IN_CONTEXT
)


def _resolve(alias: LiteralString, index: LiteralString, semver: LiteralString) -> LiteralString:
    """A collection by registry and name (or id) with the link a selector names in it: an alias
    ($label) first, then a stage ($label, its most recent holder), then vN ($index), then a
    semver ($semver); `link` is null when nothing matches. The arguments are the conditions
    that make an assignment or a link count: held now, or held at $at."""
    return (
        _COLLECTION_BY_REF
        + """
OPTIONAL CALL (c) {
  CALL (c) {
    MATCH (a:Assignment {collectionId: c.id, name: $label})
    WHERE a.kind IN ['alias', 'stage'] AND """
        + alias
        + """
    RETURN a.linkId AS id, CASE a.kind WHEN 'alias' THEN 0 ELSE 1 END AS rank, a.start AS start
    UNION ALL
    MATCH (l:Link {collectionId: c.id, index: $index})
    WHERE """
        + index
        + """
    RETURN l.id AS id, 2 AS rank, l.linkedAt AS start
    UNION ALL
    MATCH (l:Link {collectionId: c.id, semver: $semver})
    WHERE """
        + semver
        + """
    RETURN l.id AS id, 3 AS rank, l.semverAt AS start
  }
  RETURN id ORDER BY rank, start DESC LIMIT 1
}
OPTIONAL MATCH (l:Link {id: id})
"""
        + _LINK_IN_CONTEXT
    )


RESOLVE_NOW: Final = _resolve("a.open = true", "true", "true")  # seeks assignment_open
RESOLVE_AT: Final = _resolve(
    "a.start <= $at AND (a.end IS NULL OR a.end > $at)", "l.linkedAt <= $at", "l.semverAt <= $at"
)

# Deregistering and restoring keep every change, in order (deregistrations at even places),
# so the link's state as of a past time is known; one deregistered before the list existed
# starts it with that time.
SET_LINK_STATE: Final[LiteralString] = """
MATCH (l:Link {id: $id})
SET l.stateChanges = coalesce(l.stateChanges,
                              CASE WHEN l.unlinkedAt IS NULL THEN [] ELSE [l.unlinkedAt] END)
                     + [$now],
    l.state = $state, l.unlinkedAt = $unlinked_at
"""

# The aliases and stages a link held at $at (their assignments are history, never deleted).
HELD_AT: Final[LiteralString] = """
MATCH (a:Assignment {linkId: $link_id})
WHERE a.start <= $at AND (a.end IS NULL OR a.end > $at)
RETURN collect([a.kind, a.name]) AS held
"""

SET_LINK_PROPS: Final[LiteralString] = """
MATCH (l:Link {id: $id}) SET l += $props RETURN l {.*} AS link
"""

SEMVERS: Final[LiteralString] = """
MATCH (l:Link {collectionId: $collection_id})
WHERE l.semver IS NOT NULL AND l.state = 'LINKED'
RETURN l.id AS id, l.semver AS semver
"""

# A page of a collection's links and its registry, unless the stamp of what is committed
# (graph.events.STAMP_CLAUSE) is still $known: then the caller's copy is current. The stamp is
# read first, so a page is never older than the stamp it is filed under (graph.read_cache).
LIST_LINKS: Final[LiteralString] = (
    STAMP_CLAUSE
    + """
RETURN head, CASE WHEN head = $known THEN null ELSE COLLECT {
  MATCH (r:Registry)-[:HAS_COLLECTION]->(:Collection {id: $collection_id})
  CALL () {
    MATCH (l:Link {collectionId: $collection_id})
    WHERE l.index < coalesce($before, 9223372036854775807)
      AND ($include_unlinked OR l.state = 'LINKED')
      AND (NOT $named OR EXISTS { (l)<-[:TO]-(:Assignment {open: true}) })
    WITH l ORDER BY l.index DESC LIMIT $limit
    RETURN collect("""
    + _LINK_MAP
    + """) AS links
  }
  RETURN {links: links, registry: """
    + _REGISTRY_MAP
    + """}
} END AS found
"""
)

NEWEST_LINKED: Final[LiteralString] = """
MATCH (:Collection {id: $collection_id})-[:HAS_LINK]->(l:Link {state: 'LINKED'})
RETURN l.id AS id ORDER BY l.index DESC LIMIT 1
"""

# A change to one link, step 1: lock its collection, and return under the lock the link, its
# collection and registry. Each PREPARE_* below adds what its checks need.
_LINK_UNDER_LOCKS: Final[LiteralString] = (
    """
MATCH (:Link {id: $link_id})<-[:HAS_LINK]-(c:Collection)
"""
    + _LOCK_COLLECTION
    + """
MATCH (r:Registry {id: c.registryId}), (l:Link {id: $link_id})
RETURN """
    + _LINK_MAP
    + " AS link, "
    + _COLLECTION_MAP
    + " AS collection, "
    + _REGISTRY_MAP
    + " AS registry"
)

# Moving an alias, step 1: the link under its collection's lock, and the alias's holder.
PREPARE_ALIAS: Final[LiteralString] = (
    _LINK_UNDER_LOCKS
    + """,
       COLLECT {
         MATCH (a:Assignment {collectionId: c.id, kind: 'alias', name: $alias, open: true})
         RETURN a.linkId }[0] AS previous
"""
)

# Moving an alias, step 2: its holding ends and one starts for the link, with the event.
MOVE_ALIAS: Final[LiteralString] = (
    """
MATCH (l:Link {id: $link_id})
OPTIONAL MATCH (old:Assignment {collectionId: l.collectionId, kind: 'alias', name: $alias,
                                open: true})
SET old.end = $now, old.open = false
WITH DISTINCT l
CREATE (:Assignment {collectionId: l.collectionId, kind: 'alias', name: $alias, linkId: l.id,
                     start: $now, open: true, actor: $actor})-[:TO]->(l)
MERGE (s:AliasSubject {id: $subject})
ON CREATE SET s:Entity
WITH l
CALL () {"""
    + EVENT_CLAUSE
    + """}
RETURN l.id AS id
"""
)

# Assigning or unassigning a stage, step 1: the link under its collection's lock (its registry has
# the stages), and the stage's holders.
PREPARE_STAGE: Final[LiteralString] = (
    _LINK_UNDER_LOCKS
    + """,
       COLLECT {
         MATCH (a:Assignment {collectionId: c.id, kind: 'stage', name: $stage, open: true})
         RETURN a.linkId } AS holders
"""
)

# Step 2: the link's holding of the stage starts ($assigned) or ends, with the event.
APPLY_STAGE: Final[LiteralString] = (
    """
MATCH (l:Link {id: $link_id})
CALL (l) {
  WITH l WHERE $assigned
  CREATE (:Assignment {collectionId: l.collectionId, kind: 'stage', name: $stage,
                       linkId: l.id, start: $now, open: true, actor: $actor})-[:TO]->(l)
}
CALL (l) {
  WITH l WHERE NOT $assigned
  MATCH (a:Assignment {collectionId: l.collectionId, kind: 'stage', name: $stage,
                       linkId: l.id, open: true})
  SET a.end = $now, a.open = false
}
CALL () {"""
    + EVENT_CLAUSE
    + """}
RETURN l.id AS id
"""
)

# Giving a link its semver, step 1: the link under its collection's lock, and the link holding
# $semver in the collection, if one does.
PREPARE_SEMVER: Final[LiteralString] = (
    _LINK_UNDER_LOCKS
    + """,
       COLLECT { MATCH (t:Link {collectionId: c.id, semver: $semver}) RETURN t.id }[0] AS taken
"""
)

# Step 2: the label, with the event.
APPLY_SEMVER: Final[LiteralString] = (
    """
MATCH (l:Link {id: $link_id})
SET l.semver = $semver, l.semverAt = $now
WITH l
CALL () {"""
    + EVENT_CLAUSE
    + """}
RETURN l.id AS id
"""
)

# An assignment is one holding of an alias or a stage, from `start` until `end`; `open` is true
# while it is held (indexed: current lookups never scan the history). History is kept, so any
# past moment can be resolved.
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

# A stage an imported history uses joins its registry's stages (graph.importing).
ADD_STAGE: Final[LiteralString] = """
MATCH (r:Registry {id: $id}) SET r.stages = r.stages + [$stage]
"""

IMPORTED_KEYS: Final[LiteralString] = """
UNWIND $keys AS key
MATCH (e:Event {importKey: key})
RETURN key
"""

# The link an imported LINK change made (its event is about the link).
IMPORTED_LINK: Final[LiteralString] = """
MATCH (e:Event {importKey: $key})-[:ABOUT]->(l:Link)
RETURN l.id AS id LIMIT 1
"""
