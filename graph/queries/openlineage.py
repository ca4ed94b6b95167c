"""Cypher of OpenLineage ingestion (graph.openlineage says how events map to the graph)."""

from __future__ import annotations

from typing import Final, LiteralString

# The event, recorded by its digest once: the same event sent again finds it, with its run.
CLAIM_EVENT: Final[LiteralString] = """
MERGE (x:OpenLineageEvent {digest: $digest})
ON CREATE SET x.at = $now, x.created = true
WITH x, coalesce(x.created, false) AS created
REMOVE x.created
RETURN created, x.run AS run, x.event AS event
"""

SET_EVENT: Final[LiteralString] = """
MATCH (x:OpenLineageEvent {digest: $digest})
SET x.run = $run, x.event = $event
"""

# The run of an OpenLineage runId (unique by constraint, so two first events make one),
# created in $project with $props, write-locked either way.
ENSURE_RUN: Final[LiteralString] = """
MATCH (p:Project {name: $project})
MERGE (r:Run {olRunId: $ol_run_id})
ON CREATE SET r:Lineage:Entity, r += $props, r.created = true
WITH p, r, coalesce(r.created, false) AS created
REMOVE r.created
FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END | MERGE (p)-[:HAS_RUN]->(r))
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
