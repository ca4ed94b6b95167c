"""Where uploads and downloads meet both the graph and S3."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from storage.blobs import BlobStore, HashingReader


async def store_blob(
    sha256: str,
    body: AsyncIterator[bytes],
    length: int | None,
    *,
    limit: int,
    store: BlobStore,
    repo: BlobRepository,
) -> tuple[int, bool]:
    """Stream `body` into S3 under `sha256`, verified on the way; return (size, newly stored).
    A blob already stored is not read again: uploads are idempotent."""
    if await repo.is_stored(sha256) and await store.exists(sha256):
        return -1, False
    reader = HashingReader(body, sha256=sha256, length=length, limit=limit)
    size = await store.put(sha256, reader, length)
    await repo.mark_stored(sha256, size, lambda: store.exists(sha256))
    return size, True


@dataclass(frozen=True, slots=True)
class CollectReport:
    expired_versions: int
    removed_blobs: int


async def collect_garbage(
    artifacts: ArtifactRepository,
    repo: BlobRepository,
    store: BlobStore,
    *,
    grace: timedelta,
    now: datetime | None = None,
    batch: int = 500,
) -> CollectReport:
    """Expire PENDING versions past their time, then delete the blobs no version contains
    that were stored more than `grace` ago. Safe while uploads run and on several replicas
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
    return CollectReport(expired, removed)
