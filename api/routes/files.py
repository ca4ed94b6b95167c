"""Files of committed versions.

GET  /files/{version-id}/{path}   one file, streamed, with Range and ETag
GET  /files/{version-id}          all its files as one tar stream
POST /files/{version-id}          {"paths": [...]}: those files as one tar stream
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import AsyncIterator
from typing import Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.access import Access, refused
from api.context import Repositories
from api.metrics import Metrics
from api.routes.blobs import error
from api.settings import Settings
from graph.errors import GraphUnavailable, NotFound
from graph.records import FileEntry, StoredFile
from storage.blobs import BlobStore, object_key
from storage.errors import BlobMissing, StorageUnavailable

_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")
# No file is larger than 10**18 bytes; a longer number is no offset (and int() of thousands of
# digits is refused by Python itself).
MAX_RANGE_DIGITS: Final = 18


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(first, last) of a single `bytes=` range, None to send it all, 'unsatisfiable', or
    'malformed' (a number no file could reach)."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or another unit: RFC 9110 lets us send the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if max(len(first.lstrip("0")), len(last.lstrip("0"))) > MAX_RANGE_DIGITS:
        return "malformed"
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


async def get_file(request: Request) -> Response:
    settings: Settings = request.state.settings
    version_id: str = request.path_params["version_id"]
    path: str = request.path_params["path"]
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    store: BlobStore = request.state.blobs
    access = Access(request.state.principal, repos.access)
    metrics: Metrics = request.state.metrics
    try:
        # Access to a version that holds the file, never to a sha256 alone; a version the
        # caller may not read answers like one that does not exist.
        if not await access.can_read(version_id):
            refused(access, f"GET /files/{version_id}", "version not visible")
            metrics.transfer("download", "not_found")
            return error(
                404, "NOT_FOUND", f"no file {path!r} in a committed version {version_id!r}"
            )
        stored = await repos.artifacts.get_file(version_id, path)
    except NotFound:
        metrics.transfer("download", "not_found")
        return error(404, "NOT_FOUND", f"no file {path!r} in a committed version {version_id!r}")
    except GraphUnavailable as exc:
        return error(503, "UNAVAILABLE", str(exc))
    entry = stored.file
    etag = f'"{entry.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
        # Anyone's bytes, from the web app's origin: never sniffed into another type, and an
        # HTML page opened as it is runs no script there.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        metrics.transfer("download", "not_modified")
        return Response(status_code=304, headers=headers)
    wanted = byte_range(request.headers.get("range"), entry.size)
    if wanted == "malformed":
        return error(400, "BAD_INPUT", f"Range: offsets have at most {MAX_RANGE_DIGITS} digits")
    if wanted == "unsatisfiable":
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{entry.size}"}
        )
    status, first, length = 200, 0, entry.size
    if isinstance(wanted, tuple):
        status, first, length = 206, wanted[0], wanted[1] - wanted[0] + 1
        headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{entry.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD" or length == 0:
        metrics.transfer("download", "ok" if request.method == "GET" else "head")
        return Response(status_code=status, headers=headers, media_type=entry.content_type)
    try:
        key = object_key(entry.sha256, stored.object)
        body: AsyncIterator[bytes] = await store.open(key, stored.offset + first, length)
    except BlobMissing:
        return error(500, "INTERNAL", f"the content of {path!r} is missing from storage")
    except StorageUnavailable as exc:
        return error(503, "UNAVAILABLE", str(exc))
    return StreamingResponse(
        metrics.counted(body), status_code=status, headers=headers, media_type=entry.content_type
    )


# POST /files/{version}: at most this many paths in one request.
ARCHIVE_PATHS: Final = 10_000
# Files of one pack read in a single ranged GET when what lies between them is at most this.
COALESCE_GAP: Final = 4 * 2**20


async def get_archive(request: Request) -> Response:
    """A version's files (all of them, or the POSTed `paths`) as one tar stream: one request
    for a directory of many small files instead of one each. Members are named by their
    paths; files that do not exist are left out (the client compares with its manifest)."""
    settings: Settings = request.state.settings
    version_id: str = request.path_params["version_id"]
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    access = Access(request.state.principal, repos.access)
    metrics: Metrics = request.state.metrics
    paths: list[str] | None = None
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            body = None
        wanted = body.get("paths") if isinstance(body, dict) else None
        if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted):
            return error(400, "BAD_INPUT", 'send {"paths": ["<path>", ...]} as JSON')
        if len(wanted) > ARCHIVE_PATHS:
            return error(400, "BAD_INPUT", f"at most {ARCHIVE_PATHS} paths per request")
        paths = wanted
    try:
        if not await access.can_read(version_id):
            refused(access, f"{request.method} /files/{version_id}", "version not visible")
            metrics.transfer("download", "not_found")
            return error(404, "NOT_FOUND", f"no committed version {version_id!r}")
        version = (await repos.artifacts.get_versions([version_id])).get(version_id)
        if version is None or version.state != "COMMITTED":
            return error(404, "NOT_FOUND", f"no committed version {version_id!r}")
        files = await repos.artifacts.stored_files(version_id, paths)
    except GraphUnavailable as exc:
        return error(503, "UNAVAILABLE", str(exc))
    store: BlobStore = request.state.blobs
    return StreamingResponse(
        metrics.counted(_tar(files, store)),
        media_type="application/x-tar",
        headers={"Content-Disposition": f'attachment; filename="{version_id}.tar"'},
    )


async def _tar(files: list[StoredFile], store: BlobStore) -> AsyncIterator[bytes]:
    """The tar stream of `files`: members in the order their bytes lie in storage, each
    pack read in as few ranged GETs as its files allow. A failure midway cuts the stream
    (the client sees a truncated archive, never a wrong file)."""
    ordered = sorted(files, key=lambda f: (object_key(f.file.sha256, f.object), f.offset))
    start = 0
    while start < len(ordered):
        first = ordered[start]
        key = object_key(first.file.sha256, first.object)
        end = start + 1  # the files read with one GET: same object, close together
        while (
            first.object is not None
            and end < len(ordered)
            and ordered[end].object == first.object
            and ordered[end].offset - _end(ordered[end - 1]) <= COALESCE_GAP
        ):
            end += 1
        group = ordered[start:end]
        if len(group) == 1:
            yield _header(first.file)
            async for chunk in await store.open(key, first.offset, first.file.size):
                yield chunk
        else:
            data = bytearray()
            async for chunk in await store.open(key, first.offset, _end(group[-1]) - first.offset):
                data += chunk
            for f in group:
                at = f.offset - first.offset
                yield _header(f.file) + bytes(data[at : at + f.file.size])
                yield _padding(f.file.size)
            start = end
            continue
        yield _padding(first.file.size)
        start = end
    yield b"\0" * (2 * tarfile.BLOCKSIZE)  # the end of the archive


def _end(f: StoredFile) -> int:
    return f.offset + f.file.size


def _header(f: FileEntry) -> bytes:
    info = tarfile.TarInfo(f.path)
    info.size = f.size
    info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)
