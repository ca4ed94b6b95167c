"""Uploads of whole contents, verified against their sha256 before anything is recorded.

PUT  /blobs/{sha256}   one content, streamed (any size)
POST /blobs            many small contents at once: a tar whose members are named by their
                       sha256 (application/x-tar), stored together as one pack
"""

from __future__ import annotations

import logging

import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from api.access import Access, refused
from api.context import Repositories
from api.errors import HTTP_STATUS, error_code
from api.metrics import Metrics
from api.services.blobs import (
    PACK_LIMIT,
    SHA256,
    PackRejected,
    store_blob,
    store_pack,
    unpack,
)
from api.settings import Settings
from graph.errors import Conflict, GraphError, GraphUnavailable
from graph.records import Principal
from storage.blobs import BlobStore
from storage.errors import StorageUnavailable, TooLarge, UploadRejected

log = logging.getLogger("forebear.blobs")


def error(status: int, code: str, message: str) -> JSONResponse:
    """The JSON error body of the byte endpoints, with the same codes as GraphQL errors."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def domain_error(exc: GraphError | StorageUnavailable) -> JSONResponse:
    """A graph or storage error as the byte endpoints answer it: its code (api.errors, as
    GraphQL gives it) and that code's HTTP status."""
    code = error_code(exc)
    assert code is not None, f"{type(exc).__name__} has no code in api.errors.ERROR_CODES"
    return error(HTTP_STATUS[code], code, str(exc))


def not_expected(
    repos: Repositories, principal: Principal, operation: str, shas: list[str]
) -> Response:
    """The refusal of content no pending version of the caller's projects lists (of any
    project, for org admins), logged as refusals are: the first such sha256 named."""
    refused(Access(principal, repos.access), operation, "not expected")
    more = f" (nor {len(shas) - 1} more)" if len(shas) > 1 else ""
    return error(
        403,
        "FORBIDDEN",
        f"no pending version of your projects lists {shas[0]}{more}: create it first",
    )


async def put_blob(request: Request) -> Response:
    sha256: str = request.path_params["sha256"]
    settings: Settings = request.state.settings
    if not SHA256.match(sha256):
        return error(400, "BAD_INPUT", f"{sha256!r} is not a lowercase hex sha256")
    length: int | None = None
    if (header := request.headers.get("content-length")) is not None:
        if not header.isdigit():
            return error(400, "BAD_INPUT", f"Content-Length {header!r} is not a number")
        length = int(header)
        if length > settings.max_blob_size:
            return error(
                413,
                "BAD_INPUT",
                f"{length} bytes is more than the limit of {settings.max_blob_size}",
            )
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    store: BlobStore = request.state.blobs
    principal: Principal = request.state.principal
    metrics: Metrics = request.state.metrics
    try:
        # Only content a pending manifest lists is accepted: of the caller's projects, or of
        # any project for org admins (who may write anywhere). Never content for nothing.
        if not await repos.access.blob_expected(sha256, principal):
            metrics.transfer("upload", "forbidden")
            return not_expected(repos, principal, f"PUT /blobs/{sha256}", [sha256])
        size, created = await store_blob(
            sha256,
            request.stream(),
            length,
            limit=settings.max_blob_size,
            store=store,
            repo=repos.blobs,
            uploader=principal,
        )
    except ClientDisconnect:
        metrics.transfer("upload", "abandoned")
        # The client went away: nothing was stored (S3 aborts the multipart upload, and the
        # collector removes any upload an API killed at that moment leaves behind).
        log.info("upload abandoned", extra={"sha256": sha256, "reason": "client disconnected"})
        return error(400, "BAD_INPUT", f"the upload of {sha256} ended before its last byte")
    except TooLarge as exc:
        metrics.transfer("upload", "too_large")
        return error(413, "BAD_INPUT", f"upload of {sha256} refused: {exc}")
    except UploadRejected as exc:
        metrics.transfer("upload", "rejected")
        return error(400, "BAD_INPUT", f"upload of {sha256} refused: {exc}")
    except Conflict as exc:
        metrics.transfer("upload", "conflict")
        return domain_error(exc)
    except (StorageUnavailable, GraphUnavailable) as exc:
        metrics.transfer("upload", "unavailable")
        return domain_error(exc)
    metrics.transfer("upload", "stored" if created else "verified", size)
    body = {"sha256": sha256, "created": created, "size": size}
    return JSONResponse(body, status_code=201 if created else 200)


async def post_blobs(request: Request) -> Response:
    settings: Settings = request.state.settings
    metrics: Metrics = request.state.metrics
    principal: Principal = request.state.principal
    # the tar's headers and padding on top of the contents: a block per member, at most
    limit = PACK_LIMIT * 2 + 10240
    header = request.headers.get("content-length")
    if header is not None and header.isdigit() and int(header) > limit:
        return error(413, "BAD_INPUT", f"at most {PACK_LIMIT} bytes of content per request")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return error(413, "BAD_INPUT", f"at most {PACK_LIMIT} bytes of content per request")
    except ClientDisconnect:
        metrics.transfer("upload", "abandoned")
        return error(400, "BAD_INPUT", "the upload ended before its last byte")
    try:
        # parsing and hashing thousands of members is CPU work: off the event loop
        contents = await anyio.to_thread.run_sync(unpack, bytes(body))
        if sum(map(len, contents.values())) > PACK_LIMIT:
            raise PackRejected(f"at most {PACK_LIMIT} bytes of content per request")
    except PackRejected as exc:
        metrics.transfer("upload", "rejected")
        return error(400, "BAD_INPUT", f"POST /blobs refused: {exc}")
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    try:
        expected = await repos.access.blobs_expected(list(contents), principal)
        if unexpected := [sha for sha in contents if sha not in expected]:
            metrics.transfer("upload", "forbidden")
            return not_expected(repos, principal, "POST /blobs", unexpected)
        results = await store_pack(
            contents, store=request.state.blobs, repo=repos.blobs, uploader=principal
        )
    except Conflict as exc:
        metrics.transfer("upload", "conflict")
        return domain_error(exc)
    except (StorageUnavailable, GraphUnavailable) as exc:
        metrics.transfer("upload", "unavailable")
        return domain_error(exc)
    for result in results:
        metrics.transfer("upload", "stored" if result.created else "verified", result.size)
    return JSONResponse(
        {"blobs": [{"sha256": r.sha256, "size": r.size, "created": r.created} for r in results]}
    )
