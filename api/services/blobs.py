"""Where uploads and downloads meet both the graph and S3."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import anyio
from neo4j import AsyncDriver

from api.settings import Settings
from graph.errors import GraphError
from graph.records import Principal
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from graph.repository.idempotency import IdempotencyRepository
from graph.repository.uploads import UploadRepository
from storage.blobs import BlobStore, HashingReader
from storage.errors import StorageError

log = logging.getLogger("forebear.collect")

# Seconds between looks through the whole bucket (a listing of every object): what it finds
# is rare, and the listing costs a request per thousand objects.
STORAGE_SCAN_EVERY: Final = 3600.0


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
    if await stored_already(sha256, store=store, repo=repo):
        size, created = await reader.drain(), False
    else:
        size, created = await store.put(sha256, reader, length), True
    await record_upload(sha256, size, uploader, created=created, store=store, repo=repo)
    return size, created


async def stored_already(sha256: str, *, store: BlobStore, repo: BlobRepository) -> bool:
    """Whether the content is stored: recorded in the graph, and its bytes still in S3."""
    return await repo.is_stored(sha256) and await store.exists(sha256)


async def record_upload(
    sha256: str,
    size: int,
    uploader: Principal,
    *,
    created: bool,
    store: BlobStore,
    repo: BlobRepository,
) -> None:
    """After a verified upload (PUT /blobs, or resumable parts joined): record the bytes it
    stored (`created`), and that the uploader holds the content."""
    if created:
        await repo.mark_stored(sha256, size, lambda: store.exists(sha256))
    await repo.prove(sha256, uploader)


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
            if await repo.collect(
                sha256, older_than=cutoff, remove=functools.partial(store.remove, sha256)
            ):
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


async def _collect_unrecorded(
    repo: BlobRepository, store: BlobStore, cutoff: datetime, batch: int
) -> int:
    """Remove S3 objects written before `cutoff` that no Blob node records as stored (a crash
    between an upload's last byte and its graph write); a page of the bucket at a time."""
    removed, after = 0, ""
    while page := await store.listed(after, batch):
        after = page[-1][0]
        old = [sha for _, sha, written in page if written is not None and written < cutoff]
        for sha256 in await repo.unrecorded(old) if old else []:
            remove = functools.partial(store.remove_if_older, sha256, cutoff)
            removed += await repo.collect_unrecorded(sha256, remove)
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
