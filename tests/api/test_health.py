"""Liveness, readiness with each server down and back, and the first query that touches Neo4j."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from neo4j import GraphDatabase
from starlette.testclient import TestClient

from api.__main__ import GRACEFUL_SECONDS
from api.app import create_app
from api.settings import Settings
from tests.helpers import ADMIN_KEY, api_process, bearer, graphql
from tests.proxy import TcpProxy

SERVER_INFO = (
    "query Info { serverInfo { version neo4jVersion neo4jEdition neo4jDatabase s3Bucket } }"
)


def proxy_to(url: str) -> TcpProxy:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return TcpProxy(parts.hostname, parts.port)


@pytest.fixture
def neo4j_proxy(settings: Settings) -> Iterator[TcpProxy]:
    with proxy_to(settings.neo4j_uri) as proxy:
        yield proxy


@pytest.fixture
def s3_proxy(settings: Settings) -> Iterator[TcpProxy]:
    with proxy_to(settings.s3_endpoint) as proxy:
        yield proxy


@pytest.fixture
def proxied_client(
    settings: Settings, neo4j_proxy: TcpProxy, s3_proxy: TcpProxy
) -> Iterator[TestClient]:
    """The app reaching Neo4j and S3 only through proxies a test can cut."""
    proxied = settings.model_copy(
        update={
            "neo4j_uri": f"bolt://127.0.0.1:{neo4j_proxy.port}",
            "s3_endpoint": f"http://127.0.0.1:{s3_proxy.port}",
            "ready_timeout": 2.0,
        }
    )
    with TestClient(create_app(proxied), headers=bearer(ADMIN_KEY)) as client:
        yield client


def wait_for_status(client: TestClient, status: int, within: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        response = client.get("/readyz")
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            body: dict[str, object] = response.json()
            return body
        time.sleep(0.2)


def test_healthz_answers_while_the_process_lives(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


def test_readyz_is_200_when_neo4j_and_s3_answer(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"neo4j": "ok", "s3": "ok"}}


def test_readyz_turns_503_when_neo4j_stops_and_200_when_it_returns(
    proxied_client: TestClient, neo4j_proxy: TcpProxy
) -> None:
    wait_for_status(proxied_client, 200)
    neo4j_proxy.stop()
    started = time.monotonic()
    body = wait_for_status(proxied_client, 503)
    assert time.monotonic() - started < 10
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["s3"] == "ok"
    assert "Neo4j is unavailable" in checks["neo4j"]
    neo4j_proxy.start()
    assert wait_for_status(proxied_client, 200)["ready"] is True


def test_readyz_turns_503_when_s3_stops_and_200_when_it_returns(
    proxied_client: TestClient, s3_proxy: TcpProxy
) -> None:
    wait_for_status(proxied_client, 200)
    s3_proxy.stop()
    checks = wait_for_status(proxied_client, 503)["checks"]
    assert isinstance(checks, dict)
    assert checks["neo4j"] == "ok"
    assert "S3 is unavailable" in checks["s3"]
    s3_proxy.start()
    wait_for_status(proxied_client, 200)


def test_server_info_reports_the_real_neo4j_version(client: TestClient, settings: Settings) -> None:
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD versions, edition RETURN versions[0] AS v, edition"
        )
    body = graphql(client, SERVER_INFO)
    assert "errors" not in body
    info = body["data"]["serverInfo"]
    assert info["neo4jVersion"] == records[0]["v"]
    assert info["neo4jVersion"].startswith("5.")
    assert info["neo4jEdition"] == records[0]["edition"]
    assert info["neo4jDatabase"] == settings.neo4j_database
    assert info["s3Bucket"] == settings.s3_bucket
    assert info["version"] == "0.1.0"


def test_the_bucket_is_created_at_start_up(client: TestClient, settings: Settings) -> None:
    from tests.helpers import s3_client

    assert s3_client(settings).bucket_exists(settings.s3_bucket)


def test_server_info_says_unavailable_without_a_stack_trace_when_neo4j_is_down(
    proxied_client: TestClient, neo4j_proxy: TcpProxy
) -> None:
    assert "errors" not in graphql(proxied_client, SERVER_INFO)  # the key is checked now
    neo4j_proxy.stop()
    body = graphql(proxied_client, SERVER_INFO)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE"
    assert error["message"] == "Neo4j is unavailable"
    assert error["path"] == ["serverInfo"]
    # A key not checked yet cannot be: UNAVAILABLE too, not a refusal.
    response = proxied_client.post(
        "/graphql", json={"query": SERVER_INFO}, headers=bearer("fbk_not-checked-yet")
    )
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"


def test_browsers_on_allowed_origins_may_call_the_api_and_others_may_not(
    settings: Settings,
) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    with TestClient(create_app(settings)) as closed:  # the default: no origin
        refused = closed.options("/graphql", headers={"Origin": "https://app.example", **preflight})
        assert "access-control-allow-origin" not in refused.headers
    allowed = settings.model_copy(update={"cors_origins": "https://app.example"})
    with TestClient(create_app(allowed)) as client:
        answer = client.options("/graphql", headers={"Origin": "https://app.example", **preflight})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert "idempotency-key" in answer.headers["access-control-allow-headers"].lower()
        posted = client.post(
            "/graphql",
            json={"query": "{ viewer { user { name } } }"},
            headers={"Origin": "https://app.example", **bearer(ADMIN_KEY)},
        )
        assert posted.json()["data"]["viewer"]["user"]["name"] == "admin"
        assert posted.headers["access-control-allow-origin"] == "https://app.example"
        keyless = client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://app.example"}
        )
        assert keyless.status_code == 401  # readable by the page: it carries the header
        assert keyless.headers["access-control-allow-origin"] == "https://app.example"
        other = client.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_a_stopped_server_exits_though_a_request_never_ends(
    settings: Settings, tmp_path: Path
) -> None:
    """SIGTERM lets running requests finish for a while, then the process goes anyway: a
    client that never sends the body it announced does not keep a stopped server alive."""
    with api_process(settings, tmp_path / "server.log") as (base, proc):
        parts = urlsplit(base)
        stuck = socket.create_connection((parts.hostname, parts.port))
        stuck.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: forebear\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN_KEY.encode() + b"\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        time.sleep(1)  # the request is being read
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert time.monotonic() - stopped < GRACEFUL_SECONDS + 10
        stuck.close()
