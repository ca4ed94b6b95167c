"""Who may do what: API keys, principals, and every authorization rule, in one place.

Roles:
- org admin: everything, including creating registries, users and service accounts.
- registry viewer: read the registry's collections, links (and the versions they link),
  lineage through them and their history.
- registry member: also create and update collections, link, deregister and restore, set
  and remove aliases that are not protected, set semvers, assign and unassign stages.
- registry admin: also protected aliases, deprecate/restore collections, the registry's
  membership.
- project member: read and write the project's runs and artifacts. Whoever creates a project
  (also by logging into a new one) is its first member; members add others.

Every root field of the schema has exactly one rule in RULES, applied by `guard_root_fields`
before its resolver runs; a field without a rule is refused. Objects reached through nested
fields that cross into another scope (a version's producing run, a run's inputs, lineage
nodes) are filtered with `Access.can_read` / `Access.readable`, the same decision.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cachetools import TLRUCache
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from api.errors import Unauthenticated, log_refusal
from api.settings import Settings
from graph.errors import JOIN_PROJECT, Forbidden
from graph.ids import kind_of
from graph.records import Principal, Scope
from graph.refs import parse_link_ref, parse_version_ref
from graph.repository.access import AccessRepository

log = logging.getLogger("forebear.access")

KEY_PREFIX: Final = "fbk_"
ROLE_RANK: Final = {"viewer": 1, "member": 2, "admin": 3}
VIEWER, MEMBER, ADMIN = 1, 2, 3
# Principals kept per process; each is re-checked against Neo4j after FOREBEAR_AUTH_CACHE_TTL.
AUTH_CACHE_SIZE: Final = 10_000


# The principal of a request that brought no key: it may do nothing.
NOBODY: Final = Principal(
    id="",
    name="anonymous",
    kind="user",
    org_admin=False,
    key_id="",
    projects=frozenset(),
    registries={},
)


def decision_key(principal: Principal) -> tuple[object, ...]:
    """What an access decision may depend on of the caller: who, and every membership it
    reads. Every per-caller cache is keyed by this, so a role removed is a new key."""
    return (
        principal.id,
        principal.org_admin,
        principal.projects,
        frozenset(principal.registries.items()),
    )


def new_key() -> str:
    """A fresh API key: shown to its owner once, never stored."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(settings: Settings, key: str) -> str:
    """HMAC-SHA256 of the key under the server secret: what Neo4j stores and looks up."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


class Authenticator:
    """Turns a bearer key into a Principal, with a short per-process cache."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Key digest -> (trusted until, on the monotonic clock; the principal): each entry
        # lives until its own time, the least recently used going first when full.
        self._cache: TLRUCache[str, tuple[float, Principal]] = TLRUCache(
            maxsize=AUTH_CACHE_SIZE, ttu=lambda _key, value, _now: value[0], timer=time.monotonic
        )

    async def principal(self, repo: AccessRepository, key: str) -> Principal | None:
        digest = key_hash(self._settings, key)
        cached = self._cache.get(digest)
        if cached is not None:
            return cached[1]
        found = await repo.principal_for_key(digest)
        if found is not None and self._settings.auth_cache_ttl > 0:
            now = time.monotonic()
            until = now + self._settings.auth_cache_ttl
            if found.key_expires_at is not None:  # never trusted past the key's expiry
                left = (found.key_expires_at - datetime.now(UTC)).total_seconds()
                until = min(until, now + left)
            if until > now:
                self._cache[digest] = (until, found)
        return found

    def forget(self, principal_id: str | None = None) -> None:
        """Drop cached principals (one, or all): a key, user or membership changed in this
        process (other replicas notice within FOREBEAR_AUTH_CACHE_TTL)."""
        if principal_id is None:
            self._cache.clear()
            return
        for digest in [d for d, (_, p) in list(self._cache.items()) if p.id == principal_id]:
            self._cache.pop(digest, None)


class Access:
    """The caller of one request and the decisions about them; scopes fetched once."""

    def __init__(self, principal: Principal, repo: AccessRepository) -> None:
        self.principal = principal
        self.repo = repo
        self._scopes: dict[str, Scope] = {}

    @property
    def actor(self) -> str:
        return self.principal.name

    # --- decisions --------------------------------------------------------------------------

    def role_in(self, registry: str) -> int:
        if self.principal.org_admin:
            return ADMIN
        return ROLE_RANK.get(self.principal.registries.get(registry, ""), 0)

    def visible_registries(self) -> list[str] | None:
        """The registries the caller holds a role in; None: all of them (org admins)."""
        return None if self.principal.org_admin else sorted(self.principal.registries)

    def in_project(self, project: str | None) -> bool:
        return self.principal.org_admin or (
            project is not None and project in self.principal.projects
        )

    def require_org_admin(self, doing: str) -> None:
        if not self.principal.org_admin:
            raise Forbidden(
                f"{doing}: only org admins may; an org admin can make you one (createUser)"
            )

    def require_registry(self, registry: str, rank: int, doing: str) -> None:
        if self.role_in(registry) < rank:
            role = next(name for name, value in ROLE_RANK.items() if value == rank)
            raise Forbidden(
                f"{doing} in registry {registry!r} needs its {role} role: an org admin or an "
                f"admin of {registry!r} can grant it (setRegistryMember)"
            )

    def require_project(self, project: str, doing: str) -> None:
        if not self.in_project(project):
            raise Forbidden(f"{doing} needs membership of project {project!r}: {JOIN_PROJECT}")

    def visible(self, scope: Scope) -> bool:
        """Whether the caller may read an object that lives in `scope`."""
        if self.principal.org_admin:
            return True
        if scope.project is not None and scope.project in self.principal.projects:
            return True
        if scope.registry is not None and self.role_in(scope.registry) >= VIEWER:
            return True
        if scope.user is not None and scope.user == self.principal.id:
            return True
        return any(self.role_in(r) >= VIEWER for r in scope.linked_in)

    async def scopes(self, ids: Iterable[str]) -> dict[str, Scope]:
        wanted = [i for i in ids if i not in self._scopes]
        if wanted:
            self._scopes.update(await self.repo.scopes(wanted))
        return self._scopes

    async def readable(self, ids: Iterable[str]) -> set[str]:
        """The ids among `ids` the caller may read (missing objects are not readable)."""
        ids = list(ids)
        if self.principal.org_admin:
            return set(ids)
        subjects = _subjects(ids)
        scopes = await self.scopes(subjects.values())
        return {i for i in ids if (s := scopes.get(subjects[i])) is not None and self.visible(s)}

    async def can_read(self, node_id: str) -> bool:
        return node_id in await self.readable([node_id])

    async def require_read(self, node_id: str, doing: str) -> None:
        if not await self.can_read(node_id):
            raise Forbidden(f"{doing}: {node_id!r} is not visible to {self.actor!r}")

    async def require_project_of(self, node_id: str, doing: str) -> None:
        """Membership of the project a run, artifact or version id belongs to."""
        if self.principal.org_admin:
            return
        scope = (await self.scopes([node_id])).get(node_id)
        if scope is None or not self.in_project(scope.project):
            raise Forbidden(f"{doing}: {node_id!r} is not in a project of {self.actor!r}")

    async def require_automation_admin(self, automation_id: str, doing: str) -> None:
        """A registry's (and its collections') automations are its admins' to manage; a
        project's, its members'. An unknown id is refused like one the caller may not see."""
        scope = (await self.scopes([automation_id])).get(automation_id)
        if scope is not None and scope.project is not None:
            self.require_project(scope.project, doing)
        elif scope is not None and scope.registry is not None:
            self.require_registry(scope.registry, ADMIN, doing)
        elif not self.principal.org_admin:
            raise Forbidden(f"{doing}: {automation_id!r} is not visible to {self.actor!r}")

    async def registry_of_link(self, ref: str, field: str) -> str:
        """The registry a linked-version id or registry/collection:selector reference is in."""
        if kind_of(ref) == "LinkedVersion":
            scope = (await self.scopes([ref])).get(ref)
            # Unknown ids get a registry no one holds a role in: refused, nothing revealed.
            return scope.registry if scope and scope.registry else ""
        return parse_link_ref(ref, field)[0]


def _subjects(ids: Iterable[str]) -> dict[str, str]:
    """The object whose scope decides each id: an alias subject is decided by its collection."""
    return {i: i.split(":")[1] if i.startswith("alias:") and i.count(":") >= 2 else i for i in ids}


# --- the rules ---------------------------------------------------------------------------------

Check = Callable[["Access", Mapping[str, Any], str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One access decision and the resolver arguments it reads (dotted paths such as
    `input.registry`): guard_root_fields refuses to start when a path names an argument the
    field's resolver does not receive, so a misnamed argument cannot silently read None."""

    check: Check
    paths: tuple[str, ...] = ()

    async def __call__(self, access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        """Raise Forbidden unless the caller may do `doing` (the operation, for messages)."""
        await self.check(access, kwargs, doing)


def _arg(kwargs: Mapping[str, Any], path: str) -> Any:
    value: Any = kwargs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return value


async def _anyone(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
    """Any authenticated caller; the resolver shows only what they may read."""


async def _org_admin(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
    access.require_org_admin(doing)


anyone: Final = Rule(_anyone)
org_admin: Final = Rule(_org_admin)
# Write into a project: its members, or anyone when it does not exist yet. Decided by the
# writing transaction itself (graph.queries.runs.ENSURE_PROJECT), so two callers racing to
# create one project cannot both write into it.
project_or_new: Final = Rule(_anyone)


def project(path: str) -> Rule:
    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        access.require_project(str(_arg(kwargs, path)), doing)

    return Rule(check, (path,))


def project_of(path: str) -> Rule:
    """Membership of the project of the run, artifact or version id at `path`."""

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        await access.require_project_of(str(_arg(kwargs, path)), doing)

    return Rule(check, (path,))


def version_write(path: str) -> Rule:
    """Membership of the project of the version that an id or project/artifact:ref names."""

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        ref = str(_arg(kwargs, path))
        if kind_of(ref) == "ArtifactVersion":
            await access.require_project_of(ref, doing)
        else:
            access.require_project(parse_version_ref(ref, path).project, doing)

    return Rule(check, (path,))


def version_read(path: str) -> Rule:
    """Read the version an id or reference names: its project's members, or viewers of a
    registry that links it (a reference is decided once it resolves, by the resolver)."""

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        ref = str(_arg(kwargs, path))
        if kind_of(ref) == "ArtifactVersion":
            await access.require_read(ref, doing)
        else:
            parsed = parse_version_ref(ref, path)
            access.require_project(parsed.project, doing)

    return Rule(check, (path,))


async def _require_alias(access: Access, registry: str, alias: str) -> None:
    """A protected alias moves only by the registry's admins."""
    protected = await access.repo.protected_aliases(registry) or ()
    if access.role_in(registry) < ADMIN and alias in protected:
        raise Forbidden(
            f"alias {alias!r} is protected in registry {registry!r}: only its admins move it "
            "(an org admin or a registry admin can make you one with setRegistryMember)"
        )


def registry(path: str, rank: int, alias: str | None = None) -> Rule:
    """A role in the registry named at `path`; admin for a protected alias at `alias`."""

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        name = str(_arg(kwargs, path))
        access.require_registry(name, rank, doing)
        if alias is not None:
            await _require_alias(access, name, str(_arg(kwargs, alias)))

    return Rule(check, (path,) if alias is None else (path, alias))


def automation_scope(prefix: str = "") -> Rule:
    """The admins of the registry (and collection) named at `<prefix>registry`, or the members
    of the project at `<prefix>project`: who manages automations there."""
    paths = (f"{prefix}registry", f"{prefix}project")

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        registry_name, project_name = (_arg(kwargs, p) for p in paths)
        if project_name is not None:
            access.require_project(str(project_name), doing)
        elif registry_name is not None:
            access.require_registry(str(registry_name), ADMIN, doing)
        # neither: the resolver says what to name

    return Rule(check, paths)


def automation(path: str) -> Rule:
    """Manage the automation whose id is at `path` (Access.require_automation_admin)."""

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        await access.require_automation_admin(str(_arg(kwargs, path)), doing)

    return Rule(check, (path,))


def link(path: str, rank: int, alias: str | None = None) -> Rule:
    """A role in the registry of the linked version at `path`; admin for a protected alias."""

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        name = await access.registry_of_link(str(_arg(kwargs, path)), path)
        access.require_registry(name, rank, doing)
        if alias is not None:
            await _require_alias(access, name, str(_arg(kwargs, alias)))

    return Rule(check, (path,) if alias is None else (path, alias))


def subject(path: str) -> Rule:
    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        await access.require_read(str(_arg(kwargs, path)), doing)

    return Rule(check, (path,))


def lineage_start(path: str, field: str | None = None) -> Rule:
    """Read where a lineage question starts: a run, version or linked version by id, or a
    reference, decided the way api.schema.lineage._start resolves it (a registry of that
    name first, else a project). `field` is the argument's name in GraphQL, when the
    resolver's differs (`from_` is `from`)."""
    named = field or path

    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        value = str(_arg(kwargs, path))
        if kind_of(value) is not None or "/" not in value or ":" not in value:
            await access.require_read(value, doing)
            return
        first = value.split("/", 1)[0]
        if await access.repo.protected_aliases(first) is not None:
            access.require_registry(first, VIEWER, doing)
        else:
            access.require_project(parse_version_ref(value, named).project, doing)

    return Rule(check, (path,))


def all_of(*rules: Rule) -> Rule:
    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        for each in rules:
            await each(access, kwargs, doing)

    return Rule(check, tuple(p for each in rules for p in each.paths))


def each_link(path: str, rank: int) -> Rule:
    async def check(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
        for i, ref in enumerate(_arg(kwargs, path) or []):
            name = await access.registry_of_link(str(ref), f"{path}[{i}]")
            access.require_registry(name, rank, doing)

    return Rule(check, (path,))


async def _audit_log(access: Access, kwargs: Mapping[str, Any], doing: str) -> None:
    """The org-wide log is for org admins; filtered to one registry, for its viewers."""
    if kwargs.get("registry"):
        access.require_registry(str(kwargs["registry"]), VIEWER, doing)
    elif not access.principal.org_admin:
        mine = access.visible_registries() or []
        yours = f"yours: {', '.join(mine)}" if mine else "you hold a role in none"
        raise Forbidden(
            f"{doing} without a registry: only org admins read the whole log; name a registry "
            f"you hold a role in ({yours})"
        )


audit_log: Final = Rule(_audit_log, ("registry",))


RULES: Final[Mapping[str, Rule]] = {
    # server and identity
    "server_info": anyone,
    "viewer": anyone,
    "users": org_admin,
    "create_user": org_admin,
    "create_api_key": anyone,  # for oneself; org admins also for service accounts (resolver)
    "revoke_api_key": anyone,  # one's own keys; org admins any (resolver)
    "node": anyone,  # null unless readable (resolver)
    # projects, runs, artifacts
    "project": project("name"),
    "projects": anyone,  # an org admin's all, anyone else's their own (resolver)
    "runs": project("project"),
    "artifacts": project("project"),
    "artifact": project("project"),
    "run": project_of("id"),
    "artifact_version": version_read("ref"),
    "versions_with_blob": anyone,  # only versions the caller may read (resolver)
    "create_project": anyone,
    "set_project_member": anyone,  # org admins and the project's members (resolver)
    "start_run": project_or_new,
    "create_artifact_version": project_or_new,
    "update_run": project_of("input.run"),
    "log_metrics": project_of("input.run"),
    "finish_run": project_of("input.run"),
    "heartbeat_run": project_of("input.run"),
    "alert_run": project_of("input.run"),
    "commit_artifact_version": project_of("input.version"),
    "use_artifact_version": all_of(project_of("input.run"), version_read("input.version")),
    "set_artifact_alias": version_write("input.version"),
    "remove_artifact_alias": project("input.project"),
    "delete_artifact_version": version_write("input.version"),
    "restore_artifact_version": version_write("input.version"),
    # registries
    "registries": anyone,  # those the caller has a role in (resolver)
    "registry": registry("name", VIEWER),
    "collection": registry("registry", VIEWER),
    "collections": anyone,  # in registries the caller has a role in (resolver)
    "linked_version": link("ref", VIEWER),
    "create_registry": org_admin,
    "import_registry_changes": org_admin,  # each change acts as the source's actor
    "imported_keys": org_admin,
    "set_registry_member": registry("input.registry", ADMIN),
    "remove_registry_member": registry("input.registry", ADMIN),
    "create_collection": registry("input.registry", MEMBER),
    "update_collection": registry("input.registry", MEMBER),
    "deprecate_collection": registry("input.registry", ADMIN),
    "restore_collection": registry("input.registry", ADMIN),
    "link_version": all_of(registry("input.registry", MEMBER), version_read("input.version")),
    "deregister_link": link("input.link", MEMBER),
    "restore_link": link("input.link", MEMBER),
    "set_collection_alias": link("input.link", MEMBER, alias="input.alias"),
    "remove_collection_alias": registry("input.registry", MEMBER, alias="input.alias"),
    "set_semver": link("input.link", MEMBER),
    "assign_stage": link("input.link", MEMBER),
    "unassign_stage": link("input.link", MEMBER),
    # promotion policies
    "promotion_policies": registry("registry", VIEWER),
    "create_promotion_policy": registry("input.registry", ADMIN),
    "delete_promotion_policy": registry("input.registry", ADMIN),
    "promotion_requests": registry("registry", VIEWER),
    "dependents": lineage_start("of"),
    "request_promotion": link("input.link", MEMBER),
    "review_promotion": anyone,  # the request's approver role in its registry (resolver)
    # automations
    "automations": automation_scope(),
    "automation": automation("id"),
    "create_automation": automation_scope("input.scope."),
    "update_automation": automation("input.automation"),
    "delete_automation": automation("input.automation"),
    "test_automation": automation("input.automation"),
    "redeliver_webhook": anyone,  # the admins of the delivery's automation (resolver)
    # history and lineage
    "history": subject("subject"),
    "audit_log": audit_log,
    "verify_audit_log": org_admin,
    "compare": each_link("links", VIEWER),
    "lineage": lineage_start("of"),
    "impact": lineage_start("of"),
    "provenance": link("of", VIEWER),
    "derivation": all_of(lineage_start("from_", "from"), lineage_start("to")),
    "lineage_diff": all_of(lineage_start("a"), lineage_start("b")),
}


# --- enforcement -------------------------------------------------------------------------------


def refused(access: Access | None, operation: str, reason: str) -> None:
    """Log a refusal made outside GraphQL (the byte routes, the HTTP gate); GraphQL's are
    logged by api.errors.ErrorCodes, whichever code raised them."""
    log_refusal(access.actor if access else None, operation, reason)


class Authorize(FieldExtension):
    """Applies a root field's rule before its resolver runs; no rule, no access."""

    def __init__(self, operation: str, rule: Rule | None, doing: str | None = None) -> None:
        super().__init__()
        self.operation = operation
        self.rule = rule
        self.doing = doing or operation  # the field's GraphQL name, for refusal messages

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self.operation}: root fields must be async to be authorized")

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        access: Access = info.context.access
        if access.principal is NOBODY:
            raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
        if self.rule is None:
            raise Forbidden(f"{self.doing} has no access rule")
        await self.rule(access, kwargs, self.doing)
        return await next_(source, info, **kwargs)


def _fields_of(type_: Any) -> dict[str, Any]:
    """Python name -> type of the fields of a strawberry input type ({} for scalars)."""
    while hasattr(type_, "of_type"):  # Optional[...] and lists
        type_ = type_.of_type
    definition = getattr(type_, "__strawberry_definition__", None)
    return {f.python_name: f.type for f in definition.fields} if definition else {}


def unknown_paths(field: StrawberryField, rule: Rule) -> list[str]:
    """The paths `rule` reads that name no argument (or input field) `field` receives."""
    wrong = []
    for path in rule.paths:
        known = {a.python_name: a.type for a in field.arguments}
        for part in path.split("."):
            if part not in known:
                wrong.append(path)
                break
            known = _fields_of(known[part])
    return wrong


def guard_root_fields(*types: type) -> None:
    """Put every root field of `types` behind its rule in RULES (or behind a refusal); a rule
    that reads an argument its field does not have stops the server here, at import."""
    for type_ in types:
        fields: list[StrawberryField] = type_.__strawberry_definition__.fields  # type: ignore[attr-defined]
        for field in fields:
            if any(isinstance(e, Authorize) for e in field.extensions):
                continue
            rule = RULES.get(field.python_name)
            if rule is not None and (wrong := unknown_paths(field, rule)):
                raise TypeError(
                    f"the access rule of {field.python_name} reads {wrong}: no such argument"
                )
            doing = field.graphql_name or to_camel_case(field.python_name)
            field.extensions.append(Authorize(field.python_name, rule, doing))
