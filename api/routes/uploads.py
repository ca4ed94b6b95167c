"""Resumable uploads of large files, part by part, onto an S3 multipart upload.

    POST   /uploads                     {"sha256", "size"} -> the uploader's session for it
    GET    /uploads/{id}                the session: its part size and the parts received
    PUT    /uploads/{id}/parts/{n}      part n (1-based), exactly its length
    POST   /uploads/{id}/complete       join the parts, verify the whole sha256, store it
    DELETE /uploads/{id}                give up (the parts are deleted)

A session belongs to the uploader who opened it, one per content: a client that was killed
asks again for the same content and gets the parts it already sent. Opening one needs what
PUT /blobs needs: a pending version of the caller's projects (any, for org admins) that lists
the content. The whole sha256 is checked before the blob becomes visible (api.services.uploads:
hashed as the parts arrive, or the joined object read back); the joined object is then the
blob's bytes, and the content is present for the uploader (as after PUT /blobs).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from api.context import Repositories
from api.metrics import Metrics
from api.routes.blobs import domain_error, error, not_expected
from api.services.blobs import SHA256
from api.services.uploads import (
    Rejected,
    find_session,
    finish_session,
    open_session,
    store_part,
    with_parts,
)
from api.settings import Settings
from graph.errors import Conflict, GraphUnavailable
from graph.records import Principal
from graph.repository.uploads import UploadRepository, UploadSession
from storage.blobs import BlobStore
from storage.errors import BlobMissing, StorageUnavailable


def _describe(session: UploadSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "sha256": session.sha256,
        "size": session.size,
        "partSize": session.part_size,
        "parts": sorted(session.parts),
    }


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
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        if not await repos.access.blob_expected(sha256, principal):
            return not_expected(repos, principal, "POST /uploads", [sha256])
        session, made = await open_session(
            sha256,
            size,
            principal,
            store=request.state.blobs,
            uploads=uploads,
            hashes=request.state.part_hashes,
        )
        if session.size != size:
            return error(
                409,
                "CONFLICT",
                f"an upload of {sha256} with {session.size} bytes is open: finish or DELETE it",
            )
    except (GraphUnavailable, StorageUnavailable) as exc:
        return domain_error(exc)
    return JSONResponse(_describe(session), status_code=201 if made else 200)


async def _own_session(request: Request, *, parts: bool = False) -> UploadSession | Response:
    """The caller's open session the path names (with the parts S3 holds, if `parts`)."""
    settings: Settings = request.state.settings
    principal: Principal = request.state.principal
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    name = request.path_params["session"]
    session = await find_session(name, uploads=uploads, hashes=request.state.part_hashes)
    if session is None or session.owner != principal.id:  # others' sessions do not exist
        return error(404, "NOT_FOUND", f"no upload {name!r} of yours")
    if parts:
        store: BlobStore = request.state.blobs
        try:
            return await with_parts(session, store)
        except BlobMissing:  # closed meanwhile (finished, dropped, or collected)
            return error(404, "NOT_FOUND", f"no upload {name!r} of yours")
    return session


async def get_upload(request: Request) -> Response:
    try:
        found = await _own_session(request, parts=True)
    except (GraphUnavailable, StorageUnavailable) as exc:
        return domain_error(exc)
    return found if isinstance(found, Response) else JSONResponse(_describe(found))


async def put_part(request: Request) -> Response:
    metrics: Metrics = request.state.metrics
    try:
        found = await _own_session(request)
        if isinstance(found, Response):
            return found
        number = int(request.path_params["number"])
        if not 1 <= number <= found.part_count:
            return error(400, "BAD_INPUT", f"part {number}: parts are 1 to {found.part_count}")
        want = found.part_length(number)
        data = bytearray(want)  # filled in place: a part is MiBs, copies cost
        view, got = memoryview(data), 0
        async for chunk in request.stream():
            if got + len(chunk) > want:
                return error(400, "BAD_INPUT", f"part {number} holds {want} bytes, more arrived")
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
        if got != want:
            return error(400, "BAD_INPUT", f"part {number} holds {want} bytes, {got} arrived")
        await store_part(
            found, number, data, store=request.state.blobs, hashes=request.state.part_hashes
        )
    except BlobMissing:  # closed meanwhile (finished, dropped, or collected)
        return error(404, "NOT_FOUND", f"no upload {request.path_params['session']!r} of yours")
    except ClientDisconnect:
        metrics.transfer("upload_part", "abandoned")
        return error(400, "BAD_INPUT", "the part ended before its last byte")
    except (GraphUnavailable, StorageUnavailable) as exc:
        return domain_error(exc)
    metrics.transfer("upload_part", "stored", want)
    return JSONResponse({"number": number, "size": want})


async def complete_upload(request: Request) -> Response:
    settings: Settings = request.state.settings
    principal: Principal = request.state.principal
    metrics: Metrics = request.state.metrics
    repos = Repositories.on(request.state.driver, settings.neo4j_database)
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        found = await _own_session(request, parts=True)
        if isinstance(found, Response):
            return found
        missing = [n for n in range(1, found.part_count + 1) if n not in found.parts]
        if missing:
            listed = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
            return error(409, "CONFLICT", f"parts still to send: {listed}")
        created = await finish_session(
            found,
            principal,
            store=request.state.blobs,
            blobs=repos.blobs,
            uploads=uploads,
            hashes=request.state.part_hashes,
        )
    except Conflict as exc:
        return domain_error(exc)
    except (GraphUnavailable, StorageUnavailable) as exc:
        return domain_error(exc)
    if isinstance(created, Rejected):
        metrics.transfer("upload", "rejected")
        return error(
            400,
            "BAD_INPUT",
            f"the parts joined have sha256 {created.digest} and {created.size} bytes, not "
            f"{found.sha256} and {found.size}: the upload is dropped, start again",
        )
    metrics.transfer("upload", "stored" if created else "verified")
    return JSONResponse({"sha256": found.sha256, "size": found.size, "created": created})


async def drop_upload(request: Request) -> Response:
    settings: Settings = request.state.settings
    store: BlobStore = request.state.blobs
    uploads = UploadRepository(request.state.driver, settings.neo4j_database)
    try:
        found = await _own_session(request)
        if isinstance(found, Response):
            return found
        await store.drop_upload(found.object, found.s3_upload_id)
        await uploads.close(found.id)
        request.state.part_hashes.forget(found.id)
    except (GraphUnavailable, StorageUnavailable) as exc:
        return domain_error(exc)
    return Response(status_code=204)
