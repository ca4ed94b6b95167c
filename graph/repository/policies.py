"""Promotion policies of a registry: created and deleted by its admins, each audited; checked
by graph.policies.enforce in the transaction of every move they guard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, LiteralString

from graph.errors import Conflict, NotFound
from graph.events import write_event
from graph.ids import new_id
from graph.records import instant
from graph.repository.base import Repository, Tx

CREATE: Final[LiteralString] = """
MATCH (r:Registry {id: $registry_id})
SET r._lock = true
REMOVE r._lock
WITH r
OPTIONAL MATCH (other:Policy {registryId: r.id, name: $props.name}) WHERE NOT other.deleted
WITH r, other
WHERE other IS NULL
CREATE (p:Policy:Entity)
SET p = $props
RETURN p {.*} AS policy
"""

LIST: Final[LiteralString] = """
MATCH (p:Policy {registryId: $registry_id}) WHERE NOT p.deleted
RETURN p {.*} AS policy
ORDER BY p.kind, p.target, p.createdAt
"""

DELETE: Final[LiteralString] = """
MATCH (p:Policy {id: $id, registryId: $registry_id}) WHERE NOT p.deleted
SET p.deleted = true, p.deletedAt = $now
RETURN p {.*} AS policy
"""


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    name: str
    kind: str  # alias or stage
    target: str
    rule: str  # UPSTREAM_HEALTHY, PRIOR or METRIC
    prior_kind: str | None
    prior: str | None
    metric: str | None
    op: str | None
    threshold: float | None
    created_at: datetime
    created_by: str


def policy_from(node: Mapping[str, Any]) -> Policy:
    created_at = instant(node["createdAt"])
    assert created_at is not None
    return Policy(
        id=node["id"],
        name=node["name"],
        kind=node["kind"],
        target=node["target"],
        rule=node["rule"],
        prior_kind=node.get("priorKind"),
        prior=node.get("prior"),
        metric=node.get("metric"),
        op=node.get("op"),
        threshold=node.get("threshold"),
        created_at=created_at,
        created_by=node["createdBy"],
    )


class PolicyRepository(Repository):
    async def create(self, registry_id: str, props: dict[str, Any], *, actor: str) -> Policy:
        async def work(tx: Tx) -> Policy:
            stored = {
                **props,
                "id": new_id("pol"),
                "registryId": registry_id,
                "deleted": False,
                "createdAt": datetime.now(UTC),
                "createdBy": actor,
            }
            row = await (await tx.run(CREATE, registry_id=registry_id, props=stored)).single()
            if row is None:
                raise Conflict(f"a promotion policy named {props['name']!r} exists already")
            made = policy_from(row["policy"])
            shown = {k: v for k, v in stored.items() if k not in ("createdAt", "deleted")}
            await write_event(
                tx,
                "policy.created",
                actor=actor,
                subjects=[made.id, registry_id],
                registry=registry_id,
                after=shown,
            )
            return made

        return await self._write(work)

    async def delete(self, registry_id: str, policy_id: str, *, actor: str) -> Policy:
        async def work(tx: Tx) -> Policy:
            row = await (
                await tx.run(DELETE, id=policy_id, registry_id=registry_id, now=datetime.now(UTC))
            ).single()
            if row is None:
                raise NotFound("promotion policy", policy_id)
            gone = policy_from(row["policy"])
            await write_event(
                tx,
                "policy.deleted",
                actor=actor,
                subjects=[policy_id, registry_id],
                registry=registry_id,
                before={"name": gone.name, "kind": gone.kind, "target": gone.target},
            )
            return gone

        return await self._write(work)

    async def in_registry(self, registry_id: str) -> list[Policy]:
        async def work(tx: Tx) -> list[Policy]:
            result = await tx.run(LIST, registry_id=registry_id)
            return [policy_from(row["policy"]) async for row in result]

        return await self._read(work)
