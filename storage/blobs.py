"""Content-addressed blob storage on any S3 server, through the `minio` client.

Each blob is stored once, under its sha256, whatever versions or projects contain it. Bytes
stream through in parts: the server's memory stays flat whatever the size of a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import BinaryIO, Final, ParamSpec, TypeVar, cast

import anyio.from_thread
import anyio.to_thread
import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource
from minio.datatypes import Part
from minio.error import MinioException, S3Error

from storage.errors import (
    BlobMissing,
    DigestMismatch,
    SizeMismatch,
    StorageUnavailable,
    TooLarge,
    UploadRejected,
)

P = ParamSpec("P")
T = TypeVar("T")

# 8 MiB parts, two uploading while the next is received: a few tens of MB per upload.
PART_SIZE: Final = 8 * 1024 * 1024
PARALLEL_PARTS: Final = 2
DOWNLOAD_CHUNK: Final = 8 * 1024 * 1024
DOWNLOAD_BUFFER: Final = 2


def http_pool(timeout: float = 10.0) -> urllib3.PoolManager:
    """Connections for the S3 client: bounded timeouts and few retries, so outages show fast."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=max(timeout, 60.0)),
        retries=urllib3.Retry(total=2, backoff_factor=0.1, status_forcelist=(502, 503, 504)),
        maxsize=32,
    )


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256}"


def upload_key(session: str) -> str:
    """Where a resumable upload's parts are joined before it is verified."""
    return f"uploads/{session}"


class HashingReader:
    """A blocking file-like view of an async byte stream, for the minio client running in a
    worker thread: hashes and counts what passes, and refuses a wrong digest or size before
    the last byte is handed on, so a bad upload is aborted rather than stored."""

    def __init__(
        self, stream: AsyncIterator[bytes], *, sha256: str, length: int | None, limit: int
    ) -> None:
        self._stream = stream
        self._expected = sha256
        self._length = length
        self._limit = limit
        self._hash = hashlib.sha256()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self.size = 0
        self.verified = False

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else self._limit + 1
        if self._buffered < want and not self._eof:
            anyio.from_thread.run(self._fill, want)
        data = self._take(want)
        self._hash.update(data)
        self.size += len(data)
        if self.size > self._limit:
            raise TooLarge(f"more than the limit of {self._limit} bytes")
        if self._done():
            self._verify()
        return data

    async def drain(self) -> int:
        """Read the whole stream here (no S3), verified as `read` verifies; return its size.
        For content stored already: the sender still proves it holds the bytes."""
        async for chunk in self._stream:
            self._hash.update(chunk)
            self.size += len(chunk)
            if self.size > self._limit:
                raise TooLarge(f"more than the limit of {self._limit} bytes")
        self._verify()
        return self.size

    async def _fill(self, want: int) -> None:
        while self._buffered < want:
            chunk = await anext(self._stream, None)
            if chunk is None:
                self._eof = True
                return
            self._chunks.append(chunk)
            self._buffered += len(chunk)

    def _take(self, want: int) -> bytes:
        """Up to `want` buffered bytes, joined once (parts are MiBs: copies cost)."""
        taken: list[bytes] = []
        count = 0
        while self._chunks and count < want:
            chunk = self._chunks.popleft()
            if count + len(chunk) > want:
                keep = want - count
                self._chunks.appendleft(chunk[keep:])
                chunk = chunk[:keep]
            taken.append(chunk)
            count += len(chunk)
        self._buffered -= count
        return b"".join(taken)

    def _done(self) -> bool:
        if self._length is not None:
            return self.size >= self._length
        return self._eof and not self._buffered

    def _verify(self) -> None:
        self.verified = True
        if self._length is not None and self.size != self._length:
            raise SizeMismatch(f"{self.size} bytes arrived, Content-Length said {self._length}")
        digest = self._hash.hexdigest()
        if digest != self._expected:
            raise DigestMismatch(f"the content's sha256 is {digest}, not {self._expected}")


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

    async def exists(self, sha256: str) -> bool:
        """True when the blob's object is in the bucket."""
        try:
            await self._call(self._client.stat_object, self.bucket, blob_key(sha256))
        except BlobMissing:
            return False
        return True

    async def put(self, sha256: str, reader: HashingReader, length: int | None) -> int:
        """Stream `reader` into the blob's object; return its size. Raises UploadRejected
        (nothing is stored) when the bytes do not match their announced sha256 or size."""
        await self._call(
            self._client.put_object,
            self.bucket,
            blob_key(sha256),
            cast(BinaryIO, reader),
            length if length is not None else -1,
            part_size=PART_SIZE,
            num_parallel_uploads=PARALLEL_PARTS,
        )
        if not reader.verified:  # the client never asked for the (empty) body
            try:
                reader._verify()
            except UploadRejected:
                await self.remove(sha256)
                raise
        return reader.size

    async def open(self, sha256: str, offset: int = 0, length: int = 0) -> AsyncIterator[bytes]:
        """The blob's bytes from `offset`, `length` of them (0: to the end), in 4 MiB chunks;
        raises BlobMissing or StorageUnavailable here, before the first chunk."""
        response = await self._call(
            self._client.get_object,
            self.bucket,
            blob_key(sha256),
            offset=offset,
            length=length,
        )

        async def chunks() -> AsyncIterator[bytes]:
            # A worker thread reads S3 while the event loop sends the previous chunk; the
            # small buffer bounds memory at a few chunks.
            send, receive = anyio.create_memory_object_stream[bytes](DOWNLOAD_BUFFER)

            def pump() -> None:
                with send:
                    for chunk in response.stream(DOWNLOAD_CHUNK, decode_content=False):
                        anyio.from_thread.run(send.send, chunk)

            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(anyio.to_thread.run_sync, pump)
                    async with receive:
                        async for chunk in receive:
                            yield chunk
            finally:
                response.close()
                response.release_conn()

        return chunks()

    async def remove(self, sha256: str) -> None:
        await self._call(self._client.remove_object, self.bucket, blob_key(sha256))

    async def remove_if_older(self, sha256: str, cutoff: datetime) -> bool:
        """Remove the blob's object if it was last written before `cutoff` (an upload of the
        same content since then is left alone); True when it is gone."""
        try:
            stat = await self._call(self._client.stat_object, self.bucket, blob_key(sha256))
        except BlobMissing:
            return True
        if stat.last_modified is not None and stat.last_modified >= cutoff:
            return False
        await self.remove(sha256)
        return True

    async def listed(self, after: str, limit: int) -> list[tuple[str, str, datetime | None]]:
        """Up to `limit` blob objects after the key `after`, in key order: (key, sha256, last
        written); the collector pages through the bucket with it."""

        def page() -> list[tuple[str, str, datetime | None]]:
            objects = self._client.list_objects(
                self.bucket, prefix="blobs/", recursive=True, start_after=after or None
            )
            return [
                (o.object_name, o.object_name.rsplit("/", 1)[-1], o.last_modified)
                for o in itertools.islice(objects, limit)
                if o.object_name is not None
            ]

        return await self._call(page)

    async def stale_uploads(self, cutoff: datetime) -> list[tuple[str, str]]:
        """(key, upload id) of multipart uploads begun before `cutoff` and never completed or
        aborted: what an API killed mid-upload leaves behind.

        The minio client has no public call for these S3 operations (ListMultipartUploads,
        AbortMultipartUpload); tests/storage/test_blobs.py fails if its private ones move.
        MinIO lists a bucket's uploads only without a prefix (or with a whole key)."""

        def uploads() -> list[tuple[str, str]]:
            found: list[tuple[str, str]] = []
            marker: str | None = None
            while True:
                page = self._client._list_multipart_uploads(
                    self.bucket, key_marker=marker, max_uploads=1000
                )
                found += [
                    (u.object_name, u.upload_id)
                    for u in page.uploads
                    if u.object_name.startswith(("blobs/", "uploads/"))
                    and u.upload_id is not None
                    and u.initiated_time is not None
                    and u.initiated_time < cutoff
                ]
                if (
                    not page.is_truncated
                    or not page.next_key_marker
                    or page.next_key_marker == marker
                ):
                    return found
                marker = page.next_key_marker

        return await self._call(uploads)

    # --- resumable uploads: parts into uploads/<session>, verified, then copied to the blob ---

    async def start_parts(self, session: str) -> str:
        """Begin the multipart upload of a session's object; its S3 upload id."""
        upload_id: str = await self._call(
            self._client._create_multipart_upload, self.bucket, upload_key(session), {}
        )
        return upload_id

    async def put_part(self, session: str, upload_id: str, number: int, data: bytes) -> str:
        """Store one part (1-based); its ETag."""
        etag: str = await self._call(
            self._client._upload_part,
            self.bucket,
            upload_key(session),
            data,
            None,
            upload_id,
            number,
        )
        return etag

    async def finish_parts(self, session: str, upload_id: str, etags: list[str]) -> None:
        """Join the parts (numbered 1..n, in order) into the session's object."""
        parts = [Part(part_number=i + 1, etag=e) for i, e in enumerate(etags)]
        await self._call(
            self._client._complete_multipart_upload,
            self.bucket,
            upload_key(session),
            upload_id,
            parts,
        )

    async def digest_of_upload(self, session: str) -> tuple[str, int]:
        """sha256 and size of a session's joined object, read through once."""

        def read() -> tuple[str, int]:
            response = self._client.get_object(self.bucket, upload_key(session))
            digest, size = hashlib.sha256(), 0
            try:
                for chunk in response.stream(DOWNLOAD_CHUNK, decode_content=False):
                    digest.update(chunk)
                    size += len(chunk)
            finally:
                response.close()
                response.release_conn()
            return digest.hexdigest(), size

        return await self._call(read)

    async def adopt_upload(self, session: str, sha256: str) -> None:
        """Copy a verified session object to the blob's key (server-side), then drop it."""
        source = ComposeSource(self.bucket, upload_key(session))
        await self._call(self._client.compose_object, self.bucket, blob_key(sha256), [source])
        await self.drop_upload(session, None)

    async def drop_upload(self, session: str, upload_id: str | None) -> None:
        """Abort a session's unfinished parts (with `upload_id`), or remove its object."""
        if upload_id is not None:
            await self.abort_upload(upload_key(session), upload_id)
        else:
            with contextlib.suppress(BlobMissing):
                await self._call(self._client.remove_object, self.bucket, upload_key(session))

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort one multipart upload (its parts are deleted); gone already is fine."""
        with contextlib.suppress(BlobMissing):
            await self._call(self._client._abort_multipart_upload, self.bucket, key, upload_id)

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
        except UploadRejected:
            raise
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchUpload"):
                raise BlobMissing(exc.message or exc.code) from exc
            raise StorageUnavailable(f"S3 is unavailable: {exc}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailable(f"S3 is unavailable: {exc}") from exc
