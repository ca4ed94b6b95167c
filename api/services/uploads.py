"""Resumable uploads: sessions onto S3 multipart uploads, and the whole sha256 of their parts.

A session (one per uploader and content) is a node in the graph; which parts arrived, S3's own
listing of the multipart upload says, so a part costs no graph write. Its parts are joined into
an object of its own (`uploads/<random>`), which becomes the blob's bytes once the whole content
is verified: nothing is copied. The sha256 is computed here as the parts arrive, in order (a part
that comes early waits in memory for the ones before it, within a budget), so finishing costs no
second read of the content. When this process cannot vouch for every part (it restarted,
another replica took some parts, a part was sent twice, the budget ran out), the joined object
is read back once instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Final

import anyio
import anyio.to_thread
from cachetools import LRUCache

from api.services.blobs import record_upload, stored_already
from graph.errors import Conflict
from graph.records import Principal
from graph.repository.blobs import BlobRepository, Placed
from graph.repository.uploads import UploadRepository, UploadSession
from storage.blobs import BlobStore, upload_key
from storage.errors import BlobMissing

PART_SIZE: Final = 8 * 2**20  # S3 wants 5 MiB at least (but for the last part)
MAX_PARTS: Final = 10_000  # S3's limit
WAITING_BYTES: Final = 64 * 2**20  # parts of one session held until those before them come
ALL_WAITING_BYTES: Final = 256 * 2**20  # and of all sessions together: memory stays bounded
SESSIONS_HASHED: Final = 32  # sessions whose sha256 this process follows (the oldest go)


def part_size(size: int) -> int:
    """8 MiB parts, larger when that would make more than S3's 10,000."""
    return max(PART_SIZE, -(-size // MAX_PARTS))


@dataclass(slots=True)
class _Hashing:
    session: UploadSession
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    next: int = 1  # the part to hash next
    waiting: dict[int, bytes | bytearray] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    lost: bool = False  # the digest can no longer be vouched for: read the object back


class PartHashes:
    """The sessions this process opened (so a part needs no graph read), with the running
    sha256 of their parts."""

    def __init__(
        self,
        sessions: int = SESSIONS_HASHED,
        waiting: int = WAITING_BYTES,
        all_waiting: int = ALL_WAITING_BYTES,
    ) -> None:
        # Sessions followed, the least recently sent to going first past `sessions`.
        self._states: LRUCache[str, _Hashing] = LRUCache(maxsize=sessions)
        self._waiting = waiting
        self._all_waiting = all_waiting

    def start(self, session: UploadSession) -> None:
        """Follow a session from its first part (a session made by this process)."""
        self._states[session.id] = _Hashing(session)

    def session(self, session_id: str) -> UploadSession | None:
        """The session, if this process opened it and it is still open here."""
        state = self._states.get(session_id)
        return None if state is None else state.session

    async def add(self, session_id: str, number: int, data: bytes | bytearray) -> None:
        """Part `number` was stored: hash it, and the waiting parts after it, if its turn
        has come; keep it until then otherwise."""
        state = self._states.get(session_id)
        if state is None:
            return
        async with state.lock:
            if state.lost:
                return
            if number in state.seen:  # sent again: S3 keeps the later bytes, unhashed
                state.lost = True
                state.waiting.clear()
                return
            state.seen.add(number)
            state.waiting[number] = data
            while (ready := state.waiting.pop(state.next, None)) is not None:
                await anyio.to_thread.run_sync(state.sha256.update, ready)
                state.next += 1
            held = sum(map(len, state.waiting.values()))
            if held > self._waiting or (held and self._held() > self._all_waiting):
                state.lost = True  # this one is read back when it finishes instead
                state.waiting.clear()

    def _held(self) -> int:
        return sum(len(d) for state in self._states.values() for d in state.waiting.values())

    def digest(self, session_id: str, parts: int) -> str | None:
        """The sha256 of all `parts` when this process hashed every one of them."""
        state = self._states.get(session_id)
        if state is None or state.lost or state.next != parts + 1:
            return None
        return state.sha256.hexdigest()

    def forget(self, session_id: str) -> None:
        self._states.pop(session_id, None)


async def open_session(
    sha256: str,
    size: int,
    uploader: Principal,
    *,
    store: BlobStore,
    uploads: UploadRepository,
    hashes: PartHashes,
) -> tuple[UploadSession, bool]:
    """The uploader's open session for this content (resumed), else a new one; made?"""
    found = await uploads.find_for(uploader.id, sha256)
    if found is not None:
        try:
            return await with_parts(found, store), False
        except BlobMissing:  # its S3 upload is gone (aborted by hand): start afresh
            await uploads.close(found.id)
    key = upload_key()
    s3_upload = await store.start_parts(key)
    session, made = await uploads.open(uploader.id, sha256, size, part_size(size), s3_upload, key)
    if made:
        hashes.start(session)
    else:  # another request of ours opened it meanwhile
        await store.drop_upload(key, s3_upload)
    return await with_parts(session, store), made


async def find_session(
    session_id: str, *, uploads: UploadRepository, hashes: PartHashes
) -> UploadSession | None:
    """An open session, from this process's memory when it opened it, else the graph."""
    return hashes.session(session_id) or await uploads.find(session_id)


async def with_parts(session: UploadSession, store: BlobStore) -> UploadSession:
    """The session with the parts S3 holds of it."""
    parts = await store.parts(session.object, session.s3_upload_id)
    return dataclasses.replace(session, parts=parts)


async def store_part(
    session: UploadSession, number: int, data: bytearray, *, store: BlobStore, hashes: PartHashes
) -> None:
    """Store part `number` in S3 (which then lists it: no graph write), and hash it."""
    await store.put_part(session.object, session.s3_upload_id, number, data)
    await hashes.add(session.id, number, data)


@dataclass(frozen=True, slots=True)
class Rejected:
    digest: str
    size: int


async def finish_session(
    session: UploadSession,
    uploader: Principal,
    *,
    store: BlobStore,
    blobs: BlobRepository,
    uploads: UploadRepository,
    hashes: PartHashes,
) -> bool | Rejected:
    """Join the parts (`session` with its parts, as with_parts lists them), verify the whole
    content, and record it: newly stored? (Rejected: the content is not what the session
    announced; it is dropped.) The session closes."""
    etags = [session.parts[n][0] for n in range(1, session.part_count + 1)]
    digest = hashes.digest(session.id, session.part_count)
    hashes.forget(session.id)
    await store.finish_parts(session.object, session.s3_upload_id, etags)
    size = sum(s for _, s in session.parts.values())
    if digest is None:  # not every part passed through here: read the object back
        digest, size = await store.digest_of(session.object)
    if digest != session.sha256 or size != session.size:
        await store.drop_upload(session.object, None)
        await uploads.close(session.id)
        return Rejected(digest, size)
    created = not await stored_already([session.sha256], store=store, repo=blobs)
    if not created:  # stored already: the upload proved the uploader holds it; keep one copy
        await store.drop_upload(session.object, None)
    placed = [Placed(session.sha256, size)] if created else []
    try:
        await record_upload(
            placed, [session.sha256], uploader, store=store, repo=blobs, obj=session.object
        )
    except Conflict:
        await uploads.close(session.id)
        raise
    await uploads.close(session.id)
    return created
