"""Where uploads and downloads meet both the graph and S3."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
import re
import tarfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import anyio
from neo4j import AsyncDriver

from api.settings import Settings
from graph.errors import GraphError
from graph.records import Principal
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository, Placed
from graph.repository.idempotency import IdempotencyRepository
from graph.repository.uploads import UploadRepository
from storage.blobs import OBJECT_PREFIXES, BlobStore, HashingReader, object_key
from storage.errors import StorageError

log = logging.getLogger("forebear.collect")

# Seconds between looks through the whole bucket (a listing of every object): what it finds
# is rare, and the listing costs a request per thousand objects.
STORAGE_SCAN_EVERY: Final = 3600.0

SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
STAT_AT_ONCE: Final = 16  # S3 HEADs in flight while checking which contents are stored


async def store_blob(
    sha256: str,
    body: AsyncIterator[bytes],
    length: int | None,
    *,
    limit: int,
    store: BlobStore,
    repo: BlobRepository,
    uploader: Principal,
) -> tuple[int, bool]:
    """Stream `body` into S3 under `sha256`, verified on the way; return (size, newly stored).
    Content stored already is read and verified all the same, but not stored again: it is
    the upload that proves the uploader holds the bytes (deduplication saves storage, never
    the proof). Either way the content is then present for the uploader."""
    reader = HashingReader(body, sha256=sha256, length=length, limit=limit)
    if await stored_already([sha256], store=store, repo=repo):
        size, created = await reader.drain(), False
    else:
        size, created = await store.put(sha256, reader, length), True
    stored = [Placed(sha256, size)] if created else []
    await record_upload(stored, [sha256], uploader, store=store, repo=repo)
    return size, created


# POST /blobs: many small contents in one request (a tar whose members are named by their
# sha256), stored together as one object, a pack: a request and an S3 object per batch, not
# per file.
PACKED_BLOB_LIMIT: Final = 2**20  # larger contents go one by one (PUT /blobs)
PACK_LIMIT: Final = 32 * 2**20  # bytes of content in one request
PACK_MEMBERS: Final = 10_000  # contents in one request


class PackRejected(ValueError):
    """A batch that cannot be taken, and why (nothing of it was stored)."""


@dataclass(frozen=True, slots=True)
class PackResult:
    sha256: str
    size: int
    created: bool


def unpack(body: bytes) -> dict[str, bytes]:
    """The contents of a POST /blobs body by sha256, each verified; PackRejected names the
    first member that is not a regular file named by the sha256 of its bytes."""
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as archive:
            for member in archive:
                name = member.name
                if not member.isfile() or not SHA256.match(name):
                    raise PackRejected(
                        f"member {name!r}: each member is a file named by its lowercase hex sha256"
                    )
                if member.size > PACKED_BLOB_LIMIT:
                    raise PackRejected(
                        f"member {name}: {member.size} bytes; contents over "
                        f"{PACKED_BLOB_LIMIT} go one by one (PUT /blobs/{{sha256}})"
                    )
                extracted = archive.extractfile(member)
                data = extracted.read() if extracted is not None else b""
                if (digest := hashlib.sha256(data).hexdigest()) != name:
                    raise PackRejected(f"member {name}: its content's sha256 is {digest}")
                contents[name] = data
                if len(contents) > PACK_MEMBERS:
                    raise PackRejected(f"at most {PACK_MEMBERS} contents per request")
    except tarfile.TarError as exc:
        raise PackRejected(f"the body is not a whole tar archive: {exc}") from exc
    if not contents:
        raise PackRejected("the archive holds no member")
    return contents


async def store_pack(
    contents: dict[str, bytes], *, store: BlobStore, repo: BlobRepository, uploader: Principal
) -> list[PackResult]:
    """Store the contents not stored yet as one pack, and record them all as present for
    the uploader (verified already by `unpack`)."""
    present = await stored_already(list(contents), store=store, repo=repo)
    new = [sha for sha in contents if sha not in present]
    placed, offset = [], 0
    for sha in new:
        placed.append(Placed(sha, len(contents[sha]), offset))
        offset += len(contents[sha])
    key = await store.put_pack(b"".join(contents[sha] for sha in new)) if new else None
    await record_upload(placed, list(contents), uploader, store=store, repo=repo, obj=key)
    return [PackResult(sha, len(data), sha not in present) for sha, data in contents.items()]


async def stored_already(
    shas: Sequence[str], *, store: BlobStore, repo: BlobRepository
) -> set[str]:
    """Those of `shas` that are stored: recorded in the graph, their bytes still in S3."""
    found = await repo.stored(shas)
    keys = {object_key(sha, obj) for sha, (obj, _) in found.items()}
    present: set[str] = set()
    limiter = anyio.CapacityLimiter(STAT_AT_ONCE)

    async def check(key: str) -> None:
        async with limiter:
            if await store.has(key):
                present.add(key)

    async with anyio.create_task_group() as group:  # a pack's worth of HEADs, a few at a time
        for key in keys:
            group.start_soon(check, key)
    return {sha for sha, (obj, _) in found.items() if object_key(sha, obj) in present}


async def record_upload(
    stored: Sequence[Placed],
    shas: Sequence[str],
    uploader: Principal,
    *,
    store: BlobStore,
    repo: BlobRepository,
    obj: str | None = None,
) -> None:
    """After verified uploads (PUT /blobs, POST /blobs, resumable parts joined): record the
    bytes they stored (`stored`, in `obj`, or each under its own key), and that the uploader
    holds all of `shas`."""
    if stored:
        if obj is not None:
            there = functools.partial(store.has, obj)
        else:
            there = functools.partial(_all_there, store, [b.sha256 for b in stored])
        await repo.mark_stored(stored, there, object=obj)
    await repo.prove(shas, uploader)


async def _all_there(store: BlobStore, shas: list[str]) -> bool:
    return all([await store.exists(sha) for sha in shas])


@dataclass(frozen=True, slots=True)
class CollectReport:
    expired_versions: int
    removed_blobs: int
    expired_keys: int = 0
    aborted_uploads: int = 0
    removed_objects: int = 0


async def collect_garbage(
    artifacts: ArtifactRepository,
    repo: BlobRepository,
    store: BlobStore,
    *,
    grace: timedelta,
    now: datetime | None = None,
    batch: int = 500,
    keys: IdempotencyRepository | None = None,
    upload_grace: timedelta | None = None,
    sessions: UploadRepository | None = None,
) -> CollectReport:
    """Expire PENDING versions past their time, then delete the blobs no version contains
    that were stored more than `grace` ago; forget idempotency keys past their time (`keys`).
    With `upload_grace`, also look through S3 itself for what a killed API left there:
    multipart uploads begun longer ago than that and never finished, and objects written more
    than `grace` ago that no upload recorded. Safe while uploads run and on several replicas
    at once: each blob is re-checked and removed under its own lock."""
    now = now or datetime.now(UTC)
    expired = 0
    while ids := await artifacts.expire_pending(now=now, limit=batch):
        expired += len(ids)
    removed = 0
    cutoff = now - grace
    while candidates := await repo.unreferenced(older_than=cutoff, limit=batch):
        progress = 0
        for sha256 in candidates:
            remove = functools.partial(_remove_bytes, store, sha256)
            if await repo.collect(sha256, older_than=cutoff, remove=remove):
                progress += 1
        removed += progress
        if progress == 0:
            break
    forgotten = 0
    while keys is not None and (done := await keys.expire(now=now, limit=batch)):
        forgotten += done
    aborted = objects = 0
    if upload_grace is not None:
        if sessions is not None:  # resumable uploads never finished: their parts go too
            for session_id, s3_upload, name in await sessions.stale(now - upload_grace):
                await store.drop_upload(name, s3_upload)
                await sessions.close(session_id)
                aborted += 1
        for key, upload_id in await store.stale_uploads(now - upload_grace):
            await store.abort_upload(key, upload_id)
            aborted += 1
        objects = await _collect_unrecorded(repo, store, cutoff, batch)
    return CollectReport(expired, removed, forgotten, aborted, objects)


async def _remove_bytes(store: BlobStore, sha256: str, obj: str | None) -> None:
    await store.remove(object_key(sha256, obj))


async def _collect_unrecorded(
    repo: BlobRepository, store: BlobStore, cutoff: datetime, batch: int
) -> int:
    """Remove S3 objects written before `cutoff` that hold no stored blob's bytes (a crash
    between an upload's last byte and its graph write; a pack whose last blobs two replicas
    collected at once); a page of the bucket at a time."""
    removed = 0
    for prefix in OBJECT_PREFIXES:
        after = ""
        while page := await store.listed(prefix, after, batch):
            after = page[-1][0]
            old = [key for key, written in page if written is not None and written < cutoff]
            if not old:
                continue
            if prefix == "blobs/":  # own keys: under the blob's lock, as uploads record them
                by_sha = {key.rsplit("/", 1)[-1]: key for key in old}
                for sha256 in await repo.unrecorded(list(by_sha)):
                    remove = functools.partial(store.remove_if_older, by_sha[sha256], cutoff)
                    removed += await repo.collect_unrecorded(sha256, remove)
            else:  # packs and uploads' objects: no blob is ever placed in an old one again
                for key in await repo.unused_objects(old):
                    removed += await store.remove_if_older(key, cutoff)
    return removed


async def collect_periodically(driver: AsyncDriver, store: BlobStore, settings: Settings) -> None:
    """Run `collect_garbage` every FOREBEAR_GC_INTERVAL seconds until cancelled; a failed round
    is logged and the next one tried (several replicas may do this at once)."""
    artifacts = ArtifactRepository(driver, settings.neo4j_database)
    repo = BlobRepository(driver, settings.neo4j_database)
    keys = IdempotencyRepository(driver, settings.neo4j_database)
    scanned = -STORAGE_SCAN_EVERY  # the bucket itself is looked through now and then
    while True:
        await anyio.sleep(settings.gc_interval)
        scan = anyio.current_time() - scanned >= STORAGE_SCAN_EVERY
        try:
            report = await collect_garbage(
                artifacts,
                repo,
                store,
                grace=timedelta(seconds=settings.gc_grace),
                keys=keys,
                upload_grace=timedelta(seconds=settings.gc_upload_grace) if scan else None,
                sessions=UploadRepository(driver, settings.neo4j_database),
            )
        except (GraphError, StorageError) as exc:
            log.warning("collection failed: %s", exc)
            continue
        if any(dataclasses.astuple(report)):
            log.info("collected", extra=dataclasses.asdict(report))
