"""Registries, collections and linked versions: the governed side of Forebear."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Final, cast

import strawberry
from strawberry.scalars import JSON

from api.context import Info
from api.errors import BadInput
from api.inputs import (
    AliasIn,
    CollectionIn,
    CollectionUpdateIn,
    NewCollectionIn,
    RegistryIn,
    fields_of,
    parse,
)
from api.schema.artifacts import ArtifactVersion
from api.schema.audited import AUDITED
from api.schema.events import Event, history_of
from api.schema.relay import (
    Connection,
    Edge,
    Node,
    PageInfo,
    connection,
    decode_cursor,
    encode_cursor,
    page_size,
    selects,
)
from graph import records
from graph.errors import NotFound
from graph.ids import kind_of
from graph.refs import parse_link_ref
from graph.repository.registries import alias_subject

MAX_LINKS_PAGE: Final = 1_000  # a whole model's versions in one call, as MLflow's search


@strawberry.enum(description="What a member of a registry may do (enforced by access control).")
class Role(Enum):
    VIEWER = strawberry.enum_value("viewer", description="Read.")
    MEMBER = strawberry.enum_value("member", description="Read, link, alias, stage.")
    ADMIN = strawberry.enum_value("admin", description="Everything in the registry.")


@strawberry.type(description="A principal's role in a registry.")
class Member:
    principal: str = strawberry.field(description="User or service account name.")
    role: str = strawberry.field(description="viewer, member or admin.")


@strawberry.type(description="An organisation-wide governed space holding collections.")
class Registry(Node):
    name: str = strawberry.field(
        directives=[AUDITED], description="Unique name, as used in references."
    )
    description: str = strawberry.field(directives=[AUDITED], description="Free text.")
    allowed_types: list[str] = strawberry.field(
        directives=[AUDITED], description="Artifact types it accepts; empty: any."
    )
    stages: list[str] = strawberry.field(
        directives=[AUDITED], description="Lifecycle stage names, in order."
    )
    protected_aliases: list[str] = strawberry.field(
        directives=[AUDITED], description="Aliases only admins move."
    )
    created_at: datetime = strawberry.field(
        directives=[AUDITED], description="When it was created."
    )

    @classmethod
    def from_record(cls, r: records.Registry) -> Registry:
        return cls(
            id=strawberry.ID(r.id),
            name=r.name,
            description=r.description,
            allowed_types=list(r.allowed_types),
            stages=list(r.stages),
            protected_aliases=list(r.protected_aliases),
            created_at=r.created_at,
        )

    @strawberry.field(description="Members and their roles.")
    async def members(self, info: Info) -> list[Member]:
        found = await info.context.repos.registries.members(str(self.id))
        return [Member(principal=p, role=r) for p, r in found]

    @strawberry.field(directives=[AUDITED], description="Events about this registry, newest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await history_of(info, str(self.id), first, after)


@strawberry.type(
    directives=[AUDITED], description="An alias of a collection held by a linked version."
)
class LinkAlias:
    name: str = strawberry.field(description="Alias name.")
    protected: bool = strawberry.field(description="Only registry admins may move it.")


@strawberry.type(
    directives=[AUDITED], description="A registered model (or dataset collection) in a registry."
)
class Collection(Node):
    registry: str = strawberry.field(description="Registry name.")
    registry_id: strawberry.Private[str]
    name: str = strawberry.field(description="Name, unique in the registry.")
    description: str = strawberry.field(description="Free text.")
    tags: list[str] = strawberry.field(description="Labels, sorted.")
    types: list[str] = strawberry.field(
        description="Artifact types it accepts; empty: the registry's."
    )
    deprecated: bool = strawberry.field(
        description="Deprecated: takes no new links and is hidden from default listings."
    )
    deprecated_at: datetime | None = strawberry.field(description="When it was deprecated.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_record(cls, c: records.Collection) -> Collection:
        return cls(
            id=strawberry.ID(c.id),
            registry=c.registry,
            registry_id=c.registry_id,
            name=c.name,
            description=c.description,
            tags=list(c.tags),
            types=list(c.types),
            deprecated=c.deprecated,
            deprecated_at=c.deprecated_at,
            created_at=c.created_at,
        )

    def _record(self) -> records.Collection:
        return records.Collection(
            str(self.id),
            self.registry_id,
            self.registry,
            self.name,
            self.description,
            tuple(self.tags),
            tuple(self.types),
            self.deprecated,
            self.deprecated_at,
            self.created_at,
        )

    @strawberry.field(
        description=f"Linked versions, newest link first; up to {MAX_LINKS_PAGE} a page. "
        "`named`: only those an alias (latest included) or a stage names, however old: "
        "what a registry's overview shows of each collection."
    )
    async def links(
        self,
        info: Info,
        include_deregistered: bool = False,
        first: int | None = None,
        after: str | None = None,
        named: bool = False,
    ) -> LinkConnection:
        cursor = decode_cursor(after)
        if cursor is not None and not cursor.isdigit():
            raise BadInput("after", "not a cursor of this list")
        page, registry = await info.context.repos.registries.list_links(
            str(self.id),
            include_unlinked=include_deregistered,
            first=page_size(first, most=MAX_LINKS_PAGE),
            before_index=int(cursor) if cursor else None,
            with_versions=selects(info, "version"),
            named=named,
        )
        return LinkConnection(
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=_cursor(page.items[-1]) if page.items else None,
            ),
            items=page.items,
            collection=self._record(),
            registry=registry,
        )

    @strawberry.field(
        description="The linked version an alias, stage, semver or vN names, "
        "now or as of a past time. Aliases win over stages of the "
        "same name; a stage names its most recently assigned holder."
    )
    async def version(
        self, info: Info, selector: str, as_of: datetime | None = None
    ) -> LinkedVersion | None:
        return await _resolve(info, self.registry, str(self.id), selector, as_of)

    @strawberry.field(description="The linked version with the highest semantic version.")
    async def latest_semver(self, info: Info) -> LinkedVersion | None:
        link_id = await info.context.repos.registries.latest_semver(str(self.id))
        return await load_linked(info, link_id) if link_id else None

    @strawberry.field(description="Events about this collection, newest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await history_of(info, str(self.id), first, after)

    @strawberry.field(description="Every move of one alias of this collection, newest first.")
    async def alias_history(
        self, info: Info, alias: str, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await history_of(info, alias_subject(str(self.id), alias), first, after)


@strawberry.type(
    directives=[AUDITED], description="An artifact version bookmarked into a collection."
)
class LinkedVersion(Node):
    name: str = strawberry.field(description="Reference: registry/collection:vN.")
    index: int = strawberry.field(description="N of vN in the collection.")
    semver: str | None = strawberry.field(description="Semantic version label, if given.")
    deregistered: bool = strawberry.field(description="Deregistered (soft; restorable).")
    linked_at: datetime = strawberry.field(description="When it was linked.")
    linked_by: str | None = strawberry.field(
        description="Who linked it (the actor of its link.created event)."
    )
    deregistered_at: datetime | None = strawberry.field(description="When it was deregistered.")
    aliases: list[LinkAlias] = strawberry.field(
        description="Aliases it holds, incl. latest, by name."
    )
    stages: list[str] = strawberry.field(description="Stages it holds, by name.")
    version_id: strawberry.Private[str]
    collection_record: strawberry.Private[records.Collection]

    @classmethod
    def from_record(
        cls,
        link: records.Link,
        collection: records.Collection,
        registry: records.Registry,
        info: Info,
    ) -> LinkedVersion:
        if link.version is not None:  # fetched with the link: `version` needs no query
            info.context.loaders.version_by_id.prime(link.version_id, link.version)
        return cls(
            id=strawberry.ID(link.id),
            name=f"{collection.registry}/{collection.name}:v{link.index}",
            index=link.index,
            semver=link.semver,
            deregistered=link.state != "LINKED",
            linked_at=link.linked_at,
            linked_by=link.linked_by,
            deregistered_at=link.unlinked_at,
            aliases=[
                LinkAlias(name=a, protected=a in registry.protected_aliases) for a in link.aliases
            ],
            stages=list(link.stages),
            version_id=link.version_id,
            collection_record=collection,
        )

    @strawberry.field(
        name="versionId",
        description="The id of the artifact version it links (no need to fetch `version`).",
    )
    def linked_version_id(self) -> strawberry.ID:
        return strawberry.ID(self.version_id)

    @strawberry.field(description="The artifact version it links (bytes are not copied).")
    async def version(self, info: Info) -> ArtifactVersion:
        found = await info.context.loaders.version_by_id.load(self.version_id)
        assert found is not None  # versions are never removed while linked
        return ArtifactVersion.from_record(found)

    @strawberry.field(description="The collection it is linked in.")
    def collection(self) -> Collection:
        return Collection.from_record(self.collection_record)

    @strawberry.field(description="Events about this linked version, newest first.")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await history_of(info, str(self.id), first, after)


def _cursor(link: records.Link) -> str:
    """A link's cursor in a page of links: its index (pages go newest first)."""
    return encode_cursor(str(link.index))


@strawberry.type(
    directives=[AUDITED],
    name="LinkedVersionConnection",
    description="A page of linked versions, newest link first (Relay cursor connection).",
)
class LinkConnection:
    page_info: PageInfo = strawberry.field(description="Paging information.")
    items: strawberry.Private[tuple[records.Link, ...]]
    collection: strawberry.Private[records.Collection]
    registry: strawberry.Private[records.Registry]

    @strawberry.field(description="The items of this page.")
    def nodes(self, info: Info) -> list[LinkedVersion]:
        return [
            LinkedVersion.from_record(link, self.collection, self.registry, info)
            for link in self.items
        ]

    @strawberry.field(description="The items of this page with cursors.")
    def edges(self, info: Info) -> list[Edge[LinkedVersion]]:
        return [
            Edge(node=node, cursor=_cursor(link))
            for node, link in zip(self.nodes(info), self.items, strict=True)
        ]

    @strawberry.field(
        description="This page as one JSON value of parallel lists, for long pages (a typed "
        "field costs the server per item): `{id, index, semver, deregistered, linkedAt "
        "(epoch milliseconds), linkedBy, versionId, aliases, stages}`, the i-th entries "
        "describing one linked version; `aliases` and `stages` map i to the names the linked "
        "versions holding some hold."
    )
    def compact(self) -> JSON:
        links = self.items
        return cast(
            JSON,
            {
                "id": [link.id for link in links],
                "index": [link.index for link in links],
                "semver": [link.semver for link in links],
                "deregistered": [link.state != "LINKED" for link in links],
                "linkedAt": [round(link.linked_at.timestamp() * 1000) for link in links],
                "linkedBy": [link.linked_by for link in links],
                "versionId": [link.version_id for link in links],
                "aliases": {
                    str(i): list(link.aliases) for i, link in enumerate(links) if link.aliases
                },
                "stages": {
                    str(i): list(link.stages) for i, link in enumerate(links) if link.stages
                },
            },
        )


async def load_linked(info: Info, link_id: str) -> LinkedVersion:
    link, collection, registry = await info.context.repos.registries.link_context(
        link_id, with_version=selects(info, "version")
    )
    return LinkedVersion.from_record(link, collection, registry, info)


async def _resolve(
    info: Info, registry: str, collection: str, selector: str, as_of: datetime | None
) -> LinkedVersion | None:
    """The linked version a selector names in a collection (by name or id), in one query."""
    link, found, registry_record = await info.context.repos.registries.resolve_view(
        registry, collection, selector, as_of, with_version=selects(info, "version")
    )
    return LinkedVersion.from_record(link, found, registry_record, info) if link else None


async def _collection(info: Info, registry: str, name: str) -> records.Collection:
    return await info.context.repos.registries.get_collection(registry, name)


async def resolve_link(info: Info, ref: str, field: str, as_of: datetime | None = None) -> str:
    """The link id a linked-version id or a registry/collection:selector reference names."""
    if kind_of(ref) == "LinkedVersion":
        return ref
    registry, name, selector = parse_link_ref(ref, field)
    link_id = await info.context.repos.registries.resolve_ref(registry, name, selector, as_of)
    if link_id is None:
        raise NotFound("linked version", ref)
    return link_id


# --- inputs and payloads -------------------------------------------------------------------


@strawberry.input(description="Create a custom registry.")
class CreateRegistryInput:
    name: str = strawberry.field(description="Unique name.")
    description: str = strawberry.field(default="", description="Free text.")
    allowed_types: list[str] = strawberry.field(
        default_factory=list, description="Artifact types; empty: any."
    )
    stages: list[str] = strawberry.field(
        default_factory=lambda: ["dev", "staging", "production"],
        description="Lifecycle stage names.",
    )
    protected_aliases: list[str] = strawberry.field(
        default_factory=lambda: ["production"], description="Aliases only admins move."
    )


@strawberry.input(description="Give a principal a role in a registry.")
class SetRegistryMemberInput:
    registry: str = strawberry.field(description="Registry name.")
    principal: str = strawberry.field(description="User or service account name.")
    role: Role = strawberry.field(description="viewer, member or admin.")


@strawberry.input(description="Take away a principal's role in a registry.")
class RemoveRegistryMemberInput:
    registry: str = strawberry.field(description="Registry name.")
    principal: str = strawberry.field(description="User or service account name.")


@strawberry.input(description="Create a collection (registered model) in a registry.")
class CreateCollectionInput:
    registry: str = strawberry.field(description="Registry name.")
    name: str = strawberry.field(description="Name, unique in the registry.")
    description: str = strawberry.field(default="", description="Free text.")
    tags: list[str] = strawberry.field(default_factory=list, description="Labels.")
    types: list[str] = strawberry.field(
        default_factory=list, description="Accepted artifact types; empty: the registry's."
    )


@strawberry.input(description="Rename, describe or retag a collection.")
class UpdateCollectionInput:
    registry: str = strawberry.field(description="Registry name.")
    collection: str = strawberry.field(description="Current collection name.")
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    tags: list[str] | None = strawberry.field(default=None, description="Replaces the tags.")


@strawberry.input(description="Deprecate a collection: repeat its name in `confirm`.")
class DeprecateCollectionInput:
    registry: str = strawberry.field(description="Registry name.")
    collection: str = strawberry.field(description="Collection name.")
    confirm: str = strawberry.field(description="The collection's name again.")
    confirm_dependents: bool = strawberry.field(
        default=False,
        description="Deprecate it even though its versions hold aliases or stages, or runs "
        "used them, or versions linked elsewhere were made from them (refused otherwise, "
        "naming them).",
    )


@strawberry.input(description="A collection by registry and name.")
class CollectionRefInput:
    registry: str = strawberry.field(description="Registry name.")
    collection: str = strawberry.field(description="Collection name.")


@strawberry.input(description="Link an artifact version into a collection.")
class LinkVersionInput:
    registry: str = strawberry.field(description="Registry name.")
    collection: str = strawberry.field(description="Collection name.")
    version: str = strawberry.field(description="Version id or project/artifact:selector.")
    aliases: list[str] = strawberry.field(
        default_factory=list, description="Aliases to point at the new link."
    )
    create_collection: bool = strawberry.field(
        default=False,
        description="Make the collection first when it does not exist (as W&B's link_model "
        "does); a registry member may. The link's event says it was made.",
    )


@strawberry.input(description="A linked version by id or registry/collection:selector.")
class LinkRefInput:
    link: str = strawberry.field(description="Linked version id or reference.")


@strawberry.input(description="Deregister a linked version.")
class DeregisterLinkInput:
    link: str = strawberry.field(description="Linked version id or reference.")
    confirm_dependents: bool = strawberry.field(
        default=False,
        description="Deregister it even though it holds aliases or stages, or runs used its "
        "version, or versions linked elsewhere were made from it (refused otherwise, naming "
        "them).",
    )


@strawberry.input(description="Point a collection alias at a linked version.")
class SetCollectionAliasInput:
    link: str = strawberry.field(description="Linked version id or reference.")
    alias: str = strawberry.field(description="Alias name, e.g. production.")


@strawberry.input(description="Remove a collection alias.")
class RemoveCollectionAliasInput:
    registry: str = strawberry.field(description="Registry name.")
    collection: str = strawberry.field(description="Collection name.")
    alias: str = strawberry.field(description="Alias name.")


@strawberry.input(description="Label a linked version with a semantic version, once.")
class SetSemverInput:
    link: str = strawberry.field(description="Linked version id or reference.")
    semver: str = strawberry.field(description="e.g. 1.2.0 or 2.0.0-rc.1.")


@strawberry.input(description="Assign or unassign a lifecycle stage.")
class StageInput:
    link: str = strawberry.field(description="Linked version id or reference.")
    stage: str = strawberry.field(description="One of the registry's stages.")


@strawberry.type(description="The registry after the change.")
class RegistryPayload:
    registry: Registry = strawberry.field(description="The registry.")


@strawberry.type(description="The collection after the change.")
class CollectionPayload:
    collection: Collection = strawberry.field(description="The collection.")


@strawberry.type(description="The link, and whether this call created it.")
class LinkVersionPayload:
    link: LinkedVersion = strawberry.field(description="The (new or existing) link.")
    created: bool = strawberry.field(description="False when the version was linked already.")


@strawberry.type(description="The linked version after the change.")
class LinkPayload:
    link: LinkedVersion = strawberry.field(description="The linked version.")


@strawberry.type(description="The alias's new holder and the one it left.")
class SetCollectionAliasPayload:
    link: LinkedVersion = strawberry.field(description="New holder.")
    previous: LinkedVersion | None = strawberry.field(description="Former holder, if any.")


@strawberry.type(description="The linked version the removed alias pointed at.")
class RemoveCollectionAliasPayload:
    previous: LinkedVersion = strawberry.field(description="Former holder.")


@strawberry.type
class RegistryQuery:
    @strawberry.field(directives=[AUDITED], description="All registries, by name.")
    async def registries(self, info: Info) -> list[Registry]:
        access = info.context.access
        return [
            Registry.from_record(r)
            for r in await info.context.repos.registries.list_registries()
            if access.role_in(r.name) > 0
        ]

    @strawberry.field(directives=[AUDITED], description="A registry by name.")
    async def registry(self, info: Info, name: str) -> Registry | None:
        found = await info.context.repos.registries.find_registry(name)
        return Registry.from_record(found) if found else None

    @strawberry.field(
        directives=[AUDITED], description="A collection by registry and name, deprecated or not."
    )
    async def collection(self, info: Info, registry: str, name: str) -> Collection | None:
        found = await info.context.repos.registries.find_collection(registry, name)
        return Collection.from_record(found) if found else None

    @strawberry.field(
        directives=[AUDITED],
        description="Collections by registry and name; deprecated ones only "
        "when asked. `search` matches part of the name.",
    )
    async def collections(
        self,
        info: Info,
        registry: str | None = None,
        search: str | None = None,
        tag: str | None = None,
        type: str | None = None,
        include_deprecated: bool = False,
        first: int | None = None,
        after: str | None = None,
        stage: Annotated[
            str | None, strawberry.argument(description="Only those with a version in it.")
        ] = None,
    ) -> Connection[Collection]:
        cursor = decode_cursor(after)
        parsed = tuple(cursor.split("/", 1)) if cursor else None
        if parsed is not None and len(parsed) != 2:
            raise BadInput("after", "not a cursor of this list")
        page = await info.context.repos.registries.list_collections(
            registry=registry,
            search=search,
            tag=tag,
            type=type,
            include_deprecated=include_deprecated,
            first=page_size(first),
            after=(parsed[0], parsed[1]) if parsed else None,
            visible=info.context.access.visible_registries(),
            stage=stage,
        )
        return connection(page, Collection.from_record, lambda c: f"{c.registry}/{c.name}")

    @strawberry.field(
        directives=[AUDITED],
        description="A linked version by id or registry/collection:selector "
        "(alias, stage, semver or vN), now or as of a past time.",
    )
    async def linked_version(
        self, info: Info, ref: str, as_of: datetime | None = None
    ) -> LinkedVersion | None:
        try:
            if kind_of(ref) == "LinkedVersion":
                return await load_linked(info, ref)
            registry, name, selector = parse_link_ref(ref, "ref")
            return await _resolve(info, registry, name, selector, as_of)
        except NotFound:
            return None


@strawberry.type
class RegistryMutation:
    @strawberry.mutation(description="Create a custom registry.")
    async def create_registry(self, info: Info, input: CreateRegistryInput) -> RegistryPayload:
        data = parse(RegistryIn, fields_of(input))
        registry = await info.context.repos.registries.create_registry(
            data.name,
            description=data.description,
            allowed_types=data.allowed_types,
            stages=data.stages,
            protected_aliases=data.protected_aliases,
            actor=info.context.actor,
        )
        return RegistryPayload(registry=Registry.from_record(registry))

    @strawberry.mutation(description="Take away a principal's role in a registry.")
    async def remove_registry_member(
        self, info: Info, input: RemoveRegistryMemberInput
    ) -> RegistryPayload:
        repo = info.context.repos.registries
        await repo.remove_member(input.registry, input.principal, actor=info.context.actor)
        info.context.authenticator.forget()
        return RegistryPayload(
            registry=Registry.from_record(await repo.get_registry(input.registry))
        )

    @strawberry.mutation(description="Give a principal a role in a registry.")
    async def set_registry_member(
        self, info: Info, input: SetRegistryMemberInput
    ) -> RegistryPayload:
        repo = info.context.repos.registries
        await repo.set_member(
            input.registry, input.principal, str(input.role.value), actor=info.context.actor
        )
        info.context.authenticator.forget()
        return RegistryPayload(
            registry=Registry.from_record(await repo.get_registry(input.registry))
        )

    @strawberry.mutation(description="Create a collection.")
    async def create_collection(
        self, info: Info, input: CreateCollectionInput
    ) -> CollectionPayload:
        data = parse(CollectionIn, {k: v for k, v in fields_of(input).items() if k != "registry"})
        collection = await info.context.repos.registries.create_collection(
            input.registry,
            data.name,
            description=data.description,
            tags=data.tags,
            types=data.types,
            actor=info.context.actor,
        )
        return CollectionPayload(collection=Collection.from_record(collection))

    @strawberry.mutation(description="Rename, describe or retag a collection.")
    async def update_collection(
        self, info: Info, input: UpdateCollectionInput
    ) -> CollectionPayload:
        data = parse(
            CollectionUpdateIn,
            {"name": input.name, "description": input.description, "tags": input.tags},
        )
        collection = await _collection(info, input.registry, input.collection)
        updated = await info.context.repos.registries.update_collection(
            collection.id,
            name=data.name,
            description=data.description,
            tags=data.tags,
            actor=info.context.actor,
        )
        return CollectionPayload(collection=Collection.from_record(updated))

    @strawberry.mutation(description="Deprecate a collection; `confirm` must repeat its name.")
    async def deprecate_collection(
        self, info: Info, input: DeprecateCollectionInput
    ) -> CollectionPayload:
        if input.confirm != input.collection:
            raise BadInput(
                "input.confirm",
                f"must repeat the collection's name {input.collection!r} to confirm",
            )
        collection = await _collection(info, input.registry, input.collection)
        updated = await info.context.repos.registries.set_deprecated(
            collection.id,
            True,
            actor=info.context.actor,
            confirm_dependents=input.confirm_dependents,
        )
        return CollectionPayload(collection=Collection.from_record(updated))

    @strawberry.mutation(description="Undo a deprecation.")
    async def restore_collection(self, info: Info, input: CollectionRefInput) -> CollectionPayload:
        collection = await _collection(info, input.registry, input.collection)
        updated = await info.context.repos.registries.set_deprecated(
            collection.id, False, actor=info.context.actor
        )
        return CollectionPayload(collection=Collection.from_record(updated))

    @strawberry.mutation(
        description="Link a committed version into a collection: it gets the "
        "next vN and `latest`. Linking it again returns the link."
    )
    async def link_version(self, info: Info, input: LinkVersionInput) -> LinkVersionPayload:
        aliases = [
            parse(AliasIn, {"alias": a}, f"input.aliases[{i}]").alias
            for i, a in enumerate(input.aliases)
        ]
        if input.create_collection:  # the name a new collection would get is checked first
            parse(NewCollectionIn, {"collection": input.collection})
        version_id = await info.context.repos.artifacts.resolve(input.version, "input.version")
        link, collection, registry, created = await info.context.repos.registries.link_version(
            input.registry,
            input.collection,
            version_id,
            aliases=aliases,
            create_collection=input.create_collection,
            actor=info.context.actor,
        )
        return LinkVersionPayload(
            link=LinkedVersion.from_record(link, collection, registry, info), created=created
        )

    @strawberry.mutation(
        description="Deregister a linked version (soft: history stays, its "
        "aliases and stages end; restorable). With dependents, only with confirmDependents."
    )
    async def deregister_link(self, info: Info, input: DeregisterLinkInput) -> LinkPayload:
        link_id = await resolve_link(info, input.link, "input.link")
        await info.context.repos.registries.set_link_state(
            link_id,
            False,
            actor=info.context.actor,
            confirm_dependents=input.confirm_dependents,
        )
        return LinkPayload(link=await load_linked(info, link_id))

    @strawberry.mutation(description="Restore a deregistered link.")
    async def restore_link(self, info: Info, input: LinkRefInput) -> LinkPayload:
        link_id = await resolve_link(info, input.link, "input.link")
        await info.context.repos.registries.set_link_state(link_id, True, actor=info.context.actor)
        return LinkPayload(link=await load_linked(info, link_id))

    @strawberry.mutation(
        description="Point a collection alias at a linked version, in one "
        "step: the alias always has exactly one holder."
    )
    async def set_collection_alias(
        self, info: Info, input: SetCollectionAliasInput
    ) -> SetCollectionAliasPayload:
        alias = parse(AliasIn, {"alias": input.alias}).alias
        link_id = await resolve_link(info, input.link, "input.link")
        previous = await info.context.repos.registries.set_alias(
            link_id, alias, actor=info.context.actor
        )
        return SetCollectionAliasPayload(
            link=await load_linked(info, link_id),
            previous=await load_linked(info, previous) if previous else None,
        )

    @strawberry.mutation(description="Remove a collection alias.")
    async def remove_collection_alias(
        self, info: Info, input: RemoveCollectionAliasInput
    ) -> RemoveCollectionAliasPayload:
        alias = parse(AliasIn, {"alias": input.alias}).alias
        collection = await _collection(info, input.registry, input.collection)
        previous = await info.context.repos.registries.remove_alias(
            collection.id, alias, actor=info.context.actor
        )
        return RemoveCollectionAliasPayload(previous=await load_linked(info, previous))

    @strawberry.mutation(description="Label a linked version with a semantic version.")
    async def set_semver(self, info: Info, input: SetSemverInput) -> LinkPayload:
        link_id = await resolve_link(info, input.link, "input.link")
        await info.context.repos.registries.set_semver(
            link_id, input.semver, actor=info.context.actor
        )
        return LinkPayload(link=await load_linked(info, link_id))

    @strawberry.mutation(description="Assign a lifecycle stage to a linked version.")
    async def assign_stage(self, info: Info, input: StageInput) -> LinkPayload:
        link_id = await resolve_link(info, input.link, "input.link")
        await info.context.repos.registries.assign_stage(
            link_id, input.stage, True, actor=info.context.actor
        )
        return LinkPayload(link=await load_linked(info, link_id))

    @strawberry.mutation(description="Take a lifecycle stage away from a linked version.")
    async def unassign_stage(self, info: Info, input: StageInput) -> LinkPayload:
        link_id = await resolve_link(info, input.link, "input.link")
        await info.context.repos.registries.assign_stage(
            link_id, input.stage, False, actor=info.context.actor
        )
        return LinkPayload(link=await load_linked(info, link_id))
