"""Cypher of OpenLineage ingestion (graph.openlineage says how events map to the graph)."""

from __future__ import annotations

from typing import Final, LiteralString

# The event, recorded by its digest once: the same event sent again finds it, with the answer
# the first one got.
CLAIM_EVENT: Final[LiteralString] = """
MERGE (x:OpenLineageEvent {digest: $digest})
ON CREATE SET x.at = $now, x.created = true
WITH x, coalesce(x.created, false) AS created
REMOVE x.created
RETURN created, x.run AS run, x.event AS event, x.consumed AS consumed, x.produced AS produced
"""

SET_EVENT: Final[LiteralString] = """
MATCH (x:OpenLineageEvent {digest: $digest})
SET x.run = $run, x.event = $event, x.consumed = $consumed, x.produced = $produced
"""

# The run of an OpenLineage runId (unique by constraint, so two first events make one),
# created in $project with $props, write-locked either way.
ENSURE_RUN: Final[LiteralString] = """
MATCH (p:Project {name: $project})
MERGE (r:Run {olRunId: $ol_run_id})
ON CREATE SET r:Lineage:Entity, r += $props, r.created = true
WITH p, r, coalesce(r.created, false) AS created
REMOVE r.created
FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END | CREATE (p)-[:HAS_RUN]->(r))
SET r._lock = true
REMOVE r._lock
RETURN r {.*} AS run, created
"""

# The version of a dataset artifact an OpenLineage version (or run, `run:<runId>`) names.
VERSION_BY_KEY: Final[LiteralString] = """
MATCH (v:ArtifactVersion {artifactId: $artifact_id, olVersion: $key})
RETURN v {.*} AS version
"""

# A version first seen as someone's input, then written by a run: that run produced it.
ADOPT_VERSION: Final[LiteralString] = """
MATCH (v:ArtifactVersion {id: $id}), (r:Run {id: $run_id})
WHERE v.runId IS NULL
SET v.runId = r.id
CREATE (r)-[:PRODUCED {at: $now}]->(v)
"""

# A reference version: no files (its data lives at its `reference`), committed right after.
CREATE_REFERENCE_VERSION: Final[LiteralString] = """
MATCH (a:Artifact {id: $artifact_id})
CREATE (a)-[:HAS_VERSION]->(v:ArtifactVersion:Lineage:Entity)
SET v = $props
"""

# The projects an event writes into: whether each exists and $actor may write there (a
# member, or an org admin). A read: hot projects are not write-locked by every event.
PROJECTS: Final[LiteralString] = """
UNWIND $names AS name
OPTIONAL MATCH (p:Project {name: name})
RETURN name, p IS NOT NULL AS exists, p.id AS id,
       p IS NOT NULL AND (EXISTS { (p)-[:HAS_MEMBER]->(:User {name: $actor}) }
                          OR EXISTS { (:User {name: $actor, orgAdmin: true}) }) AS allowed
"""

# The dataset artifacts an event names, with their latest version and the version of the
# key asked for ($datasets: project, name, key); a read, like PROJECTS.
DATASETS: Final[LiteralString] = """
UNWIND $datasets AS d
OPTIONAL MATCH (a:Artifact {project: d.project, name: d.name})
OPTIONAL CALL (a) {
  MATCH (:Alias {artifactId: a.id, name: 'latest'})-[:POINTS_TO]->(v:ArtifactVersion)
  RETURN v {.*} AS latest
}
OPTIONAL CALL (a, d) {
  MATCH (v:ArtifactVersion {artifactId: a.id, olVersion: d.key})
  RETURN v {.*} AS keyed
}
RETURN d.project AS project, d.name AS name, d.key AS key, a {.*} AS artifact, latest, keyed
"""

# The run consumed these versions (an edge each, once).
CONSUME: Final[LiteralString] = """
MATCH (r:Run {id: $run_id})
UNWIND $versions AS used
MATCH (v:ArtifactVersion {id: used.id})
MERGE (r)-[c:CONSUMED]->(v)
ON CREATE SET c.at = $now, c.ref = used.ref
"""

# Nodes write-locked in the order given (sorted): see OpenLineageRepository.ingest.
LOCK_SUBJECTS: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (s:Entity {id: id})
SET s._lock = true
REMOVE s._lock
"""

SET_RUN_PROPS: Final[LiteralString] = """
MATCH (r:Run {id: $id}) SET r += $props
"""
