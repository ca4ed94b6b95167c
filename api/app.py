"""The Starlette application: routes, middleware, and the resources its lifespan owns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TypedDict

from minio import Minio
from neo4j import AsyncDriver, AsyncGraphDatabase
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from api.context import GraphQLApp
from api.logs import RequestLog
from api.metrics import Metrics
from api.routes.blobs import put_blob
from api.routes.files import get_file
from api.routes.health import healthz, readyz
from api.routes.metrics import metrics as metrics_endpoint
from api.schema import schema
from api.services.startup import prepare
from api.settings import Settings
from storage.blobs import BlobStore, http_pool


class State(TypedDict):
    settings: Settings
    driver: AsyncDriver
    blobs: BlobStore
    metrics: Metrics


def create_app(settings: Settings) -> Starlette:
    """One app, one Neo4j driver and one S3 client per process, opened in the lifespan."""
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        pool = http_pool()
        client = Minio(
            settings.s3_netloc,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=pool,
        )
        blobs = BlobStore(client, settings.s3_bucket)
        try:
            async with AsyncGraphDatabase.driver(
                settings.neo4j_uri,
                auth=settings.neo4j_auth,
                connection_timeout=5.0,
                connection_acquisition_timeout=10.0,
                # A read retried for longer than this answers UNAVAILABLE rather than hang.
                max_transaction_retry_time=5.0,
            ) as driver:
                await prepare(driver, blobs, settings)
                yield {"settings": settings, "driver": driver, "blobs": blobs, "metrics": metrics}
        finally:
            pool.clear()

    routes = [
        Route("/graphql", GraphQLApp(schema, graphql_ide="graphiql"), methods=["GET", "POST"]),
        Route("/blobs/{sha256}", put_blob, methods=["PUT"]),
        Route("/files/{version_id}/{path:path}", get_file, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(RequestLog)], lifespan=lifespan)
