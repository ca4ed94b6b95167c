"""Registries, collections and links: link, alias, semver, stage, deprecate, and resolution
(also as of a past time). Every change to a collection queues behind the collection's lock."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, LiteralString, cast

import semver
from neo4j import AsyncDriver
from neo4j.exceptions import ConstraintError

from graph.dependents import HasDependents, collection_dependents, link_dependents
from graph.errors import Conflict, Invalid, NotFound
from graph.events import Change, new_event, write_event
from graph.ids import new_id
from graph.importing import IMPORTING, clock
from graph.policies import Approval, approved, enforce
from graph.queries import registries as q
from graph.read_cache import ReadCache
from graph.records import (
    Collection,
    Link,
    Page,
    Registry,
    from_millis,
    instant,
    required_instant,
)
from graph.refs import ALIAS_RE, INDEX_RE
from graph.repository.artifacts import version_from
from graph.repository.base import COLLECTION_TURNS, Repository, Tx

LATEST: Final = "latest"
DEFAULT_STAGES: Final = ("dev", "staging", "production")
DEFAULT_PROTECTED: Final = ("production",)
DEFAULT_REGISTRIES: Final = {
    "model": ("Models promoted for use across the organisation.", ("model",)),
    "dataset": ("Datasets curated for use across the organisation.", ("dataset",)),
}
ROLES: Final = ("viewer", "member", "admin")


def registry_from(node: Mapping[str, Any]) -> Registry:
    return Registry(
        id=node["id"],
        name=node["name"],
        description=node.get("description") or "",
        allowed_types=tuple(node.get("allowedTypes") or ()),
        stages=tuple(node["stages"]),
        protected_aliases=tuple(node.get("protectedAliases") or ()),
        created_at=required_instant(node["createdAt"]),
    )


def collection_from(node: Mapping[str, Any], registry: Mapping[str, Any]) -> Collection:
    return Collection(
        id=node["id"],
        registry_id=registry["id"],
        registry=registry["name"],
        name=node["name"],
        description=node.get("description") or "",
        tags=tuple(node.get("tags") or ()),
        types=tuple(node.get("types") or ()),
        deprecated=bool(node.get("deprecated")),
        deprecated_at=instant(node.get("deprecatedAt")),
        created_at=required_instant(node["createdAt"]),
    )


def link_from(node: Mapping[str, Any]) -> Link:
    """A link from the map queries.registries._LINK_MAP makes."""
    held = sorted((kind, name) for kind, name in node["held"] if kind is not None)
    linked_at = from_millis(node["linkedAt"])
    assert linked_at is not None
    return Link(
        id=node["id"],
        collection_id=node["collectionId"],
        registry_id=node["registryId"],
        version_id=node["versionId"],
        index=node["index"],
        semver=node.get("semver"),
        state=node["state"],
        linked_at=linked_at,
        unlinked_at=from_millis(node.get("unlinkedAt")),
        linked_by=node.get("actor"),
        aliases=tuple(name for kind, name in held if kind == "alias"),
        stages=tuple(name for kind, name in held if kind == "stage"),
        version=version_from(node["version"]) if node.get("version") else None,
        state_changes=tuple(
            t for t in (from_millis(m) for m in node.get("stateChanges") or ()) if t is not None
        ),
    )


def alias_subject(collection_id: str, alias: str) -> str:
    """The id under which an alias of a collection has a history of its own."""
    return f"alias:{collection_id}:{alias}"


def semver_key(label: str) -> semver.Version:
    return semver.Version.parse(label)


LINK_BYTES: Final = 500  # a kept Link, as graph.read_cache counts it
VERSION_BYTES: Final = 1_500  # its artifact version (metadata included), an estimate


class RegistryRepository(Repository):
    def __init__(self, driver: AsyncDriver, database: str, cache: ReadCache | None = None):
        super().__init__(driver, database)
        self.cache = cache  # the process's kept reads (graph.read_cache), if it keeps any

    # --- registries -------------------------------------------------------------------------

    async def ensure_defaults(self) -> None:
        """Create the `model` and `dataset` registries if they do not exist (idempotent)."""
        for name, (description, types) in DEFAULT_REGISTRIES.items():
            await self._write(
                functools.partial(
                    _ensure_registry,
                    name=name,
                    description=description,
                    allowed_types=types,
                    stages=DEFAULT_STAGES,
                    protected_aliases=DEFAULT_PROTECTED,
                    actor="system",
                    fail=False,
                )
            )

    async def create_registry(
        self,
        name: str,
        *,
        description: str,
        allowed_types: Sequence[str],
        stages: Sequence[str],
        protected_aliases: Sequence[str],
        actor: str,
    ) -> Registry:
        """Create a custom registry; raise Conflict if the name is taken."""
        return await self._write(
            functools.partial(
                _ensure_registry,
                name=name,
                description=description,
                allowed_types=allowed_types,
                stages=stages,
                protected_aliases=protected_aliases,
                actor=actor,
                fail=True,
            )
        )

    async def find_registry(self, name: str) -> Registry | None:
        async def work(tx: Tx) -> Registry | None:
            row = await (await tx.run(q.GET_REGISTRY, name=name)).single()
            return registry_from(row["registry"]) if row else None

        return await self._read(work)

    async def get_registry(self, name: str) -> Registry:
        found = await self.find_registry(name)
        if found is None:
            raise NotFound("registry", name)
        return found

    async def list_registries(self) -> list[Registry]:
        async def work(tx: Tx) -> list[Registry]:
            return [registry_from(row["registry"]) async for row in await tx.run(q.LIST_REGISTRIES)]

        return await self._read(work)

    async def set_member(self, registry: str, principal: str, role: str, *, actor: str) -> None:
        """Give `principal` a role in the registry (stored now, enforced by access control)."""
        target = await self.get_registry(registry)

        async def work(tx: Tx) -> None:
            row = await (
                await tx.run(
                    q.SET_MEMBER,
                    registry_id=target.id,
                    principal=principal,
                    role=role,
                    now=clock(),
                )
            ).single()
            if row is None:
                raise NotFound("user", principal)
            await write_event(
                tx,
                Change(
                    "registry.member_set",
                    actor=actor,
                    subjects=[target.id],
                    registry=target.id,
                    before={"principal": principal, "role": row["previous"]},
                    after={"principal": principal, "role": role},
                ),
            )

        await self._write(work)

    async def remove_member(self, registry: str, principal: str, *, actor: str) -> None:
        """Take away `principal`'s role in the registry; NotFound when they hold none."""

        async def work(tx: Tx) -> None:
            row = await (
                await tx.run(q.REMOVE_MEMBER, registry=registry, principal=principal)
            ).single()
            if row is None:
                raise NotFound("member", f"{registry}/{principal}")
            await write_event(
                tx,
                Change(
                    "registry.member_removed",
                    actor=actor,
                    subjects=[row["registry_id"], row["user_id"]],
                    registry=row["registry_id"],
                    before={"principal": principal, "role": row["role"]},
                ),
            )

        await self._write(work)

    async def members(self, registry_id: str) -> list[tuple[str, str]]:
        async def work(tx: Tx) -> list[tuple[str, str]]:
            result = await tx.run(q.MEMBERS, registry_id=registry_id)
            return [(row["principal"], row["role"]) async for row in result]

        return await self._read(work)

    # --- collections ------------------------------------------------------------------------

    async def create_collection(
        self,
        registry: str,
        name: str,
        *,
        description: str,
        tags: Sequence[str],
        types: Sequence[str],
        actor: str,
    ) -> Collection:
        """Create a collection (a registered model); raise Conflict if the name is taken."""
        target = await self.get_registry(registry)
        bad = [t for t in types if target.allowed_types and t not in target.allowed_types]
        if bad:
            raise Invalid(
                "input.types",
                f"registry {target.name!r} accepts only "
                f"{', '.join(target.allowed_types)}, not {bad[0]!r}",
            )

        async def work(tx: Tx) -> Collection:
            collection_id = new_id("col")
            props: dict[str, Any] = {
                "id": collection_id,
                "registryId": target.id,
                "name": name,
                "description": description,
                "tags": sorted(set(tags)),
                "types": sorted(set(types)),
                "deprecated": False,
                "nextIndex": 0,
                "createdAt": clock(),
            }
            try:
                row = await (
                    await tx.run(q.CREATE_COLLECTION, registry_id=target.id, props=props)
                ).single(strict=True)
            except ConstraintError as exc:
                raise Conflict(f"collection {target.name}/{name} already exists") from exc
            await write_event(
                tx,
                Change(
                    "collection.created",
                    actor=actor,
                    subjects=[collection_id, target.id],
                    registry=target.id,
                    after={
                        "name": name,
                        "description": description,
                        "tags": props["tags"],
                        "types": props["types"],
                    },
                ),
            )
            return collection_from(row["collection"], {"id": target.id, "name": target.name})

        return await self._write(work)

    async def update_collection(
        self,
        collection_id: str,
        *,
        name: str | None,
        description: str | None,
        tags: Sequence[str] | None,
        actor: str,
    ) -> Collection:
        """Rename, describe or retag; the former values stay in the event."""

        async def work(tx: Tx) -> Collection:
            before, registry = await _lock_collection(tx, collection_id)
            props: dict[str, Any] = {}
            if name is not None and name != before.name:
                props["name"] = name
            if description is not None:
                props["description"] = description
            if tags is not None:
                props["tags"] = sorted(set(tags))
            try:
                row = await (
                    await tx.run(q.SET_COLLECTION_PROPS, id=collection_id, props=props)
                ).single(strict=True)
            except ConstraintError as exc:
                raise Conflict(f"collection {before.registry}/{name} already exists") from exc
            after = collection_from(row["collection"], registry)
            kind = "collection.renamed" if "name" in props else "collection.updated"
            old = {
                "name": before.name,
                "description": before.description,
                "tags": list(before.tags),
            }
            new = {"name": after.name, "description": after.description, "tags": list(after.tags)}
            await write_event(
                tx,
                Change(
                    kind,
                    actor=actor,
                    subjects=[collection_id],
                    registry=before.registry_id,
                    before={k: v for k, v in old.items() if k in props},
                    after={k: v for k, v in new.items() if k in props},
                ),
            )
            return after

        return await self._write(work)

    async def set_deprecated(
        self,
        collection_id: str,
        deprecated: bool,
        *,
        actor: str,
        confirm_dependents: bool = False,
    ) -> Collection:
        """Deprecate (or restore) a collection; it then takes no new links. Deprecating one
        whose versions hold aliases or stages, were used or had versions made from them is
        refused unless `confirm_dependents`."""

        async def work(tx: Tx) -> Collection:
            before, registry = await _lock_collection(tx, collection_id)
            if before.deprecated == deprecated:
                state = "deprecated" if deprecated else "not deprecated"
                raise Conflict(f"collection {before.registry}/{before.name} is already {state}")
            if deprecated and not confirm_dependents:
                found = await collection_dependents(tx, collection_id)
                if found:
                    name = f"collection {before.registry}/{before.name}"
                    raise HasDependents(name, found, "confirmDependents")
            row = await (
                await tx.run(
                    q.SET_COLLECTION_PROPS,
                    id=collection_id,
                    props={
                        "deprecated": deprecated,
                        "deprecatedAt": clock() if deprecated else None,
                    },
                )
            ).single(strict=True)
            kind = "collection.deprecated" if deprecated else "collection.restored"
            await write_event(
                tx,
                Change(
                    kind,
                    actor=actor,
                    subjects=[collection_id],
                    registry=before.registry_id,
                    before={"deprecated": before.deprecated},
                    after={"deprecated": deprecated},
                ),
            )
            return collection_from(row["collection"], registry)

        return await self._write(work)

    async def find_collection(self, registry: str, name: str) -> Collection | None:
        """A collection by registry and name (or by id), deprecated or not."""

        async def work(tx: Tx) -> Collection | None:
            row = await (await tx.run(q.FIND_COLLECTION, registry=registry, name=name)).single()
            return collection_from(row["collection"], row["registry"]) if row else None

        return await self._read(work)

    async def get_collection(self, registry: str, name: str) -> Collection:
        found = await self.find_collection(registry, name)
        if found is None:
            raise NotFound("collection", f"{registry}/{name}")
        return found

    async def list_collections(
        self,
        *,
        registry: str | None,
        search: str | None,
        tag: str | None,
        type: str | None,
        include_deprecated: bool,
        first: int,
        after: tuple[str, str] | None,
        visible: Sequence[str] | None = None,
        stage: str | None = None,
    ) -> Page[Collection]:
        """Collections by registry and name (with a version in `stage`, if given); only in
        the `visible` registries unless None."""

        async def work(tx: Tx) -> list[Collection]:
            result = await tx.run(
                q.LIST_COLLECTIONS,
                registry=registry,
                visible=list(visible) if visible is not None else None,
                search=search,
                tag=tag,
                type=type,
                stage=stage,
                include_deprecated=include_deprecated,
                after=list(after) if after else None,
                limit=first + 1,
            )
            return [collection_from(row["collection"], row["registry"]) async for row in result]

        found = await self._read(work)
        page = tuple(found[:first])
        return Page(
            page, len(found) > first, f"{page[-1].registry}/{page[-1].name}" if page else None
        )

    # --- links ----------------------------------------------------------------------------

    async def link_version(
        self,
        registry: str,
        collection: str,
        version_id: str,
        *,
        aliases: Sequence[str] = (),
        create_collection: bool = False,
        actor: str,
    ) -> tuple[Link, Collection, Registry, bool]:
        """Bookmark a committed version into the collection (by registry and name, or by id)
        as its next vN, move the collection's `latest` and point `aliases` at it; the link,
        its collection and registry, and whether it is new. A version linked already gets
        its existing link back, and nothing changes. With `create_collection`, a collection
        of that name that does not exist is made in the same transaction (its making is told
        by the link's event: one event per change)."""
        if LATEST in aliases:
            raise Invalid("input.aliases", "'latest' moves by itself on every link")
        aliases = list(dict.fromkeys(aliases))

        async def work(tx: Tx) -> tuple[Link, Collection, Registry, bool]:
            made = False
            if create_collection:
                made = await _ensure_collection(tx, registry, collection)
            row = await (
                await tx.run(
                    q.PREPARE_LINK,
                    registry=registry,
                    name=collection,
                    version_id=version_id,
                    policed=aliases,
                )
            ).single()
            if row is None:
                raise NotFound("collection", f"{registry}/{collection}")
            found, registry_record = (
                collection_from(row["collection"], row["registry"]),
                registry_from(row["registry"]),
            )
            if row["existing"] is not None:
                existing = (await _links(tx, [row["existing"]]))[row["existing"]]
                return existing, found, registry_record, False
            _refuse_deprecated(found)
            _check_linkable(version_id, row["state"], row["type"], registry_record, found)
            for alias, policies in row["policies"]:  # each alias is a move onto it
                await enforce(
                    tx,
                    approved=False,
                    registry_id=found.registry_id,
                    kind="alias",
                    target=alias,
                    link_id=None,
                    version_id=version_id,
                    candidate=f"{found.registry}/{found.name}:v{row['collection']['nextIndex']}",
                    policies=policies,
                )
            link_id = new_id("lnk")
            subjects = [link_id, found.id, version_id]
            subjects += [alias_subject(found.id, a) for a in (LATEST, *aliases)]
            # What only the collection's lock makes certain (the index, the aliases' former
            # holders) is filled in by step 2 (q.CREATE_LINK_WITH_ALIASES), which takes it:
            # writers of the collection take turns for one round trip and the commit.
            mark = uuid.uuid4().hex
            held = [LATEST, *aliases]
            event = new_event(
                Change(
                    "link.created",
                    actor=actor,
                    subjects=list(dict.fromkeys(subjects)),
                    registry=found.registry_id,
                    before={
                        "latest": f"@{mark}:0@",
                        "aliases": {a: f"@{mark}:{i}@" for i, a in enumerate(held) if i},
                    },
                    after={
                        "index": f"@{mark}:index@",
                        "version": version_id,
                        "latest": link_id,
                        "aliases": aliases,
                        **({"collectionCreated": found.name} if made else {}),
                    },
                )
            )
            async with COLLECTION_TURNS.turn(found.id):
                created = await (
                    await tx.run(
                        q.CREATE_LINK_WITH_ALIASES,
                        collection_id=found.id,
                        version_id=version_id,
                        id=link_id,
                        aliases=held,
                        # Read under the lock, unless the change is imported (graph.importing).
                        now=clock() if IMPORTING.get() is not None else None,
                        actor=actor,
                        with_versions=False,
                        event=event,
                        mark=mark,
                    )
                ).single(strict=True)
            if created["existing"] is not None:  # linked meanwhile: that link, nothing new
                existing = (await _links(tx, [created["existing"]]))[created["existing"]]
                return existing, found, registry_record, False
            if created["link"] is None:
                # Deprecated meanwhile, as read under the lock (a version is never removed).
                _refuse_deprecated(
                    dataclasses.replace(found, deprecated=bool(created["deprecated"]))
                )
                raise NotFound("version", version_id)
            return link_from(created["link"]), found, registry_record, True

        return await self._write(work)

    async def set_link_state(
        self, link_id: str, linked: bool, *, actor: str, confirm_dependents: bool = False
    ) -> Link:
        """Deregister (soft; its aliases and stages end) or restore a link."""

        async def work(tx: Tx) -> Link:
            link, collection = await _lock_link(tx, link_id)
            wanted = "LINKED" if linked else "UNLINKED"
            if link.state == wanted:
                name = f"{collection.registry}/{collection.name}:v{link.index}"
                raise Conflict(
                    f"{name} is registered already: nothing to restore"
                    if linked
                    else f"{name} is deregistered already (restoreLink brings it back)"
                )
            if not linked and not confirm_dependents:
                found = await link_dependents(tx, link_id, link.version_id)
                if found:
                    name = f"{collection.registry}/{collection.name}:v{link.index}"
                    raise HasDependents(name, found, "confirmDependents")
            if linked and collection.deprecated:
                raise Conflict(
                    f"collection {collection.registry}/{collection.name} is "
                    "deprecated: restore it first"
                )
            now = clock()
            ended: list[dict[str, Any]] = []
            if not linked:
                for kind in ("alias", "stage"):
                    held = await _end_holdings(tx, collection.id, kind, None, link_id, now)
                    ended += [{"kind": kind, "name": name} for name, _ in held]
            await tx.run(
                q.SET_LINK_STATE,
                id=link_id,
                state=wanted,
                unlinked_at=None if linked else now,
                now=now,
            )
            moved = await _move_latest(tx, collection.id, now, actor)
            await write_event(
                tx,
                Change(
                    "link.restored" if linked else "link.deregistered",
                    actor=actor,
                    subjects=[link_id, collection.id, link.version_id],
                    registry=collection.registry_id,
                    before={"state": link.state, "latest": moved[0], "held": ended},
                    after={"state": wanted, "latest": moved[1]},
                ),
            )
            return (await _links(tx, [link_id]))[link_id]

        return await self._write(work)

    async def set_alias(
        self, link_id: str, alias: str, *, actor: str, approval: Approval | None = None
    ) -> str | None:
        """Point the collection's `alias` at this link in one step; return the former holder
        (the link itself when it held the alias already: then nothing is written)."""
        if alias == LATEST:
            raise Invalid("input.alias", "'latest' moves by itself on every link")

        async def work(tx: Tx) -> str | None:
            return await move_alias(tx, link_id, alias, actor, approval)

        return await self._write(work)

    async def remove_alias(self, collection_id: str, alias: str, *, actor: str) -> str:
        """Remove an alias from a collection; return the link that held it."""
        if alias == LATEST:
            raise Invalid("input.alias", "'latest' is kept by Forebear and cannot be removed")

        async def work(tx: Tx) -> str:
            collection, _ = await _lock_collection(tx, collection_id)
            held = await _end_holdings(tx, collection_id, "alias", alias, None, clock())
            previous = [link for _, link in held]
            if not previous:
                raise NotFound("alias", f"{collection.registry}/{collection.name}:{alias}")
            subject = alias_subject(collection_id, alias)
            await write_event(
                tx,
                Change(
                    "alias.removed",
                    actor=actor,
                    subjects=[previous[0], collection_id, subject],
                    registry=collection.registry_id,
                    before={"alias": alias, "link": previous[0]},
                    after={"alias": alias, "link": None},
                ),
            )
            return previous[0]

        return await self._write(work)

    async def set_semver(self, link_id: str, label: str, *, actor: str) -> Link:
        """Give a link its semantic version, once; unique within the collection."""
        try:
            semver_key(label)
        except ValueError as exc:
            raise Invalid(
                "input.semver",
                f"{label!r} is not a semantic version (MAJOR.MINOR.PATCH[-pre][+build])",
            ) from exc

        async def work(tx: Tx) -> Link:
            row, link, collection = await _link_under_locks(
                tx, q.PREPARE_SEMVER, link_id, semver=label
            )
            _require_linked(link)
            if link.semver is not None:
                raise Conflict(f"link {link_id!r} is {link.semver} already; labels do not move")
            if row["taken"] is not None:
                raise Conflict(f"{collection.registry}/{collection.name}:{label} is taken")
            now = clock()  # before the event's time: `asOf` that time sees the label
            event = new_event(
                Change(
                    "link.semver_set",
                    actor=actor,
                    subjects=[link_id, collection.id],
                    registry=collection.registry_id,
                    after={"semver": label, "index": link.index},
                )
            )
            await tx.run(q.APPLY_SEMVER, link_id=link_id, semver=label, now=now, event=event)
            return (await _links(tx, [link_id]))[link_id]

        return await self._write(work)

    async def assign_stage(
        self,
        link_id: str,
        stage: str,
        assigned: bool,
        *,
        actor: str,
        approval: Approval | None = None,
    ) -> Link:
        """Assign (or unassign) a lifecycle stage; several links may hold one stage."""

        async def work(tx: Tx) -> Link:
            return await apply_stage(tx, link_id, stage, assigned, actor, approval)

        return await self._write(work)

    # --- reads ----------------------------------------------------------------------------

    async def imported_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of the import keys that were imported."""

        async def work(tx: Tx) -> set[str]:
            return {row["key"] async for row in await tx.run(q.IMPORTED_KEYS, keys=list(keys))}

        return await self._read(work)

    async def imported_link(self, key: str) -> str | None:
        """The link the imported LINK change of this key made, if any."""

        async def work(tx: Tx) -> str | None:
            row = await (await tx.run(q.IMPORTED_LINK, key=key)).single()
            return str(row["id"]) if row else None

        return await self._read(work)

    async def resolve_ref(
        self, registry: str, name: str, selector: str, at: datetime | None
    ) -> str | None:
        """The id of the link `selector` names in the collection at `at` (now when None): an
        alias first, then a stage (its most recent holder), then vN, then a semver."""
        link, _, _ = await self.resolve_view(registry, name, selector, at)
        return link.id if link else None

    async def resolve_view(
        self,
        registry: str,
        name: str,
        selector: str,
        at: datetime | None,
        *,
        with_version: bool = False,
    ) -> tuple[Link | None, Collection, Registry]:
        """The link a selector names (None when none), its collection and registry, in one
        query; raise NotFound when there is no such collection. `name` may be its id."""
        by_name = ALIAS_RE.match(selector) and not INDEX_RE.match(selector)
        index = INDEX_RE.match(selector)

        async def work(tx: Tx) -> tuple[Link | None, Collection, Registry]:
            row = await (
                await tx.run(
                    q.RESOLVE_NOW if at is None else q.RESOLVE_AT,
                    registry=registry,
                    name=name,
                    label=selector if by_name else None,
                    index=int(index[1]) if index else None,
                    semver=None if index else selector,
                    at=at,
                    with_versions=with_version,
                )
            ).single()
            if row is None:
                raise NotFound("collection", f"{registry}/{name}")
            link, collection, registry_record = _context(row)
            if link is not None and at is not None:  # its state, aliases and stages then
                held_row = await (await tx.run(q.HELD_AT, link_id=link.id, at=at)).single()
                held = sorted(tuple(pair) for pair in (held_row["held"] if held_row else []))
                link = dataclasses.replace(
                    link,
                    state=link.state_at(at),
                    aliases=tuple(name for kind, name in held if kind == "alias"),
                    stages=tuple(name for kind, name in held if kind == "stage"),
                )
            return link, collection, registry_record

        return await self._read(work)

    async def link_context(
        self, link_id: str, *, with_version: bool = False
    ) -> tuple[Link, Collection, Registry]:
        """A link with its collection and registry, in one query."""

        async def work(tx: Tx) -> tuple[Link | None, Collection, Registry]:
            row = await (
                await tx.run(q.LINK_CONTEXT, id=link_id, with_versions=with_version)
            ).single()
            if row is None:
                raise NotFound("linked version", link_id)
            return _context(row)

        link, collection, found = await self._read(work)
        assert link is not None
        return link, collection, found

    async def latest_semver(self, collection_id: str) -> str | None:
        """The linked link with the highest semantic version (by semver precedence)."""

        async def work(tx: Tx) -> list[tuple[str, str]]:
            result = await tx.run(q.SEMVERS, collection_id=collection_id)
            return [(row["id"], row["semver"]) async for row in result]

        labelled = await self._read(work)
        if not labelled:
            return None
        return max(labelled, key=lambda pair: semver_key(pair[1]))[0]

    async def list_links(
        self,
        collection_id: str,
        *,
        include_unlinked: bool,
        first: int,
        before_index: int | None,
        with_versions: bool = False,
        named: bool = False,
    ) -> tuple[Page[Link], Registry]:
        """A page of a collection's links, newest first (`named`: only those an alias or a
        stage names), and the collection's registry (the kept copy when nothing was committed
        since it was read)."""
        key = ("links", collection_id, include_unlinked, first, before_index, with_versions, named)
        kept = self.cache.kept(key) if self.cache is not None else None

        async def work(tx: Tx) -> tuple[str, tuple[Page[Link], Registry] | None]:
            row = await (
                await tx.run(
                    q.LIST_LINKS,
                    known=kept[0] if kept is not None else "?",  # "?" names no head
                    collection_id=collection_id,
                    include_unlinked=include_unlinked,
                    before=before_index,
                    limit=first + 1,
                    with_versions=with_versions,
                    named=named,
                )
            ).single(strict=True)
            if row["found"] is None:
                return row["head"], None  # the kept copy is current
            if not row["found"]:
                raise NotFound("collection", collection_id)
            found = row["found"][0]
            links = [link_from(node) for node in found["links"]]
            page = tuple(links[:first])
            end = str(page[-1].index) if page else None
            return row["head"], (
                Page(page, len(links) > first, end),
                registry_from(found["registry"]),
            )

        head, result = await self._read(work)
        if result is None:
            assert self.cache is not None
            assert kept is not None
            return cast(tuple[Page[Link], Registry], self.cache.reuse(kept))
        if self.cache is not None:
            # A Link with its tuples and strings takes about 400 bytes in CPython (tracemalloc
            # on a page of 1,000); its version, when asked for, is counted at VERSION_BYTES.
            per_link = LINK_BYTES + (VERSION_BYTES if with_versions else 0)
            self.cache.keep(key, head, result, 2_048 + per_link * len(result[0].items))
        return result


def _context(row: Mapping[str, Any]) -> tuple[Link | None, Collection, Registry]:
    link = row["link"]
    return (
        link_from(link) if link else None,
        collection_from(row["collection"], row["registry"]),
        registry_from(row["registry"]),
    )


async def _ensure_collection(tx: Tx, registry: str, name: str) -> bool:
    """Make the collection `name` in `registry` unless it exists; True when made now. Raise
    NotFound when there is no such registry."""
    props = {
        "id": new_id("col"),
        "description": "",
        "tags": [],
        "types": [],
        "deprecated": False,
        "nextIndex": 0,
        "createdAt": clock(),
    }
    row = await (
        await tx.run(q.ENSURE_COLLECTION, registry=registry, name=name, props=props)
    ).single()
    if row is None:
        raise NotFound("registry", registry)
    return bool(row["made"])


async def _ensure_registry(
    tx: Tx,
    *,
    name: str,
    description: str,
    allowed_types: Sequence[str],
    stages: Sequence[str],
    protected_aliases: Sequence[str],
    actor: str,
    fail: bool,
) -> Registry:
    row = await (
        await tx.run(
            q.ENSURE_REGISTRY,
            name=name,
            id=new_id("reg"),
            description=description,
            allowed_types=list(allowed_types),
            stages=list(stages),
            protected_aliases=list(protected_aliases),
            now=clock(),
        )
    ).single(strict=True)
    registry = registry_from(row["registry"])
    if not row["created"]:
        if fail:
            raise Conflict(f"registry {name!r} already exists")
        return registry
    await write_event(
        tx,
        Change(
            "registry.created",
            actor=actor,
            subjects=[registry.id],
            registry=registry.id,
            after={
                "name": name,
                "description": description,
                "allowed_types": list(allowed_types),
                "stages": list(stages),
                "protected_aliases": list(protected_aliases),
            },
        ),
    )
    return registry


async def _lock_collection(tx: Tx, collection_id: str) -> tuple[Collection, Mapping[str, Any]]:
    row = await (await tx.run(q.LOCK_COLLECTION, id=collection_id)).single()
    if row is None:
        raise NotFound("collection", collection_id)
    return collection_from(row["collection"], row["registry"]), row["registry"]


async def _link_under_locks(
    tx: Tx, query: LiteralString, link_id: str, **params: Any
) -> tuple[Mapping[str, Any], Link, Collection]:
    """Step 1 of a change to one link (a PREPARE_* query): its row, and the link and its
    collection as read under the collection's lock."""
    row = await (await tx.run(query, link_id=link_id, with_versions=False, **params)).single()
    if row is None:
        raise NotFound("linked version", link_id)
    return row, link_from(row["link"]), collection_from(row["collection"], row["registry"])


async def move_alias(
    tx: Tx, link_id: str, alias: str, actor: str, approval: Approval | None
) -> str | None:
    """The work of set_alias, in `tx` (a reviewed promotion request runs it too, `approval`
    naming the request)."""
    row, link, collection = await _link_under_locks(tx, q.PREPARE_ALIAS, link_id, alias=alias)
    _require_linked(link)
    previous: str | None = row["previous"]
    if previous == link_id:  # it holds the alias already: nothing moves, no event
        return previous
    await _guarded(tx, collection, link, "alias", alias, approval)
    subject = alias_subject(collection.id, alias)
    now = clock()  # before the event's time: `asOf` that time sees the move
    # The event is made from what step 1 read under the collection's lock, and written by
    # step 2 with the move: two round trips in all.
    event = new_event(
        Change(
            "alias.set",
            actor=actor,
            subjects=[link_id, collection.id, subject] + ([previous] if previous else []),
            registry=collection.registry_id,
            before={"alias": alias, "link": previous},
            after={"alias": alias, "link": link_id, **approved(approval)},
        )
    )
    await tx.run(
        q.MOVE_ALIAS,
        link_id=link_id,
        alias=alias,
        subject=subject,
        now=now,
        actor=actor,
        event=event,
    )
    return previous


async def apply_stage(
    tx: Tx, link_id: str, stage: str, assigned: bool, actor: str, approval: Approval | None
) -> Link:
    """The work of assign_stage, in `tx` (a reviewed promotion request runs it too)."""
    row, link, collection = await _link_under_locks(tx, q.PREPARE_STAGE, link_id, stage=stage)
    registry = registry_from(row["registry"])
    _require_linked(link)
    added = None
    if stage not in registry.stages and assigned and IMPORTING.get() is not None:
        # An imported history's stages join the registry's (GTO's `prod` beside `production`).
        await tx.run(q.ADD_STAGE, id=registry.id, stage=stage)
        added = stage
    elif stage not in registry.stages:
        raise Invalid(
            "input.stage",
            f"registry {registry.name!r} has the stages "
            f"{', '.join(registry.stages)}, not {stage!r}",
        )
    holders: list[str] = row["holders"]
    if assigned and link_id in holders:
        raise Conflict(f"link {link_id!r} holds {stage!r} already")
    if not assigned and link_id not in holders:
        raise Conflict(f"link {link_id!r} does not hold {stage!r}")
    if assigned:
        await _guarded(tx, collection, link, "stage", stage, approval)
    now = clock()  # before the event's time: `asOf` that time sees it
    # The event is made from what step 1 read under the collection's lock, and written by
    # step 2 with the holding.
    event = new_event(
        Change(
            "stage.assigned" if assigned else "stage.unassigned",
            actor=actor,
            subjects=[link_id, collection.id],
            registry=collection.registry_id,
            after={
                "stage": stage,
                "link": link_id,
                "index": link.index,
                **approved(approval),
                **({"stageAdded": added} if added else {}),
            },
        )
    )
    await tx.run(
        q.APPLY_STAGE,
        link_id=link_id,
        stage=stage,
        assigned=assigned,
        now=now,
        actor=actor,
        event=event,
    )
    return (await _links(tx, [link_id]))[link_id]


async def _guarded(
    tx: Tx, collection: Collection, link: Link, kind: str, name: str, approval: Approval | None
) -> None:
    """Refuse moving `link` onto the alias or stage `name` if a promotion policy forbids it
    (not for an imported change: the past is imported as it happened)."""
    if IMPORTING.get() is not None:
        return
    await enforce(
        tx,
        approved=approval is not None,
        registry_id=collection.registry_id,
        kind=kind,
        target=name,
        link_id=link.id,
        version_id=link.version_id,
        candidate=f"{collection.registry}/{collection.name}:v{link.index}",
    )


async def _lock_link(tx: Tx, link_id: str) -> tuple[Link, Collection]:
    found = await _links(tx, [link_id])
    if link_id not in found:
        raise NotFound("linked version", link_id)
    collection, _ = await _lock_collection(tx, found[link_id].collection_id)
    # Read again under the lock: another transaction may have changed it meanwhile.
    return (await _links(tx, [link_id]))[link_id], collection


def _refuse_deprecated(collection: Collection) -> None:
    if collection.deprecated:
        raise Conflict(
            f"collection {collection.registry}/{collection.name} is deprecated: "
            "it takes no new links"
        )


def _check_linkable(
    version_id: str, state: str | None, type: str | None, registry: Registry, collection: Collection
) -> None:
    """Refuse a version that is missing, not committed, or of a type not accepted here."""
    if state is None:
        raise NotFound("version", version_id)
    if state != "COMMITTED":
        raise Conflict(f"version {version_id!r} is {state}: only committed versions can be linked")
    if registry.allowed_types and type not in registry.allowed_types:
        raise Invalid(
            "input.version",
            f"registry {registry.name!r} accepts {', '.join(registry.allowed_types)}, not {type!r}",
        )
    if collection.types and type not in collection.types:
        raise Invalid(
            "input.version",
            f"collection {collection.name!r} accepts {', '.join(collection.types)}, not {type!r}",
        )


def _require_linked(link: Link) -> None:
    if link.state != "LINKED":
        raise Conflict(f"link {link.id!r} is deregistered: restore it first")


async def _end_holdings(
    tx: Tx,
    collection_id: str,
    kind: str,
    name: str | None,
    link_id: str | None,
    now: datetime,
) -> list[tuple[str, str]]:
    """End the open assignments that match; (name, link id) of each."""
    result = await tx.run(
        q.END_ASSIGNMENTS,
        collection_id=collection_id,
        kind=kind,
        name=name,
        link_id=link_id,
        now=now,
    )
    return [(row["name"], row["link_id"]) async for row in result]


async def _point_alias(
    tx: Tx,
    collection_id: str,
    alias: str,
    link_id: str | None,
    now: datetime,
    actor: str,
) -> str | None:
    """End the alias's current holding and, unless `link_id` is None, start one for it;
    return the former holder."""
    previous = await _end_holdings(tx, collection_id, "alias", alias, None, now)
    if link_id is not None:
        await tx.run(
            q.START_ASSIGNMENT,
            collection_id=collection_id,
            kind="alias",
            name=alias,
            link_id=link_id,
            now=now,
            actor=actor,
        )
    await tx.run(q.ENSURE_ALIAS_SUBJECT, id=alias_subject(collection_id, alias))
    return previous[0][1] if previous else None


async def _move_latest(
    tx: Tx, collection_id: str, now: datetime, actor: str
) -> tuple[str | None, str | None]:
    """Point `latest` at the newest linked link (or nowhere); (before, after) link ids."""
    newest = await (await tx.run(q.NEWEST_LINKED, collection_id=collection_id)).single()
    current = newest["id"] if newest else None
    return await _point_alias(tx, collection_id, LATEST, current, now, actor), current


async def _links(tx: Tx, ids: Sequence[str]) -> dict[str, Link]:
    row = await (await tx.run(q.GET_LINKS, ids=list(ids), with_versions=False)).single(strict=True)
    return {node["id"]: link_from(node) for node in row["links"]}
