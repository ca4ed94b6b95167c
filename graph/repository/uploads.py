"""Resumable upload sessions: which parts of a content an uploader has sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph.ids import new_id
from graph.queries import uploads as q
from graph.repository.base import Repository, Tx


@dataclass(frozen=True, slots=True)
class UploadSession:
    id: str
    sha256: str
    size: int
    part_size: int
    s3_upload_id: str
    owner: str
    object: str  # the S3 key the parts are joined under
    # number -> (etag, size), as S3 lists them (api.services.uploads.with_parts)
    parts: dict[int, tuple[str, int]] = field(default_factory=dict)

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        """How many bytes part `number` (1-based) holds."""
        return min(self.part_size, self.size - (number - 1) * self.part_size)


def _session(row: dict[str, Any]) -> UploadSession:
    return UploadSession(
        id=row["id"],
        sha256=row["sha256"],
        size=row["size"],
        part_size=row["partSize"],
        s3_upload_id=row["s3UploadId"],
        owner=row["owner"],
        object=row["object"],
    )


class UploadRepository(Repository):
    async def open(
        self, owner: str, sha256: str, size: int, part_size: int, s3_upload_id: str, obj: str
    ) -> tuple[UploadSession, bool]:
        """The uploader's session for this content, made with `s3_upload_id` (of the object
        `obj`) unless one was open already (then that one, and False: the caller aborts its
        own S3 upload)."""

        async def work(tx: Tx) -> tuple[UploadSession, bool]:
            row = await (
                await tx.run(
                    q.OPEN_SESSION,
                    owner=owner,
                    sha256=sha256,
                    id=new_id("upl"),
                    size=size,
                    part_size=part_size,
                    s3_upload_id=s3_upload_id,
                    object=obj,
                    now=datetime.now(UTC),
                )
            ).single(strict=True)
            return _session(row["session"]), bool(row["made"])

        return await self._write(work)

    async def find(self, session_id: str) -> UploadSession | None:
        async def work(tx: Tx) -> UploadSession | None:
            row = await (await tx.run(q.GET_SESSION, id=session_id)).single()
            return _session(row["session"]) if row else None

        return await self._read(work)

    async def find_for(self, owner: str, sha256: str) -> UploadSession | None:
        """The uploader's open session for this content, if there is one."""

        async def work(tx: Tx) -> UploadSession | None:
            row = await (await tx.run(q.FIND_SESSION, owner=owner, sha256=sha256)).single()
            return _session(row["session"]) if row else None

        return await self._read(work)

    async def close(self, session_id: str) -> None:
        async def work(tx: Tx) -> None:
            await tx.run(q.CLOSE_SESSION, id=session_id)

        await self._write(work)

    async def stale(self, cutoff: datetime, limit: int = 500) -> list[tuple[str, str, str]]:
        """(session id, S3 upload id, object key) of sessions begun before `cutoff`."""

        async def work(tx: Tx) -> list[tuple[str, str, str]]:
            result = await tx.run(q.STALE_SESSIONS, cutoff=cutoff, limit=limit)
            return [(row["id"], row["s3_upload_id"], row["object"]) async for row in result]

        return await self._read(work)
