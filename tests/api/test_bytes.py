"""PUT /blobs and GET /files: verified uploads, idempotence, ranges, and garbage collection."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from neo4j import AsyncDriver
from starlette.testclient import TestClient

from api.app import create_app
from api.services.blobs import collect_garbage
from api.settings import Settings
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from storage.blobs import BlobStore, blob_key, http_pool
from tests.factories import count, events, log_version, ok, open_version, sha, upload, user_key
from tests.helpers import ADMIN_KEY, bearer, graphql, s3_client

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def stored_keys(settings: Settings) -> list[str]:
    client = s3_client(settings)
    return [o.object_name for o in client.list_objects(settings.s3_bucket, recursive=True)]


def test_an_upload_is_stored_once_and_a_second_upload_is_a_no_op(
    client: TestClient, settings: Settings
) -> None:
    open_version(client, {"f": PAYLOAD})
    first = client.put(f"/blobs/{sha(PAYLOAD)}", content=PAYLOAD)
    assert first.status_code == 201
    assert first.json() == {"sha256": sha(PAYLOAD), "created": True, "size": len(PAYLOAD)}
    second = client.put(f"/blobs/{sha(PAYLOAD)}", content=PAYLOAD)
    assert second.status_code == 200
    assert second.json() == {"sha256": sha(PAYLOAD), "created": False, "size": len(PAYLOAD)}
    # stored already, the bytes are still read and verified: a wrong body is refused
    wrong = client.put(f"/blobs/{sha(PAYLOAD)}", content=PAYLOAD[:-1] + b"!")
    assert wrong.status_code == 400
    assert f"not {sha(PAYLOAD)}" in wrong.json()["error"]["message"]
    assert stored_keys(settings) == [f"blobs/{sha(PAYLOAD)[:2]}/{sha(PAYLOAD)}"]


def test_content_that_does_not_match_its_sha256_is_refused_and_not_kept(
    client: TestClient, settings: Settings
) -> None:
    claimed = sha(b"something else")
    open_version(client, {"f": b"something else"})
    response = client.put(f"/blobs/{claimed}", content=PAYLOAD)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_INPUT"
    assert f"sha256 is {sha(PAYLOAD)}" in response.json()["error"]["message"]
    assert stored_keys(settings) == []
    assert count(settings, "MATCH (b:Blob {storedAt: null}) RETURN count(b)") == 0


def test_a_large_mismatched_upload_is_aborted_in_multipart_too(
    client: TestClient, settings: Settings
) -> None:
    big = PAYLOAD * 40  # 40 MiB: three parts
    open_version(client, {"f": b"not it"})
    response = client.put(f"/blobs/{sha(b'not it')}", content=big)
    assert response.status_code == 400
    assert stored_keys(settings) == []


def test_an_empty_file_uploads_and_a_bad_empty_upload_does_not(
    client: TestClient, settings: Settings
) -> None:
    open_version(client, {"x": b"x", "empty": b""})
    assert client.put(f"/blobs/{sha(b'x')}", content=b"").status_code == 400
    assert stored_keys(settings) == []
    assert client.put(f"/blobs/{sha(b'')}", content=b"").status_code == 201


def test_uploads_over_the_size_limit_are_refused(settings: Settings) -> None:
    small = settings.model_copy(update={"max_blob_size": 1000})
    with TestClient(create_app(small), headers=bearer(ADMIN_KEY)) as client:
        open_version(client, {"f": PAYLOAD, "g": PAYLOAD[:1200]})
        response = client.put(f"/blobs/{sha(PAYLOAD)}", content=PAYLOAD)
        assert response.status_code == 413
        assert "limit of 1000" in response.json()["error"]["message"]

        def chunked() -> Iterator[bytes]:
            yield PAYLOAD[:600]
            yield PAYLOAD[600:1200]

        streamed = client.put(f"/blobs/{sha(PAYLOAD[:1200])}", content=chunked())
        assert streamed.status_code == 413
    assert stored_keys(settings) == []


def test_a_bad_sha256_in_the_url_is_refused(client: TestClient) -> None:
    response = client.put("/blobs/ABC", content=b"x")
    assert response.status_code == 400
    assert "not a lowercase hex sha256" in response.json()["error"]["message"]


def test_a_download_returns_the_uploaded_bytes_with_type_length_and_etag(
    client: TestClient,
) -> None:
    version = log_version(client, {"weights/model.bin": PAYLOAD, "empty.txt": b""})
    url = f"/files/{version['id']}/weights/model.bin"
    response = client.get(url)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == sha(PAYLOAD)
    assert response.headers["content-length"] == str(len(PAYLOAD))
    assert response.headers["etag"] == f'"{sha(PAYLOAD)}"'
    assert response.headers["content-type"] == "application/octet-stream"
    # users' bytes from the app's origin: not sniffed, and a page runs no script there
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert client.get(url, headers={"if-none-match": f'"{sha(PAYLOAD)}"'}).status_code == 304
    empty = client.get(f"/files/{version['id']}/empty.txt")
    assert (empty.status_code, empty.content) == (200, b"")
    head = client.head(url)
    assert (head.status_code, head.headers["content-length"]) == (200, str(len(PAYLOAD)))


def test_the_declared_content_type_is_served(client: TestClient) -> None:
    data = b'{"a": 1}'
    created = ok(
        graphql(
            client,
            """
        mutation($input: CreateArtifactVersionInput!) {
          createArtifactVersion(input: $input) { version { id } }
        }""",
            input={
                "project": "p",
                "artifact": "cfg",
                "type": "config",
                "files": [
                    {
                        "path": "c.json",
                        "size": len(data),
                        "sha256": sha(data),
                        "contentType": "application/json",
                    }
                ],
            },
        )
    )
    upload(client, data)
    version_id = created["createArtifactVersion"]["version"]["id"]
    ok(
        graphql(
            client,
            "mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) "
            "{ version { id } } }",
            id=version_id,
        )
    )
    response = client.get(f"/files/{version_id}/c.json")
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(PAYLOAD) - 1),
        ("bytes=-10", len(PAYLOAD) - 10, len(PAYLOAD) - 1),
        ("bytes=5-99999999", 5, len(PAYLOAD) - 1),
    ],
)
def test_ranges_return_exactly_the_bytes_asked_for(
    client: TestClient, header: str, first: int, last: int
) -> None:
    version = log_version(client, {"f": PAYLOAD})
    response = client.get(f"/files/{version['id']}/f", headers={"range": header})
    assert response.status_code == 206
    assert response.content == PAYLOAD[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(PAYLOAD)}"


def test_an_unsatisfiable_range_is_416_and_unknown_files_are_404(client: TestClient) -> None:
    version = log_version(client, {"f": PAYLOAD})
    response = client.get(f"/files/{version['id']}/f", headers={"range": f"bytes={len(PAYLOAD)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(PAYLOAD)}"
    assert client.get(f"/files/{version['id']}/nope").status_code == 404
    pending = open_version(client, {"g": b"pending"})
    upload(client, b"pending")
    assert client.get(f"/files/{pending['version']['id']}/g").status_code == 404


async def test_expired_pending_versions_and_their_orphan_blobs_are_collected(
    client: TestClient, settings: Settings, driver: AsyncDriver
) -> None:
    kept = log_version(client, {"keep": b"committed content"})
    pending = open_version(client, {"lost": b"abandoned upload"})
    upload(client, b"abandoned upload")
    pool = http_pool()
    from minio import Minio

    store = BlobStore(
        Minio(
            settings.s3_netloc,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=False,
            http_client=pool,
        ),
        settings.s3_bucket,
    )
    artifacts = ArtifactRepository(driver, settings.neo4j_database)
    blobs = BlobRepository(driver, settings.neo4j_database)
    # Not yet expired, and within the grace period: nothing goes.
    early = await collect_garbage(artifacts, blobs, store, grace=timedelta(hours=1))
    assert (early.expired_versions, early.removed_blobs) == (0, 0)
    later = datetime.now(UTC) + timedelta(days=2)
    report = await collect_garbage(artifacts, blobs, store, grace=timedelta(hours=1), now=later)
    assert (report.expired_versions, report.removed_blobs) == (1, 1)
    assert await store.exists(sha(b"committed content"))
    assert not await store.exists(sha(b"abandoned upload"))
    assert (
        count(
            settings,
            "MATCH (v:ArtifactVersion {id: $id}) RETURN count(v)",
            id=pending["version"]["id"],
        )
        == 0
    )
    assert client.get(f"/files/{kept['id']}/keep").content == b"committed content"
    again = open_version(client, {"lost": b"abandoned upload"})
    assert again["missingBlobs"] == [sha(b"abandoned upload")]
    pool.clear()


def test_the_server_collects_unreferenced_blobs_by_itself(settings: Settings) -> None:
    # model_copy skips validation: a PENDING version that expires within a second
    eager = settings.model_copy(update={"gc_interval": 1, "gc_grace": 0, "pending_ttl": 1})
    orphan = b"uploaded, never part of a version"
    with TestClient(create_app(eager), headers=bearer(ADMIN_KEY)) as client:
        kept = log_version(client, {"k": b"kept"})
        open_version(client, {"o": orphan})
        upload(client, orphan)
        deadline = time.monotonic() + 15
        while sha(orphan) in " ".join(stored_keys(settings)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sha(orphan) not in " ".join(stored_keys(settings))
        assert client.get(f"/files/{kept['id']}/k").content == b"kept"


def test_the_collect_command_reports_what_it_did(settings: Settings) -> None:
    env = {**os.environ, "FOREBEAR_S3_BUCKET": settings.s3_bucket, "FOREBEAR_GC_GRACE": "0"}
    brief = settings.model_copy(update={"pending_ttl": 1})  # unvalidated: expires at once
    with TestClient(create_app(brief), headers=bearer(ADMIN_KEY)) as client:
        open_version(client, {"o": b"orphan for the command"})
        upload(client, b"orphan for the command")
    time.sleep(1.1)
    done = subprocess.run(
        [sys.executable, "-m", "api.collect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "expired_versions": 1,
        "removed_blobs": 1,
        "expired_keys": 0,
        "aborted_uploads": 0,
        "removed_objects": 0,
    }


def as_user(client: TestClient, key: str) -> Callable[..., dict[str, Any]]:
    def call(query: str, **variables: object) -> dict[str, Any]:
        response = client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=bearer(key)
        )
        body: dict[str, Any] = response.json()
        return body

    return call


CREATE = """mutation($input: CreateArtifactVersionInput!) {
  createArtifactVersion(input: $input) { version { id } missingBlobs } }"""
COMMIT = """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) {
  version { index } } }"""


def test_deduplication_never_reveals_content_the_caller_has_not_shown_it_holds(
    client: TestClient, settings: Settings
) -> None:
    secret = b"the weights of project pa, which eve may not read"
    stored = log_version(client, {"w.bin": secret}, project="pa")
    eve_key = user_key(client, "eve")
    eve = as_user(client, eve_key)

    def eve_opens(files: list[dict[str, object]], artifact: str = "stolen") -> dict[str, Any]:
        made = eve(
            CREATE, input={"project": "pe", "artifact": artifact, "type": "model", "files": files}
        )
        return ok(made)["createArtifactVersion"]  # type: ignore[no-any-return]

    entry = {"path": "w.bin", "size": len(secret), "sha256": sha(secret)}
    opened = eve_opens([entry])
    assert opened["missingBlobs"] == [sha(secret)]  # as for content stored nowhere
    nowhere = eve_opens([{"path": "x", "size": 5, "sha256": sha(b"never")}], "other")
    assert nowhere["missingBlobs"] == [sha(b"never")]
    # a wrong size says nothing about stored content either
    assert eve_opens([{**entry, "size": 7}], "sized")["missingBlobs"] == [sha(secret)]
    before = events(settings)
    refused = eve(COMMIT, id=opened["version"]["id"])
    assert refused["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "never uploaded for it" in refused["errors"][0]["message"]
    assert events(settings) == before
    url = f"/files/{opened['version']['id']}/w.bin"
    assert client.get(url, headers=bearer(eve_key)).status_code == 404
    wrong = client.put(f"/blobs/{sha(secret)}", content=b"guess", headers=bearer(eve_key))
    assert wrong.status_code == 400
    assert "never uploaded" in eve(COMMIT, id=opened["version"]["id"])["errors"][0]["message"]
    # Holding the bytes is proof: the upload is verified (not stored again), then it commits.
    sent = client.put(f"/blobs/{sha(secret)}", content=secret, headers=bearer(eve_key))
    assert (sent.status_code, sent.json()["created"]) == (200, False)
    assert ok(eve(COMMIT, id=opened["version"]["id"]))["commitArtifactVersion"]["version"] == {
        "index": 0
    }
    assert client.get(url, headers=bearer(eve_key)).content == secret
    assert eve_opens([entry], "again")["missingBlobs"] == []  # she uploaded it once
    assert stored_keys(settings) == [f"blobs/{sha(secret)[:2]}/{sha(secret)}"]
    assert client.get(f"/files/{stored['id']}/w.bin").content == secret


def test_content_a_caller_may_read_already_is_not_uploaded_again(client: TestClient) -> None:
    shared = b"a dataset in project pa, linked in the dataset registry"
    version = log_version(client, {"d": shared}, project="pa", artifact="d", type="dataset")
    entry = {"path": "copy", "size": len(shared), "sha256": sha(shared)}
    ok(
        graphql(
            client,
            'mutation { createCollection(input: {registry: "dataset", name: "ds"}) '
            "{ collection { id } } }",
        )
    )
    ok(
        graphql(
            client,
            """mutation($v: String!) { linkVersion(input: {registry: "dataset",
        collection: "ds", version: $v}) { link { id } } }""",
            v=version["id"],
        )
    )
    for name, grant in (
        (
            "pia",
            'mutation { setProjectMember(input: {project: "pa", principal: "pia"}) { members } }',
        ),
        (
            "vera",
            'mutation { setRegistryMember(input: {registry: "dataset", principal: "vera",'
            " role: VIEWER}) { registry { name } } }",
        ),
    ):
        caller = as_user(client, user_key(client, name))
        ok(graphql(client, grant))
        made = ok(
            caller(
                CREATE,
                input={
                    "project": f"own-{name}",
                    "artifact": "c",
                    "type": "dataset",
                    "files": [entry],
                },
            )
        )
        assert made["createArtifactVersion"]["missingBlobs"] == [], name
        committed = ok(caller(COMMIT, id=made["createArtifactVersion"]["version"]["id"]))
        assert committed["commitArtifactVersion"]["version"]["index"] == 0, name


def test_uploads_need_a_pending_version_that_lists_them_even_for_org_admins(
    client: TestClient, settings: Settings
) -> None:
    response = client.put(f"/blobs/{sha(b'for nothing')}", content=b"for nothing")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert stored_keys(settings) == []


async def test_the_collector_cleans_what_a_killed_api_left_in_s3(
    client: TestClient, settings: Settings, driver: AsyncDriver
) -> None:
    """An unfinished multipart upload and objects no upload recorded (a crash between the
    last byte and the graph write) go, once old enough; young ones, recorded blobs and the
    node a pending version names stay."""
    kept = log_version(client, {"k": b"recorded content"})
    pending = open_version(client, {"p": b"listed, upload crashed"})
    s3 = s3_client(settings)
    for data in (b"nobody recorded this", b"listed, upload crashed"):
        s3.put_object(settings.s3_bucket, blob_key(sha(data)), io.BytesIO(data), len(data))
    key = blob_key(sha(b"a multipart upload"))
    upload_id = s3._create_multipart_upload(settings.s3_bucket, key, {})
    s3._upload_part(settings.s3_bucket, key, b"x" * 1024, None, upload_id, 1)
    store = BlobStore(s3, settings.s3_bucket)
    repos = (
        ArtifactRepository(driver, settings.neo4j_database),
        BlobRepository(driver, settings.neo4j_database),
    )
    hour = timedelta(hours=1)
    young = await collect_garbage(*repos, store, grace=hour, upload_grace=hour)
    assert (young.aborted_uploads, young.removed_objects) == (0, 0)
    later = datetime.now(UTC) + timedelta(hours=2)
    report = await collect_garbage(*repos, store, grace=hour, upload_grace=hour, now=later)
    assert (report.aborted_uploads, report.removed_objects) == (1, 2)
    assert await store.stale_uploads(later) == []
    assert stored_keys(settings) == [blob_key(sha(b"recorded content"))]
    assert client.get(f"/files/{kept['id']}/k").content == b"recorded content"
    # the pending version still lists its content, which uploads and commits as usual
    assert (
        count(
            settings,
            "MATCH (b:Blob {sha256: $s}) RETURN count(b)",
            s=sha(b"listed, upload crashed"),
        )
        == 1
    )
    assert (
        count(
            settings, "MATCH (b:Blob {sha256: $s}) RETURN count(b)", s=sha(b"nobody recorded this")
        )
        == 0
    )
    upload(client, b"listed, upload crashed")
    ok(
        graphql(
            client,
            "mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) "
            "{ version { index } } }",
            id=pending["version"]["id"],
        )
    )


def test_a_client_gone_mid_upload_is_logged_as_such_and_leaves_nothing(
    server: tuple[str, int], settings: Settings, tmp_path: Path
) -> None:
    base, _ = server
    size = 20 * 2**20  # past one 8 MiB part: a multipart upload is under way when it stops
    data = bytes(range(256)) * (size // 256)
    with httpx.Client(base_url=base, headers=bearer(ADMIN_KEY), timeout=30) as http:
        created = http.post(
            "/graphql",
            json={
                "query": CREATE,
                "variables": {
                    "input": {
                        "project": "p",
                        "artifact": "big",
                        "type": "model",
                        "files": [{"path": "w", "size": size, "sha256": sha(data)}],
                    }
                },
            },
        ).json()
    assert created["data"]["createArtifactVersion"]["missingBlobs"] == [sha(data)]
    port = int(base.rsplit(":", 1)[1])
    head = (
        f"PUT /blobs/{sha(data)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {ADMIN_KEY}\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + data[: 12 * 2**20])
        time.sleep(0.5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
    log = tmp_path / "server.log"
    deadline = time.monotonic() + 20
    while "upload abandoned" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert [r for r in lines if r["level"] == "ERROR"] == []
    abandoned = [r for r in lines if r["message"] == "upload abandoned"]
    assert abandoned[0]["level"] == "INFO"
    assert abandoned[0]["sha256"] == sha(data)
    assert stored_keys(settings) == []
    store = BlobStore(s3_client(settings), settings.s3_bucket)
    assert asyncio.run(store.stale_uploads(datetime.now(UTC) + timedelta(hours=1))) == []


def test_commit_at_once_does_not_commit_content_the_caller_has_not_shown_it_holds(
    client: TestClient, settings: Settings
) -> None:
    secret = b"the weights of project pa, which eve may not read, again"
    log_version(client, {"w.bin": secret}, project="pa")
    eve = as_user(client, user_key(client, "eve"))
    entry = {"path": "w.bin", "size": len(secret), "sha256": sha(secret)}
    input = {"project": "pe", "artifact": "stolen", "type": "model", "files": [entry]}
    made = ok(eve(CREATE.replace("id }", "id state }"), input={**input, "commit": True}))
    opened = made["createArtifactVersion"]
    assert opened["missingBlobs"] == [sha(secret)]  # as for content stored nowhere
    assert opened["version"]["state"] == "PENDING"
    url = f"/files/{opened['version']['id']}/w.bin"
    assert client.get(url).status_code == 404
