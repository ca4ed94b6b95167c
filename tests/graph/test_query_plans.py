"""The upload path's questions about content are answered by key: the work Neo4j does grows
with the shas asked about, never with the blobs stored (counted in its db hits, not timed)."""

from __future__ import annotations

from typing import Any

from neo4j import AsyncDriver

from graph.queries.access import BLOBS_EXPECTED


def db_hits(plan: dict[str, Any] | None) -> int:
    assert plan is not None, "PROFILE gave no plan"
    return int(plan.get("dbHits", 0)) + sum(db_hits(child) for child in plan.get("children", []))


async def test_which_uploads_are_expected_is_found_by_key_not_by_reading_every_blob(
    driver: AsyncDriver,
) -> None:
    # Three open versions listing 1,000 files each, as three logs of a thousand new files leave
    # them (with the blobs they name not stored yet).
    await driver.execute_query(
        """
        UNWIND range(0, 2) AS n
        CREATE (v:ArtifactVersion {id: 'ver_' + n, state: 'PENDING', project: 'p' + n})
        WITH v, n
        UNWIND range(0, 999) AS i
        CREATE (v)-[:CONTAINS {path: 'f' + i}]->(:Blob {sha256: 'sha-' + n + '-' + i})
        """
    )
    asked = [f"sha-0-{i}" for i in range(10)] + [f"sha-2-{i}" for i in range(10)] + ["unknown"]

    anyone = await driver.execute_query(f"PROFILE {BLOBS_EXPECTED}", shas=asked, projects=None)
    assert sorted(anyone.records[0]["expected"]) == sorted(asked[:-1])
    # A few hits a sha (its key, its node, the versions listing it): with the blob unbound,
    # Neo4j read the whole sha256 index once per sha (here 63,000 hits; 36 million for a log
    # of 1,000 files among 36,000 blobs).
    assert db_hits(anyone.summary.profile) <= 10 * len(asked)

    member = await driver.execute_query(f"PROFILE {BLOBS_EXPECTED}", shas=asked, projects=["p2"])
    assert sorted(member.records[0]["expected"]) == sorted(asked[10:20])
    assert db_hits(member.summary.profile) <= 10 * len(asked)
