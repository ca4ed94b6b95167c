"""Fixtures on the real Neo4j and MinIO servers that `make test` starts (scripts/services.py run).

Every test starts from an empty graph; tests that run the app get a bucket of their own.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from neo4j import AsyncDriver, AsyncGraphDatabase, GraphDatabase
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from graph.constraints import ensure_constraints
from tests.helpers import ADMIN_KEY, TEST_SECRET, api_process, bearer, remove_bucket, s3_client

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    missing = [
        name for name in ("FOREBEAR_NEO4J_URI", "FOREBEAR_S3_ENDPOINT") if not os.environ.get(name)
    ]
    if missing:
        # The suite wipes the database it is given: never let it fall back to a developer's
        # `make services` data through .services/forebear.env.
        pytest.exit(
            f"{', '.join(missing)} not set: run the suite with `make test`, which starts "
            "throw-away Neo4j and MinIO servers and sets them",
            returncode=4,
        )


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings(_env_file=None, secret_key=TEST_SECRET, admin_key=ADMIN_KEY)


@pytest.fixture
def settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings with a bucket of this test's own, removed (with its objects) afterwards."""
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    yield base_settings.model_copy(update={"s3_bucket": bucket})
    remove_bucket(s3_client(base_settings), bucket)


@pytest.fixture(autouse=True)
def clean_graph(base_settings: Settings) -> None:
    # In batches, in auto-commit transactions: a large graph left in a dev database by a
    # benchmark would not fit in one transaction's memory.
    with (
        GraphDatabase.driver(base_settings.neo4j_uri, auth=base_settings.neo4j_auth) as driver,
        driver.session(database=base_settings.neo4j_database) as session,
    ):
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


@pytest.fixture
async def driver(base_settings: Settings) -> AsyncIterator[AsyncDriver]:
    async with AsyncGraphDatabase.driver(
        base_settings.neo4j_uri, auth=base_settings.neo4j_auth
    ) as driver:
        await ensure_constraints(driver)
        yield driver


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app, lifespan included, on the real servers, called as the org admin that
    configuration creates on first start."""
    with TestClient(create_app(settings), headers=bearer(ADMIN_KEY)) as client:
        yield client


@pytest.fixture
def server(settings: Settings, unused_port: int, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real API process (`python -m api`) on its own port, on the test's bucket: its base
    URL and pid. What it logs is in tmp_path / "server.log"."""
    # Webhook receivers in the tests (and the README's) listen on loopback; silent runs are
    # looked for often (a test's runs beat every second or so, FOREBEAR_HEARTBEAT).
    with api_process(
        settings,
        tmp_path / "server.log",
        port=unused_port,
        env={"FOREBEAR_WEBHOOK_ALLOW_PRIVATE": "true", "FOREBEAR_RUN_WATCH": "0.5"},
    ) as (base, proc):
        yield base, proc.pid


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
