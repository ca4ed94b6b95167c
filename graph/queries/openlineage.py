"""Cypher of OpenLineage ingestion (graph.openlineage says how events map to the graph).

A batch of events is one transaction (graph.repository.openlineage): every query here takes
the whole batch's rows at once.
"""

from __future__ import annotations

from typing import Final, LiteralString

from graph.events import EVENTS_CLAUSE
from graph.queries.artifacts import LATEST_ONTO_CLAUSE

# A batch's first round trip. Each event recorded by its digest once: the same event sent
# again finds it, with the answer the first one got. Then, read (hot projects are not
# write-locked by it): the projects the events write into ($pairs: name, actor), with the
# id of each that exists, whether the actor is its member, and whether the actor is an org
# admin; and the type of each artifact the events name as a dataset ($names: project, name),
# if it exists (a dataset cannot be logged into an artifact of another type).
OPEN_BATCH: Final[LiteralString] = """
CALL () {
  UNWIND $digests AS digest
  MERGE (x:OpenLineageEvent {digest: digest})
  ON CREATE SET x.at = $now, x.created = true
  WITH x, coalesce(x.created, false) AS created
  REMOVE x.created
  RETURN collect({digest: x.digest, created: created, run: x.run, event: x.event,
                  consumed: x.consumed, produced: x.produced}) AS claims
}
CALL () {
  UNWIND $pairs AS pair
  OPTIONAL MATCH (p:Project {name: pair.name})
  RETURN collect({
    name: pair.name, actor: pair.actor, id: p.id,
    member: p IS NOT NULL AND EXISTS { (p)-[:HAS_MEMBER]->(:User {name: pair.actor}) },
    admin: EXISTS { (:User {name: pair.actor, orgAdmin: true}) }}) AS projects
}
CALL () {
  UNWIND $names AS n
  MATCH (a:Artifact {project: n.project, name: n.name})
  RETURN collect({project: a.project, name: a.name, type: a.type}) AS types
}
RETURN claims, projects, types
"""

# The claims of events refused in their batch: they wrote nothing, so a retry is not a
# duplicate.
UNCLAIM_EVENTS: Final[LiteralString] = """
UNWIND $digests AS digest
MATCH (x:OpenLineageEvent {digest: digest})
DELETE x
"""

# A batch's second round trip: write-locks in graph.repository.openlineage's order. The
# projects ($projects: ids, by name); the dataset artifacts ($artifacts: project, name, id;
# sorted), each made on first sight (tied to its project); the runs of the OpenLineage
# runIds ($runs: project, olRunId, props; sorted; unique by constraint, so two first events
# make one), each made in its project with the props of the first event that named it. Then,
# under the locks, each artifact's latest version and the version of the key asked for
# ($wanted: project, name, key; a key is `version:<dataset version>` or `run:<runId>`). Each
# node with only what the batch reads of it.
LOCK_BATCH: Final[LiteralString] = """
CALL () {
  UNWIND $projects AS id
  MATCH (p:Project {id: id})
  SET p._lock = true
  REMOVE p._lock
}
CALL () {
  UNWIND $artifacts AS row
  MATCH (p:Project {name: row.project})
  MERGE (a:Artifact {project: row.project, name: row.name})
  ON CREATE SET a:Entity, a.id = row.id, a.type = $type, a.description = '',
                a.createdAt = $now, a.nextIndex = 0, a.created = true
  WITH p, a, coalesce(a.created, false) AS created
  CALL (p, a, created) {
    WITH * WHERE created
    CREATE (p)-[:HAS_ARTIFACT]->(a)
    REMOVE a.created
  }
  SET a._lock = true
  REMOVE a._lock
  RETURN collect(a {.id, .project, .name, .type, .nextIndex}) AS artifacts
}
CALL () {
  UNWIND $runs AS row
  MATCH (p:Project {name: row.project})
  MERGE (r:Run {olRunId: row.olRunId})
  ON CREATE SET r:Lineage:Entity, r += row.props, r.created = true
  WITH p, r, coalesce(r.created, false) AS created
  REMOVE r.created
  FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END | CREATE (p)-[:HAS_RUN]->(r))
  SET r._lock = true
  REMOVE r._lock
  RETURN collect({run: r {.id, .olRunId, .status, .config, .startedAt, .olEventTime},
                  created: created}) AS runs
}
CALL () {
  UNWIND $wanted AS w
  MATCH (a:Artifact {project: w.project, name: w.name})
  RETURN collect({
    artifact: a.id, key: w.key,
    latest: COLLECT { MATCH (:Alias {artifactId: a.id, name: 'latest'})-[:POINTS_TO]->(v)
                      RETURN v {.id, .project, .artifact, .index, .runId} }[0],
    keyed: COLLECT { MATCH (v:ArtifactVersion {artifactId: a.id, olVersion: w.key})
                     RETURN v {.id, .project, .artifact, .index, .runId} }[0]}) AS versions
}
RETURN artifacts, runs, versions
"""

# A batch's last round trip: what its events did, one subquery per kind of change.
# Reference versions ($versions: no files, the data lives at their `reference`), made
# committed now with their index, and the PRODUCED edge of the run that wrote each. Each
# artifact's `latest` moved onto its newest version made by the batch (the committed version
# with the highest index, as graph.queries.artifacts keeps it), with the alias's history, and
# its next index ($moves: artifact, version, next). Versions first seen as someone's input,
# then written by a run: that run produced them ($adopted: id, run). Runs consumed versions
# ($uses: run, id, ref): an edge each, once. Runs' changed properties ($runs: id, props). The
# audit events ($events, graph.events). The claims' answers ($claims).
FLUSH_BATCH: Final[LiteralString] = (
    """
CALL () {
  UNWIND $versions AS row
  MATCH (a:Artifact {id: row.artifactId})
  CREATE (a)-[:HAS_VERSION]->(v:ArtifactVersion:Lineage:Entity)
  SET v = row, v.createdAt = $now, v.committedAt = $now
  WITH v
  OPTIONAL MATCH (r:Run {id: v.runId})
  FOREACH (run IN CASE WHEN r IS NULL THEN [] ELSE [r] END |
    CREATE (run)-[:PRODUCED {at: $now}]->(v))
}
CALL () {
  UNWIND $moves AS move
  MATCH (a:Artifact {id: move.artifact}), (v:ArtifactVersion {id: move.version})
  SET a.nextIndex = move.next
  WITH a, v"""
    + LATEST_ONTO_CLAUSE
    + """
}
CALL () {
  UNWIND $adopted AS row
  MATCH (v:ArtifactVersion {id: row.id}), (r:Run {id: row.run})
  WHERE v.runId IS NULL
  SET v.runId = r.id
  CREATE (r)-[:PRODUCED {at: $now}]->(v)
}
CALL () {
  UNWIND $uses AS used
  MATCH (r:Run {id: used.run}), (v:ArtifactVersion {id: used.id})
  MERGE (r)-[c:CONSUMED]->(v)
  ON CREATE SET c.at = $now, c.ref = used.ref
}
CALL () {
  UNWIND $runs AS row
  MATCH (r:Run {id: row.id})
  SET r += row.props
}
CALL () {
"""
    + EVENTS_CLAUSE
    + """
}
CALL () {
  UNWIND $claims AS claim
  MATCH (x:OpenLineageEvent {digest: claim.digest})
  SET x.run = claim.run, x.event = claim.event, x.consumed = claim.consumed,
      x.produced = claim.produced
}
"""
)
