"""Content-addressed blob storage on any S3 server, through the `minio` client."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from storage.errors import StorageUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def http_pool(timeout: float = 10.0) -> urllib3.PoolManager:
    """Connections for the S3 client: bounded timeouts and few retries, so outages show fast."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=max(timeout, 60.0)),
        retries=urllib3.Retry(total=2, backoff_factor=0.1, status_forcelist=(502, 503, 504)),
        maxsize=16,
    )


class BlobStore:
    """Blobs live in one bucket; the minio client blocks, so every call runs in a thread."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist; raise StorageUnavailable if S3 is down."""
        await self._call(self._ensure_bucket)

    async def ping(self) -> None:
        """Return when the bucket answers; raise StorageUnavailable naming why not."""
        if not await self._call(self._client.bucket_exists, self.bucket):
            raise StorageUnavailable(f"S3 bucket {self.bucket!r} does not exist")

    def _ensure_bucket(self) -> None:
        if self._client.bucket_exists(self.bucket):
            return
        try:
            self._client.make_bucket(self.bucket)
        except S3Error as exc:
            # Another replica starting at the same moment may have won the race.
            if exc.code != "BucketAlreadyOwnedByYou":
                raise

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailable(f"S3 is unavailable: {exc}") from exc
