"""Cypher for artifacts, their versions, files, aliases and consumption."""

from __future__ import annotations

from typing import Final, LiteralString

from graph.events import EVENT_CLAUSE, EVENT_OF_CLAUSE
from graph.queries.runs import ENSURE_PROJECT_CLAUSE

# The artifact, created on first use. Only a new artifact is tied to its project: a MERGE of the
# relationship would lock the project node until commit, and every version logged in the
# project would queue behind it. Parameters: $project, $artifact, $artifact_id, $type, $now.
_ENSURE_ARTIFACT_CLAUSE: Final[LiteralString] = """
MERGE (a:Artifact {project: $project, name: $artifact})
ON CREATE SET a:Entity, a.id = $artifact_id, a.type = $type, a.description = '',
              a.createdAt = $now, a.nextIndex = 0, a.created = true
WITH *, coalesce(a.created, false) AS artifact_created
CALL (p, a, artifact_created) {
  WITH * WHERE artifact_created
  CREATE (p)-[:HAS_ARTIFACT]->(a)
  REMOVE a.created
}
"""

# Logging a version, step 1: the project and the artifact, each made on first use, whether the
# actor may write there, and the artifact's latest version (a manifest equal to its own logs
# nothing new): one round trip. $name is the project's (graph.queries.runs). With $lock the
# artifact is write-locked now (a version logged by a run: the artifact's lock comes before
# the run's, as in committing), else the version's creation takes it.
OPEN_ARTIFACT: Final[LiteralString] = (
    ENSURE_PROJECT_CLAUSE
    + "WITH p, created, allowed\n"
    + _ENSURE_ARTIFACT_CLAUSE
    + """
CALL (a) {
  WITH a WHERE $lock
  SET a._lock = true
  REMOVE a._lock
}
RETURN created AS project_created, allowed, a {.*} AS artifact, COLLECT {
  MATCH (:Alias {artifactId: a.id, name: 'latest'})-[:POINTS_TO]->(v:ArtifactVersion)
  RETURN v {.*} }[0] AS latest
"""
)

GET_ARTIFACT: Final[LiteralString] = """
MATCH (a:Artifact {project: $project, name: $name}) RETURN a {.*} AS artifact
"""

GET_ARTIFACTS_BY_ID: Final[LiteralString] = """
UNWIND $ids AS id MATCH (a:Artifact {id: id}) RETURN a {.*} AS artifact
"""

LIST_ARTIFACTS: Final[LiteralString] = """
MATCH (a:Artifact {project: $project})
WHERE ($type IS NULL OR a.type = $type) AND ($after IS NULL OR a.name > $after)
RETURN a {.*} AS artifact
ORDER BY a.name
LIMIT $limit
"""


# Deduplication never reveals content: a stored blob counts as present for $reader only when
# they uploaded it themselves (UPLOADED) or may already read a committed version holding it
# (org admins read all; project members their projects; any role in a registry reads the
# versions linked there, as graph.queries.access.SCOPES decides). Anything else they upload.
_PROVEN: Final[LiteralString] = """
(b.storedAt IS NOT NULL AND (
  $reader.all
  OR EXISTS { (:User {id: $reader.user})-[:UPLOADED]->(b) }
  OR EXISTS {
    MATCH (b)<-[:CONTAINS]-(o:ArtifactVersion {state: 'COMMITTED'})
    WHERE o.project IN $reader.projects
       OR EXISTS { MATCH (l:Link {versionId: o.id, state: 'LINKED'})
                   MATCH (r:Registry {id: l.registryId}) WHERE r.name IN $reader.registries }
  }))
"""

# Sizes of the content among $shas that is present for $reader (nothing about the rest).
KNOWN_BLOBS: Final[LiteralString] = (
    """
UNWIND $shas AS sha
MATCH (b:Blob {sha256: sha})
WITH b WHERE """
    + _PROVEN
    + """
RETURN b.sha256 AS sha256, b.size AS size
"""
)

LOCK_ARTIFACT_OF_VERSION: Final[LiteralString] = """
MATCH (a:Artifact)-[:HAS_VERSION]->(v:ArtifactVersion {id: $id})
SET a._lock = true
REMOVE a._lock
RETURN a.id AS artifact_id, v {.*} AS version
"""

# Files a commit cannot take: content not stored, of another size than the manifest says,
# or never proven for this version (nor uploaded by the committer, $user).
# Committing, step 1: the version's artifact write-locked (as LOCK_ARTIFACT_OF_VERSION), with
# what the checks and the event need: the next index, `latest`'s holder, and up to 10 files
# whose content was never uploaded for the version (by $user, or proven when it was opened).
LOCK_FOR_COMMIT: Final[LiteralString] = """
MATCH (a:Artifact)-[:HAS_VERSION]->(v:ArtifactVersion {id: $id})
SET a._lock = true
REMOVE a._lock
RETURN a.id AS artifact_id, v {.*} AS version, a.nextIndex AS index,
       COLLECT { MATCH (:Alias {artifactId: a.id, name: 'latest'})-[:POINTS_TO]->(l)
                 RETURN l.id }[0] AS latest,
       COLLECT {
         MATCH (v)-[c:CONTAINS]->(b:Blob)
         WHERE b.storedAt IS NULL OR b.size <> c.size
            OR NOT (coalesce(c.proven, false) OR EXISTS { (:User {id: $user})-[:UPLOADED]->(b) })
         RETURN {path: c.path, sha256: b.sha256} AS file ORDER BY file.path LIMIT 10
       } AS unstored
"""

# The version gets the artifact's next index and its producing run's PRODUCED edge.
_COMMIT_VERSION_CLAUSE: Final[LiteralString] = """
MATCH (a:Artifact)-[:HAS_VERSION]->(v:ArtifactVersion {id: $id})
WITH a, v, a.nextIndex AS index
SET v.index = index, v.state = 'COMMITTED', v.committedAt = $now, v.expiresAt = null,
    a.nextIndex = index + 1
WITH v
OPTIONAL MATCH (r:Run {id: v.runId})
FOREACH (run IN CASE WHEN r IS NULL THEN [] ELSE [r] END |
  MERGE (run)-[:PRODUCED {at: $now}]->(v))
"""

# An artifact alias's history, as collection aliases have theirs: one span per holder, from
# when the alias came to it until it left. Ends the query that moved the alias, over `aid` and
# `alias_name` (the alias), `old` (its former holder, there since `since`: an alias older than
# spans gets its first span now) and `holder` (the new one; null when it was removed).
_ALIAS_SPAN_CLAUSE: Final[LiteralString] = """
CALL (aid, alias_name, old, since, holder) {
  WITH aid, alias_name, old, since, holder
  WHERE coalesce(old, '') <> coalesce(holder, '')
  CALL (aid, alias_name, old, since) {
    WITH aid, alias_name, old, since
    WHERE old IS NOT NULL AND NOT EXISTS {
      MATCH (:AliasSpan {artifactId: aid, name: alias_name, open: true}) }
    CREATE (:AliasSpan {artifactId: aid, name: alias_name, versionId: old,
                        start: coalesce(since, $now), open: true})
  }
  CALL (aid, alias_name, holder) {
    MATCH (h:AliasSpan {artifactId: aid, name: alias_name, open: true})
    WHERE h.versionId <> coalesce(holder, '')
    SET h.open = false, h.end = $now
  }
  CALL (aid, alias_name, holder) {
    WITH aid, alias_name, holder
    WHERE holder IS NOT NULL AND NOT EXISTS {
      MATCH (:AliasSpan {artifactId: aid, name: alias_name, open: true, versionId: holder}) }
    CREATE (:AliasSpan {artifactId: aid, name: alias_name, versionId: holder, start: $now,
                        open: true})
  }
}
"""

# `latest` is the committed, undeleted version with the highest index; the artifact's lock is
# held by every caller, so the alias never has two holders. LATEST_ONTO_CLAUSE points the
# alias of artifact `a` at `v` (none when v is null), with the alias's history, over `a` and
# `v`; it leaves `previous` (the former holder's id, in a list) and `holder`.
LATEST_ONTO_CLAUSE: Final[LiteralString] = (
    """
MERGE (al:Alias {artifactId: a.id, name: 'latest'})
ON CREATE SET al.createdAt = $now
MERGE (a)-[:HAS_ALIAS]->(al)
WITH a, al, v
OPTIONAL MATCH (al)-[p:POINTS_TO]->(old:ArtifactVersion)
WITH a, al, v, p, old, p.at AS since
DELETE p
WITH a, al, v, collect(old.id) AS previous, collect(since) AS sinces
FOREACH (target IN CASE WHEN v IS NULL THEN [] ELSE [v] END |
  CREATE (al)-[:POINTS_TO {at: $now}]->(target))
WITH previous, a.id AS aid, 'latest' AS alias_name, previous[0] AS old, sinces[0] AS since,
     v.id AS holder
"""
    + _ALIAS_SPAN_CLAUSE
)

# `latest` found again among the versions of $artifact_id (after a delete or a restore): a
# walk over them.
_MOVE_LATEST_CLAUSE: Final[LiteralString] = (
    """
MATCH (a:Artifact {id: $artifact_id})
OPTIONAL CALL (a) {
  MATCH (a)-[:HAS_VERSION]->(v:ArtifactVersion {state: 'COMMITTED'})
  RETURN v ORDER BY v.index DESC LIMIT 1
}
WITH a, v"""
    + LATEST_ONTO_CLAUSE
)

MOVE_LATEST: Final[LiteralString] = _MOVE_LATEST_CLAUSE + "RETURN previous, holder AS current"

LOCK_ARTIFACT: Final[LiteralString] = """
MATCH (a:Artifact {id: $artifact_id})
SET a._lock = true
REMOVE a._lock
RETURN a {.*} AS artifact
"""

SET_ALIAS: Final[LiteralString] = (
    """
MATCH (a:Artifact {id: $artifact_id})-[:HAS_VERSION]->(v:ArtifactVersion {id: $version_id})
MERGE (al:Alias {artifactId: a.id, name: $alias})
ON CREATE SET al.createdAt = $now
MERGE (a)-[:HAS_ALIAS]->(al)
WITH al, v
OPTIONAL MATCH (al)-[p:POINTS_TO]->(old:ArtifactVersion)
WITH al, v, p, old, p.at AS since
DELETE p
WITH al, v, collect(old.id) AS previous, collect(since) AS sinces
CREATE (al)-[:POINTS_TO {at: $now}]->(v)
WITH previous, al.artifactId AS aid, al.name AS alias_name, previous[0] AS old,
     sinces[0] AS since, v.id AS holder
"""
    + _ALIAS_SPAN_CLAUSE
    + """
RETURN previous
"""
)

REMOVE_ALIAS: Final[LiteralString] = (
    """
MATCH (al:Alias {artifactId: $artifact_id, name: $alias})
OPTIONAL MATCH (al)-[p:POINTS_TO]->(old:ArtifactVersion)
WITH al, collect(old.id) AS previous, collect(p.at) AS sinces
DETACH DELETE al
WITH previous, $artifact_id AS aid, $alias AS alias_name, previous[0] AS old,
     sinces[0] AS since, null AS holder
"""
    + _ALIAS_SPAN_CLAUSE
    + """
RETURN previous
"""
)

# Every deletion and restore is kept, in order (deletions at even places, restores at odd
# ones), so lineage as of a past time knows whether the version was deleted then. A version
# deleted before the list existed starts it with its deletion time.
SET_VERSION_STATE: Final[LiteralString] = """
MATCH (v:ArtifactVersion {id: $id})
SET v.stateChanges = coalesce(v.stateChanges,
                              CASE WHEN v.deletedAt IS NULL THEN [] ELSE [v.deletedAt] END)
                     + [$now],
    v.state = $state, v.deletedAt = $deleted_at
RETURN v {.*} AS version
"""

ALIASES_OF: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (al:Alias)-[:POINTS_TO]->(:ArtifactVersion {id: id})
RETURN id, al.name AS alias
ORDER BY alias
"""

# A version as a map with its aliases, times as epoch milliseconds: the Python driver pays per
# record and per temporal value, and versions come in batches of up to a page.
VERSION_MAP: Final[LiteralString] = """
v {.*, createdAt: v.createdAt.epochMillis, committedAt: v.committedAt.epochMillis,
   expiresAt: v.expiresAt.epochMillis, deletedAt: v.deletedAt.epochMillis,
   aliases: COLLECT { MATCH (al:Alias)-[:POINTS_TO]->(v) RETURN al.name ORDER BY al.name }}
"""

GET_VERSIONS: Final[LiteralString] = (
    """
UNWIND $ids AS id
MATCH (v:ArtifactVersion {id: id})
RETURN collect("""
    + VERSION_MAP
    + """) AS versions
"""
)

# A PENDING version $id of artifact $artifact_id committed (_COMMIT_VERSION_CLAUSE) and
# `latest` moved onto it: it has the highest index now, no walk over the others. Over `v`.
_COMMIT_CLAUSE: Final[LiteralString] = (
    _COMMIT_VERSION_CLAUSE
    + "WITH v\nCALL (v) {\nMATCH (a:Artifact {id: $artifact_id})\nWITH a, v"
    + LATEST_ONTO_CLAUSE
    + "}\n"
)

# Committing, step 2: the version committed (_COMMIT_CLAUSE) and the event ($event, made from
# step 1's reads): one round trip. It answers the version as GET_VERSIONS does, with its
# aliases.
COMMIT_AND_MOVE_LATEST: Final[LiteralString] = (
    _COMMIT_CLAUSE + "CALL () {" + EVENT_CLAUSE + "}\nRETURN " + VERSION_MAP + " AS version"
)

# A file is `proven` when its content was present for the version's creator (_PROVEN), or
# once someone uploads it for the version (graph.queries.blobs.PROVE); only proven files
# commit. With $commit and every file proven, the version is committed in the same round trip
# (_COMMIT_CLAUSE, under the artifact's lock its caller holds). Its one event is written with
# it: $committed then, $created otherwise. The answer: the content still to upload (`missing`)
# and the version as GET_VERSIONS answers it.
CREATE_VERSION: Final[LiteralString] = (
    """
MATCH (a:Artifact {id: $artifact_id})
CREATE (a)-[:HAS_VERSION]->(v:ArtifactVersion:Lineage:Entity)
SET v = $props
WITH v
CALL (v) {
  UNWIND $files AS f
  MERGE (b:Blob {sha256: f.sha256})
  ON CREATE SET b.size = f.size
  WITH v, f, b, """
    + _PROVEN
    + """ AS proven
  CREATE (v)-[:CONTAINS {path: f.path, size: f.size, contentType: f.content_type,
                         proven: proven}]->(b)
  RETURN collect(DISTINCT CASE WHEN NOT proven THEN b.sha256 END) AS missing
}
WITH v, missing, $commit AND size(missing) = 0 AS committed
CALL (v, committed) {
  WITH v WHERE committed
"""
    + _COMMIT_CLAUSE
    + """}
CALL (committed) {
  UNWIND CASE WHEN committed THEN [$committed] ELSE [$created] END AS event
"""
    + EVENT_OF_CLAUSE
    + """}
RETURN missing, """
    + VERSION_MAP
    + """ AS version
"""
)

# The version a reference names: its id, and with $full the whole version (VERSION_MAP), so
# that `artifactVersion(ref:)` is one read.
_ID_OR_VERSION: Final[LiteralString] = (
    """
RETURN v.id AS id, CASE WHEN $full THEN """
    + VERSION_MAP
    + """ END AS version
"""
)

VERSION_BY_INDEX: Final[LiteralString] = (
    """
MATCH (:Artifact {project: $project, name: $name})-[:HAS_VERSION]->(v:ArtifactVersion)
WHERE v.index = $index
"""
    + _ID_OR_VERSION
)

VERSION_BY_ALIAS: Final[LiteralString] = (
    """
MATCH (a:Artifact {project: $project, name: $name})
MATCH (:Alias {artifactId: a.id, name: $alias})-[:POINTS_TO]->(v:ArtifactVersion)
"""
    + _ID_OR_VERSION
)

# The version an artifact's alias named at $at: its span then, or, for an alias no span tells
# of yet (set before spans were kept), its holder since the pointer was made.
ALIAS_AS_OF: Final[LiteralString] = (
    """
MATCH (a:Artifact {project: $project, name: $name})
OPTIONAL CALL (a) {
  MATCH (h:AliasSpan {artifactId: a.id, name: $alias})
  WHERE h.start <= $at AND (h.end IS NULL OR h.end > $at)
  RETURN h.versionId AS spanned LIMIT 1
}
OPTIONAL CALL (a) {
  MATCH (:Alias {artifactId: a.id, name: $alias})-[p:POINTS_TO]->(v:ArtifactVersion)
  WHERE p.at <= $at
    AND NOT EXISTS { MATCH (:AliasSpan {artifactId: a.id, name: $alias}) }
  RETURN v.id AS pointed
}
WITH coalesce(spanned, pointed) AS id
OPTIONAL MATCH (v:ArtifactVersion {id: id})
"""
    + _ID_OR_VERSION
)

LIST_VERSIONS: Final[LiteralString] = """
MATCH (a:Artifact {id: $artifact_id})-[:HAS_VERSION]->(v:ArtifactVersion)
WHERE (v.state = 'COMMITTED' OR ($include_deleted AND v.state = 'DELETED'))
  AND ($before IS NULL OR v.index < $before)
  AND ($alias IS NULL OR EXISTS {
        MATCH (:Alias {artifactId: a.id, name: $alias})-[:POINTS_TO]->(v) })
  AND all(f IN $filters WHERE v[f.property] = f.value)
RETURN v {.*} AS version
ORDER BY v.index DESC
LIMIT $limit
"""

LIST_FILES: Final[LiteralString] = """
MATCH (:ArtifactVersion {id: $id})-[c:CONTAINS]->(b:Blob)
WHERE $after IS NULL OR c.path > $after
RETURN c.path AS path, c.size AS size, b.sha256 AS sha256, c.contentType AS content_type
ORDER BY path
LIMIT $limit
"""

FIRST_FILES: Final[LiteralString] = """
UNWIND $ids AS id
CALL (id) {
  MATCH (:ArtifactVersion {id: id})-[c:CONTAINS]->(b:Blob)
  RETURN c.path AS path, c.size AS size, b.sha256 AS sha256, c.contentType AS content_type
  ORDER BY path
  LIMIT $limit
}
RETURN id, path, size, sha256, content_type
"""

# Files of a version with where their bytes are: those at $paths (all when null).
STORED_FILES: Final[LiteralString] = """
MATCH (v:ArtifactVersion {id: $id})-[c:CONTAINS]->(b:Blob)
WHERE $paths IS NULL OR c.path IN $paths
RETURN v.state AS state, c.path AS path, c.size AS size, b.sha256 AS sha256,
       c.contentType AS content_type, b.object AS object, coalesce(b.offset, 0) AS offset
ORDER BY path
"""

VERSIONS_WITH_BLOB: Final[LiteralString] = """
MATCH (:Blob {sha256: $sha256})<-[c:CONTAINS]-(v:ArtifactVersion)
WHERE v.state = 'COMMITTED' AND ($after IS NULL OR v.id > $after)
RETURN DISTINCT v {.*} AS version
ORDER BY version.id
LIMIT $limit
"""

PRODUCERS_OF: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (r:Run)-[:PRODUCED]->(:ArtifactVersion {id: id})
RETURN id, r.id AS run_id
"""

CONSUMERS_OF: Final[LiteralString] = """
MATCH (r:Run)-[c:CONSUMED]->(:ArtifactVersion {id: $id})
RETURN r.id AS run_id
ORDER BY c.at, run_id
SKIP $offset
LIMIT $limit
"""

RUN_VERSIONS: Final[LiteralString] = """
MATCH (r:Run {id: $id})
CALL (r) {
  MATCH (r)-[:PRODUCED]->(v:ArtifactVersion) RETURN v, 'PRODUCED' AS kind
  UNION
  MATCH (r)-[:CONSUMED]->(v:ArtifactVersion) RETURN v, 'CONSUMED' AS kind
}
WITH v, kind WHERE kind = $kind
RETURN v.id AS id
ORDER BY v.createdAt, id
"""

CONSUME_VERSION: Final[LiteralString] = """
MATCH (r:Run {id: $run_id}), (v:ArtifactVersion {id: $version_id})
MERGE (r)-[c:CONSUMED]->(v)
ON CREATE SET c.at = $now, c.ref = $ref, c.created = true
WITH c, coalesce(c.created, false) AS created
REMOVE c.created
RETURN created
"""

PRODUCED_BY_RUN: Final[LiteralString] = """
MATCH (:Run {id: $run_id})-[:PRODUCED]->(v:ArtifactVersion {id: $version_id})
RETURN count(v) > 0 AS produced
"""

EXPIRE_PENDING: Final[LiteralString] = """
MATCH (v:ArtifactVersion {state: 'PENDING'})
WHERE v.expiresAt < $now
WITH v LIMIT $limit
WITH collect(v) AS expired, collect(v.id) AS ids
FOREACH (v IN expired | DETACH DELETE v)
RETURN ids
"""
