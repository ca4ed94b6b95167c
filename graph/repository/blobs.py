"""The graph's record of which blobs are stored, kept in step with S3 under the blob's lock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from graph.errors import Conflict
from graph.events import write_event
from graph.queries import blobs as q
from graph.records import Principal
from graph.repository.base import Repository, Tx


class BlobRepository(Repository):
    async def is_stored(self, sha256: str) -> bool:
        async def work(tx: Tx) -> bool:
            row = await (await tx.run(q.IS_STORED, sha256=sha256)).single()
            return bool(row and row["stored"])

        return await self._read(work)

    async def mark_stored(
        self, sha256: str, size: int, still_there: Callable[[], Awaitable[bool]]
    ) -> None:
        """Record an uploaded blob. `still_there` is asked under the blob's lock, which the
        collector also holds while it deletes, so a blob is never recorded as stored after the
        collector removed its bytes; raise Conflict when that race was lost."""

        async def work(tx: Tx) -> None:
            await tx.run(q.LOCK_BLOB, sha256=sha256, size=size)
            if not await still_there():
                raise Conflict(f"blob {sha256} was collected while it uploaded: upload it again")
            await tx.run(q.MARK_STORED, sha256=sha256, size=size, now=datetime.now(UTC))

        await self._write(work)

    async def prove(self, sha256: str, uploader: Principal) -> None:
        """Record that `uploader` sent this content, verified: see queries.blobs.PROVE."""

        async def work(tx: Tx) -> None:
            await tx.run(
                q.PROVE, sha256=sha256, user=uploader.id, projects=sorted(uploader.projects)
            )

        await self._write(work)

    async def unrecorded(self, shas: list[str]) -> list[str]:
        """The sha256s among `shas` that no Blob node records as stored."""

        async def work(tx: Tx) -> list[str]:
            row = await (await tx.run(q.UNRECORDED, shas=shas)).single(strict=True)
            return list(row["shas"])

        return await self._read(work)

    async def collect_unrecorded(self, sha256: str, remove: Callable[[], Awaitable[bool]]) -> bool:
        """Delete an S3 object no finished upload recorded (`remove` says whether it went),
        under the blob's lock, so an upload recording it meanwhile waits and then finds its
        bytes gone (mark_stored: Conflict); a node only this made is removed again."""

        async def work(tx: Tx) -> bool:
            row = await (await tx.run(q.CLAIM_UNRECORDED, sha256=sha256)).single(strict=True)
            if not row["unrecorded"]:
                return False
            gone = await remove()
            if not row["named"]:
                await tx.run(q.DELETE_BLOB, sha256=sha256)
            return gone

        return await self._write(work)

    async def unreferenced(self, *, older_than: datetime, limit: int) -> list[str]:
        """Blobs no version contains, stored (or recorded) before `older_than`."""

        async def work(tx: Tx) -> list[str]:
            result = await tx.run(q.UNREFERENCED, cutoff=older_than, limit=limit)
            return [row["sha256"] async for row in result]

        return await self._read(work)

    async def collect(
        self, sha256: str, *, older_than: datetime, remove: Callable[[], Awaitable[None]]
    ) -> bool:
        """Delete one unreferenced blob: bytes first (`remove`), then its node, all under its
        lock; False when a version or an upload claimed it meanwhile."""

        async def work(tx: Tx) -> bool:
            row = await (
                await tx.run(q.CLAIM_UNREFERENCED, sha256=sha256, cutoff=older_than)
            ).single()
            if row is None:
                return False
            if row["stored"]:
                await remove()
            await tx.run(q.DELETE_BLOB, sha256=sha256)
            await write_event(
                tx, "blob.collected", actor="system", subjects=[], before={"sha256": sha256}
            )
            return True

        return await self._write(work)
