"""The GraphQL endpoint: GraphiQL for browsers, error codes, guards, metrics and request ids."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from graphql import get_introspection_query
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from api.schema import MAX_ALIASES, MAX_QUERY_DEPTH, MAX_QUERY_TOKENS
from api.web import WebApp
from tests.factories import log_version, sha
from tests.helpers import graphql


def test_a_browser_gets_the_web_apps_own_graphiql_and_no_cdn(client: TestClient) -> None:
    response = client.get("/graphql", headers={"accept": "text/html"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/graphiql")
    page = client.get("/graphiql", headers={"authorization": ""})  # pages need no key
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-cache"
    assert '<div id="root">' in page.text
    assert "cdn" not in page.text.lower()
    # and the browser is told to run nothing else: no other origin's script, style or frame
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == policy["script-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    # its scripts are the app's own, from this origin, cached for good
    script = page.text.split('src="', 1)[1].split('"', 1)[0]
    assert script.startswith("/assets/")
    asset = client.get(script, headers={"authorization": ""})
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    # the API's own paths keep needing a key, whatever a browser accepts
    for path in ("/files/ver_x", "/uploads/upl_x", "/graphql?query=%7Bviewer%7Bprojects%7D%7D"):
        assert client.get(path, headers={"authorization": ""}).status_code == 401


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


def test_the_whole_introspection_query_answers_without_errors(client: TestClient) -> None:
    # What GraphiQL and client generators send first: a default it cannot show (an object of
    # a custom scalar) used to answer INTERNAL errors here.
    answer = graphql(client, get_introspection_query(descriptions=True))
    assert "errors" not in answer, answer.get("errors")
    assert answer["data"]["__schema"]["queryType"]["name"] == "Query"


def test_too_many_aliases_are_refused(client: TestClient) -> None:
    fields = " ".join(f"a{i}: serverInfo {{ version }}" for i in range(MAX_ALIASES + 1))
    body = graphql(client, f"{{ {fields} }}")
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "aliases" in body["errors"][0]["message"]


def test_metrics_count_and_time_each_operation_by_its_root_fields(client: TestClient) -> None:
    for name in ("Dashboard", "Other", None):
        operation = f"query {name} " if name else ""
        assert "errors" not in graphql(client, operation + "{ serverInfo { version } }")
    graphql(client, "query Broken { serverInfo { nope } }")
    graphql(client, "{ viewer { user { name } } registries { name } serverInfo { version } }")
    graphql(
        client,
        "{ a: viewer { user { name } } ...Roots }  fragment Roots on Query { "
        "registries { name } b: serverInfo { version } users { name } }",
    )
    graphql(client, "{ madeUp }")
    graphql(client, "{ serverInfo { version }")  # does not parse
    text = client.get("/metrics").text
    for line in (
        'forebear_graphql_operations_total{fields="serverInfo",outcome="ok",type="query"} 3.0',
        'forebear_graphql_operations_total{fields="serverInfo",outcome="error",type="query"} 1.0',
        'forebear_graphql_operations_total{fields="registries,serverInfo,viewer",outcome="ok",'
        'type="query"} 1.0',
        'forebear_graphql_operations_total{fields="(several)",outcome="ok",type="query"} 1.0',
        'forebear_graphql_operations_total{fields="(unknown)",outcome="error",type="query"} 1.0',
        'forebear_graphql_operations_total{fields="(unknown)",outcome="error",type="unknown"} 1.0',
        'forebear_graphql_operation_duration_seconds_count{fields="serverInfo",type="query"} 4.0',
    ):
        assert line in text, line
    assert "Dashboard" not in text  # names clients choose never become labels
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    for counted in ("forebear_kept_answers", "forebear_lineage_answers", "forebear_kept_reads"):
        assert types[counted + "_total"] == "counter", counted
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text


def test_metrics_count_uploads_and_downloads_with_their_bytes(client: TestClient) -> None:
    data = b"counted bytes" * 100
    version = log_version(client, {"f": data})
    client.put(f"/blobs/{sha(b'not listed')}", content=b"not listed")
    for _ in range(2):
        assert client.get(f"/files/{version['id']}/f").content == data
    client.get(f"/files/{version['id']}/missing")
    text = client.get("/metrics").text
    for line in (
        'forebear_transfers_total{direction="upload",outcome="stored"} 1.0',
        'forebear_transfers_total{direction="upload",outcome="forbidden"} 1.0',
        f'forebear_transfer_bytes_total{{direction="upload"}} {float(len(data))}',
        'forebear_transfers_total{direction="download",outcome="ok"} 2.0',
        'forebear_transfers_total{direction="download",outcome="not_found"} 1.0',
        f'forebear_transfer_bytes_total{{direction="download"}} {float(2 * len(data))}',
    ):
        assert line in text, line


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


def test_an_unbuilt_web_app_says_how_to_build_it(tmp_path: Path) -> None:
    app = Starlette(routes=[Mount("/", app=WebApp(tmp_path))])
    with TestClient(app) as plain:
        page = plain.get("/registries/model")
    assert page.status_code == 503
    assert "make install" in page.text
