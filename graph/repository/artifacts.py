"""Artifacts and their versions: open, commit, alias, consume, delete and restore, and reads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from graph.dependents import HasDependents, dependents_of
from graph.errors import Conflict, Invalid, NotFound, not_a_member
from graph.events import Change, new_event, write_event
from graph.ids import kind_of, new_id
from graph.queries import artifacts as q
from graph.records import (
    Artifact,
    ArtifactVersion,
    FileEntry,
    JsonObject,
    Page,
    Principal,
    Reference,
    StoredFile,
    instant,
    loads,
    native,
)
from graph.refs import parse_version_ref
from graph.repository.base import Repository, Tx
from graph.repository.runs import TERMINAL, _lock_run, flat

LATEST: Final = "latest"
METADATA_PREFIX: Final = "meta."


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What `create_version` answers: the version, the blobs to upload, and whether it is an
    existing committed version with the same manifest (nothing new was created)."""

    version: ArtifactVersion
    missing_blobs: tuple[str, ...]
    existing: bool


def artifact_from(node: Mapping[str, Any]) -> Artifact:
    return Artifact(
        id=node["id"],
        project=node["project"],
        name=node["name"],
        type=node["type"],
        description=node.get("description") or "",
        created_at=native(node["createdAt"]),
    )


def version_from(node: Mapping[str, Any], aliases: Sequence[str] = ()) -> ArtifactVersion:
    """A version from its node's properties; aliases from VERSION_MAP's list or `aliases`."""
    created_at = instant(node["createdAt"])
    assert created_at is not None
    return ArtifactVersion(
        id=node["id"],
        artifact_id=node["artifactId"],
        project=node["project"],
        artifact=node["artifact"],
        type=node["type"],
        index=node.get("index"),
        state=node["state"],
        digest=node["digest"],
        description=node.get("description") or "",
        metadata=loads(node.get("metadata")),
        size=node["size"],
        file_count=node["fileCount"],
        run_id=node.get("runId"),
        created_at=created_at,
        committed_at=instant(node.get("committedAt")),
        expires_at=instant(node.get("expiresAt")),
        deleted_at=instant(node.get("deletedAt")),
        aliases=tuple(node.get("aliases") or aliases),
        references=tuple(Reference(**r) for r in json.loads(node.get("references") or "[]")),
    )


def manifest_digest(files: Sequence[FileEntry], references: Sequence[Reference] = ()) -> str:
    """sha256 over the sorted (path, sha256, size) triples, and the references' (path, uri,
    sha256, size) after them when there are any: equal manifests, equal digests."""
    lines = sorted(f"{f.path}\t{f.sha256}\t{f.size}" for f in files)
    lines += sorted(
        f"ref\t{r.path}\t{r.uri}\t{r.sha256 or ''}\t{'' if r.size is None else r.size}"
        for r in references
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class ArtifactRepository(Repository):
    async def create_version(
        self,
        *,
        project: str,
        artifact: str,
        type: str,
        files: Sequence[FileEntry],
        metadata: JsonObject,
        description: str,
        run_id: str | None,
        allow_duplicate: bool,
        pending_ttl: timedelta,
        reader: Principal,
        references: Sequence[Reference] = (),
        commit: bool = False,
    ) -> NewVersion:
        """Open a PENDING version with its manifest (files, and references to data kept
        elsewhere), creating project and artifact on first use; a manifest equal to the latest
        version's returns that version instead. Content counts as present only when it is for
        `reader` (graph.queries.artifacts._PROVEN). With `commit`, a version with no content
        to upload is committed in the same transaction, recorded by one event (the commit's)."""
        actor = reader.name
        digest = manifest_digest(files, references)

        async def work(tx: Tx) -> NewVersion:
            # Committing takes the artifact's lock, before the run's (the order every writer
            # takes them in).
            art, latest, next_index = await _open_artifact(
                tx, project, artifact, type, actor, lock=run_id is not None or commit
            )
            if run_id is not None:
                run = await _lock_run(tx, run_id)
                if run.status in TERMINAL:
                    raise Conflict(f"run {run_id!r} is {run.status}: it cannot log versions")
            if not allow_duplicate and latest is not None and latest["digest"] == digest:
                return NewVersion(version_from(latest), (), existing=True)
            if files:
                await _check_blob_sizes(tx, files, reader)
            now = datetime.now(UTC)
            props = {
                "id": new_id("ver"),
                "artifactId": art.id,
                "project": project,
                "artifact": artifact,
                "type": type,
                "state": "PENDING",
                "digest": digest,
                "description": description,
                "metadata": json.dumps(metadata, sort_keys=True),
                "size": sum(f.size for f in files),
                "fileCount": len(files),
                "runId": run_id,
                "createdAt": now,
                "expiresAt": now + pending_ttl,
                **flat(METADATA_PREFIX, metadata),
            }
            if references:
                props["references"] = json.dumps([r.as_map() for r in references])
                props["referenceCount"] = len(references)
            file_rows = [
                {"path": f.path, "size": f.size, "sha256": f.sha256, "content_type": f.content_type}
                for f in files
            ]
            subjects = [props["id"], art.id, *([run_id] if run_id else [])]
            made = {
                "digest": digest,
                "files": len(files),
                "references": len(references),
                "size": props["size"],
                "run": run_id,
            }
            created = Change("artifact_version.created", actor=actor, subjects=subjects, after=made)
            # With `commit`, its one event is the commit's if the query commits it (when every
            # file's content is proven), the opening's otherwise.
            committed = Change(
                "artifact_version.committed",
                actor=actor,
                subjects=subjects,
                before={"latest": latest["id"] if latest is not None else None},
                after={"state": "COMMITTED", "index": next_index, "latest": props["id"]} | made,
                project=project,
            )
            row = await (
                await tx.run(
                    q.CREATE_VERSION,
                    artifact_id=art.id,
                    id=props["id"],
                    props=props,
                    files=file_rows,
                    reader=reader.reader(),
                    commit=commit,
                    now=now,
                    created=new_event(created),
                    committed=new_event(committed) if commit else None,
                )
            ).single(strict=True)
            missing = tuple(sorted(row["missing"]))
            return NewVersion(version_from(row["version"]), missing, existing=False)

        return await self._write(work)

    async def commit_version(self, version_id: str, *, by: Principal) -> ArtifactVersion:
        """Give a PENDING version the artifact's next index, move `latest`, link the producing
        run; return it with its aliases. Raise Invalid naming files whose content was never
        uploaded for it."""
        actor = by.name

        async def work(tx: Tx) -> ArtifactVersion:
            row = await (await tx.run(q.LOCK_FOR_COMMIT, id=version_id, user=by.id)).single()
            if row is None:
                raise NotFound("version", version_id)
            before = version_from(row["version"])
            if before.state == "COMMITTED":  # committing twice is harmless
                again = await (await tx.run(q.GET_VERSIONS, ids=[version_id])).single(strict=True)
                return version_from(again["versions"][0])
            if before.state != "PENDING":
                raise Conflict(f"version {version_id!r} is {before.state}, not PENDING")
            if before.expires_at is not None and before.expires_at < datetime.now(UTC):
                raise Conflict(f"version {version_id!r} expired at {before.expires_at:%c}")
            if row["unstored"]:
                listed = ", ".join(f"{f['path']} ({f['sha256']})" for f in row["unstored"])
                raise Invalid(
                    "input.version",
                    f"version {version_id!r} has files whose content was never uploaded "
                    f"for it (PUT /blobs/<sha256>, as missingBlobs listed): {listed}",
                )
            artifact_id, run_id = row["artifact_id"], before.run_id
            change = Change(
                "artifact_version.committed",
                actor=actor,
                subjects=[version_id, artifact_id, *([run_id] if run_id else [])],
                before={"state": "PENDING", "latest": row["latest"]},
                # The newest index takes `latest`.
                after={"state": "COMMITTED", "index": row["index"], "latest": version_id},
                project=before.project,
            )
            done = await tx.run(
                q.COMMIT_AND_MOVE_LATEST,
                id=version_id,
                artifact_id=artifact_id,
                now=datetime.now(UTC),
                event=new_event(change),
            )
            return version_from((await done.single(strict=True))["version"])

        return await self._write(work)

    async def set_alias(self, version_id: str, alias: str, *, actor: str) -> str | None:
        """Point `alias` of the version's artifact at this version, in one atomic step; return
        the id of the version that held it before, if any."""
        if alias == LATEST:
            raise Invalid("input.alias", "'latest' moves by itself on every commit")

        async def work(tx: Tx) -> str | None:
            artifact_id, version = await _lock_version(tx, version_id)
            if version.state != "COMMITTED":
                raise Conflict(
                    f"version {version_id!r} is {version.state}: only committed "
                    "versions take aliases"
                )
            now = datetime.now(UTC)
            row = await (
                await tx.run(
                    q.SET_ALIAS,
                    artifact_id=artifact_id,
                    version_id=version_id,
                    alias=alias,
                    now=now,
                )
            ).single(strict=True)
            previous = row["previous"][0] if row["previous"] else None
            await write_event(
                tx,
                Change(
                    "artifact_alias.set",
                    actor=actor,
                    subjects=[version_id, artifact_id, *([previous] if previous else [])],
                    before={"alias": alias, "version": previous},
                    after={"alias": alias, "version": version_id},
                    project=version.project,
                ),
            )
            return previous

        return await self._write(work)

    async def remove_alias(self, artifact_id: str, alias: str, *, actor: str) -> str:
        """Remove `alias` from the artifact; return the version it pointed at."""
        if alias == LATEST:
            raise Invalid("input.alias", "'latest' is kept by Forebear and cannot be removed")

        async def work(tx: Tx) -> str:
            artifact = await _lock_artifact(tx, artifact_id)
            row = await (
                await tx.run(
                    q.REMOVE_ALIAS, artifact_id=artifact_id, alias=alias, now=datetime.now(UTC)
                )
            ).single()
            if row is None or not row["previous"]:
                raise NotFound("alias", alias)
            previous: str = row["previous"][0]
            await write_event(
                tx,
                Change(
                    "artifact_alias.removed",
                    actor=actor,
                    subjects=[previous, artifact_id],
                    before={"alias": alias, "version": previous},
                    after={"alias": alias, "version": None},
                    project=artifact.project,
                ),
            )
            return previous

        return await self._write(work)

    async def delete_version(
        self, version_id: str, *, actor: str, confirm_dependents: bool = False
    ) -> ArtifactVersion:
        """Soft-delete a committed version; refused while a custom alias points at it, and
        while anything depends on it unless `confirm_dependents`."""

        async def work(tx: Tx) -> ArtifactVersion:
            artifact_id, before = await _lock_version(tx, version_id)
            if before.state != "COMMITTED":
                raise Conflict(f"version {version_id!r} is {before.state}, not COMMITTED")
            aliases = (await _aliases(tx, [version_id])).get(version_id, [])
            custom = [a for a in aliases if a != LATEST]
            if custom:
                raise Conflict(
                    f"version {before.name} holds the alias(es) {', '.join(custom)}: "
                    "move or remove them before deleting it"
                )
            if not confirm_dependents:
                found = await dependents_of(tx, [version_id], own_links=True)
                if found:
                    raise HasDependents(f"version {before.name}", found, "confirmDependents")
            return await _change_state(tx, artifact_id, before, "DELETED", actor)

        return await self._write(work)

    async def restore_version(self, version_id: str, *, actor: str) -> ArtifactVersion:
        """Undo a soft delete."""

        async def work(tx: Tx) -> ArtifactVersion:
            artifact_id, before = await _lock_version(tx, version_id)
            if before.state != "DELETED":
                raise Conflict(f"version {version_id!r} is {before.state}, not DELETED")
            return await _change_state(tx, artifact_id, before, "COMMITTED", actor)

        return await self._write(work)

    async def consume(self, run_id: str, version_id: str, ref: str, *, actor: str) -> bool:
        """Record that the run used the version; False when it was recorded already."""

        async def work(tx: Tx) -> bool:
            run = await _lock_run(tx, run_id)
            if run.status in TERMINAL:
                raise Conflict(f"run {run_id!r} is {run.status}: it cannot use versions now")
            _, version = await _lock_version(tx, version_id)
            if version.state != "COMMITTED":
                raise Conflict(
                    f"version {version.name} is {version.state}: only committed "
                    "versions can be used"
                )
            produced = await (
                await tx.run(q.PRODUCED_BY_RUN, run_id=run_id, version_id=version_id)
            ).single(strict=True)
            if produced["produced"]:
                raise Conflict(f"run {run_id!r} produced {version.name}: it cannot also use it")
            row = await (
                await tx.run(
                    q.CONSUME_VERSION,
                    run_id=run_id,
                    version_id=version_id,
                    ref=ref,
                    now=datetime.now(UTC),
                )
            ).single(strict=True)
            created = bool(row["created"])
            if created:
                await write_event(
                    tx,
                    Change(
                        "run.used_version",
                        actor=actor,
                        subjects=[run_id, version_id],
                        after={"ref": ref, "version": version.name},
                    ),
                )
            return created

        return await self._write(work)

    async def expire_pending(self, *, now: datetime, limit: int = 1000) -> list[str]:
        """Delete PENDING versions past their expiry; return their ids."""

        async def work(tx: Tx) -> list[str]:
            row = await (await tx.run(q.EXPIRE_PENDING, now=now, limit=limit)).single(strict=True)
            ids: list[str] = row["ids"]
            if ids:
                await write_event(
                    tx,
                    Change(
                        "artifact_version.expired",
                        actor="system",
                        subjects=ids,
                        after={"expired": len(ids)},
                    ),
                )
            return ids

        return await self._write(work)

    # --- reads ---------------------------------------------------------------------------------

    async def resolve(self, ref: str, field: str, as_of: datetime | None = None) -> str:
        """The id of the version a reference or id names (an alias as it was at `as_of`);
        raise NotFound or Invalid."""
        if kind_of(ref) == "ArtifactVersion":
            return ref
        found, _ = await self._resolve(ref, field, as_of, full=False)
        return found

    async def find_version(
        self, ref: str, field: str, as_of: datetime | None = None
    ) -> ArtifactVersion:
        """The version a reference or id names (an alias as it was at `as_of`), read with its
        reference in one query; raise NotFound or Invalid."""
        if kind_of(ref) == "ArtifactVersion":
            return await self.get_version(ref)
        _, version = await self._resolve(ref, field, as_of, full=True)
        assert version is not None
        return version

    async def _resolve(
        self, ref: str, field: str, as_of: datetime | None, *, full: bool
    ) -> tuple[str, ArtifactVersion | None]:
        parsed = parse_version_ref(ref, field)
        names = {"project": parsed.project, "name": parsed.artifact, "full": full}

        async def work(tx: Tx) -> tuple[str, ArtifactVersion | None] | None:
            if as_of is not None and parsed.alias is not None:
                result = await tx.run(q.ALIAS_AS_OF, names, alias=parsed.alias, at=as_of)
            elif parsed.index is not None:
                result = await tx.run(q.VERSION_BY_INDEX, names, index=parsed.index)
            else:
                result = await tx.run(q.VERSION_BY_ALIAS, names, alias=parsed.alias)
            row = await result.single()
            if row is None or row["id"] is None:
                return None
            return str(row["id"]), None if row["version"] is None else version_from(row["version"])

        found = await self._read(work)
        if found is None:
            raise NotFound("version", ref)
        return found

    async def get_versions(self, ids: Sequence[str]) -> dict[str, ArtifactVersion]:
        """The versions among `ids` that exist, with their aliases, by id."""

        async def work(tx: Tx) -> dict[str, ArtifactVersion]:
            row = await (await tx.run(q.GET_VERSIONS, ids=list(ids))).single(strict=True)
            return {node["id"]: version_from(node) for node in row["versions"]}

        return await self._read(work)

    async def get_version(self, version_id: str) -> ArtifactVersion:
        found = await self.get_versions([version_id])
        if version_id not in found:
            raise NotFound("version", version_id)
        return found[version_id]

    async def find_artifact(self, project: str, name: str) -> Artifact | None:
        async def work(tx: Tx) -> Artifact | None:
            row = await (await tx.run(q.GET_ARTIFACT, project=project, name=name)).single()
            return None if row is None else artifact_from(row["artifact"])

        return await self._read(work)

    async def get_artifacts(self, ids: Sequence[str]) -> dict[str, Artifact]:
        async def work(tx: Tx) -> dict[str, Artifact]:
            result = await tx.run(q.GET_ARTIFACTS_BY_ID, ids=list(ids))
            return {row["artifact"]["id"]: artifact_from(row["artifact"]) async for row in result}

        return await self._read(work)

    async def list_artifacts(
        self, project: str, *, type: str | None, first: int, after: str | None
    ) -> Page[Artifact]:
        async def work(tx: Tx) -> list[Artifact]:
            result = await tx.run(
                q.LIST_ARTIFACTS, project=project, type=type, after=after, limit=first + 1
            )
            return [artifact_from(row["artifact"]) async for row in result]

        found = await self._read(work)
        page = tuple(found[:first])
        return Page(page, len(found) > first, page[-1].name if page else None)

    async def list_versions(
        self,
        artifact_id: str,
        *,
        alias: str | None,
        metadata: Mapping[str, Any],
        include_deleted: bool,
        first: int,
        before_index: int | None,
    ) -> Page[ArtifactVersion]:
        """Committed versions, newest first; `metadata` filters on equal top-level values."""

        async def work(tx: Tx) -> list[ArtifactVersion]:
            result = await tx.run(
                q.LIST_VERSIONS,
                artifact_id=artifact_id,
                alias=alias,
                include_deleted=include_deleted,
                before=before_index,
                filters=[
                    {"property": METADATA_PREFIX + k, "value": v} for k, v in metadata.items()
                ],
                limit=first + 1,
            )
            rows = [row["version"] async for row in result]
            aliases = await _aliases(tx, [row["id"] for row in rows])
            return [version_from(row, aliases.get(row["id"], [])) for row in rows]

        found = await self._read(work)
        page = tuple(found[:first])
        return Page(page, len(found) > first, str(page[-1].index) if page else None)

    async def list_files(
        self, version_id: str, *, first: int, after: str | None
    ) -> Page[FileEntry]:
        """The version's files in path order."""

        async def work(tx: Tx) -> list[FileEntry]:
            result = await tx.run(q.LIST_FILES, id=version_id, after=after, limit=first + 1)
            return [_file(row) async for row in result]

        found = await self._read(work)
        page = tuple(found[:first])
        return Page(page, len(found) > first, page[-1].path if page else None)

    async def first_files(self, ids: Sequence[str], first: int) -> dict[str, Page[FileEntry]]:
        """The first page of files of each version, in one query for all of them."""

        async def work(tx: Tx) -> dict[str, list[FileEntry]]:
            found: dict[str, list[FileEntry]] = {version_id: [] for version_id in ids}
            async for row in await tx.run(q.FIRST_FILES, ids=list(ids), limit=first + 1):
                found[row["id"]].append(_file(row))
            return found

        return {
            version_id: Page(
                tuple(files[:first]), len(files) > first, files[:first][-1].path if files else None
            )
            for version_id, files in (await self._read(work)).items()
        }

    async def get_file(self, version_id: str, path: str) -> StoredFile:
        """One file of a committed version; raise NotFound for anything else."""
        found = await self.stored_files(version_id, [path])
        if not found:
            raise NotFound("file", f"{version_id}/{path}")
        return found[0]

    async def stored_files(
        self, version_id: str, paths: Sequence[str] | None = None
    ) -> list[StoredFile]:
        """Files of a committed version at `paths` (all of them when None), in path order,
        with where their bytes are; none for a version that is not committed."""

        async def work(tx: Tx) -> list[StoredFile]:
            result = await tx.run(
                q.STORED_FILES, id=version_id, paths=None if paths is None else list(paths)
            )
            return [
                StoredFile(_file(row), row["object"], row["offset"])
                async for row in result
                if row["state"] == "COMMITTED"
            ]

        return await self._read(work)

    async def versions_with_blob(
        self, sha256: str, *, first: int, after: str | None
    ) -> Page[ArtifactVersion]:
        async def work(tx: Tx) -> list[ArtifactVersion]:
            result = await tx.run(q.VERSIONS_WITH_BLOB, sha256=sha256, after=after, limit=first + 1)
            return [version_from(row["version"]) async for row in result]

        found = await self._read(work)
        page = tuple(found[:first])
        return Page(page, len(found) > first, page[-1].id if page else None)

    async def producers_of(self, ids: Sequence[str]) -> dict[str, str]:
        """The id of the run that produced each version, for those that have one."""

        async def work(tx: Tx) -> dict[str, str]:
            result = await tx.run(q.PRODUCERS_OF, ids=list(ids))
            return {row["id"]: row["run_id"] async for row in result}

        return await self._read(work)

    async def consumers_of(self, version_id: str, *, first: int, offset: int) -> Page[str]:
        """Ids of the runs that used the version, in the order they declared it."""

        async def work(tx: Tx) -> list[str]:
            result = await tx.run(q.CONSUMERS_OF, id=version_id, offset=offset, limit=first + 1)
            return [row["run_id"] async for row in result]

        found = await self._read(work)
        return Page(tuple(found[:first]), len(found) > first, str(offset + min(first, len(found))))

    async def run_versions(self, run_id: str, kind: str) -> list[str]:
        """Ids of the versions a run PRODUCED or CONSUMED."""

        async def work(tx: Tx) -> list[str]:
            return [row["id"] async for row in await tx.run(q.RUN_VERSIONS, id=run_id, kind=kind)]

        return await self._read(work)


async def _open_artifact(
    tx: Tx, project: str, name: str, type: str, actor: str, *, lock: bool
) -> tuple[Artifact, Mapping[str, Any] | None, int]:
    """The artifact (and its project), made on first use, its latest version's node and the
    index its next committed version takes (read under the lock, with `lock`); raise
    Forbidden when `actor` may not write into the project. `lock`: write-lock the artifact
    now (before a run's lock: the order every writer takes them in)."""
    now = datetime.now(UTC)
    row = await (
        await tx.run(
            q.OPEN_ARTIFACT,
            name=project,
            id=new_id("prj"),
            description="",
            actor=actor,
            project=project,
            artifact=name,
            artifact_id=new_id("art"),
            type=type,
            now=now,
            lock=lock,
        )
    ).single(strict=True)
    if not row["project_created"] and not row["allowed"]:
        raise not_a_member(actor, project)
    next_index = int(row["artifact"]["nextIndex"])
    return _of_type(artifact_from(row["artifact"]), type), row["latest"], next_index


def _of_type(artifact: Artifact, type: str) -> Artifact:
    if artifact.type != type:
        raise Invalid(
            "input.type",
            f"artifact {artifact.project}/{artifact.name} holds versions of type "
            f"{artifact.type!r}, not {type!r}",
        )
    return artifact


async def _check_blob_sizes(tx: Tx, files: Sequence[FileEntry], reader: Principal) -> None:
    """Refuse a manifest whose size for a stored (hence verified) blob present for `reader` is
    wrong; other sizes are checked by the upload and again at commit (saying more here would
    tell whether content exists that the caller has not shown they hold)."""
    shas = sorted({f.sha256 for f in files})
    stored = {
        row["sha256"]: row["size"]
        async for row in await tx.run(q.KNOWN_BLOBS, shas=shas, reader=reader.reader())
    }
    for f in files:
        if f.sha256 in stored and stored[f.sha256] != f.size:
            raise Invalid(
                "input.files",
                f"{f.path}: the content with sha256 {f.sha256} has {stored[f.sha256]} bytes, "
                f"not {f.size}",
            )


async def _lock_version(tx: Tx, version_id: str) -> tuple[str, ArtifactVersion]:
    """Take the write lock of the version's artifact: every change to an artifact's versions
    and aliases queues behind it, which keeps indexes gapless and aliases single."""
    row = await (await tx.run(q.LOCK_ARTIFACT_OF_VERSION, id=version_id)).single()
    if row is None:
        raise NotFound("version", version_id)
    return row["artifact_id"], version_from(row["version"])


async def _lock_artifact(tx: Tx, artifact_id: str) -> Artifact:
    row = await (await tx.run(q.LOCK_ARTIFACT, artifact_id=artifact_id)).single()
    if row is None:
        raise NotFound("artifact", artifact_id)
    return artifact_from(row["artifact"])


async def _move_latest(tx: Tx, artifact_id: str, now: datetime) -> tuple[str | None, str | None]:
    row = await (await tx.run(q.MOVE_LATEST, artifact_id=artifact_id, now=now)).single(strict=True)
    previous = row["previous"][0] if row["previous"] else None
    return previous, row["current"]


async def _change_state(
    tx: Tx,
    artifact_id: str,
    before: ArtifactVersion,
    state: str,
    actor: str,
) -> ArtifactVersion:
    now = datetime.now(UTC)
    deleted_at = now if state == "DELETED" else None
    row = await (
        await tx.run(q.SET_VERSION_STATE, id=before.id, state=state, deleted_at=deleted_at, now=now)
    ).single(strict=True)
    moved = await _move_latest(tx, artifact_id, now)
    verb = "deleted" if state == "DELETED" else "restored"
    await write_event(
        tx,
        Change(
            f"artifact_version.{verb}",
            actor=actor,
            subjects=[before.id, artifact_id],
            before={"state": before.state, "latest": moved[0]},
            after={"state": state, "latest": moved[1]},
            project=before.project,
        ),
    )
    aliases = (await _aliases(tx, [before.id])).get(before.id, [])
    return version_from(row["version"], aliases)


async def _aliases(tx: Tx, ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    async for row in await tx.run(q.ALIASES_OF, ids=list(ids)):
        found.setdefault(row["id"], []).append(row["alias"])
    return found


def _file(row: Mapping[str, Any]) -> FileEntry:
    return FileEntry(
        path=row["path"],
        size=row["size"],
        sha256=row["sha256"],
        content_type=row["content_type"] or "application/octet-stream",
    )
