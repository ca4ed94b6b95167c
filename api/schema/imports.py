"""Importing another registry's history (GTO tags, MLflow transitions) as Forebear changes that
keep their original actors and times (api.services.imports): org admins only, since the
actor of each change is the one the source names."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from api.context import Info
from api.errors import BadInput
from api.schema.registries import LinkedVersion, load_linked
from api.services.imports import Change, import_changes


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
        registry = await info.context.repos.registries.get_registry(input.registry)
        outcomes = await import_changes(
            info.context.repos,
            info.context.actor,
            registry.name,
            input.source,
            [
                Change(
                    key=c.key,
                    kind=c.kind.name,
                    collection=c.collection,
                    actor=c.actor,
                    time=c.time,
                    version=c.version,
                    semver=c.semver,
                    stage=c.stage,
                    alias=c.alias,
                )
                for c in input.changes
            ],
        )
        results = [
            ImportedChangeResult(
                key=o.key,
                status=ImportStatus(o.status),
                message=o.message,
                link=await load_linked(info, o.link_id) if o.link_id else None,
            )
            for o in outcomes
        ]
        return ImportRegistryChangesPayload(results=results)
