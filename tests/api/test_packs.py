"""Many small files at once: POST /blobs stores them as one pack, GET and POST /files/{version}
send them back as one tar; packs are collected with their last blob."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime, timedelta
from typing import Any

from neo4j import AsyncDriver
from starlette.testclient import TestClient

from api.services.blobs import collect_garbage
from api.settings import Settings
from graph.repository.artifacts import ArtifactRepository
from graph.repository.blobs import BlobRepository
from storage.blobs import BlobStore
from tests.factories import COMMIT, ok, open_version, sha
from tests.helpers import bearer, graphql, s3_client


def pack(contents: list[bytes], names: list[str] | None = None) -> bytes:
    """A POST /blobs body: a tar of the contents, each named by its sha256 (or `names`)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for data, name in zip(contents, names or [sha(c) for c in contents], strict=True):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def members(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def keys(settings: Settings, prefix: str = "") -> list[str]:
    client = s3_client(settings)
    listed = client.list_objects(settings.s3_bucket, prefix=prefix, recursive=True)
    return sorted(o.object_name for o in listed if o.object_name)


def commit(client: TestClient, version_id: str) -> dict[str, Any]:
    done = ok(graphql(client, COMMIT, id=version_id))["commitArtifactVersion"]["version"]
    return dict(done)


FILES = {f"shards/{i:03d}.txt": f"shard {i}\n".encode() * (i + 1) for i in range(40)}


def test_small_files_go_up_as_one_pack_and_come_back_one_by_one_or_as_one_tar(
    client: TestClient, settings: Settings
) -> None:
    files = {**FILES, "copy.txt": FILES["shards/007.txt"], "empty": b""}
    opened = open_version(client, files)
    contents = list({sha(d): d for d in files.values()}.values())  # each content once
    answer = client.post("/blobs", content=pack(contents))
    assert answer.status_code == 200, answer.text
    assert answer.json()["blobs"] == [
        {"sha256": sha(d), "size": len(d), "created": True} for d in contents
    ]
    assert len(keys(settings, "packs/")) == 1  # one object for all of them
    assert keys(settings, "blobs/") == []
    version = commit(client, opened["version"]["id"])["id"]
    for path, data in files.items():
        assert client.get(f"/files/{version}/{path}").content == data
    ranged = client.get(f"/files/{version}/shards/039.txt", headers={"range": "bytes=9-20"})
    assert (ranged.status_code, ranged.content) == (206, FILES["shards/039.txt"][9:21])
    whole = client.get(f"/files/{version}")
    assert whole.headers["content-type"] == "application/x-tar"
    assert members(whole.content) == files
    some = client.post(f"/files/{version}", json={"paths": ["copy.txt", "empty", "nope"]})
    assert members(some.content) == {"copy.txt": files["copy.txt"], "empty": b""}
    # sent again for another version: verified, stored nowhere new
    open_version(client, {"a": contents[0], "b": contents[1], "c": contents[2]}, artifact="b")
    again = client.post("/blobs", content=pack(contents[:3]))
    assert [b["created"] for b in again.json()["blobs"]] == [False, False, False]
    assert len(keys(settings, "packs/")) == 1


def test_a_pack_is_refused_whole_and_names_what_is_wrong(
    client: TestClient, settings: Settings
) -> None:
    good, other = b"listed content", b"other content"
    open_version(client, {"g": good, "o": other})

    def refused(body: bytes, status: int, words: str) -> None:
        answer = client.post("/blobs", content=body)
        assert answer.status_code == status, answer.text
        assert words in answer.json()["error"]["message"]

    refused(pack([good, other], [sha(good), sha(good)[:-1] + "0"]), 400, "its content's sha256")
    refused(pack([good], ["Weights.bin"]), 400, "named by its lowercase hex sha256")
    refused(b"not a tar archive at all" * 40, 400, "tar archive")
    refused(pack([good])[:700], 400, "tar archive")
    refused(pack([good, b"listed by no version"]), 403, sha(b"listed by no version"))
    refused(pack([b"x" * (2**20 + 1)]), 400, "go one by one (PUT /blobs/{sha256})")
    assert keys(settings) == []  # nothing of any of them was stored
    assert client.post("/blobs", content=pack([good, other])).status_code == 200


def test_archives_answer_only_for_committed_versions_the_caller_may_read(
    client: TestClient,
) -> None:
    opened = open_version(client, {"a": b"secret a"}, project="vault")
    assert client.post("/blobs", content=pack([b"secret a"])).status_code == 200
    assert client.get(f"/files/{opened['version']['id']}").status_code == 404  # pending
    version = commit(client, opened["version"]["id"])["id"]
    outsider = ok(graphql(client, 'mutation { createUser(input: {name: "eve"}) { key } }'))
    eve = bearer(outsider["createUser"]["key"])
    assert client.get(f"/files/{version}", headers=eve).status_code == 404
    assert client.post(f"/files/{version}", json={"paths": ["a"]}, headers=eve).status_code == 404
    assert client.get("/files/ver_nothing").status_code == 404
    bad = client.post(f"/files/{version}", json={"paths": "a"})
    assert (bad.status_code, "paths" in bad.json()["error"]["message"]) == (400, True)


async def test_a_pack_goes_with_the_last_blob_stored_in_it(
    client: TestClient, settings: Settings, driver: AsyncDriver
) -> None:
    kept, dropped, alone = b"kept: a committed version holds it", b"dropped", b"alone"
    pending = open_version(client, {"k": kept, "d": dropped}, artifact="abandoned")
    assert client.post("/blobs", content=pack([kept, dropped])).status_code == 200
    shared_pack = keys(settings, "packs/")
    open_version(client, {"x": alone}, artifact="abandoned-too")
    assert client.post("/blobs", content=pack([alone])).status_code == 200
    assert len(keys(settings, "packs/")) == 2
    holder = open_version(client, {"k": kept}, artifact="holder")
    assert holder["missingBlobs"] == []  # the admin uploaded it: present for them
    version = commit(client, holder["version"]["id"])["id"]
    store = BlobStore(s3_client(settings), settings.s3_bucket)
    repos = (
        ArtifactRepository(driver, settings.neo4j_database),
        BlobRepository(driver, settings.neo4j_database),
    )
    later = datetime.now(UTC) + timedelta(days=2)
    report = await collect_garbage(*repos, store, grace=timedelta(hours=1), now=later)
    assert (report.expired_versions, report.removed_blobs) == (2, 2)
    # the pack of `alone` went; the one `kept` is in stays for it, `dropped` with it
    assert keys(settings, "packs/") == shared_pack
    assert client.get(f"/files/{pending['version']['id']}/d").status_code == 404
    assert client.get(f"/files/{version}/k").content == kept
    # an object under packs/ that no blob records (an API killed before its graph write)
    s3_client(settings).put_object(
        settings.s3_bucket, "packs/orphan", io.BytesIO(b"orphaned"), len(b"orphaned")
    )
    hour = timedelta(hours=1)
    young = await collect_garbage(*repos, store, grace=hour, upload_grace=hour)
    assert young.removed_objects == 0
    old = await collect_garbage(
        *repos, store, grace=hour, upload_grace=hour, now=datetime.now(UTC) + 2 * hour
    )
    assert old.removed_objects == 1
    assert keys(settings, "packs/") == shared_pack
    assert client.get(f"/files/{version}/k").content == kept
