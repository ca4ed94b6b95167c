"""What an automation listens for: the triggers an audit event sets off, and the scopes it
belongs to, computed when the event is made. The event's own transaction (graph.events.
EVENT_CLAUSE) writes an outbox row when some active automation hears it; which ones do is
worked out when a webhook worker first takes the row (graph.queries.automations.OUTBOX_HEAD),
so a change pays for one match however many automations listen.

An automation names triggers (VERSION_LINKED, ALIAS_SET, ...) rather than event types: one
change may set off several (linking a version with `aliases: [production]` is a link and an
alias move), and project and registry aliases answer to the same trigger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, LiteralString

from graph.openlineage import STATUS

# Trigger -> what it means, for the schema's enum descriptions.
TRIGGERS: Final[Mapping[str, str]] = {
    "VERSION_COMMITTED": "An artifact version was committed in a project.",
    "VERSION_DELETED": "An artifact version was deleted (soft).",
    "VERSION_LINKED": "A version was linked into a collection.",
    "ALIAS_SET": "An alias was added or moved (also by linking with aliases).",
    "ALIAS_REMOVED": "An alias was removed.",
    "STAGE_ASSIGNED": "A linked version was assigned a stage.",
    "STAGE_UNASSIGNED": "A linked version left a stage.",
    "SEMVER_SET": "A linked version was given its semantic version.",
    "DEREGISTERED": "A linked version was deregistered.",
    "LINK_RESTORED": "A deregistered linked version was restored.",
    "COLLECTION_DEPRECATED": "A collection was deprecated.",
    "COLLECTION_RESTORED": "A collection's deprecation was undone.",
    "RUN_FINISHED": "A run in the project ended: finished, failed or crashed (OpenLineage too).",
    "RUN_ALERT": "A run in the project raised an alert (W&B's run.alert).",
}

_BY_TYPE: Final[Mapping[str, str]] = {
    "artifact_version.committed": "VERSION_COMMITTED",
    "artifact_version.deleted": "VERSION_DELETED",
    "link.created": "VERSION_LINKED",
    "alias.set": "ALIAS_SET",
    "artifact_alias.set": "ALIAS_SET",
    "alias.removed": "ALIAS_REMOVED",
    "artifact_alias.removed": "ALIAS_REMOVED",
    "stage.assigned": "STAGE_ASSIGNED",
    "stage.unassigned": "STAGE_UNASSIGNED",
    "link.semver_set": "SEMVER_SET",
    "link.deregistered": "DEREGISTERED",
    "link.restored": "LINK_RESTORED",
    "collection.deprecated": "COLLECTION_DEPRECATED",
    "collection.restored": "COLLECTION_RESTORED",
    "run.alert": "RUN_ALERT",
}

# The triggers each kind of scope hears. A project's events (its versions, artifact aliases and
# runs) name no registry, and a registry's (links, collection aliases, stages, collections) no
# project: an automation listening for one of the others would never fire.
PROJECT_TRIGGERS: Final = frozenset(
    {"VERSION_COMMITTED", "VERSION_DELETED", "ALIAS_SET", "ALIAS_REMOVED"}
    | {"RUN_FINISHED", "RUN_ALERT"}
)
REGISTRY_TRIGGERS: Final = frozenset(TRIGGERS) - PROJECT_TRIGGERS | {"ALIAS_SET", "ALIAS_REMOVED"}


def heard_by(scope_kind: str) -> frozenset[str]:
    """The triggers an automation of `scope_kind` (registry, collection, project) can hear."""
    return PROJECT_TRIGGERS if scope_kind == "project" else REGISTRY_TRIGGERS


# Which triggers an automation's alias pattern filters (the others fire whatever the alias).
ALIAS_TRIGGERS: Final = ("ALIAS_SET", "ALIAS_REMOVED")


def project_scope(project: str) -> str:
    """The scope key of a project (registries and collections are keyed by their ids)."""
    return f"project:{project}"


def ended_status(type: str, after: Mapping[str, Any] | None) -> str | None:
    """The status a run ended with (FINISHED, FAILED or CRASHED) when an event of `type` ends
    one: finishRun's, or an OpenLineage COMPLETE, FAIL or ABORT."""
    after = after or {}
    if type == "run.finished":
        return str(after["status"])
    if type == "openlineage.run_event":
        status = STATUS.get(str(after.get("eventType")))
        return status if status not in (None, "RUNNING") else None
    return None


def triggers_of(type: str, after: Mapping[str, Any] | None) -> tuple[list[str], list[str]]:
    """The triggers an event of `type` sets off, and the alias names it moved."""
    if ended_status(type, after) is not None:
        return ["RUN_FINISHED"], []
    trigger = _BY_TYPE.get(type)
    if trigger is None:
        return [], []
    after = after or {}
    if trigger == "VERSION_LINKED":
        aliases = [str(a) for a in after.get("aliases") or []]
        return (["VERSION_LINKED", "ALIAS_SET"] if aliases else ["VERSION_LINKED"]), aliases
    if trigger in ALIAS_TRIGGERS:
        return [trigger], [str(after["alias"])] if after.get("alias") else []
    return [trigger], []


# Whether the automation `a` hears an event with the variables `scopes`, `triggers` and `aliases`
# (the outbox_fields of the event): in its scope, active, listening for one of the triggers,
# and for alias triggers, with an alias its pattern matches.
HEARS: Final[LiteralString] = """
a.scopeKey IN scopes AND a.active
AND any(t IN triggers WHERE t IN a.events AND (a.aliasRegex IS NULL
    OR NOT t IN ['ALIAS_SET', 'ALIAS_REMOVED']
    OR any(x IN aliases WHERE x =~ a.aliasRegex)))
"""


def outbox_fields(
    type: str,
    subjects: Sequence[str],
    registry: str | None,
    project: str | None,
    after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The event map's keys EVENT_CLAUSE matches automations with (not stored, not hashed)."""
    triggers, aliases = triggers_of(type, after)
    scopes = [
        *subjects,
        *([registry] if registry else []),
        *([project_scope(project)] if project else []),
    ]
    return {"triggers": triggers, "aliases": aliases, "scopes": scopes if triggers else []}


def alias_regex(pattern: str) -> str:
    """The regular expression (as Cypher's =~ reads it, whole string) of a glob such as
    `prod*` or `v?-candidate`: `*` any run of characters, `?` one, the rest literal."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)
