"""Moving bytes: uploads of what the server lacks, and downloads through a local,
content-addressed cache (verified, resumable, size-capped)."""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import os
import shutil
import tarfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

import httpx

from forebear._errors import IntegrityError, ServerError, TransportError
from forebear._graphql import ATTEMPTS, Body, Client, backoff, http_error
from forebear._hashing import HashCache

CHUNK = 1024 * 1024
PARALLEL = 4  # large files, and the parts of one
PARALLEL_SMALL = 8  # files under SMALL bytes: a request each, mostly waiting
SMALL = 1024 * 1024
DEFAULT_CACHE_BYTES = 10 * 2**30
IN_FLIGHT = 4  # chunks received and not yet written, at most

Progress = Optional[Callable[[int], None]]


def _chunks(f: BinaryIO, progress: Progress) -> Iterator[bytes]:
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            return
        if progress is not None:
            progress(len(chunk))
        yield chunk


# Files from this size go up part by part, resumably (POST /uploads); smaller ones whole.
RESUMABLE_FROM = int(os.environ.get("FOREBEAR_RESUMABLE_FROM", 64 * 2**20))


def put_resumable(client: Client, sha256: str, path: Path, progress: Progress = None) -> None:
    """Upload a large file's content part by part, a few parts at a time, each retried on its
    own; a client started again after being killed sends only the parts the server lacks.
    The server verifies the whole sha256 when the parts are joined."""
    size = path.stat().st_size
    opened = client.request("POST", "/uploads", json={"sha256": sha256, "size": size})
    if opened.status_code not in (200, 201):
        raise http_error(opened, f"uploading {path}")
    session = opened.json()
    part_size, have = int(session["partSize"]), set(session["parts"])
    count = max(1, -(-size // part_size))
    if progress is not None:
        progress(sum(min(part_size, size - (n - 1) * part_size) for n in have))

    def send(number: int) -> None:
        start = (number - 1) * part_size
        part = _Slice(path, start, min(part_size, size - start))
        sent = client.request(
            "PUT",
            f"/uploads/{session['id']}/parts/{number}",
            content=part,
            headers={"Content-Length": str(part.length)},
        )
        if sent.status_code != 200:
            raise http_error(sent, f"uploading part {number} of {path}")
        if progress is not None:
            progress(part.length)

    run_all([functools.partial(send, n) for n in range(1, count + 1) if n not in have], PARALLEL)
    done = client.request("POST", f"/uploads/{session['id']}/complete")
    if done.status_code != 200:
        raise http_error(done, f"finishing the upload of {path}")


class _Slice:
    """`length` bytes of a file from `start`, read a chunk at a time each time the request is
    sent (a retry reads them again): memory stays a chunk per part in flight."""

    def __init__(self, path: Path, start: int, length: int) -> None:
        self.path, self.start, self.length = path, start, length

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            left = self.length
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    raise OSError(f"{self.path} shrank while it uploaded")
                left -= len(chunk)
                yield chunk


def put_blob(client: Client, sha256: str, path: Path, progress: Progress = None) -> None:
    """Upload one file's content under its sha256, retried from its start on connection
    errors and 502-504 (an upload is idempotent: the server verifies the digest). Large
    files go part by part (put_resumable)."""
    size = path.stat().st_size
    if size >= RESUMABLE_FROM:
        put_resumable(client, sha256, path, progress)
        return
    for attempt in range(1, ATTEMPTS + 1):
        sent = 0

        def counted(n: int) -> None:
            nonlocal sent
            sent += n
            if progress is not None:
                progress(n)

        try:
            with open(path, "rb") as f:
                response = client._http.put(
                    f"/blobs/{sha256}",
                    content=_chunks(f, counted),
                    headers={"Content-Length": str(size)},
                )
        except httpx.TransportError as exc:
            if progress is not None:
                progress(-sent)  # sent again from the start
            if attempt == ATTEMPTS:
                raise TransportError(f"uploading {path} to {client.url} failed: {exc}") from exc
        else:
            if response.status_code in (200, 201):
                return
            if response.status_code < 500 or attempt == ATTEMPTS:
                raise http_error(response, f"uploading {path}")
            if progress is not None:
                progress(-sent)
        time.sleep(backoff(attempt))


# Files under SMALL bytes go up many at a time, as one tar per request (POST /blobs), which the
# server stores as one pack; at most PACK_BYTES of content and PACK_FILES files a request.
PACK_BYTES = 16 * 2**20
PACK_FILES = 5_000


def put_blobs(client: Client, files: dict[str, Path], progress: Progress = None) -> None:
    """Upload several files' contents: small ones packed together, a few requests at a
    time; the others one by one, a few at a time."""
    small = {s: p for s, p in files.items() if p.stat().st_size < SMALL}
    batches: list[dict[str, Path]] = [{}]
    size = 0
    for sha, path in small.items():
        length = path.stat().st_size
        if batches[-1] and (size + length > PACK_BYTES or len(batches[-1]) >= PACK_FILES):
            batches.append({})
            size = 0
        batches[-1][sha] = path
        size += length
    large = {s: p for s, p in files.items() if s not in small}
    calls = [functools.partial(put_pack, client, batch, progress) for batch in batches if batch]
    calls += [functools.partial(put_blob, client, s, p, progress) for s, p in large.items()]
    run_all(calls, PARALLEL)


def run_all(calls: Sequence[Callable[[], object]], workers: int) -> None:
    """Make the calls, `workers` at a time, raising the first error; one after another when
    the interpreter is exiting (a run the exit hook finishes logs its media then, and thread
    pools take no new work by that time)."""
    pool = ThreadPoolExecutor(workers)
    try:
        first = pool.submit(calls[0]) if calls else None
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        pool.shutdown()
        for call in calls:
            call()
        return
    with pool:
        futures = [first, *(pool.submit(call) for call in calls[1:])] if first else []
        for future in futures:
            future.result()


def put_pack(client: Client, files: dict[str, Path], progress: Progress = None) -> None:
    """Upload small files' contents in one request: a tar whose members are named by their
    sha256 (retried whole: an upload is idempotent). A server without POST /blobs gets them
    one by one."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sha, path in files.items():
            data = path.read_bytes()
            info = tarfile.TarInfo(sha)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    response = client.request(
        "POST", "/blobs", content=out.getvalue(), headers={"Content-Type": "application/x-tar"}
    )
    if response.status_code in (404, 405):  # an older server: one request per file
        for sha, path in files.items():
            put_blob(client, sha, path, progress)
        return
    if response.status_code != 200:
        raise http_error(response, f"uploading {len(files)} files")
    if progress is not None:
        progress(sum(p.stat().st_size for p in files.values()))


class Cache:
    """Downloaded contents by sha256 under cache_dir/files, at most `limit` bytes (the least
    recently used go first). A content is only ever visible there whole and verified, and
    trusted later only while its size, mtime and inode are as when it was verified (as the
    hash cache trusts files): a download hard-linked from it and edited in place is noticed,
    and the content fetched again."""

    def __init__(self, cache_dir: Path, limit: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = cache_dir / "files"
        self.limit = int(os.environ.get("FOREBEAR_CACHE_BYTES", limit))
        self._hashes = HashCache(cache_dir)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def present(self, contents: dict[str, int]) -> set[str]:
        """Those of `contents` (sha256 -> size) that are cached and unchanged since they were
        verified; each counts as used now."""
        paths = [self.path(sha) for sha in contents]
        found = set()
        for path, sha, known in zip(paths, contents, self._hashes.known(paths)):
            if known != sha:  # missing, or changed since it was verified
                continue
            info = path.stat()
            if info.st_size == contents[sha]:
                os.utime(path, ns=(time.time_ns(), info.st_mtime_ns))  # used now; mtime kept
                found.add(sha)
        return found

    def adopt(self, partials: list[tuple[Path, str]]) -> None:
        """Make verified downloads visible (atomic: whole, or not there) and trusted."""
        for partial, sha256 in partials:
            os.replace(partial, self.path(sha256))
        self._hashes.remember([(self.path(sha), sha) for _, sha in partials])

    def fetch(
        self,
        client: Client,
        version_id: str,
        file_path: str,
        sha256: str,
        size: int,
        progress: Progress = None,
    ) -> Path:
        """The cached content of one file of a version, downloaded first if need be."""
        target = self.path(sha256)
        if sha256 in self.present({sha256: size}):
            if progress is not None:
                progress(size)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{sha256}.partial")
        hashed: dict[Path, str] = {}  # the digest, when one attempt read the whole file
        for attempt in range(1, ATTEMPTS + 1):
            try:
                whole = self._download(client, version_id, file_path, partial, size, progress)
                if whole is not None:
                    hashed[partial] = whole
                break
            except TransportError:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(backoff(attempt))
        digest = hashed.get(partial) or _sha256_file(partial)
        if digest != sha256:
            partial.unlink()
            raise _mismatch(version_id, file_path, digest, sha256)
        self.adopt([(partial, sha256)])
        return target

    def fetch_many(
        self,
        client: Client,
        version_id: str,
        files: dict[str, tuple[str, int]],
        progress: Progress = None,
    ) -> None:
        """Download many small files of a version (sha256 -> (path, size)) as tar streams
        (POST /files/{version}), a batch per request; each verified into the cache. What a
        cut connection did not bring is asked for again."""
        batches: list[dict[str, tuple[str, int]]] = [{}]
        size = 0
        for sha, (path, length) in files.items():
            if batches[-1] and (size + length > PACK_BYTES or len(batches[-1]) >= PACK_FILES):
                batches.append({})
                size = 0
            batches[-1][sha] = (path, length)
            size += length
        with ThreadPoolExecutor(PARALLEL) as pool:
            futures = [
                pool.submit(self._fetch_batch, client, version_id, batch, progress)
                for batch in batches
                if batch
            ]
            for future in futures:
                future.result()

    def _fetch_batch(
        self,
        client: Client,
        version_id: str,
        files: dict[str, tuple[str, int]],
        progress: Progress,
    ) -> None:
        left = dict(files)
        by_path = {path: sha for sha, (path, _) in files.items()}
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._read_archive(client, version_id, left, by_path, progress)
            except (httpx.TransportError, tarfile.ReadError, EOFError) as exc:
                if attempt == ATTEMPTS:
                    raise TransportError(
                        f"downloading {len(left)} files of {version_id} from {client.url}: {exc}"
                    ) from exc
                time.sleep(backoff(attempt))
                continue
            if left:
                names = ", ".join(path for path, _ in list(left.values())[:5])
                raise ServerError(f"{version_id} has no files {names}: was it deleted?")
            return

    def _read_archive(
        self,
        client: Client,
        version_id: str,
        left: dict[str, tuple[str, int]],
        by_path: dict[str, str],
        progress: Progress,
    ) -> None:
        """One POST /files/{version} for the files still `left`, each taken out of `left` as
        it arrives verified."""
        paths = [path for path, _ in left.values()]
        with client._http.stream("POST", f"/files/{version_id}", json={"paths": paths}) as response:
            if response.status_code != 200:
                response.read()
                raise http_error(response, f"downloading files of {version_id}")
            stream = _Reader(response.iter_bytes())
            arrived: list[tuple[Path, str]] = []
            try:
                self._unpack(_open_tar(stream), version_id, left, by_path, arrived, progress)
            finally:
                self.adopt(arrived)  # what came whole is kept, even if the rest did not

    def _unpack(
        self,
        tar: tarfile.TarFile,
        version_id: str,
        left: dict[str, tuple[str, int]],
        by_path: dict[str, str],
        arrived: list[tuple[Path, str]],
        progress: Progress,
    ) -> None:
        with tar:
            for member in tar:
                sha = by_path.get(member.name)
                extracted = tar.extractfile(member) if member.isfile() else None
                if sha is None or sha not in left or extracted is None:
                    continue
                data = extracted.read()
                digest = hashlib.sha256(data).hexdigest()
                if digest != sha:
                    raise _mismatch(version_id, member.name, digest, sha)
                target = self.path(sha)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f"{sha}.partial.{threading.get_ident()}")
                partial.write_bytes(data)
                arrived.append((partial, sha))
                del left[sha]
                if progress is not None:
                    progress(len(data))

    def _download(
        self,
        client: Client,
        version_id: str,
        file_path: str,
        partial: Path,
        size: int,
        progress: Progress,
    ) -> str | None:
        """Download into `partial`, resuming from what an earlier attempt left there; the
        sha256 of the whole when this attempt wrote all of it (else None: read it again)."""
        have = partial.stat().st_size if partial.exists() else 0
        if have > size:
            partial.unlink()
            have = 0
        if have == size:
            return None
        digest = hashlib.sha256()
        headers = {"Range": f"bytes={have}-"} if have else {}
        with client.get_bytes(f"/files/{version_id}/{file_path}", headers) as body:
            if body.status not in (200, 206):
                raise body.error(f"downloading {file_path} of {version_id}")
            mode = "ab" if body.status == 206 else "wb"
            if progress is not None and have and mode == "ab":
                progress(have)
            # One thread receives into a ring of buffers while another writes and hashes
            # them (both let go of the GIL), a few buffers apart at most: memory stays flat.
            ring = [memoryview(bytearray(CHUNK)) for _ in range(IN_FLIGHT)]
            with open(partial, mode) as out, ThreadPoolExecutor(1) as writer:

                def keep(block: memoryview) -> None:
                    digest.update(block)
                    out.write(block)  # past the file's buffer: written from `block` itself

                pending: deque[Future[None]] = deque()
                for turn in itertools.count():
                    buffer = ring[turn % len(ring)]
                    filled = _fill(body, buffer)
                    if not filled:
                        break
                    pending.append(writer.submit(keep, buffer[:filled]))
                    if len(pending) >= IN_FLIGHT:  # the next buffer is free once this is done
                        pending.popleft().result()
                    if progress is not None:
                        progress(filled)
                for done in pending:
                    done.result()
        return digest.hexdigest() if mode == "wb" else None

    def evict(self, keep: set[Path]) -> None:
        """Remove the least recently used contents until the cache fits its limit (those in
        `keep`, just fetched, stay)."""
        files = [p for p in self.root.glob("*/*") if ".partial" not in p.name]
        sizes = {p: p.stat() for p in files}
        total = sum(s.st_size for s in sizes.values())
        for path in sorted(files, key=lambda p: sizes[p].st_atime):
            if total <= self.limit:
                return
            if path not in keep:
                total -= sizes[path].st_size
                path.unlink(missing_ok=True)


def _fill(body: Body, buffer: memoryview) -> int:
    """Bytes read into `buffer`: all of it, unless the body ends first."""
    filled = 0
    while filled < len(buffer):
        read = body.readinto(buffer[filled:])
        if not read:
            break
        filled += read
    return filled


def _open_tar(stream: io.RawIOBase) -> tarfile.TarFile:
    return tarfile.open(fileobj=stream, mode="r|")


class _Reader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (a streamed response), for tarfile."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = memoryview(b"")  # a view: taking a few bytes copies only those

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(chunk)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _mismatch(version_id: str, path: str, digest: str, sha256: str) -> IntegrityError:
    return IntegrityError(
        f"{path} of {version_id} arrived with sha256 {digest}, not {sha256}",
        missing=[],
        changed=[path],
        extra=[],
    )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def place(cached: Path, target: Path) -> None:
    """Put a cached content where the caller wants it: hard-linked when no other download
    shares it yet (no second write of its bytes; the cache notices if it is edited), copied
    otherwise, or where links cannot be made. Downloads never share bytes with each other."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if os.path.samefile(cached, target):
            return  # downloaded here before, and unchanged since (the cache checked)
    except OSError:
        pass
    tmp = target.with_name(f".{target.name}.forebear-tmp")
    tmp.unlink(missing_ok=True)
    try:
        if cached.stat().st_nlink > 1:
            raise OSError("shared already")
        os.link(cached, tmp)
    except OSError:
        shutil.copyfile(cached, tmp)
    os.replace(tmp, target)
