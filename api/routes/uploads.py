"""Resumable uploads of large files, part by part, onto an S3 multipart upload.

    POST   /uploads                     {"sha256", "size"} -> the uploader's session for it
    GET    /uploads/{id}                the session: its part size and the parts received
    PUT    /uploads/{id}/parts/{n}      part n (1-based), exactly its length
    POST   /uploads/{id}/complete       join the parts, verify the whole sha256, store it
    DELETE /uploads/{id}                give up (the parts are deleted)

A session belongs to the uploader who opened it, one per content: a client that was killed
asks again for the same content and gets the parts it already sent. Opening one needs what
PUT /blobs needs: a pending version of the caller's projects (any, for org admins) that lists
the content. The joined bytes are read through once and their sha256 checked before the blob
becomes visible; only then are they copied to the blob's key, and the content is present for
the uploader (as after PUT /blobs).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from api.access import Access, refused
from api.context import Repositories
from api.metrics import Metrics
from api.routes.blobs import SHA256, error
from api.services.blobs import record_upload, stored_already
from api.settings import Settings
from graph.errors import Conflict, GraphUnavailable
from graph.records import Principal
from graph.repository.uploads import UploadRepository, UploadSession
from storage.blobs import BlobStore
from storage.errors import StorageUnavailable

PART_SIZE: Final = 8 * 2**20  # S3 wants 5 MiB at least (but for the last part)
MAX_PARTS: Final = 10_000  # S3's limit


def _describe(session: UploadSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "sha256": session.sha256,
        "size": session.size,
        "partSize": session.part_size,
        "parts": sorted(session.parts),
    }


def _part_size(size: int) -> int:
    """8 MiB parts, larger when that would make more than S3's 10,000."""
    return max(PART_SIZE, -(-size // MAX_PARTS))


async def open_upload(request: Request) -> Response:
    settings: Settings = request.state.settings
    principal: Principal = request.state.principal
    try:
        body = await request.json()
    except ValueError:
        return error(400, "BAD_INPUT", 'send {"sha256": "<hex>", "size": <bytes>} as JSON')
    fields = body if isinstance(body, dict) else {}
    sha256, size = fields.get("sha256"), fields.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        size = None
    if not isinstance(sha256, str) or not SHA256.match(sha256):
        return error(400, "BAD_INPUT", "sha256: a lowercase hex sha256 is required")
    if size is None:
        return error(400, "BAD_INPUT", "size: the content's length in bytes is required")
    if size > settings.max_blob_size:
        return error(
            413, "BAD_INPUT", f"{size} bytes is more than the limit of {settings.max_blob_size}"
        )
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    store: BlobStore = request.state.blobs
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        if not await repos.access.blob_expected(sha256, principal):
            refused(Access(principal, repos.access), "POST /uploads", "not expected")
            return error(
                403,
                "FORBIDDEN",
                f"no pending version of your projects lists {sha256}: create it first",
            )
        found = await uploads.find_for(principal.id, sha256)
        if found is not None:  # an open session of ours for this content: resume it
            session, made = found, False
        else:
            s3_upload = await store.start_parts(f"{principal.id}-{sha256}")
            session, made = await uploads.open(
                principal.id, sha256, size, _part_size(size), s3_upload
            )
            if not made:  # another request of ours opened it meanwhile
                await store.drop_upload(f"{principal.id}-{sha256}", s3_upload)
        if session.size != size:
            return error(
                409,
                "CONFLICT",
                f"an upload of {sha256} with {session.size} bytes is open: finish or DELETE it",
            )
    except (GraphUnavailable, StorageUnavailable) as exc:
        return error(503, "UNAVAILABLE", str(exc))
    return JSONResponse(_describe(session), status_code=201 if made else 200)


async def _own_session(request: Request) -> UploadSession | Response:
    settings: Settings = request.state.settings
    principal: Principal = request.state.principal
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    session = await uploads.find(request.path_params["session"])
    if session is None or session.owner != principal.id:  # others' sessions do not exist
        return error(404, "NOT_FOUND", f"no upload {request.path_params['session']!r} of yours")
    return session


def _object(session: UploadSession) -> str:
    return f"{session.owner}-{session.sha256}"


async def get_upload(request: Request) -> Response:
    try:
        found = await _own_session(request)
    except GraphUnavailable as exc:
        return error(503, "UNAVAILABLE", str(exc))
    return found if isinstance(found, Response) else JSONResponse(_describe(found))


async def put_part(request: Request) -> Response:
    settings: Settings = request.state.settings
    metrics: Metrics = request.state.metrics
    store: BlobStore = request.state.blobs
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        found = await _own_session(request)
        if isinstance(found, Response):
            return found
        number = int(request.path_params["number"])
        if not 1 <= number <= found.part_count:
            return error(400, "BAD_INPUT", f"part {number}: parts are 1 to {found.part_count}")
        want = found.part_length(number)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > want:
                return error(400, "BAD_INPUT", f"part {number} holds {want} bytes, more arrived")
        if len(data) != want:
            return error(400, "BAD_INPUT", f"part {number} holds {want} bytes, {len(data)} arrived")
        etag = await store.put_part(_object(found), found.s3_upload_id, number, bytes(data))
        await uploads.add_part(found.id, number, etag, want)
    except ClientDisconnect:
        metrics.transfer("upload_part", "abandoned")
        return error(400, "BAD_INPUT", "the part ended before its last byte")
    except (GraphUnavailable, StorageUnavailable) as exc:
        return error(503, "UNAVAILABLE", str(exc))
    metrics.transfer("upload_part", "stored", want)
    return JSONResponse({"number": number, "size": want})


async def complete_upload(request: Request) -> Response:
    settings: Settings = request.state.settings
    principal: Principal = request.state.principal
    metrics: Metrics = request.state.metrics
    store: BlobStore = request.state.blobs
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        found = await _own_session(request)
        if isinstance(found, Response):
            return found
        missing = [n for n in range(1, found.part_count + 1) if n not in found.parts]
        if missing:
            listed = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
            return error(409, "CONFLICT", f"parts still to send: {listed}")
        name = _object(found)
        etags = [found.parts[n][0] for n in range(1, found.part_count + 1)]
        await store.finish_parts(name, found.s3_upload_id, etags)
        digest, size = await store.digest_of_upload(name)
        if digest != found.sha256 or size != found.size:
            await store.drop_upload(name, None)
            await uploads.close(found.id)
            metrics.transfer("upload", "rejected")
            return error(
                400,
                "BAD_INPUT",
                f"the parts joined have sha256 {digest} and {size} bytes, not {found.sha256} "
                f"and {found.size}: the upload is dropped, start again",
            )
        created = not await stored_already(found.sha256, store=store, repo=repos.blobs)
        if created:
            await store.adopt_upload(name, found.sha256)
        else:  # stored already: the upload proved the uploader holds it; keep one copy
            await store.drop_upload(name, None)
        await record_upload(
            found.sha256, size, principal, created=created, store=store, repo=repos.blobs
        )
        await uploads.close(found.id)
    except Conflict as exc:
        return error(409, "CONFLICT", str(exc))
    except (GraphUnavailable, StorageUnavailable) as exc:
        return error(503, "UNAVAILABLE", str(exc))
    metrics.transfer("upload", "stored" if created else "verified")
    return JSONResponse({"sha256": found.sha256, "size": size, "created": created})


async def drop_upload(request: Request) -> Response:
    settings: Settings = request.state.settings
    store: BlobStore = request.state.blobs
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        found = await _own_session(request)
        if isinstance(found, Response):
            return found
        await store.drop_upload(_object(found), found.s3_upload_id)
        await uploads.close(found.id)
    except (GraphUnavailable, StorageUnavailable) as exc:
        return error(503, "UNAVAILABLE", str(exc))
    return Response(status_code=204)
