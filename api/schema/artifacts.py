"""Artifacts and versions: log (open + upload + commit), use, alias, delete; and queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Final, cast
from urllib.parse import quote

import strawberry
from strawberry.scalars import JSON

from api.context import Info
from api.errors import BadInput
from api.inputs import AliasIn, CreateVersionIn, fields_of, parse
from api.schema.audited import AUDITED
from api.schema.relay import Connection, Node, connection, decode_cursor, page_size
from api.schema.runs import Run
from api.schema.scalars import Long
from graph import records
from graph.errors import NotFound
from graph.ids import kind_of
from graph.records import FileEntry, Page, Reference

if TYPE_CHECKING:
    from api.schema.registries import LinkedVersion

LinkedVersionType = Annotated["LinkedVersion", strawberry.lazy("api.schema.registries")]

# A directory of a thousand files in one call (the SDK downloads whole versions).
MAX_FILES_PAGE: Final = 1_000


@strawberry.enum(description="Life of a version.")
class VersionState(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Opened, files uploading.")
    COMMITTED = strawberry.enum_value("COMMITTED", description="Immutable, has an index.")
    DELETED = strawberry.enum_value("DELETED", description="Soft-deleted; restorable.")


@strawberry.type(description="A named, typed sequence of versions in a project.")
class Artifact(Node):
    project: str = strawberry.field(directives=[AUDITED], description="Project name.")
    name: str = strawberry.field(directives=[AUDITED], description="Name, unique in the project.")
    type: str = strawberry.field(
        directives=[AUDITED], description="model, dataset, evaluation, or any type."
    )
    description: str = strawberry.field(directives=[AUDITED], description="Free text.")
    created_at: datetime = strawberry.field(
        directives=[AUDITED], description="When the first version was logged."
    )

    @classmethod
    def from_record(cls, a: records.Artifact) -> Artifact:
        return cls(
            id=strawberry.ID(a.id),
            project=a.project,
            name=a.name,
            type=a.type,
            description=a.description,
            created_at=a.created_at,
        )

    @strawberry.field(description="Committed versions, newest first.")
    async def versions(
        self,
        info: Info,
        alias: Annotated[str | None, strawberry.argument(description="Only the holder.")] = None,
        metadata: Annotated[
            JSON | None,
            strawberry.argument(
                description="Only versions whose top-level metadata has these values."
            ),
        ] = None,
        include_deleted: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ArtifactVersion]:
        cursor = decode_cursor(after)
        if metadata is not None and not isinstance(metadata, dict):
            raise BadInput("metadata", "must be a JSON object")
        try:
            before = int(cursor) if cursor is not None else None
        except ValueError as exc:
            raise BadInput("after", "not a cursor of this list") from exc
        page = await info.context.repos.artifacts.list_versions(
            str(self.id),
            alias=alias,
            metadata=metadata or {},
            include_deleted=include_deleted,
            first=page_size(first),
            before_index=before,
        )
        return connection(page, ArtifactVersion.from_record, lambda v: str(v.index))


@strawberry.type(description="One file of a version; its bytes come from `url`.")
class ArtifactFile:
    path: str = strawberry.field(description="Relative path inside the version.")
    size: Long = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(description="Hex sha256 of the content (also the ETag).")
    content_type: str = strawberry.field(description="Media type.")
    url: str = strawberry.field(description="GET this path (supports Range) for the bytes.")

    @classmethod
    def from_record(cls, version_id: str, f: FileEntry) -> ArtifactFile:
        return cls(
            path=f.path,
            size=Long(f.size),
            sha256=f.sha256,
            content_type=f.content_type,
            url=f"/files/{version_id}/{quote(f.path)}",
        )


@strawberry.type(
    description="A manifest entry whose data lives elsewhere: where, and the checksum and size "
    "it was logged with (no bytes are kept, so none are served)."
)
class ArtifactReference:
    path: str = strawberry.field(description="Its path in the version.")
    uri: str = strawberry.field(description="Where the data is.")
    sha256: str | None = strawberry.field(description="Its sha256, when it was given.")
    size: Long | None = strawberry.field(description="Its bytes, when they were given.")


@strawberry.type(description="An immutable version of an artifact.")
class ArtifactVersion(Node):
    name: str = strawberry.field(
        directives=[AUDITED], description="Reference: project/artifact:vN."
    )
    project: str = strawberry.field(directives=[AUDITED], description="Project name.")
    artifact_name: str = strawberry.field(directives=[AUDITED], description="Artifact name.")
    artifact_id: strawberry.Private[str]
    type: str = strawberry.field(directives=[AUDITED], description="Artifact type.")
    index: int | None = strawberry.field(
        directives=[AUDITED], description="N of vN; null while PENDING."
    )
    state: VersionState = strawberry.field(
        directives=[AUDITED], description="PENDING, COMMITTED or DELETED."
    )
    digest: str = strawberry.field(
        directives=[AUDITED], description="sha256 of the sorted manifest."
    )
    description: str = strawberry.field(directives=[AUDITED], description="Free text.")
    metadata: JSON = strawberry.field(directives=[AUDITED], description="JSON object.")
    size: Long = strawberry.field(directives=[AUDITED], description="Total bytes of its files.")
    file_count: int = strawberry.field(directives=[AUDITED], description="Number of files.")
    references: list[ArtifactReference] = strawberry.field(
        description="Entries whose data lives elsewhere (s3://, https://, ...), in path order."
    )
    aliases: list[str] = strawberry.field(
        directives=[AUDITED], description="Aliases pointing here, incl. latest."
    )
    created_at: datetime = strawberry.field(directives=[AUDITED], description="When it was opened.")
    committed_at: datetime | None = strawberry.field(
        directives=[AUDITED], description="When it was committed."
    )
    expires_at: datetime | None = strawberry.field(
        directives=[AUDITED], description="PENDING only: expiry."
    )
    deleted_at: datetime | None = strawberry.field(
        directives=[AUDITED], description="When it was soft-deleted."
    )

    @classmethod
    def from_record(cls, v: records.ArtifactVersion) -> ArtifactVersion:
        return cls(
            id=strawberry.ID(v.id),
            name=v.name,
            project=v.project,
            artifact_name=v.artifact,
            artifact_id=v.artifact_id,
            type=v.type,
            index=v.index,
            state=VersionState(v.state),
            digest=v.digest,
            description=v.description,
            metadata=cast(JSON, v.metadata),
            size=Long(v.size),
            file_count=v.file_count,
            references=[
                ArtifactReference(
                    path=r.path,
                    uri=r.uri,
                    sha256=r.sha256,
                    size=None if r.size is None else Long(r.size),
                )
                for r in sorted(v.references, key=lambda r: r.path)
            ],
            aliases=list(v.aliases),
            created_at=v.created_at,
            committed_at=v.committed_at,
            expires_at=v.expires_at,
            deleted_at=v.deleted_at,
        )

    @strawberry.field(
        directives=[AUDITED],
        description="The artifact this version belongs to; null for callers outside its "
        "project (who see the version through a registry).",
    )
    async def artifact(self, info: Info) -> Artifact | None:
        if not info.context.access.in_project(self.project):
            return None
        found = await info.context.loaders.artifact_by_id.load(self.artifact_id)
        assert found is not None  # a version never outlives its artifact
        return Artifact.from_record(found)

    @strawberry.field(
        description=f"Files in path order, with sizes and digests; up to {MAX_FILES_PAGE} a page."
    )
    async def files(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ArtifactFile]:
        cursor = decode_cursor(after)
        size = page_size(first, most=MAX_FILES_PAGE)
        if cursor is None:
            page = await info.context.loaders.first_files.load((str(self.id), size))
        else:
            page = await info.context.repos.artifacts.list_files(
                str(self.id), first=size, after=cursor
            )
        return connection(
            page, lambda f: ArtifactFile.from_record(str(self.id), f), lambda f: f.path
        )

    @strawberry.field(
        description="The run that logged this version; null when none did or when the caller "
        "is not a member of the run's project."
    )
    async def produced_by(self, info: Info) -> Run | None:
        run_id = await info.context.loaders.producer_by_version.load(str(self.id))
        if run_id is None:
            return None
        run = await info.context.loaders.run_by_id.load(run_id)
        return Run.from_record(run) if run and info.context.access.in_project(run.project) else None

    @strawberry.field(
        description="Where this version is registered: its live links, in registries the "
        "caller may read (what was made from it: `impact`)."
    )
    async def links(self, info: Info) -> list[LinkedVersionType]:
        from api.schema.registries import load_linked

        found = await info.context.repos.lineage.linked([str(self.id)])
        readable = await info.context.access.readable(found)
        links = [await load_linked(info, link_id) for link_id in found if link_id in readable]
        return sorted(links, key=lambda link: link.name)

    @strawberry.field(
        description="Runs that used this version, in the order they said so; runs of "
        "projects the caller is not a member of are left out."
    )
    async def consumed_by(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Run]:
        cursor = decode_cursor(after)
        offset = int(cursor) if cursor and cursor.isdigit() else 0
        ids = await info.context.repos.artifacts.consumers_of(
            str(self.id), first=page_size(first), offset=offset
        )
        runs = await info.context.loaders.run_by_id.load_many(list(ids.items))
        access = info.context.access
        found = [r for r in runs if r is not None and access.in_project(r.project)]
        page = Page(tuple(found), ids.has_next, None)
        positions = {r.id: offset + i + 1 for i, r in enumerate(found)}
        return connection(page, Run.from_record, lambda r: str(positions[r.id]))


@strawberry.input(description="One file of a manifest.")
class FileInput:
    path: str = strawberry.field(description="Relative path: no leading '/', no '..'.")
    size: Long = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(description="Lowercase hex sha256 of the content.")
    content_type: str | None = strawberry.field(default=None, description="Media type.")


@strawberry.input(
    description="A manifest entry whose data stays where it is (no bytes are uploaded): the "
    "registry keeps its URI and the checksum and size you give."
)
class ReferenceInput:
    path: str = strawberry.field(description="Its path in the version, as a file's.")
    uri: str = strawberry.field(
        description="Where the data is: s3://, gs://, az://, abfss://, hdfs://, http(s)://, "
        "file://, or a file in git as git+https|ssh|file://<repository>@<commit>#<path>."
    )
    sha256: str | None = strawberry.field(default=None, description="Its sha256, if known.")
    size: Long | None = strawberry.field(default=None, description="Its bytes, if known.")


@strawberry.input(description="Open a PENDING version with its manifest.")
class CreateArtifactVersionInput:
    project: str = strawberry.field(description="Project (created on first use).")
    artifact: str = strawberry.field(description="Artifact name (created on first use).")
    type: str = strawberry.field(description="Artifact type, e.g. model or dataset.")
    files: list[FileInput] = strawberry.field(description="The manifest.")
    references: list[ReferenceInput] = strawberry.field(
        default_factory=list,
        description="Entries whose data stays elsewhere (W&B's add_reference): committed "
        "without uploads.",
    )
    # A null default, not {}: graphql-core cannot show an object default of a custom scalar
    # in introspection (GraphiQL and generated clients read it).
    metadata: JSON | None = strawberry.field(default=None, description="JSON object (none: {}).")
    description: str = strawberry.field(default="", description="Free text.")
    run: strawberry.ID | None = strawberry.field(default=None, description="Producing run.")
    allow_duplicate: bool = strawberry.field(
        default=False,
        description="Create a new version even when the manifest equals the latest one's.",
    )
    commit: bool = strawberry.field(
        default=False,
        description="Commit it at once when it has no content to upload (references only, or "
        "every file's content already stored and readable by you): the answer is the "
        "COMMITTED version, and no commitArtifactVersion is needed. Otherwise it stays "
        "PENDING and missingBlobs lists what to upload, as without this.",
    )


@strawberry.input(description="Commit a PENDING version once its blobs are uploaded.")
class CommitArtifactVersionInput:
    version: strawberry.ID = strawberry.field(description="Version id.")


@strawberry.input(description="Declare that a run used a version.")
class UseArtifactVersionInput:
    run: strawberry.ID = strawberry.field(description="Run id.")
    version: str = strawberry.field(
        description="Version id or reference (project/artifact:v3, project/artifact:latest); "
        "resolved now, so lineage keeps the concrete version after aliases move."
    )


@strawberry.input(description="Point an alias of the version's artifact at it.")
class SetArtifactAliasInput:
    version: str = strawberry.field(description="Version id or reference.")
    alias: str = strawberry.field(description="Alias name, e.g. best or production.")


@strawberry.input(description="Remove an alias from an artifact.")
class RemoveArtifactAliasInput:
    project: str = strawberry.field(description="Project name.")
    artifact: str = strawberry.field(description="Artifact name.")
    alias: str = strawberry.field(description="Alias name.")


@strawberry.input(description="A version by id or reference.")
class VersionInput:
    version: str = strawberry.field(description="Version id or reference.")


@strawberry.input(description="Delete a version (soft).")
class DeleteArtifactVersionInput:
    version: str = strawberry.field(description="Version id or reference.")
    confirm_dependents: bool = strawberry.field(
        default=False,
        description="Delete it even though runs used it, versions were made from it or it is "
        "linked (refused otherwise, naming them: see dependents(of:)).",
    )


@strawberry.type(description="The opened version and what to upload before committing.")
class CreateArtifactVersionPayload:
    version: ArtifactVersion = strawberry.field(
        description="PENDING; COMMITTED when `commit` committed it; or the existing one."
    )
    missing_blobs: list[str] = strawberry.field(
        description="sha256 of contents the store lacks: PUT each to /blobs/{sha256}."
    )
    existing: bool = strawberry.field(
        description="True when the manifest equals the latest version's and that one is "
        "returned instead (unless allowDuplicate)."
    )


@strawberry.type(description="The version after the change.")
class ArtifactVersionPayload:
    version: ArtifactVersion = strawberry.field(description="The version.")


@strawberry.type(description="The run and the concrete version it used.")
class UseArtifactVersionPayload:
    run: Run = strawberry.field(description="The run.")
    version: ArtifactVersion = strawberry.field(description="The version, resolved.")
    created: bool = strawberry.field(description="False when this use was already recorded.")


@strawberry.type(description="The alias's new holder and the one it left.")
class SetArtifactAliasPayload:
    version: ArtifactVersion = strawberry.field(description="New holder.")
    previous: ArtifactVersion | None = strawberry.field(description="Former holder, if any.")


@strawberry.type(description="The version the removed alias pointed at.")
class RemoveArtifactAliasPayload:
    previous: ArtifactVersion = strawberry.field(description="Former holder.")


async def _version(info: Info, version_id: str) -> ArtifactVersion:
    return ArtifactVersion.from_record(await info.context.repos.artifacts.get_version(version_id))


@strawberry.type
class ArtifactQuery:
    @strawberry.field(description="An artifact by project and name.")
    async def artifact(self, info: Info, project: str, name: str) -> Artifact | None:
        found = await info.context.repos.artifacts.find_artifact(project, name)
        return Artifact.from_record(found) if found else None

    @strawberry.field(description="Artifacts of a project by name, optionally of one type.")
    async def artifacts(
        self,
        info: Info,
        project: str,
        type: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Artifact]:
        page = await info.context.repos.artifacts.list_artifacts(
            project, type=type, first=page_size(first), after=decode_cursor(after)
        )
        return connection(page, Artifact.from_record, lambda a: a.name)

    @strawberry.field(
        description="A version by id or by reference: project/artifact:v3 or "
        "project/artifact:<alias>. Null when nothing matches."
    )
    async def artifact_version(
        self,
        info: Info,
        ref: str,
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="Resolve an alias as it pointed then (artifact aliases keep their "
                "history as collection aliases do)."
            ),
        ] = None,
    ) -> ArtifactVersion | None:
        loader = info.context.loaders.version_by_id
        if kind_of(ref) == "ArtifactVersion":
            by_id = await loader.load(ref)  # ids batch with the request's other lookups
            return ArtifactVersion.from_record(by_id) if by_id else None
        try:  # a reference: found and read in one query
            found = await info.context.repos.artifacts.find_version(ref, "ref", as_of)
        except NotFound:
            return None
        loader.prime(found.id, found)
        return ArtifactVersion.from_record(found)

    @strawberry.field(
        description="Committed versions that contain a file with this sha256, among those the "
        "caller may read."
    )
    async def versions_with_blob(
        self, info: Info, sha256: str, first: int | None = None, after: str | None = None
    ) -> Connection[ArtifactVersion]:
        page = await info.context.repos.artifacts.versions_with_blob(
            sha256.lower(), first=page_size(first), after=decode_cursor(after)
        )
        readable = await info.context.access.readable(v.id for v in page.items)
        shown = Page(tuple(v for v in page.items if v.id in readable), page.has_next, None)
        return connection(shown, ArtifactVersion.from_record, lambda v: v.id)


@strawberry.type
class ArtifactMutation:
    @strawberry.mutation(
        description="Open a PENDING version; answers which blobs to upload (with `commit`, "
        "commits it at once when there are none)."
    )
    async def create_artifact_version(
        self, info: Info, input: CreateArtifactVersionInput
    ) -> CreateArtifactVersionPayload:
        raw = fields_of(input)
        raw["files"] = [fields_of(f) for f in input.files]
        raw["references"] = [fields_of(r) for r in input.references]
        data = parse(CreateVersionIn, raw)
        result = await info.context.repos.artifacts.create_version(
            project=data.project,
            artifact=data.artifact,
            type=data.type,
            files=[
                FileEntry(f.path, f.size, f.sha256, f.content_type or "application/octet-stream")
                for f in data.files
            ],
            metadata=data.metadata,
            description=data.description,
            run_id=data.run,
            allow_duplicate=data.allow_duplicate,
            pending_ttl=timedelta(seconds=info.context.settings.pending_ttl),
            reader=info.context.access.principal,
            references=[Reference(r.path, r.uri, r.sha256, r.size) for r in data.references],
            commit=data.commit,
        )
        info.context.wrote_into(data.project)
        return CreateArtifactVersionPayload(
            version=ArtifactVersion.from_record(result.version),
            missing_blobs=list(result.missing_blobs),
            existing=result.existing,
        )

    @strawberry.mutation(description="Commit: assigns vN, moves latest, links the run.")
    async def commit_artifact_version(
        self, info: Info, input: CommitArtifactVersionInput
    ) -> ArtifactVersionPayload:
        version = await info.context.repos.artifacts.commit_version(
            str(input.version), by=info.context.access.principal
        )
        return ArtifactVersionPayload(version=ArtifactVersion.from_record(version))

    @strawberry.mutation(description="Record that a run used a version (CONSUMED).")
    async def use_artifact_version(
        self, info: Info, input: UseArtifactVersionInput
    ) -> UseArtifactVersionPayload:
        repo = info.context.repos.artifacts
        version_id = await repo.resolve(input.version, "input.version")
        created = await repo.consume(
            str(input.run), version_id, input.version, actor=info.context.actor
        )
        run = await info.context.repos.runs.get_run(str(input.run))
        return UseArtifactVersionPayload(
            run=Run.from_record(run), version=await _version(info, version_id), created=created
        )

    @strawberry.mutation(description="Point an alias at a version, moving it if needed.")
    async def set_artifact_alias(
        self, info: Info, input: SetArtifactAliasInput
    ) -> SetArtifactAliasPayload:
        alias = parse(AliasIn, {"alias": input.alias}).alias
        repo = info.context.repos.artifacts
        version_id = await repo.resolve(input.version, "input.version")
        previous = await repo.set_alias(version_id, alias, actor=info.context.actor)
        return SetArtifactAliasPayload(
            version=await _version(info, version_id),
            previous=await _version(info, previous) if previous else None,
        )

    @strawberry.mutation(description="Remove an alias.")
    async def remove_artifact_alias(
        self, info: Info, input: RemoveArtifactAliasInput
    ) -> RemoveArtifactAliasPayload:
        alias = parse(AliasIn, {"alias": input.alias}).alias
        repo = info.context.repos.artifacts
        artifact = await repo.find_artifact(input.project, input.artifact)
        if artifact is None:
            raise NotFound("artifact", f"{input.project}/{input.artifact}")
        previous = await repo.remove_alias(artifact.id, alias, actor=info.context.actor)
        return RemoveArtifactAliasPayload(previous=await _version(info, previous))

    @strawberry.mutation(
        description="Soft-delete a version: refused while it holds an alias, and, unless "
        "confirmDependents, while anything depends on it (runs that used it, versions made "
        "from it, links of it or of them)."
    )
    async def delete_artifact_version(
        self, info: Info, input: DeleteArtifactVersionInput
    ) -> ArtifactVersionPayload:
        repo = info.context.repos.artifacts
        version_id = await repo.resolve(input.version, "input.version")
        version = await repo.delete_version(
            version_id, actor=info.context.actor, confirm_dependents=input.confirm_dependents
        )
        return ArtifactVersionPayload(version=ArtifactVersion.from_record(version))

    @strawberry.mutation(description="Restore a soft-deleted version.")
    async def restore_artifact_version(
        self, info: Info, input: VersionInput
    ) -> ArtifactVersionPayload:
        repo = info.context.repos.artifacts
        version_id = await repo.resolve(input.version, "input.version")
        version = await repo.restore_version(version_id, actor=info.context.actor)
        return ArtifactVersionPayload(version=ArtifactVersion.from_record(version))
