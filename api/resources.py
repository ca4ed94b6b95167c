"""The long-lived clients a process holds: one Neo4j driver and one S3 client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from minio import Minio
from neo4j import AsyncDriver, AsyncGraphDatabase

from api.settings import Settings
from storage.blobs import BlobStore, http_pool


@contextlib.asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[tuple[AsyncDriver, BlobStore]]:
    """The driver and the blob store for `settings`, closed on exit."""
    pool = http_pool()
    client = Minio(
        settings.s3_netloc,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=pool,
    )
    try:
        async with AsyncGraphDatabase.driver(
            settings.neo4j_uri,
            auth=settings.neo4j_auth,
            connection_timeout=5.0,
            connection_acquisition_timeout=10.0,
            # A read retried for longer than this answers UNAVAILABLE rather than hang.
            max_transaction_retry_time=5.0,
            # Server notifications (e.g. "property key does not exist" for properties that
            # only some nodes carry yet) cost a log line per query and say nothing useful.
            notifications_min_severity="OFF",
        ) as driver:
            yield driver, BlobStore(client, settings.s3_bucket, pool)
    finally:
        pool.clear()
