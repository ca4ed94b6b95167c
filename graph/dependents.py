"""What depends on a version: the runs that used it, the versions made downstream of it, and
the linked versions among it and them (with the aliases and stages they hold). Deleting a
version, deregistering a link or deprecating a collection with dependents needs an explicit
confirmation, checked in the destructive change's own transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, LiteralString

from graph.errors import Conflict
from graph.repository.base import Tx

DEPENDENTS: Final[LiteralString] = """
UNWIND $versions AS id
MATCH (v:ArtifactVersion {id: id})
WITH collect(v) AS vs
CALL (vs) {
  UNWIND vs AS v
  OPTIONAL MATCH (r:Run)-[:CONSUMED]->(v)
  RETURN collect(DISTINCT r.id) AS consumers
}
CALL (vs) {
  UNWIND vs AS v
  OPTIONAL MATCH (v) (()<-[:CONSUMED]-(:Run)-[:PRODUCED]->(:ArtifactVersion))+ (d)
  WHERE d.state = 'COMMITTED'
  RETURN collect(DISTINCT d.id) AS downstream
}
CALL (downstream) {
  MATCH (l:Link {state: 'LINKED'})
  WHERE (l.versionId IN downstream OR (l.versionId IN $versions AND $own_links))
    AND l.id <> coalesce($except_link, '')
    AND l.collectionId <> coalesce($except_collection, '')
  MATCH (c:Collection {id: l.collectionId})
  MATCH (reg:Registry {id: c.registryId})
  RETURN collect({
    id: l.id,
    name: reg.name + '/' + c.name + ':v' + toString(l.index),
    held: COLLECT {
      MATCH (a:Assignment {linkId: l.id, open: true}) WHERE a.name <> 'latest'
      RETURN a.kind + ' ' + a.name
    }
  }) AS links
}
RETURN consumers, downstream, links
"""

HELD_BY_LINK: Final[LiteralString] = """
MATCH (a:Assignment {linkId: $link, open: true}) WHERE a.name <> 'latest'
RETURN collect(a.kind + ' ' + a.name) AS held
"""

COLLECTION_CONTENT: Final[LiteralString] = """
OPTIONAL MATCH (l:Link {collectionId: $collection, state: 'LINKED'})
WITH collect(l.versionId) AS versions
OPTIONAL MATCH (a:Assignment {collectionId: $collection, open: true})-[:TO]->(l:Link)
WHERE a.name <> 'latest'
WITH versions, a, l ORDER BY l.index, a.kind, a.name
RETURN versions, collect(a.kind + ' ' + a.name + ' on v' + toString(l.index)) AS held
"""


@dataclass(frozen=True, slots=True)
class Dependents:
    consumers: list[str] = field(default_factory=list)  # run ids
    downstream: list[str] = field(default_factory=list)  # version ids
    links: list[dict[str, Any]] = field(default_factory=list)  # {id, name, held}
    held: list[str] = field(default_factory=list)  # aliases and stages the target holds

    def __bool__(self) -> bool:
        return bool(self.consumers or self.downstream or self.links or self.held)

    def summary(self) -> dict[str, Any]:
        return {
            "consumingRuns": len(self.consumers),
            "downstreamVersions": len(self.downstream),
            "linkedVersions": [
                {"name": link["name"], "holds": list(link["held"])} for link in self.links
            ],
            "holds": list(self.held),
        }


class HasDependents(Conflict):
    """A destructive change refused until it is confirmed: names what depends on the target."""

    def __init__(self, target: str, found: Dependents, confirm: str) -> None:
        parts = []
        if found.held:
            parts.append(f"it holds {', '.join(found.held)}")
        if found.consumers:
            parts.append(f"{len(found.consumers)} run(s) used it")
        if found.downstream:
            parts.append(f"{len(found.downstream)} version(s) were made from it")
        if found.links:
            names = ", ".join(
                link["name"] + (f" ({', '.join(link['held'])})" if link["held"] else "")
                for link in found.links[:10]
            )
            more = f" and {len(found.links) - 10} more" if len(found.links) > 10 else ""
            parts.append(f"linked: {names}{more}")
        super().__init__(
            f"{target} has dependents: {'; '.join(parts)}. Repeat with {confirm}: true to go "
            "on (dependents(of:) lists them)"
        )
        self.dependents = found.summary()


async def dependents_of(
    tx: Tx,
    version_ids: list[str],
    *,
    own_links: bool,
    except_link: str | None = None,
    except_collection: str | None = None,
) -> Dependents:
    """What depends on the versions (their own links too when `own_links`)."""
    row = await (
        await tx.run(
            DEPENDENTS,
            versions=version_ids,
            own_links=own_links,
            except_link=except_link,
            except_collection=except_collection,
        )
    ).single()
    if row is None:
        return Dependents()
    return Dependents(list(row["consumers"]), list(row["downstream"]), list(row["links"]))


async def link_dependents(tx: Tx, link_id: str, version_id: str) -> Dependents:
    """What depends on a link: the aliases and stages it holds, and what depends on its
    version (other links of it excepted: they stay)."""
    found = await dependents_of(tx, [version_id], own_links=False)
    row = await (await tx.run(HELD_BY_LINK, link=link_id)).single(strict=True)
    return Dependents(found.consumers, found.downstream, found.links, list(row["held"]))


async def collection_dependents(tx: Tx, collection_id: str) -> Dependents:
    """What depends on a collection: the aliases and stages its linked versions hold, the
    runs that used them, and what was made from them (links elsewhere among it)."""
    row = await (await tx.run(COLLECTION_CONTENT, collection=collection_id)).single(strict=True)
    found = await dependents_of(
        tx, list(row["versions"]), own_links=False, except_collection=collection_id
    )
    return Dependents(found.consumers, found.downstream, found.links, list(row["held"]))
