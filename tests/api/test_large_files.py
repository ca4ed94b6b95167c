"""A file of several GB through a real server process: same bytes back, flat server memory."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.helpers import ADMIN_KEY, bearer

ROOT = Path(__file__).resolve().parents[2]
SIZE = 3 * 2**30 + 12_345  # several GB, and not a whole number of parts
CHUNK = 2**20


def chunks(size: int) -> Iterator[bytes]:
    """Deterministic, incompressible-looking content generated on the fly, never all in memory."""
    base = hashlib.sha256(b"seed").digest() * (CHUNK // 32)
    sent, i = 0, 0
    while sent < size:
        block = i.to_bytes(8, "big") + base[8:]
        block = block[: size - sent]
        sent += len(block)
        i += 1
        yield block


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_bytes(pid), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes(self.pid))


def test_a_several_gb_file_round_trips_with_flat_server_memory(server: tuple[str, int]) -> None:
    base, pid = server
    digest = hashlib.sha256()
    for block in chunks(SIZE):
        digest.update(block)
    sha256 = digest.hexdigest()
    with httpx.Client(base_url=base, timeout=120, headers=bearer(ADMIN_KEY)) as http:
        created = http.post(
            "/graphql",
            json={
                "query": """
            mutation($input: CreateArtifactVersionInput!) {
              createArtifactVersion(input: $input) { version { id } missingBlobs }
            }""",
                "variables": {
                    "input": {
                        "project": "big",
                        "artifact": "llm",
                        "type": "model",
                        "files": [{"path": "weights.bin", "size": SIZE, "sha256": sha256}],
                    }
                },
            },
        ).json()
        version_id = created["data"]["createArtifactVersion"]["version"]["id"]
        assert created["data"]["createArtifactVersion"]["missingBlobs"] == [sha256]
        before = rss_bytes(pid)
        with PeakRss(pid) as up:
            put = http.put(
                f"/blobs/{sha256}", content=chunks(SIZE), headers={"content-length": str(SIZE)}
            )
        assert put.status_code == 201, put.text
        committed = http.post(
            "/graphql",
            json={
                "query": """
            mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) {
              version { index } } }""",
                "variables": {"id": version_id},
            },
        ).json()
        assert committed["data"]["commitArtifactVersion"]["version"]["index"] == 0
        back, received = hashlib.sha256(), 0
        with PeakRss(pid) as down, http.stream("GET", f"/files/{version_id}/weights.bin") as r:
            assert r.headers["content-length"] == str(SIZE)
            for block in r.iter_bytes(CHUNK):
                back.update(block)
                received += len(block)
    assert received == SIZE
    assert back.hexdigest() == sha256
    # Buffering the file would cost gigabytes; streaming costs a few parts.
    assert up.peak - before < 200 * 2**20, f"upload grew RSS by {(up.peak - before) >> 20} MiB"
    assert down.peak - before < 200 * 2**20, (
        f"download grew RSS by {(down.peak - before) >> 20} MiB"
    )
