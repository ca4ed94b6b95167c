"""Resumable uploads: a 300 MB file sent part by part, the client killed mid-way and started
again (only the missing parts go), and the server's refusals on the way."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import forebear
import httpx
from neo4j import AsyncDriver, GraphDatabase

from api.services.blobs import collect_garbage
from api.settings import Settings
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from graph.repository.uploads import UploadRepository
from storage.blobs import BlobStore
from tests.factories import count
from tests.helpers import ADMIN_KEY, bearer, counted, s3_client
from tests.sdk.conftest import Sdk

LOG_BIG = """
import forebear
with forebear.init(project="big") as run:
    print(run.log_artifact("weights.bin", name="llm", type="model").qualified_name)
"""


def parts_sent(sdk: Sdk) -> float:
    return counted(sdk.base, 'forebear_transfers_total{direction="upload_part",outcome="stored"}')


def parts_held(sdk: Sdk, settings: Settings) -> int:
    """How many parts the server holds of the one open upload (0 before it opens)."""
    with GraphDatabase.driver(settings.neo4j_uri, auth=settings.neo4j_auth) as driver:
        records, _, _ = driver.execute_query("MATCH (s:UploadSession) RETURN s.id AS id")
    if not records:
        return 0
    session = httpx.get(f"{sdk.base}/uploads/{records[0]['id']}", headers=bearer(ADMIN_KEY))
    return len(session.json()["parts"])


def test_a_killed_upload_resumes_with_only_the_missing_parts(sdk: Sdk, settings: Settings) -> None:
    size = 300 * 2**20 + 12_345  # 38 parts of 8 MiB, the last one short
    block = os.urandom(2**20)
    with open(sdk.home / "weights.bin", "wb") as out:
        for i in range(size // len(block)):
            out.write(i.to_bytes(4, "big") + block[4:])
        out.write(block[: size % len(block)])
    first = subprocess.Popen(
        [sys.executable, "-c", LOG_BIG], cwd=sdk.home, env=sdk.env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while parts_held(sdk, settings) < 10:
        assert first.poll() is None, "the upload ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    # parts whose bytes had all arrived are still stored by the server: wait until it settles
    received, settled = -1, parts_held(sdk, settings)
    while received != settled:
        time.sleep(0.5)
        received, settled = settled, parts_held(sdk, settings)
    assert 10 <= received < 38
    before = parts_sent(sdk)
    done = sdk.python(LOG_BIG)
    assert done.stdout.strip() == "big/llm:v0"
    sent_again = parts_sent(sdk) - before
    assert sent_again == 38 - received  # only what the server lacked
    assert count(settings, "MATCH (s:UploadSession) RETURN count(s)") == 0
    got = forebear.Api().artifact("big/llm:v0").download(sdk.home / "back")
    digest = hashlib.sha256()
    with open(got / "weights.bin", "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    with open(sdk.home / "weights.bin", "rb") as f:
        assert digest.hexdigest() == hashlib.file_digest(f, "sha256").hexdigest()


def test_the_server_checks_every_part_and_the_whole(sdk: Sdk) -> None:
    size = 9 * 2**20  # two parts
    data = os.urandom(size)
    sha = hashlib.sha256(data).hexdigest()
    http = httpx.Client(base_url=sdk.base, headers=bearer(ADMIN_KEY), timeout=60)
    refused = http.post("/uploads", json={"sha256": sha, "size": size})
    assert refused.status_code == 403  # no pending version lists it
    sdk.gql(
        """mutation($i: CreateArtifactVersionInput!) { createArtifactVersion(input: $i) {
        missingBlobs } }""",
        i={
            "project": "p",
            "artifact": "a",
            "type": "model",
            "files": [{"path": "d", "size": size, "sha256": sha}],
        },
    )
    opened = http.post("/uploads", json={"sha256": sha, "size": size}).json()
    assert (opened["partSize"], opened["parts"]) == (8 * 2**20, [])
    again = http.post("/uploads", json={"sha256": sha, "size": size})
    assert (again.status_code, again.json()["id"]) == (200, opened["id"])  # the same session
    session = f"/uploads/{opened['id']}"
    assert http.put(f"{session}/parts/1", content=data[:100]).status_code == 400  # too short
    assert http.put(f"{session}/parts/3", content=b"x").status_code == 400  # no such part
    assert http.put(f"{session}/parts/1", content=data[: 8 * 2**20]).status_code == 200
    early = http.post(f"{session}/complete")
    assert (early.status_code, "parts still to send: 2" in early.text) == (409, True)
    wrong = bytes(len(data) - 8 * 2**20)  # the right length, the wrong bytes
    assert http.put(f"{session}/parts/2", content=wrong).status_code == 200
    bad = http.post(f"{session}/complete")
    assert bad.status_code == 400
    assert "start again" in bad.json()["error"]["message"]
    assert http.get(session).status_code == 404  # dropped
    opened = http.post("/uploads", json={"sha256": sha, "size": size}).json()
    session = f"/uploads/{opened['id']}"
    # out of order (part 2 waits for part 1 to be hashed), then part 1 sent again with other
    # bytes: S3 keeps those, and the whole is checked all the same
    for number, part in ((2, data[8 * 2**20 :]), (1, data[: 8 * 2**20]), (1, bytes(8 * 2**20))):
        assert http.put(f"{session}/parts/{number}", content=part).status_code == 200
    assert http.post(f"{session}/complete").status_code == 400
    opened = http.post("/uploads", json={"sha256": sha, "size": size}).json()
    session = f"/uploads/{opened['id']}"
    for number, part in ((2, data[8 * 2**20 :]), (1, data[: 8 * 2**20]), (2, data[8 * 2**20 :])):
        assert http.put(f"{session}/parts/{number}", content=part).status_code == 200
    assert http.get(session).json()["parts"] == [1, 2]
    other = sdk.gql('mutation { createUser(input: {name: "otto"}) { key } }')["createUser"]["key"]
    assert httpx.get(f"{sdk.base}{session}", headers=bearer(other)).status_code == 404
    finished = http.post(f"{session}/complete").json()
    assert finished == {"sha256": sha, "size": size, "created": True}
    http.close()


async def test_the_collector_drops_uploads_nobody_finished(
    sdk: Sdk, settings: Settings, driver: AsyncDriver
) -> None:
    data = os.urandom(6 * 2**20)
    sha = hashlib.sha256(data).hexdigest()
    sdk.gql(
        """mutation($i: CreateArtifactVersionInput!) { createArtifactVersion(input: $i) {
        missingBlobs } }""",
        i={
            "project": "p",
            "artifact": "a",
            "type": "model",
            "files": [{"path": "d", "size": len(data), "sha256": sha}],
        },
    )
    async with httpx.AsyncClient(base_url=sdk.base, headers=bearer(ADMIN_KEY)) as http:
        opened = (await http.post("/uploads", json={"sha256": sha, "size": len(data)})).json()
        put = await http.put(f"/uploads/{opened['id']}/parts/1", content=data)
        assert put.status_code == 200
    store = BlobStore(s3_client(settings), settings.s3_bucket)
    repos = (
        ArtifactRepository(driver, settings.neo4j_database),
        BlobRepository(driver, settings.neo4j_database),
    )
    sessions = UploadRepository(driver, settings.neo4j_database)
    hour = timedelta(hours=1)
    young = await collect_garbage(*repos, store, grace=hour, upload_grace=hour, sessions=sessions)
    assert young.aborted_uploads == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    old = await collect_garbage(
        *repos, store, grace=hour, upload_grace=hour, sessions=sessions, now=later
    )
    assert old.aborted_uploads == 1
    assert count(settings, "MATCH (s:UploadSession) RETURN count(s)") == 0
    assert parts_held(sdk, settings) == 0
    assert await store.stale_uploads(later) == []
