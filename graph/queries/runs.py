"""Cypher for projects, runs and their metrics."""

from __future__ import annotations

from typing import Final, LiteralString

# A project made on first use gets its creator as a member; an existing one is only read (any
# write to it, even a REMOVE of a property it does not have, would lock it until commit, and
# everything logged in the project would queue behind it). `allowed`: the actor may write into
# it (a member or an org admin), decided here, inside the writing transaction, so two callers
# racing to create one project cannot both write into it. Parameters: $name, $id,
# $description, $now, $actor.
ENSURE_PROJECT_CLAUSE: Final[LiteralString] = """
MERGE (p:Project {name: $name})
ON CREATE SET p:Entity, p.id = $id, p.description = $description, p.createdAt = $now,
              p.created = true
WITH p, coalesce(p.created, false) AS created
CALL (p, created) {
  WITH p WHERE created
  REMOVE p.created
  WITH p
  MATCH (u:User {name: $actor})
  MERGE (p)-[m:HAS_MEMBER]->(u)
  ON CREATE SET m.since = $now
}
WITH p, created,
     EXISTS { (p)-[:HAS_MEMBER]->(:User {name: $actor}) }
     OR EXISTS { (:User {name: $actor, orgAdmin: true}) } AS allowed
"""

ENSURE_PROJECT: Final[LiteralString] = (
    ENSURE_PROJECT_CLAUSE + "RETURN p {.*} AS project, created, allowed"
)

GET_PROJECT: Final[LiteralString] = """
MATCH (p:Project {name: $name}) RETURN p {.*} AS project
"""

# Projects by name after $after; only those named in $names unless it is null (all of them).
LIST_PROJECTS: Final[LiteralString] = """
MATCH (p:Project)
WHERE ($names IS NULL OR p.name IN $names) AND ($after IS NULL OR p.name > $after)
RETURN p {.*} AS project
ORDER BY p.name
LIMIT $limit
"""

GET_PROJECT_BY_ID: Final[LiteralString] = """
MATCH (p:Project {id: $id}) RETURN p {.*} AS project
"""

# A run started without a name (r, in project p) is called as W&B calls it: $stem, two made-up
# words, and its number in the project (counted from the project's degree, not its runs).
_NAME_UNNAMED: Final[LiteralString] = """
SET r.name = coalesce(r.name, $stem + '-' + toString(COUNT { (p)-[:HAS_RUN]->() }))"""

CREATE_RUN: Final[LiteralString] = (
    """
MATCH (p:Project {name: $project})
CREATE (p)-[:HAS_RUN]->(r:Run:Lineage:Entity)
SET r = $props"""
    + _NAME_UNNAMED
    + """
RETURN r {.*} AS run
"""
)

# The run of project $project whose key (or id) is $key, locked; else a new one made of
# $props (which carry $key): `created` says which. MERGE on the (project, key) constraint
# makes two starts with one key at once one run.
START_KEYED_RUN: Final[LiteralString] = (
    """
MATCH (p:Project {name: $project})
OPTIONAL MATCH (known:Run {project: $project, id: $key})
CALL (p, known) {
  WITH p, known WHERE known IS NULL
  MERGE (r:Run {project: $project, key: $key})
  ON CREATE SET r:Lineage:Entity, r += $props, r._created = true
  RETURN r
UNION
  WITH known WHERE known IS NOT NULL
  RETURN known AS r
}
WITH p, r, coalesce(r._created, false) AS created
SET r._lock = true
REMOVE r._lock, r._created
FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END | CREATE (p)-[:HAS_RUN]->(r))"""
    + _NAME_UNNAMED
    + """
RETURN r {.*} AS run, created
"""
)

GET_RUNS: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (r:Run {id: id})
RETURN r {.*} AS run
"""

# RUNNING runs whose clients promised heartbeats and have been silent past `silentAfter`
# (indexed; only such runs have it).
SILENT_RUNS: Final[LiteralString] = """
MATCH (r:Run) WHERE r.silentAfter < $now AND r.status = 'RUNNING'
RETURN r.id AS id LIMIT $limit
"""

LOCK_RUN: Final[LiteralString] = """
MATCH (r:Run {id: $id})
SET r._lock = true
REMOVE r._lock
RETURN r {.*} AS run
"""

SET_RUN_PROPS: Final[LiteralString] = """
MATCH (r:Run {id: $id})
SET r += $props
RETURN r {.*} AS run
"""

LOG_METRIC_CHUNKS: Final[LiteralString] = """
MATCH (r:Run {id: $id})
UNWIND $chunks AS c
CREATE (r)-[:LOGGED]->(:MetricChunk {runId: $id, key: c.key, firstStep: c.first_step,
                                     lastStep: c.last_step, steps: c.steps, values: c.values,
                                     loggedAt: $now})
"""

GET_METRIC_CHUNKS: Final[LiteralString] = """
UNWIND $keys AS key
MATCH (m:MetricChunk {runId: $id, key: key})
WHERE m.lastStep > $after_step
RETURN key, m.steps AS steps, m.values AS values
ORDER BY key, m.firstStep
"""

LIST_RUNS: Final[LiteralString] = """
MATCH (r:Run {project: $project})
WHERE ($status IS NULL OR r.status = $status)
  AND ($key IS NULL OR r.key = $key)
  AND ($tag IS NULL OR $tag IN r.tags)
  AND ($started_after IS NULL OR r.startedAt >= $started_after)
  AND ($started_before IS NULL OR r.startedAt < $started_before)
  AND ($cursor_time IS NULL OR r.startedAt < $cursor_time
       OR (r.startedAt = $cursor_time AND r.id < $cursor_id))
  AND all(f IN $filters WHERE
      CASE f.op
        WHEN 'EQ' THEN r[f.property] = f.value
        WHEN 'NE' THEN r[f.property] <> f.value
        WHEN 'GT' THEN r[f.property] > f.value
        WHEN 'GTE' THEN r[f.property] >= f.value
        WHEN 'LT' THEN r[f.property] < f.value
        WHEN 'LTE' THEN r[f.property] <= f.value
      END)
RETURN r {.*} AS run
ORDER BY r.startedAt DESC, r.id DESC
LIMIT $limit
"""
