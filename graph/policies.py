"""Promotion policies: rules a registry's admins attach to an alias or a stage, checked in the
transaction of every move onto it (an alias set, a stage assigned, a link made with aliases),
which they refuse with the rule's name and the node at fault.

Rules:
- UPSTREAM_HEALTHY: every version upstream of the candidate (through the runs that made it,
  the versions they used, and so on) is committed, not deleted, and linked in no deprecated
  collection: a model trained on withdrawn data cannot reach production.
- PRIOR: the candidate held another stage or alias of its collection first (staging before
  production), at any time before.
- METRIC: a summary metric of the run that produced the candidate meets a threshold
  (`acc >= 0.9`); a candidate with no producing run, or no such metric, is refused.
- APPROVAL: a second person approves. The move itself is refused; `requestPromotion` asks
  for it, and a registry member of the policy's role other than whoever asked approves
  (the move is then made, in the approval's transaction, with every other policy checked
  again) or rejects it (graph.repository.policies).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, LiteralString

from graph.errors import Conflict
from graph.repository.base import Tx

OPERATORS: Final[Mapping[str, tuple[str, Callable[[float, float], bool]]]] = {
    "GTE": (">=", operator.ge),
    "GT": (">", operator.gt),
    "LTE": ("<=", operator.le),
    "LT": ("<", operator.lt),
    "EQ": ("==", operator.eq),
}


@dataclass(frozen=True, slots=True)
class Approval:
    """An approved promotion request, the move it allows recorded in the move's event."""

    request: str
    requested_by: str
    approved_by: str


def approved(approval: Approval | None) -> dict[str, Any]:
    """What a move's event records of the approval it was made under (nothing without)."""
    if approval is None:
        return {}
    return {
        "approval": {
            "request": approval.request,
            "requestedBy": approval.requested_by,
            "approvedBy": approval.approved_by,
        }
    }


class PolicyViolation(Conflict):
    """A move a promotion policy refuses: names the policy and the node at fault."""

    def __init__(self, policy: str, node: str | None, message: str) -> None:
        super().__init__(message)
        self.policy = policy
        self.node = node


# The policies on one alias or stage of a registry.
POLICIES_ON: Final[LiteralString] = """
MATCH (p:Policy {registryId: $registry_id, kind: $kind, target: $target})
WHERE NOT p.deleted
RETURN p {.*} AS policy
ORDER BY p.createdAt, p.id
"""

# The first version upstream of $version that is not healthy, and why (null: all are).
UNHEALTHY_UPSTREAM: Final[LiteralString] = """
MATCH (v:ArtifactVersion {id: $version})
OPTIONAL MATCH (v) (()<-[:PRODUCED]-(:Run)-[:CONSUMED]->(:ArtifactVersion))+ (u)
WITH DISTINCT u WHERE u IS NOT NULL
WITH u,
     CASE WHEN u.state <> 'COMMITTED' THEN toLower(u.state) END AS state,
     COLLECT {
       MATCH (l:Link {versionId: u.id})<-[:HAS_LINK]-(c:Collection {deprecated: true})
       MATCH (r:Registry {id: c.registryId})
       RETURN r.name + '/' + c.name
     } AS deprecated
WHERE state IS NOT NULL OR size(deprecated) > 0
RETURN u.id AS id, u.project + '/' + u.artifact + ':' +
       CASE WHEN u.index IS NULL THEN 'pending' ELSE 'v' + toString(u.index) END AS name,
       state, deprecated
LIMIT 1
"""

HELD_BEFORE: Final[LiteralString] = """
RETURN EXISTS { MATCH (a:Assignment {linkId: $link, kind: $kind, name: $name}) } AS held
"""

PRODUCER_SUMMARY: Final[LiteralString] = """
OPTIONAL MATCH (r:Run)-[:PRODUCED]->(:ArtifactVersion {id: $version})
RETURN r.id AS run, r.name AS name, r.summary AS summary
"""


async def enforce(
    tx: Tx,
    *,
    approved: bool,
    registry_id: str,
    kind: str,
    target: str,
    link_id: str | None,
    version_id: str,
    candidate: str,
    policies: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Raise PolicyViolation when a policy on `kind` `target` (alias or stage) of the registry
    refuses the candidate (`candidate` names it in messages). `approved`: the move is made by
    the approval of a request, which APPROVAL policies ask for. `policies`: those on the
    target, when the caller read them already (oldest first, as POLICIES_ON orders them)."""
    if policies is None:
        result = await tx.run(POLICIES_ON, registry_id=registry_id, kind=kind, target=target)
        policies = [row["policy"] async for row in result]
    for policy in policies:
        if policy["rule"] == "APPROVAL":
            if not approved:
                raise PolicyViolation(
                    str(policy["name"]),
                    link_id or version_id,
                    f"policy {policy['name']!r} refuses {kind} {target!r} for {candidate} "
                    f"until a registry {policy['approverRole']} other than whoever asks "
                    f"approves it: ask with requestPromotion(input: {{link: ..., {kind}: "
                    f"{target!r}}})",
                )
            continue
        await _check(tx, policy, kind, target, link_id, version_id, candidate)


async def _check(
    tx: Tx,
    policy: Mapping[str, Any],
    kind: str,
    target: str,
    link_id: str | None,
    version_id: str,
    candidate: str,
) -> None:
    name = str(policy["name"])
    refused = f"policy {name!r} refuses {kind} {target!r} for {candidate}"
    if policy["rule"] == "UPSTREAM_HEALTHY":
        row = await (await tx.run(UNHEALTHY_UPSTREAM, version=version_id)).single()
        if row is not None:
            why = (
                f"it is {row['state']}"
                if row["state"]
                else f"it is linked in the deprecated {', '.join(row['deprecated'])}"
            )
            raise PolicyViolation(name, row["id"], f"{refused}: upstream {row['name']}: {why}")
    elif policy["rule"] == "PRIOR":
        held = False
        if link_id is not None:
            row = await (
                await tx.run(
                    HELD_BEFORE, link=link_id, kind=policy["priorKind"], name=policy["prior"]
                )
            ).single(strict=True)
            held = bool(row["held"])
        if not held:
            raise PolicyViolation(
                name,
                link_id or version_id,
                f"{refused}: it must hold the {policy['priorKind']} {policy['prior']!r} first",
            )
    elif policy["rule"] == "METRIC":
        row = await (await tx.run(PRODUCER_SUMMARY, version=version_id)).single(strict=True)
        key, op, threshold = str(policy["metric"]), str(policy["op"]), float(policy["threshold"])
        symbol, compare = OPERATORS[op]
        if row["run"] is None:
            raise PolicyViolation(
                name, version_id, f"{refused}: no run produced it, so it has no {key}"
            )
        value = json.loads(row["summary"] or "{}").get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            raise PolicyViolation(
                name, row["run"], f"{refused}: its run {row['name']!r} has no {key} in its summary"
            )
        if not compare(float(value), threshold):
            raise PolicyViolation(
                name,
                row["run"],
                f"{refused}: its run {row['name']!r} has {key} = {value}, "
                f"not {symbol} {threshold:g}",
            )
