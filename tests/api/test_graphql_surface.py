"""The GraphQL endpoint: GraphiQL for browsers, error codes, guards, metrics and request ids."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from api.schema import MAX_ALIASES, MAX_QUERY_DEPTH, MAX_QUERY_TOKENS
from tests.helpers import graphql


def test_a_browser_gets_graphiql(client: TestClient) -> None:
    response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "GraphiQL" in response.text


def test_an_unknown_field_is_bad_input_naming_it(client: TestClient) -> None:
    body = graphql(client, "{ serverInfo { neo4jVersoin } }")
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT"}
    assert "neo4jVersoin" in error["message"]


def test_a_syntax_error_is_bad_input(client: TestClient) -> None:
    body = graphql(client, "{ serverInfo { ")
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT"}
    assert "Syntax Error" in error["message"]


def test_limits_hold_for_every_sending_of_the_same_query(client: TestClient) -> None:
    """Parse and validation results are cached per query text: a refused text stays refused,
    and an accepted one keeps answering with each request's own variables."""
    nested = "id"
    for _ in range(MAX_QUERY_DEPTH // 3 + 1):
        nested = f"collection {{ links {{ nodes {{ {nested} }} }} }}"
    deep = f'{{ linkedVersion(ref: "model/x:v0") {{ {nested} }} }}'
    for _ in range(2):
        [error] = graphql(client, deep)["errors"]
        assert error["extensions"]["code"] == "BAD_INPUT"
        assert "exceeds maximum operation depth" in error["message"]
    wide = "{ " + " ".join(["serverInfo { version }"] * (MAX_QUERY_TOKENS // 4)) + " }"
    for _ in range(2):
        [error] = graphql(client, wide)["errors"]
        assert error["extensions"]["code"] == "BAD_INPUT"
        assert "token" in error["message"]
    query = "query($r: String!) { registry(name: $r) { name } }"
    for name in ("model", "dataset", "model"):
        assert graphql(client, query, r=name)["data"]["registry"]["name"] == name


def test_too_many_aliases_are_refused(client: TestClient) -> None:
    fields = " ".join(f"a{i}: serverInfo {{ version }}" for i in range(MAX_ALIASES + 1))
    body = graphql(client, f"{{ {fields} }}")
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "aliases" in body["errors"][0]["message"]


def test_metrics_count_and_time_each_operation_by_name(client: TestClient) -> None:
    for _ in range(2):
        assert "errors" not in graphql(client, "query Dashboard { serverInfo { version } }")
    graphql(client, "query Broken { serverInfo { nope } }")
    text = client.get("/metrics").text
    assert (
        'forebear_graphql_operations_total{operation="Dashboard",outcome="ok",type="query"} 2.0'
    ) in text
    assert (
        'forebear_graphql_operations_total{operation="Broken",outcome="error",type="query"} 1.0'
    ) in text
    assert (
        'forebear_graphql_operation_duration_seconds_count{operation="Dashboard",type="query"} 2.0'
    ) in text


def test_each_request_gets_an_id_that_the_access_log_carries(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="forebear.access"):
        kept = client.get("/healthz", headers={"x-request-id": "trace-42"})
        fresh = client.get("/healthz")
        unsafe = client.get("/healthz", headers={"x-request-id": "bad id\nwith newline"})
    assert kept.headers["x-request-id"] == "trace-42"
    assert len(fresh.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] not in ("bad id\nwith newline", "")
    logged = [r for r in caplog.records if r.name == "forebear.access"]
    assert [getattr(r, "request_id", None) for r in logged] == [
        "trace-42",
        fresh.headers["x-request-id"],
        unsafe.headers["x-request-id"],
    ]
    assert all(getattr(r, "path", None) == "/healthz" for r in logged)
    assert all(getattr(r, "status", None) == 200 for r in logged)
