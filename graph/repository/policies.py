"""Promotion policies of a registry: created and deleted by its admins, each audited; checked
by graph.policies.enforce in the transaction of every move they guard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, LiteralString

from graph.dependents import Dependents, collection_dependents, dependents_of, link_dependents
from graph.errors import Conflict, Forbidden, NotFound
from graph.events import Change, write_event
from graph.ids import new_id
from graph.policies import Approval
from graph.records import Link, instant
from graph.repository.base import Repository, Tx
from graph.repository.registries import apply_stage, move_alias

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
    approver_role: str | None
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
        approver_role=node.get("approverRole"),
        created_at=created_at,
        created_by=node["createdBy"],
    )


class PolicyRepository(Repository):
    async def dependents(self, version_id: str, link_id: str | None = None) -> Dependents:
        """What depends on a version (with its links), or on one link of it."""

        async def work(tx: Tx) -> Dependents:
            if link_id is not None:
                return await link_dependents(tx, link_id, version_id)
            return await dependents_of(tx, [version_id], own_links=True)

        return await self._read(work)

    async def collection_dependents(self, collection_id: str) -> Dependents:
        """What depends on a collection's linked versions, and the aliases and stages in it."""

        async def work(tx: Tx) -> Dependents:
            return await collection_dependents(tx, collection_id)

        return await self._read(work)

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
                Change(
                    "policy.created",
                    actor=actor,
                    subjects=[made.id, registry_id],
                    registry=registry_id,
                    after=shown,
                ),
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
                Change(
                    "policy.deleted",
                    actor=actor,
                    subjects=[policy_id, registry_id],
                    registry=registry_id,
                    before={"name": gone.name, "kind": gone.kind, "target": gone.target},
                ),
            )
            return gone

        return await self._write(work)

    async def in_registry(self, registry_id: str) -> list[Policy]:
        async def work(tx: Tx) -> list[Policy]:
            result = await tx.run(LIST, registry_id=registry_id)
            return [policy_from(row["policy"]) async for row in result]

        return await self._read(work)


# --- promotion requests (APPROVAL policies) ------------------------------------------------

APPROVERS: Final[LiteralString] = """
MATCH (p:Policy {registryId: $registry_id, kind: $kind, target: $target, rule: 'APPROVAL'})
WHERE NOT p.deleted
RETURN collect(p.approverRole) AS roles
"""

OPEN_REQUEST: Final[LiteralString] = """
MATCH (c:Collection {id: $collection_id})
SET c._lock = true
REMOVE c._lock
WITH c
OPTIONAL MATCH (q:PromotionRequest {linkId: $link_id, kind: $kind, target: $target,
                                    state: 'PENDING'})
RETURN q.id AS pending
"""

CREATE_REQUEST: Final[LiteralString] = """
CREATE (q:PromotionRequest:Entity)
SET q = $props
RETURN q {.*} AS request
"""

GET_REQUEST: Final[LiteralString] = """
MATCH (q:PromotionRequest {id: $id})
RETURN q {.*} AS request
"""

LOCK_REQUEST: Final[LiteralString] = """
MATCH (q:PromotionRequest {id: $id})
SET q._lock = true
REMOVE q._lock
RETURN q {.*} AS request
"""

CLOSE_REQUEST: Final[LiteralString] = """
MATCH (q:PromotionRequest {id: $id})
SET q.state = $state, q.reviewedBy = $actor, q.reviewedAt = $now, q.reviewNote = $note
RETURN q {.*} AS request
"""

LIST_REQUESTS: Final[LiteralString] = """
MATCH (q:PromotionRequest {registryId: $registry_id})
WHERE $state IS NULL OR q.state = $state
RETURN q {.*} AS request
ORDER BY q.requestedAt DESC, q.id
LIMIT 1000
"""

ROLE_RANK: Final = {"member": 2, "admin": 3}


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    id: str
    registry_id: str
    collection_id: str
    link_id: str
    kind: str
    target: str
    state: str  # PENDING, APPROVED or REJECTED
    approver_role: str
    requested_by: str
    requested_at: datetime
    note: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None


def request_from(node: Mapping[str, Any]) -> PromotionRequest:
    requested_at = instant(node["requestedAt"])
    assert requested_at is not None
    return PromotionRequest(
        id=node["id"],
        registry_id=node["registryId"],
        collection_id=node["collectionId"],
        link_id=node["linkId"],
        kind=node["kind"],
        target=node["target"],
        state=node["state"],
        approver_role=node["approverRole"],
        requested_by=node["requestedBy"],
        requested_at=requested_at,
        note=node.get("note") or "",
        reviewed_by=node.get("reviewedBy"),
        reviewed_at=instant(node.get("reviewedAt")),
        review_note=node.get("reviewNote"),
    )


class PromotionRequests(Repository):
    async def ask(
        self, link: Link, kind: str, target: str, note: str, *, actor: str
    ) -> PromotionRequest:
        """Ask for a move an APPROVAL policy holds back: a PENDING request, audited."""

        async def work(tx: Tx) -> PromotionRequest:
            row = await (
                await tx.run(APPROVERS, registry_id=link.registry_id, kind=kind, target=target)
            ).single(strict=True)
            roles: list[str] = row["roles"]
            if not roles:
                raise Conflict(
                    f"no policy asks for approval of the {kind} {target!r}: move it directly"
                )
            row = await (
                await tx.run(
                    OPEN_REQUEST,
                    collection_id=link.collection_id,
                    link_id=link.id,
                    kind=kind,
                    target=target,
                )
            ).single(strict=True)
            if row["pending"] is not None:
                raise Conflict(f"this move is asked for already, by {row['pending']}")
            request_id = new_id("prq")
            props = {
                "id": request_id,
                "registryId": link.registry_id,
                "collectionId": link.collection_id,
                "linkId": link.id,
                "kind": kind,
                "target": target,
                "state": "PENDING",
                "approverRole": max(roles, key=lambda r: ROLE_RANK.get(r, 3)),
                "requestedBy": actor,
                "requestedAt": datetime.now(UTC),
                "note": note,
            }
            made = await (await tx.run(CREATE_REQUEST, props=props)).single(strict=True)
            await write_event(
                tx,
                Change(
                    "promotion.requested",
                    actor=actor,
                    subjects=[request_id, link.id, link.collection_id],
                    registry=link.registry_id,
                    after={"kind": kind, "target": target, "link": link.id, "note": note},
                ),
            )
            return request_from(made["request"])

        return await self._write(work)

    async def review(
        self, request_id: str, approve: bool, note: str, *, actor: str
    ) -> PromotionRequest:
        """Approve (the move is made now, every other policy checked again) or reject a
        PENDING request; never by whoever asked."""

        async def work(tx: Tx) -> PromotionRequest:
            row = await (await tx.run(LOCK_REQUEST, id=request_id)).single()
            if row is None:
                raise NotFound("promotion request", request_id)
            request = request_from(row["request"])
            if request.state != "PENDING":
                raise Conflict(f"{request_id} is {request.state} already")
            if request.requested_by == actor:
                raise Forbidden(f"{actor!r} asked for {request_id}: a second person must review it")
            if approve:
                approval = Approval(request.id, request.requested_by, actor)
                if request.kind == "alias":
                    moved = await move_alias(tx, request.link_id, request.target, actor, approval)
                    if moved == request.link_id:
                        raise Conflict(
                            f"the link holds {request.target!r} already: reject {request_id}"
                        )
                else:
                    await apply_stage(tx, request.link_id, request.target, True, actor, approval)
            closed = await (
                await tx.run(
                    CLOSE_REQUEST,
                    id=request_id,
                    state="APPROVED" if approve else "REJECTED",
                    actor=actor,
                    now=datetime.now(UTC),
                    note=note,
                )
            ).single(strict=True)
            if not approve:  # an approval's event is the move's own, which names the request
                await write_event(
                    tx,
                    Change(
                        "promotion.rejected",
                        actor=actor,
                        subjects=[request_id, request.link_id, request.collection_id],
                        registry=request.registry_id,
                        after={"kind": request.kind, "target": request.target, "note": note},
                    ),
                )
            return request_from(closed["request"])

        return await self._write(work)

    async def get(self, request_id: str) -> PromotionRequest:
        async def work(tx: Tx) -> PromotionRequest | None:
            row = await (await tx.run(GET_REQUEST, id=request_id)).single()
            return request_from(row["request"]) if row else None

        found = await self._read(work)
        if found is None:
            raise NotFound("promotion request", request_id)
        return found

    async def in_registry(self, registry_id: str, state: str | None) -> list[PromotionRequest]:
        async def work(tx: Tx) -> list[PromotionRequest]:
            result = await tx.run(LIST_REQUESTS, registry_id=registry_id, state=state)
            return [request_from(row["request"]) async for row in result]

        return await self._read(work)
