"""Content-addressed blob storage on any S3 server, through the `minio` client.

Each blob is stored once, under its sha256, whatever versions or projects contain it. Bytes
stream through in parts: the server's memory stays flat whatever the size of a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import BinaryIO, Final, ParamSpec, TypeVar, cast

import anyio.from_thread
import anyio.to_thread
import urllib3
from minio import Minio
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
PRESIGNED_FOR: Final = timedelta(minutes=15)
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


def upload_key() -> str:
    """A new key for a resumable upload's object: its parts are joined there, and once
    verified the blob's bytes stay there (no copy)."""
    return f"uploads/{uuid.uuid4().hex}"


def object_key(sha256: str, obj: str | None) -> str:
    """Where a stored blob's bytes are: its own key, or the object the graph names (a pack of
    small blobs, a resumable upload's object)."""
    return obj if obj is not None else blob_key(sha256)


# Prefixes of the objects that hold blobs: own keys, packs, resumable uploads' objects.
OBJECT_PREFIXES: Final = ("blobs/", "packs/", "uploads/")


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

    def __init__(self, client: Minio, bucket: str, pool: urllib3.PoolManager | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self._pool = pool or http_pool()

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist; raise StorageUnavailable if S3 is down."""
        await self._call(self._ensure_bucket)

    async def ping(self) -> None:
        """Return when the bucket answers; raise StorageUnavailable naming why not."""
        if not await self._call(self._client.bucket_exists, self.bucket):
            raise StorageUnavailable(f"S3 bucket {self.bucket!r} does not exist")

    async def exists(self, sha256: str) -> bool:
        """True when the blob's own object is in the bucket."""
        return await self.has(blob_key(sha256))

    async def has(self, key: str) -> bool:
        """True when the object `key` is in the bucket."""
        try:
            await self._call(self._client.stat_object, self.bucket, key)
        except BlobMissing:
            return False
        return True

    async def put_pack(self, data: bytes) -> str:
        """Store many small blobs' bytes, verified already, as one object; its key (each
        blob is then read at its offset in it). One request instead of one per file."""
        key = f"packs/{uuid.uuid4().hex}"
        await self._call(self._client.put_object, self.bucket, key, io.BytesIO(data), len(data))
        return key

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
                await self.remove(blob_key(sha256))
                raise
        return reader.size

    async def open(self, key: str, offset: int = 0, length: int = 0) -> AsyncIterator[bytes]:
        """The object's bytes from `offset`, `length` of them (0: to the end), in chunks of a
        few MiB; raises BlobMissing or StorageUnavailable here, before the first chunk."""
        response = await self._call(
            self._client.get_object, self.bucket, key, offset=offset, length=length
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

    async def remove(self, key: str) -> None:
        """Remove the object `key` (gone already is fine)."""
        await self._call(self._client.remove_object, self.bucket, key)

    async def remove_if_older(self, key: str, cutoff: datetime) -> bool:
        """Remove the object if it was last written before `cutoff` (an upload of the same
        content since then is left alone); True when it is gone."""
        try:
            stat = await self._call(self._client.stat_object, self.bucket, key)
        except BlobMissing:
            return True
        if stat.last_modified is not None and stat.last_modified >= cutoff:
            return False
        await self.remove(key)
        return True

    async def listed(
        self, prefix: str, after: str, limit: int
    ) -> list[tuple[str, datetime | None]]:
        """Up to `limit` objects under `prefix` after the key `after`, in key order: (key,
        last written); the collector pages through the bucket with it."""

        def page() -> list[tuple[str, datetime | None]]:
            objects = self._client.list_objects(
                self.bucket, prefix=prefix, recursive=True, start_after=after or None
            )
            return [
                (o.object_name, o.last_modified)
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
                    if u.object_name.startswith(OBJECT_PREFIXES)
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

    # --- resumable uploads: parts into one object (its key chosen per session), verified ---

    async def start_parts(self, key: str) -> str:
        """Begin the multipart upload of a session's object; its S3 upload id."""
        upload_id: str = await self._call(
            self._client._create_multipart_upload, self.bucket, key, {}
        )
        return upload_id

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> str:
        """Store one part (1-based); its ETag. Sent to a presigned URL: its payload is not
        hashed for the request's signature (the whole content's sha256 is checked anyway,
        and https protects it on the wire), which spares a sha256 pass here and in S3."""

        def put() -> str:
            url = self._client.get_presigned_url(
                "PUT",
                self.bucket,
                key,
                expires=PRESIGNED_FOR,
                extra_query_params={"partNumber": str(number), "uploadId": upload_id},
            )
            # a bytearray goes as it is (urllib3 sends anything with the buffer API whole)
            response = self._pool.request("PUT", url, body=cast(bytes, data))
            if response.status == 404:
                raise BlobMissing(f"no upload {upload_id} of {key}")
            if response.status != 200:
                raise StorageUnavailable(
                    f"S3 is unavailable: part {number} of {key}: {response.status} "
                    f"{response.data[:200]!r}"
                )
            return str(response.headers["ETag"])

        return await self._call(put)

    async def parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        """The parts S3 holds of an unfinished upload: number -> (ETag, size)."""

        def listed() -> dict[int, tuple[str, int]]:
            found: dict[int, tuple[str, int]] = {}
            marker: str | None = None
            while True:
                page = self._client._list_parts(
                    self.bucket, key, upload_id, max_parts=1000, part_number_marker=marker
                )
                found.update({p.part_number: (p.etag, p.size or 0) for p in page.parts})
                if not page.is_truncated or not page.next_part_number_marker:
                    return found
                marker = page.next_part_number_marker

        return await self._call(listed)

    async def finish_parts(self, key: str, upload_id: str, etags: list[str]) -> None:
        """Join the parts (numbered 1..n, in order) into the session's object."""
        parts = [Part(part_number=i + 1, etag=e) for i, e in enumerate(etags)]
        await self._call(
            self._client._complete_multipart_upload, self.bucket, key, upload_id, parts
        )

    async def digest_of(self, key: str) -> tuple[str, int]:
        """sha256 and size of an object, read through once."""

        def read() -> tuple[str, int]:
            response = self._client.get_object(self.bucket, key)
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

    async def drop_upload(self, key: str, upload_id: str | None) -> None:
        """Abort a session's unfinished parts (with `upload_id`), or remove its object."""
        if upload_id is not None:
            await self.abort_upload(key, upload_id)
        else:
            with contextlib.suppress(BlobMissing):
                await self.remove(key)

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
