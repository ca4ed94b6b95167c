"""Cypher for lineage: one hop per query over a whole frontier (node-unique BFS in Python).

Variable-length patterns enumerate paths and explode on DAGs with many diamonds; one hop per
query with UNWIND $frontier costs time linear in what the walk returns.
"""

from __future__ import annotations

from typing import Final, LiteralString

# A hop is kept when its far node is not deleted (or deletions are asked for), and, as of a
# past time, when the edge existed then and the node was not deleted then: its stateChanges
# alternate deletion, restore, deletion... (graph.queries.artifacts.SET_VERSION_STATE), so an
# odd number of them up to $at means deleted at $at. Runs have none.
_KEEP_HOP: Final[LiteralString] = """
WHERE ($include_deleted
       OR CASE WHEN $at IS NULL THEN coalesce(m.state, '') <> 'DELETED'
          ELSE size([t IN coalesce(m.stateChanges,
                                   CASE WHEN m.deletedAt IS NULL THEN [] ELSE [m.deletedAt] END)
                     WHERE t <= $at]) % 2 = 0 END)
  AND ($at IS NULL OR (at IS NOT NULL AND at <= $at))
"""

# Upstream of a version: the run that PRODUCED it; upstream of a run: what it CONSUMED.
UPSTREAM_STEP: Final[LiteralString] = (
    """
UNWIND $frontier AS id
MATCH (n:Lineage {id: id})
CALL (n) {
  MATCH (m:Run)-[e:PRODUCED]->(n)
  RETURN m, e.at AS at, 'PRODUCED' AS kind, m.id AS source, n.id AS target
  UNION
  MATCH (n)-[e:CONSUMED]->(m:ArtifactVersion)
  RETURN m, e.at AS at, 'CONSUMED' AS kind, n.id AS source, m.id AS target
}
WITH m, at, kind, source, target
"""
    + _KEEP_HOP
    + """
RETURN collect([m.id, kind, source, target]) AS hops
"""
)

# Downstream of a version: the runs that CONSUMED it; downstream of a run: what it PRODUCED.
DOWNSTREAM_STEP: Final[LiteralString] = (
    """
UNWIND $frontier AS id
MATCH (n:Lineage {id: id})
CALL (n) {
  MATCH (m:Run)-[e:CONSUMED]->(n)
  RETURN m, e.at AS at, 'CONSUMED' AS kind, m.id AS source, n.id AS target
  UNION
  MATCH (n)-[e:PRODUCED]->(m:ArtifactVersion)
  RETURN m, e.at AS at, 'PRODUCED' AS kind, n.id AS source, m.id AS target
}
WITH m, at, kind, source, target
"""
    + _KEEP_HOP
    + """
RETURN collect([m.id, kind, source, target]) AS hops
"""
)

START_NODE: Final[LiteralString] = """
MATCH (n:Lineage {id: $id}) RETURN n.state AS state
"""

LINKS_OF_VERSIONS: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (l:Link {versionId: id, state: 'LINKED'})
RETURN collect(l.id) AS links
"""
