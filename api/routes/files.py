"""GET /files/{version-id}/{path}: a file of a committed version, streamed, with Range."""

from __future__ import annotations

import re
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
from storage.blobs import BlobStore
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
        entry = await repos.artifacts.get_file(version_id, path)
    except NotFound:
        metrics.transfer("download", "not_found")
        return error(404, "NOT_FOUND", f"no file {path!r} in a committed version {version_id!r}")
    except GraphUnavailable as exc:
        return error(503, "UNAVAILABLE", str(exc))
    etag = f'"{entry.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
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
        body: AsyncIterator[bytes] = await store.open(entry.sha256, first, length)
    except BlobMissing:
        return error(500, "INTERNAL", f"the content of {path!r} is missing from storage")
    except StorageUnavailable as exc:
        return error(503, "UNAVAILABLE", str(exc))
    return StreamingResponse(
        metrics.counted(body), status_code=status, headers=headers, media_type=entry.content_type
    )
