"""The graph's record of which blobs are stored, kept in step with S3 under the blob's lock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from graph.errors import Conflict
from graph.events import Change, write_event
from graph.queries import blobs as q
from graph.records import Principal
from graph.repository.base import Repository, Tx


@dataclass(frozen=True, slots=True)
class Placed:
    """A blob's bytes: `size` of them from `offset` in an object (of the store's choosing when
    `object` is None: the blob's own key)."""

    sha256: str
    size: int
    offset: int = 0


class BlobRepository(Repository):
    async def is_stored(self, sha256: str) -> bool:
        return sha256 in await self.stored([sha256])

    async def stored(self, shas: Sequence[str]) -> dict[str, tuple[str | None, int]]:
        """Where the stored ones among `shas` are: (object, offset), object None for the
        blob's own key."""

        async def work(tx: Tx) -> dict[str, tuple[str | None, int]]:
            result = await tx.run(q.STORED, shas=list(shas))
            return {row["sha256"]: (row["object"], row["offset"]) async for row in result}

        return await self._read(work)

    async def mark_stored(
        self,
        blobs: Sequence[Placed],
        still_there: Callable[[], Awaitable[bool]],
        *,
        object: str | None = None,
    ) -> None:
        """Record uploaded blobs, their bytes in `object` (None: each its own key) at their
        offsets. `still_there` is asked under the blobs' locks, which the collector also
        holds while it deletes, so a blob is never recorded as stored after the collector
        removed its bytes; raise Conflict when that race was lost."""
        rows = [{"sha256": b.sha256, "size": b.size, "offset": b.offset} for b in blobs]

        async def work(tx: Tx) -> None:
            await tx.run(q.LOCK_BLOBS, blobs=rows)
            if not await still_there():
                names = ", ".join(b.sha256 for b in blobs[:3])
                raise Conflict(f"blob {names} was collected while it uploaded: upload it again")
            await tx.run(q.MARK_STORED, blobs=rows, object=object, now=datetime.now(UTC))

        await self._write(work)

    async def prove(self, shas: Sequence[str], uploader: Principal) -> None:
        """Record that `uploader` sent these contents, verified: see queries.blobs.PROVE."""

        async def work(tx: Tx) -> None:
            await tx.run(
                q.PROVE, shas=list(shas), user=uploader.id, projects=sorted(uploader.projects)
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

    async def unused_objects(self, keys: list[str]) -> list[str]:
        """The objects among `keys` (packs, resumable uploads' objects) in which no stored
        blob has its bytes."""

        async def work(tx: Tx) -> list[str]:
            row = await (await tx.run(q.UNUSED_OBJECTS, keys=keys)).single(strict=True)
            return list(row["keys"])

        return await self._read(work)

    async def collect(
        self,
        sha256: str,
        *,
        older_than: datetime,
        remove: Callable[[str | None], Awaitable[None]],
    ) -> bool:
        """Delete one unreferenced blob: bytes first (`remove(object)`, object None for the
        blob's own key; an object shared with other blobs only with the last of them), then
        its node, all under its lock; False when a version or an upload claimed it
        meanwhile. (Two replicas collecting the last two blobs of a pack at once may both
        leave it: the collector's look through the bucket removes it.)"""

        async def work(tx: Tx) -> bool:
            row = await (
                await tx.run(q.CLAIM_UNREFERENCED, sha256=sha256, cutoff=older_than)
            ).single()
            if row is None:
                return False
            await tx.run(q.DELETE_BLOB, sha256=sha256)
            if row["stored"]:
                shared = row["object"]
                used = (
                    shared is not None
                    and (await (await tx.run(q.OBJECT_USED, object=shared)).single(strict=True))[
                        "used"
                    ]
                )
                if not used:
                    await remove(shared)
            await write_event(
                tx, Change("blob.collected", actor="system", subjects=[], before={"sha256": sha256})
            )
            return True

        return await self._write(work)
