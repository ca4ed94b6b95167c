"""Moving bytes: uploads of what the server lacks, and downloads through a local,
content-addressed cache (verified, resumable, size-capped)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Callable, Optional

import httpx

from forebear._errors import IntegrityError, TransportError
from forebear._graphql import ATTEMPTS, Client, backoff, http_error

CHUNK = 1024 * 1024
PARALLEL = 4  # large files, and the parts of one
PARALLEL_SMALL = 8  # files under SMALL bytes: a request each, mostly waiting
SMALL = 1024 * 1024
DEFAULT_CACHE_BYTES = 10 * 2**30

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
        with open(path, "rb") as f:
            f.seek((number - 1) * part_size)
            data = f.read(part_size)
        sent = client.request("PUT", f"/uploads/{session['id']}/parts/{number}", content=data)
        if sent.status_code != 200:
            raise http_error(sent, f"uploading part {number} of {path}")
        if progress is not None:
            progress(len(data))

    with ThreadPoolExecutor(PARALLEL) as pool:
        for future in [pool.submit(send, n) for n in range(1, count + 1) if n not in have]:
            future.result()
    done = client.request("POST", f"/uploads/{session['id']}/complete")
    if done.status_code != 200:
        raise http_error(done, f"finishing the upload of {path}")


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


def put_blobs(client: Client, files: dict[str, Path], progress: Progress = None) -> None:
    """Upload several files' contents, a few at a time (more when they are small)."""
    small = all(p.stat().st_size < SMALL for p in files.values())
    with ThreadPoolExecutor(PARALLEL_SMALL if small else PARALLEL) as pool:
        for future in [pool.submit(put_blob, client, s, p, progress) for s, p in files.items()]:
            future.result()


class Cache:
    """Downloaded contents by sha256 under cache_dir/files, at most `limit` bytes (the least
    recently used go first). A content is only ever visible there whole and verified."""

    def __init__(self, cache_dir: Path, limit: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = cache_dir / "files"
        self.limit = int(os.environ.get("FOREBEAR_CACHE_BYTES", limit))

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

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
        if target.exists() and target.stat().st_size == size:
            os.utime(target)  # recently used
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
            raise IntegrityError(
                f"{file_path} of {version_id} arrived with sha256 {digest}, not {sha256}",
                missing=[],
                changed=[file_path],
                extra=[],
            )
        os.replace(partial, target)  # atomic: whole and verified, or not there
        self._evict(keep=target)
        return target

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
        url = f"/files/{version_id}/{file_path}"
        try:
            with client._http.stream("GET", url, headers=headers) as response:
                if response.status_code not in (200, 206):
                    response.read()
                    raise http_error(response, f"downloading {file_path} of {version_id}")
                mode = "ab" if response.status_code == 206 else "wb"
                if progress is not None and have and mode == "ab":
                    progress(have)
                with open(partial, mode) as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        if progress is not None:
                            progress(len(chunk))
        except httpx.TransportError as exc:
            raise TransportError(f"downloading {file_path} from {client.url}: {exc}") from exc
        return digest.hexdigest() if mode == "wb" else None

    def _evict(self, keep: Path) -> None:
        files = [p for p in self.root.glob("*/*") if not p.name.endswith(".partial")]
        sizes = {p: p.stat() for p in files}
        total = sum(s.st_size for s in sizes.values())
        for path in sorted(files, key=lambda p: sizes[p].st_mtime):
            if total <= self.limit:
                return
            if path != keep:
                total -= sizes[path].st_size
                path.unlink(missing_ok=True)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def place(cached: Path, target: Path) -> None:
    """Copy a cached content to where the caller wants it (a copy: editing it cannot harm the
    cache)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.forebear-tmp")
    shutil.copyfile(cached, tmp)
    os.replace(tmp, target)
