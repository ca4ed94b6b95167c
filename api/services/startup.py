"""Start-up: wait for Neo4j and S3, apply the graph constraints, create the bucket."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from neo4j import AsyncDriver
from neo4j.exceptions import AuthError, DriverError

from api.access import key_hash
from api.settings import Settings
from graph.constraints import ensure_constraints
from graph.repository.access import AccessRepository
from graph.repository.events import EventRepository
from graph.repository.registries import RegistryRepository
from storage.blobs import BlobStore
from storage.errors import StorageUnavailable

log = logging.getLogger("forebear.startup")


class StartupError(RuntimeError):
    """The service cannot start; the message names the server and the reason."""


def check_secret(settings: Settings) -> None:
    if not settings.secret_key.get_secret_value():
        raise StartupError(
            "FOREBEAR_SECRET_KEY is not set: API keys are hashed with it "
            "(`make services` writes one to .services/forebear.env)"
        )


async def prepare(driver: AsyncDriver, blobs: BlobStore, settings: Settings) -> None:
    """Retry until both servers answer or FOREBEAR_STARTUP_TIMEOUT passes; bad credentials fail
    at once, since waiting cannot fix them."""
    check_secret(settings)
    deadline = time.monotonic() + settings.startup_timeout

    async def graph_ready() -> None:
        # verify_connectivity fails fast; execute_query alone would first retry for a while.
        await driver.verify_connectivity()
        await ensure_constraints(driver, settings.neo4j_database)
        await EventRepository(driver, settings.neo4j_database).ensure_head()
        await RegistryRepository(driver, settings.neo4j_database).ensure_defaults()
        await bootstrap_admin(driver, settings)

    await _retry(
        graph_ready,
        deadline,
        f"Neo4j at {settings.neo4j_uri}",
        (DriverError, OSError),
    )
    await _retry(
        blobs.ensure_bucket, deadline, f"S3 at {settings.s3_endpoint}", (StorageUnavailable,)
    )
    log.info(
        "ready",
        extra={
            "neo4j": settings.neo4j_uri,
            "s3": settings.s3_endpoint,
            "bucket": settings.s3_bucket,
        },
    )


async def bootstrap_admin(driver: AsyncDriver, settings: Settings) -> None:
    """The first org admin and their key come from FOREBEAR_ADMIN_USER / FOREBEAR_ADMIN_KEY;
    once that user exists, nothing here changes it."""
    key = settings.admin_key.get_secret_value()
    if not key:
        log.warning("FOREBEAR_ADMIN_KEY is not set: no org admin is created at start-up")
        return
    repo = AccessRepository(driver, settings.neo4j_database)
    if await repo.bootstrap_admin(settings.admin_user, key_hash(settings, key)):
        log.info("created the org admin", extra={"user": settings.admin_user})


async def _retry(
    step: Callable[[], Awaitable[None]],
    deadline: float,
    server: str,
    transient: tuple[type[Exception], ...],
) -> None:
    while True:
        try:
            await step()
            return
        except AuthError as exc:
            raise StartupError(
                f"{server} refused the credentials: {exc.message}; check "
                "FOREBEAR_NEO4J_USER and FOREBEAR_NEO4J_PASSWORD"
            ) from exc
        except transient as exc:
            if time.monotonic() >= deadline:
                raise StartupError(f"{server} is unavailable: {exc}") from exc
            log.warning("waiting for %s: %s", server, exc)
            await anyio.sleep(1.0)
