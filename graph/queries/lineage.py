"""Cypher for lineage: one hop per query over a whole frontier (node-unique BFS in Python).

Variable-length patterns enumerate paths and explode on DAGs with many diamonds; one hop per
query with UNWIND $frontier costs time linear in what the walk returns.
"""

from __future__ import annotations

from typing import Final, LiteralString

# Upstream of a version: the run that PRODUCED it; upstream of a run: what it CONSUMED.
UPSTREAM_STEP: Final[LiteralString] = """
UNWIND $frontier AS id
MATCH (n:Lineage {id: id})
CALL (n) {
  MATCH (m:Run)-[:PRODUCED]->(n)
  RETURN m, 'PRODUCED' AS kind, m.id AS source, n.id AS target
  UNION
  MATCH (n)-[:CONSUMED]->(m:ArtifactVersion)
  RETURN m, 'CONSUMED' AS kind, n.id AS source, m.id AS target
}
WITH m, kind, source, target
WHERE $include_deleted OR coalesce(m.state, '') <> 'DELETED'
RETURN collect([m.id, kind, source, target]) AS hops
"""

# Downstream of a version: the runs that CONSUMED it; downstream of a run: what it PRODUCED.
DOWNSTREAM_STEP: Final[LiteralString] = """
UNWIND $frontier AS id
MATCH (n:Lineage {id: id})
CALL (n) {
  MATCH (m:Run)-[:CONSUMED]->(n)
  RETURN m, 'CONSUMED' AS kind, m.id AS source, n.id AS target
  UNION
  MATCH (n)-[:PRODUCED]->(m:ArtifactVersion)
  RETURN m, 'PRODUCED' AS kind, n.id AS source, m.id AS target
}
WITH m, kind, source, target
WHERE $include_deleted OR coalesce(m.state, '') <> 'DELETED'
RETURN collect([m.id, kind, source, target]) AS hops
"""

START_NODE: Final[LiteralString] = """
MATCH (n:Lineage {id: $id}) RETURN n.state AS state
"""

LINKS_OF_VERSIONS: Final[LiteralString] = """
UNWIND $ids AS id
MATCH (l:Link {versionId: id, state: 'LINKED'})
RETURN collect(l.id) AS links
"""
