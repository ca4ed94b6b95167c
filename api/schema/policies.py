"""Promotion policies: rules on a registry's aliases and stages, checked in the transaction of
every move onto them (graph.policies), managed by the registry's admins."""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum

import strawberry

from api.context import Info
from api.errors import BadInput
from api.inputs import AliasIn, parse
from api.schema.registries import resolve_link
from graph.errors import Forbidden, NotFound
from graph.ids import kind_of
from graph.repository.policies import ROLE_RANK, Policy
from graph.repository.policies import PromotionRequest as RequestRecord


@strawberry.enum(description="What a promotion policy checks.")
class PolicyRule(Enum):
    UPSTREAM_HEALTHY = strawberry.enum_value(
        "UPSTREAM_HEALTHY",
        description="Every version upstream is committed, not deleted, in no deprecated "
        "collection.",
    )
    PRIOR = strawberry.enum_value(
        "PRIOR", description="The candidate held another stage or alias first."
    )
    METRIC = strawberry.enum_value(
        "METRIC", description="A summary metric of the producing run meets a threshold."
    )
    APPROVAL = strawberry.enum_value(
        "APPROVAL",
        description="A second person approves: the move waits in a promotion request until "
        "a registry member of approverRole other than whoever asked reviews it.",
    )


@strawberry.enum(description="Where a promotion request stands.")
class PromotionRequestState(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Waiting for a review.")
    APPROVED = strawberry.enum_value("APPROVED", description="Approved: the move was made.")
    REJECTED = strawberry.enum_value("REJECTED", description="Rejected: nothing moved.")


@strawberry.enum(description="How a metric is compared with a threshold.")
class MetricOp(Enum):
    GTE = strawberry.enum_value("GTE", description=">=")
    GT = strawberry.enum_value("GT", description=">")
    LTE = strawberry.enum_value("LTE", description="<=")
    LT = strawberry.enum_value("LT", description="<")
    EQ = strawberry.enum_value("EQ", description="==")


@strawberry.type(description="A rule every move onto an alias or a stage must pass.")
class PromotionPolicy:
    id: strawberry.ID = strawberry.field(description="Its id.")
    name: str = strawberry.field(description="Unique in the registry; refusals name it.")
    alias: str | None = strawberry.field(description="The alias it guards.")
    stage: str | None = strawberry.field(description="The stage it guards.")
    rule: PolicyRule = strawberry.field(description="What it checks.")
    prior_stage: str | None = strawberry.field(description="PRIOR: the stage held first.")
    prior_alias: str | None = strawberry.field(description="PRIOR: the alias held first.")
    metric: str | None = strawberry.field(description="METRIC: the run summary's key.")
    op: MetricOp | None = strawberry.field(description="METRIC: the comparison.")
    threshold: float | None = strawberry.field(description="METRIC: the threshold.")
    approver_role: str | None = strawberry.field(
        description="APPROVAL: the registry role that may approve (member or admin)."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    created_by: str = strawberry.field(description="Who made it.")

    @classmethod
    def from_record(cls, p: Policy) -> PromotionPolicy:
        return cls(
            id=strawberry.ID(p.id),
            name=p.name,
            alias=p.target if p.kind == "alias" else None,
            stage=p.target if p.kind == "stage" else None,
            rule=PolicyRule(p.rule),
            prior_stage=p.prior if p.prior_kind == "stage" else None,
            prior_alias=p.prior if p.prior_kind == "alias" else None,
            metric=p.metric,
            op=MetricOp(p.op) if p.op else None,
            threshold=p.threshold,
            approver_role=p.approver_role,
            created_at=p.created_at,
            created_by=p.created_by,
        )


@strawberry.input(
    description="A promotion policy on one alias or one stage of a registry: UPSTREAM_HEALTHY; "
    "PRIOR with priorStage or priorAlias; METRIC with metric, op and threshold."
)
class CreatePromotionPolicyInput:
    registry: str = strawberry.field(description="The registry's name.")
    name: str = strawberry.field(description="Unique in the registry; refusals name it.")
    rule: PolicyRule = strawberry.field(description="What it checks.")
    alias: str | None = strawberry.field(default=None, description="The alias it guards.")
    stage: str | None = strawberry.field(default=None, description="The stage it guards.")
    prior_stage: str | None = strawberry.field(default=None, description="PRIOR: stage first.")
    prior_alias: str | None = strawberry.field(default=None, description="PRIOR: alias first.")
    metric: str | None = strawberry.field(default=None, description="METRIC: summary key.")
    op: MetricOp | None = strawberry.field(default=None, description="METRIC: comparison.")
    threshold: float | None = strawberry.field(default=None, description="METRIC: threshold.")
    approver_role: str = strawberry.field(
        default="admin", description="APPROVAL: who may approve: member or admin."
    )


@strawberry.input(description="One promotion policy of a registry.")
class DeletePromotionPolicyInput:
    registry: str = strawberry.field(description="The registry's name.")
    policy: strawberry.ID = strawberry.field(description="The policy's id.")


@strawberry.type(description="A promotion policy after a change.")
class PromotionPolicyPayload:
    policy: PromotionPolicy = strawberry.field(description="The policy.")


def _props(input: CreatePromotionPolicyInput, stages: tuple[str, ...]) -> dict[str, object]:
    name = input.name.strip()
    if not 1 <= len(name) <= 100:
        raise BadInput("input.name", "1 to 100 characters")
    if (input.alias is None) == (input.stage is None):
        raise BadInput("input", "name the alias or the stage it guards (one of them)")
    props: dict[str, object] = {"name": name, "rule": str(input.rule.value)}
    if input.alias is not None:
        props |= {
            "kind": "alias",
            "target": parse(AliasIn, {"alias": input.alias}, "input.alias").alias,
        }
    else:
        if input.stage not in stages:
            raise BadInput("input.stage", f"the registry's stages are {', '.join(stages)}")
        props |= {"kind": "stage", "target": input.stage}
    if input.rule == PolicyRule.PRIOR:
        if (input.prior_stage is None) == (input.prior_alias is None):
            raise BadInput("input", "PRIOR needs priorStage or priorAlias (one of them)")
        if input.prior_stage is not None and input.prior_stage not in stages:
            raise BadInput("input.priorStage", f"the registry's stages are {', '.join(stages)}")
        props |= {
            "priorKind": "stage" if input.prior_stage is not None else "alias",
            "prior": input.prior_stage or input.prior_alias,
        }
    elif input.rule == PolicyRule.METRIC:
        if not input.metric or input.op is None or input.threshold is None:
            raise BadInput("input", "METRIC needs metric, op and threshold")
        if not math.isfinite(input.threshold):
            raise BadInput("input.threshold", "must be a finite number")
        props |= {"metric": input.metric, "op": str(input.op.value), "threshold": input.threshold}
    elif input.rule == PolicyRule.APPROVAL:
        if input.approver_role not in ROLE_RANK:
            raise BadInput("input.approverRole", "member or admin")
        props["approverRole"] = input.approver_role
    return props


@strawberry.type
class PolicyQuery:
    @strawberry.field(description="A registry's promotion policies (its viewers).")
    async def promotion_policies(self, info: Info, registry: str) -> list[PromotionPolicy]:
        found = await info.context.repos.registries.get_registry(registry)
        policies = await info.context.repos.policies.in_registry(found.id)
        return [PromotionPolicy.from_record(p) for p in policies]


@strawberry.type
class PolicyMutation:
    @strawberry.mutation(
        description="Attach a promotion policy to an alias or a stage (registry admins): every "
        "later move onto it must pass, or is refused with the policy's name."
    )
    async def create_promotion_policy(
        self, info: Info, input: CreatePromotionPolicyInput
    ) -> PromotionPolicyPayload:
        registry = await info.context.repos.registries.get_registry(input.registry)
        made = await info.context.repos.policies.create(
            registry.id, _props(input, registry.stages), actor=info.context.actor
        )
        return PromotionPolicyPayload(policy=PromotionPolicy.from_record(made))

    @strawberry.mutation(description="Remove a promotion policy (registry admins).")
    async def delete_promotion_policy(
        self, info: Info, input: DeletePromotionPolicyInput
    ) -> PromotionPolicyPayload:
        registry = await info.context.repos.registries.get_registry(input.registry)
        gone = await info.context.repos.policies.delete(
            registry.id, str(input.policy), actor=info.context.actor
        )
        return PromotionPolicyPayload(policy=PromotionPolicy.from_record(gone))


@strawberry.type(description="A move an APPROVAL policy holds back, waiting for a second person.")
class PromotionRequest:
    id: strawberry.ID = strawberry.field(description="Its id.")
    link: strawberry.ID = strawberry.field(description="The linked version to move.")
    alias: str | None = strawberry.field(description="The alias it asks for.")
    stage: str | None = strawberry.field(description="The stage it asks for.")
    state: PromotionRequestState = strawberry.field(description="Where it stands.")
    approver_role: str = strawberry.field(description="Who may review it: member or admin.")
    requested_by: str = strawberry.field(description="Who asked.")
    requested_at: datetime = strawberry.field(description="When.")
    note: str = strawberry.field(description="Why, in the asker's words.")
    reviewed_by: str | None = strawberry.field(description="Who approved or rejected it.")
    reviewed_at: datetime | None = strawberry.field(description="When.")
    review_note: str | None = strawberry.field(description="The reviewer's words.")

    @classmethod
    def from_record(cls, r: RequestRecord) -> PromotionRequest:
        return cls(
            id=strawberry.ID(r.id),
            link=strawberry.ID(r.link_id),
            alias=r.target if r.kind == "alias" else None,
            stage=r.target if r.kind == "stage" else None,
            state=PromotionRequestState(r.state),
            approver_role=r.approver_role,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            note=r.note,
            reviewed_by=r.reviewed_by,
            reviewed_at=r.reviewed_at,
            review_note=r.review_note,
        )


@strawberry.input(description="Ask for a move an APPROVAL policy holds back.")
class RequestPromotionInput:
    link: str = strawberry.field(description="Linked version id or registry/collection:ref.")
    alias: str | None = strawberry.field(default=None, description="The alias to move to it.")
    stage: str | None = strawberry.field(default=None, description="The stage to assign it.")
    note: str = strawberry.field(default="", description="Why.")


@strawberry.input(description="Approve or reject a promotion request.")
class ReviewPromotionInput:
    request: strawberry.ID = strawberry.field(description="The request's id.")
    approve: bool = strawberry.field(description="True: make the move now; false: reject.")
    note: str = strawberry.field(default="", description="Why.")


@strawberry.type(description="A promotion request after a change.")
class PromotionRequestPayload:
    request: PromotionRequest = strawberry.field(description="The request.")


@strawberry.type
class PromotionRequestQuery:
    @strawberry.field(description="A registry's promotion requests, newest first (its viewers).")
    async def promotion_requests(
        self, info: Info, registry: str, state: PromotionRequestState | None = None
    ) -> list[PromotionRequest]:
        found = await info.context.repos.registries.get_registry(registry)
        requests = await info.context.repos.promotion_requests.in_registry(
            found.id, str(state.value) if state else None
        )
        return [PromotionRequest.from_record(r) for r in requests]


@strawberry.type
class PromotionRequestMutation:
    @strawberry.mutation(
        description="Ask for a move onto an alias or a stage that an APPROVAL policy holds "
        "back (registry members); a second person reviews it (reviewPromotion)."
    )
    async def request_promotion(
        self, info: Info, input: RequestPromotionInput
    ) -> PromotionRequestPayload:
        if (input.alias is None) == (input.stage is None):
            raise BadInput("input", "name the alias or the stage to move (one of them)")
        link_id = await resolve_link(info, input.link, "input.link")
        link, _, registry = await info.context.repos.registries.link_context(link_id)
        if input.stage is not None and input.stage not in registry.stages:
            raise BadInput("input.stage", f"the registry's stages are {', '.join(registry.stages)}")
        kind, target = ("alias", input.alias) if input.alias is not None else ("stage", input.stage)
        assert target is not None
        made = await info.context.repos.promotion_requests.ask(
            link, kind, target, input.note[:10_000], actor=info.context.actor
        )
        return PromotionRequestPayload(request=PromotionRequest.from_record(made))

    @strawberry.mutation(
        description="Approve (the move is made now, every other policy checked again) or "
        "reject a promotion request: a registry member of its approver role, not whoever asked."
    )
    async def review_promotion(
        self, info: Info, input: ReviewPromotionInput
    ) -> PromotionRequestPayload:
        repo = info.context.repos.promotion_requests
        try:
            request = await repo.get(str(input.request))
        except NotFound as exc:
            raise Forbidden(f"reviewPromotion: {str(input.request)!r} is not visible") from exc
        registry = await info.context.repos.registries.find_registry(request.registry_id)
        assert registry is not None
        info.context.access.require_registry(
            registry.name, ROLE_RANK[request.approver_role], "reviewPromotion"
        )
        reviewed = await repo.review(
            request.id, input.approve, input.note[:10_000], actor=info.context.actor
        )
        return PromotionRequestPayload(request=PromotionRequest.from_record(reviewed))


@strawberry.type(description="A linked version that depends on the target, and what it holds.")
class DependentLink:
    id: strawberry.ID = strawberry.field(description="The linked version.")
    name: str = strawberry.field(description="registry/collection:vN.")
    holds: list[str] = strawberry.field(description="Its aliases and stages ('alias production').")


@strawberry.type(
    description="What depends on a version or a linked version: what deleting or deregistering "
    "it would leave without a foundation (only what the caller may read is listed)."
)
class Dependents:
    consuming_runs: list[strawberry.ID] = strawberry.field(description="Runs that used it.")
    downstream_versions: list[strawberry.ID] = strawberry.field(
        description="Committed versions made from it, at any distance."
    )
    linked_versions: list[DependentLink] = strawberry.field(
        description="Live links of it (a version's) and of the versions made from it."
    )
    holds: list[str] = strawberry.field(description="A link's own aliases and stages.")
    total: int = strawberry.field(description="All dependents, readable or not.")


@strawberry.type
class DependentsQuery:
    @strawberry.field(
        description="What depends on a version, a linked version or a collection (id or "
        "reference: project/name:vN, registry/collection:alias, registry/collection): what "
        "deleteArtifactVersion, deregisterLink or deprecateCollection would ask you to confirm."
    )
    async def dependents(self, info: Info, of: strawberry.ID) -> Dependents:
        ref = str(of)
        repos = info.context.repos
        if kind_of(ref) == "Collection" or ("/" in ref and ":" not in ref):
            registry, name = ref.split("/", 1) if "/" in ref else ("", ref)
            collection = await repos.registries.get_collection(registry, name)
            await info.context.access.require_read(collection.id, "dependents")
            found = await repos.policies.collection_dependents(collection.id)
        elif kind_of(ref) == "LinkedVersion" or (
            "/" in ref and await repos.registries.find_registry(ref.split("/", 1)[0])
        ):
            link_id = await resolve_link(info, ref, "of")
            link, _, _ = await repos.registries.link_context(link_id)
            found = await repos.policies.dependents(link.version_id, link_id)
        else:
            version_id = await repos.artifacts.resolve(ref, "of")
            found = await repos.policies.dependents(version_id)
        ids = [*found.consumers, *found.downstream, *(x["id"] for x in found.links)]
        readable = await info.context.access.readable(ids)
        return Dependents(
            consuming_runs=[strawberry.ID(i) for i in found.consumers if i in readable],
            downstream_versions=[strawberry.ID(i) for i in found.downstream if i in readable],
            linked_versions=[
                DependentLink(id=strawberry.ID(x["id"]), name=x["name"], holds=list(x["held"]))
                for x in found.links
                if x["id"] in readable
            ],
            holds=list(found.held),
            total=len(ids) + len(found.held),
        )
