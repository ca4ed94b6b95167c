"""Liveness and readiness probes."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from api.settings import Settings
from graph.errors import GraphUnavailable
from graph.repository.server import ServerRepository
from storage.blobs import BlobStore
from storage.errors import StorageUnavailable


async def healthz(request: Request) -> Response:
    """The process is alive and serving HTTP; says nothing of Neo4j or S3."""
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    """200 when Neo4j and S3 both answer within the ready timeout, else 503 naming what failed."""
    settings: Settings = request.state.settings
    server = ServerRepository(request.state.driver, settings.neo4j_database)
    blobs: BlobStore = request.state.blobs
    checks = dict.fromkeys(("neo4j", "s3"), "unchecked")

    async def check(name: str, probe: ServerRepository | BlobStore) -> None:
        try:
            with anyio.fail_after(settings.ready_timeout):
                await probe.ping()
            checks[name] = "ok"
        except TimeoutError:
            checks[name] = f"no answer within {settings.ready_timeout:g}s"
        except (GraphUnavailable, StorageUnavailable) as exc:
            checks[name] = str(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(check, "neo4j", server)
        group.start_soon(check, "s3", blobs)
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
