"""Importing another registry's history (GTO tags, MLflow transitions) as Forebear changes that
keep their original actors and times (graph.events.IMPORTING): org admins only, since the
actor of each change is the one the source names."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

import strawberry
from neo4j.exceptions import ConstraintError

from api.context import Info
from api.errors import BadInput
from api.inputs import AliasIn, NewCollectionIn, parse
from api.schema.registries import LinkedVersion, load_linked
from graph.errors import Conflict, GraphError, NotFound
from graph.importing import IMPORTING, Imported
from graph.repository.idempotency import CLAIM
from graph.repository.registries import RegistryRepository


@strawberry.enum(description="What an imported change does.")
class ImportedChangeKind(Enum):
    LINK = strawberry.enum_value(
        "LINK", description="Link `version` as the next vN (with `semver`)."
    )
    ASSIGN_STAGE = strawberry.enum_value("ASSIGN_STAGE", description="`stage` to `semver`.")
    UNASSIGN_STAGE = strawberry.enum_value("UNASSIGN_STAGE", description="`stage` off `semver`.")
    DEREGISTER = strawberry.enum_value("DEREGISTER", description="Deregister `semver`.")
    SET_ALIAS = strawberry.enum_value("SET_ALIAS", description="Point `alias` at `semver`.")
    DEPRECATE = strawberry.enum_value("DEPRECATE", description="Deprecate the collection.")


@strawberry.enum(description="What became of an imported change.")
class ImportStatus(Enum):
    IMPORTED = "IMPORTED"
    ALREADY_IMPORTED = "ALREADY_IMPORTED"
    FAILED = "FAILED"


@strawberry.input(description="One change of another registry's history.")
class ImportedChangeInput:
    key: str = strawberry.field(
        description="Its name in the source (a tag): importing the same key twice does nothing."
    )
    kind: ImportedChangeKind = strawberry.field(description="What it does.")
    collection: str = strawberry.field(description="Collection name (made on first link).")
    actor: str = strawberry.field(description="Who made it in the source.")
    time: datetime = strawberry.field(description="When it was made in the source.")
    version: str | None = strawberry.field(
        default=None, description="LINK: the artifact version (id or reference) to link."
    )
    semver: str | None = strawberry.field(
        default=None,
        description="LINK: the label the new link gets; other kinds: the linked version, by its "
        "semver label or by the key of the change that linked it.",
    )
    stage: str | None = strawberry.field(default=None, description="The stage, for stage kinds.")
    alias: str | None = strawberry.field(default=None, description="SET_ALIAS: the alias.")


@strawberry.input(description="Changes of another registry's history, applied in order.")
class ImportRegistryChangesInput:
    registry: str = strawberry.field(description="The registry they go into.")
    source: str = strawberry.field(
        description="Where they come from (e.g. gto:<repository>): keys are unique within it."
    )
    changes: list[ImportedChangeInput] = strawberry.field(description="In the source's order.")


@strawberry.type(description="What became of one imported change.")
class ImportedChangeResult:
    key: str
    status: ImportStatus
    message: str | None = strawberry.field(description="Why it failed.")
    link: LinkedVersion | None = strawberry.field(description="The linked version it touched.")


@strawberry.type(description="The changes, each with what became of it.")
class ImportRegistryChangesPayload:
    results: list[ImportedChangeResult]


@strawberry.type
class ImportQuery:
    @strawberry.field(
        description="Which of these keys of a source were imported (org admins): what an "
        "importer need not prepare again."
    )
    async def imported_keys(
        self,
        info: Info,
        origin: Annotated[str, strawberry.argument(name="source", description="The source.")],
        keys: list[str],
    ) -> list[str]:
        if len(keys) > 10_000:
            raise BadInput("keys", "at most 10,000 keys a call")
        found = await info.context.repos.registries.imported_keys([f"{origin}:{k}" for k in keys])
        return [k for k in keys if f"{origin}:{k}" in found]


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        description="Import another registry's history (org admins): each change is one "
        "transaction and one audit event with the source's actor and time, marked "
        "`after.imported`; stage policies do not apply to the past; a key imported before is "
        "skipped, so importing again brings only what is new."
    )
    async def import_registry_changes(
        self, info: Info, input: ImportRegistryChangesInput
    ) -> ImportRegistryChangesPayload:
        if not input.source.strip() or len(input.source) > 500:
            raise BadInput("input.source", "must name the source, in at most 500 characters")
        if len(input.changes) > 10_000:
            raise BadInput("input.changes", "at most 10,000 changes a call")
        repo = info.context.repos.registries
        registry = await repo.get_registry(input.registry)
        results = []
        wrote = False
        for change in input.changes:
            key = f"{input.source}:{change.key}"
            if await repo.imported(key):
                results.append(
                    ImportedChangeResult(
                        key=change.key,
                        status=ImportStatus.ALREADY_IMPORTED,
                        message=None,
                        link=None,
                    )
                )
                continue
            when = change.time if change.time.tzinfo else change.time.replace(tzinfo=UTC)
            token = IMPORTING.set(Imported(input.source, key, when, info.context.actor))
            # A retried call (an idempotency key) is known by its first change's events; the
            # others are known by their import keys.
            unclaimed = CLAIM.set(None) if wrote else None
            try:
                link_id = await _apply(info, repo, registry.name, input.source, change)
                status, message = ImportStatus.IMPORTED, None
                wrote = True
            except ConstraintError:  # imported meanwhile by another call
                link_id, status, message = None, ImportStatus.ALREADY_IMPORTED, None
            except (GraphError, BadInput) as exc:
                link_id, status, message = None, ImportStatus.FAILED, str(exc)
            finally:
                IMPORTING.reset(token)
                if unclaimed is not None:
                    CLAIM.reset(unclaimed)
            link = await load_linked(info, link_id) if link_id else None
            results.append(
                ImportedChangeResult(key=change.key, status=status, message=message, link=link)
            )
        return ImportRegistryChangesPayload(results=results)


async def _apply(
    info: Info, repo: RegistryRepository, registry: str, source: str, change: ImportedChangeInput
) -> str | None:
    actor = change.actor.strip()[:256] or "unknown"
    # The names the source uses must be names here too (the API's rules, as for any change).
    parse(NewCollectionIn, {"collection": change.collection}, "collection")
    for field, value in (("stage", change.stage), ("alias", change.alias)):
        if value is not None:
            parse(AliasIn, {"alias": value}, field)
    if change.kind is ImportedChangeKind.DEPRECATE:
        collection = await repo.get_collection(registry, change.collection)
        await repo.set_deprecated(collection.id, True, actor=actor, confirm_dependents=True)
        return None
    if change.kind is ImportedChangeKind.LINK:
        if not change.version:
            raise BadInput("version", "a LINK names the artifact version to link")
        version_id = await info.context.repos.artifacts.resolve(change.version, "version")
        link, _, _, _ = await repo.link_version(
            registry, change.collection, version_id, create_collection=True, actor=actor
        )
        if change.semver and link.semver != change.semver:
            with _part("semver"):
                await repo.set_semver(link.id, change.semver, actor=actor)
        return link.id
    if not change.semver:
        raise BadInput("semver", f"{change.kind.value} names the linked version by its semver")
    link_id = await repo.imported_link(f"{source}:{change.semver}")
    if link_id is None:
        link_id = await repo.resolve_ref(registry, change.collection, change.semver, None)
    if link_id is None:
        raise NotFound("linked version", f"{registry}/{change.collection}:{change.semver}")
    if change.kind is ImportedChangeKind.SET_ALIAS:
        if not change.alias:
            raise BadInput("alias", "SET_ALIAS names the alias")
        await repo.set_alias(link_id, change.alias, actor=actor)
        return link_id
    if change.kind is ImportedChangeKind.DEREGISTER:
        await repo.set_link_state(link_id, False, actor=actor, confirm_dependents=True)
        return link_id
    if not change.stage:
        raise BadInput("stage", f"{change.kind.value} names the stage")
    assigned = change.kind is ImportedChangeKind.ASSIGN_STAGE
    try:
        await repo.assign_stage(link_id, change.stage, assigned, actor=actor)
    except Conflict:
        if not assigned:
            raise
        # Assigned again after another version took the stage: it becomes current again.
        with _part("unassigned"):
            await repo.assign_stage(link_id, change.stage, False, actor=actor)
        with _part("assigned"):
            await repo.assign_stage(link_id, change.stage, True, actor=actor)
    return link_id


@contextlib.contextmanager
def _part(name: str) -> Iterator[None]:
    """A second event of one imported change, under a key of its own."""
    imported = IMPORTING.get()
    assert imported is not None
    token = IMPORTING.set(dataclasses.replace(imported, key=f"{imported.key}#{name}"))
    unclaimed = CLAIM.set(None)  # the change's first event carries the idempotency claim
    try:
        yield
    finally:
        CLAIM.reset(unclaimed)
        IMPORTING.reset(token)
