"""Benchmark: logging versions and moving bytes through Forebear, against MinIO directly.

Data: N_SMALL one-file versions; N_LARGE versions of MANIFEST_FILES files each; a 1 GiB file
uploaded and downloaded REPEAT times through the API (PUT /blobs, GET /files) and directly with
the `minio` client (put_object/get_object), in the same run on the same MinIO. Prints medians,
rates, the ratio API/direct, and the API process's peak RSS growth during transfers.

Run with `make bench` (it starts throw-away Neo4j and MinIO like `make test`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import statistics
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import httpx
import urllib3
from minio import Minio

from api.settings import Settings
from bench.common import auth_headers, forebear_server, gql, timed

ROOT = Path(__file__).resolve().parent.parent
N_SMALL = 200
N_LARGE = 10
MANIFEST_FILES = 1_000
BIG = 2**30
CHUNK = 2**20
REPEAT = 5

CREATE = """mutation($input: CreateArtifactVersionInput!) {
  createArtifactVersion(input: $input) { version { id } missingBlobs } }"""
COMMIT = """mutation($id: ID!) { commitArtifactVersion(input: {version: $id}) {
  version { index } } }"""


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Peak:
    """Samples a process's RSS every 20 ms while in the `with` block."""

    def __init__(self, pid: int) -> None:
        self.pid, self.start = pid, rss(pid)
        self.peak = self.start
        self._stop = threading.Event()

    def __enter__(self) -> Peak:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))


def blocks(size: int, seed: bytes) -> Iterator[bytes]:
    """`size` bytes in 1 MiB blocks, each made distinct by its offset."""
    for offset in range(0, size, CHUNK):
        yield offset.to_bytes(8, "big") + seed[8 : min(CHUNK, size - offset)]


class Stream:
    """A file-like view of `blocks` for the minio client; joins once per read, as the server's
    reader does, so that neither side pays for repeated concatenation."""

    def __init__(self, size: int, seed: bytes) -> None:
        self._blocks, self._rest = blocks(size, seed), b""

    def read(self, n: int = -1) -> bytes:
        parts, count = [self._rest], len(self._rest)
        while (n < 0 or count < n) and (block := next(self._blocks, None)) is not None:
            parts.append(block)
            count += len(block)
        data = b"".join(parts)
        if n < 0:
            self._rest = b""
            return data
        self._rest = data[n:]
        return data[:n]


def log_version(http: httpx.Client, artifact: str, files: dict[str, bytes]) -> None:
    by_sha = {hashlib.sha256(b).hexdigest(): b for b in files.values()}
    manifest = [
        {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        for p, b in files.items()
    ]
    created = gql(
        http,
        CREATE,
        input={"project": "bench", "artifact": artifact, "type": "model", "files": manifest},
    )
    for sha in created["createArtifactVersion"]["missingBlobs"]:
        http.put(f"/blobs/{sha}", content=by_sha[sha]).raise_for_status()
    gql(http, COMMIT, id=created["createArtifactVersion"]["version"]["id"])


def bench_commits(http: httpx.Client) -> None:
    small = [
        timed(functools.partial(log_version, http, "small", {"model.bin": f"m{i}".encode()}))
        for i in range(N_SMALL)
    ]
    shared = {f"shard/{j:04d}.bin": f"s{j}".encode() for j in range(MANIFEST_FILES)}
    log_version(http, "large", shared)  # uploads the shared files once
    large = [
        timed(
            functools.partial(log_version, http, "large", {**shared, "extra.bin": f"x{i}".encode()})
        )
        for i in range(N_LARGE)
    ]
    print("\n== versions logged (open + upload missing + commit), one client, keep-alive")
    print(
        f"1-file manifests,    N={N_SMALL}: median {statistics.median(small) * 1000:7.1f} ms "
        f"-> {1 / statistics.median(small):7.1f} versions/s"
    )
    print(
        f"{MANIFEST_FILES + 1}-file manifests, N={N_LARGE}: median "
        f"{statistics.median(large) * 1000:7.1f} ms -> {1 / statistics.median(large):7.2f} "
        "versions/s"
    )


def transfer_round(
    http: httpx.Client, pool: urllib3.PoolManager, direct: Minio, bucket: str, pid: int
) -> dict[str, float]:
    """One 1 GiB upload and download through the API and directly; seconds and RSS growth."""
    seed = os.urandom(CHUNK)
    digest = hashlib.sha256()
    for block in blocks(BIG, seed):
        digest.update(block)
    sha256, name = digest.hexdigest(), uuid.uuid4().hex
    result: dict[str, float] = {}
    # The version first: the server takes only content a pending version lists.
    created = gql(
        http,
        CREATE,
        input={
            "project": "bench",
            "artifact": name,
            "type": "model",
            "files": [{"path": "w.bin", "size": BIG, "sha256": sha256}],
        },
    )
    version = created["createArtifactVersion"]["version"]["id"]
    with Peak(pid) as peak:
        result["up_api"] = timed(
            lambda: http.put(
                f"/blobs/{sha256}", content=blocks(BIG, seed), headers={"content-length": str(BIG)}
            ).raise_for_status()
        )
    result["up_rss"] = peak.peak - peak.start
    gql(http, COMMIT, id=version)
    # The same client library (urllib3) downloads both ways, so only the path differs.
    url = f"{str(http.base_url).rstrip('/')}/files/{version}/w.bin"
    with Peak(pid) as peak:
        result["down_api"] = timed(
            lambda: drain(pool.request("GET", url, headers=auth_headers(), preload_content=False))
        )
    result["down_rss"] = peak.peak - peak.start
    key = f"direct/{name}"
    result["up_direct"] = timed(
        lambda: direct.put_object(bucket, key, cast(BinaryIO, Stream(BIG, seed)), BIG)
    )
    result["down_direct"] = timed(lambda: drain(direct.get_object(bucket, key)))
    direct.remove_object(bucket, key)
    return result


def drain(response: urllib3.BaseHTTPResponse) -> None:
    for _ in response.stream(CHUNK):
        pass
    response.release_conn()


def bench_transfer(http: httpx.Client, direct: Minio, bucket: str, pid: int) -> None:
    pool = urllib3.PoolManager()
    rounds = [transfer_round(http, pool, direct, bucket, pid) for _ in range(REPEAT)]
    mib = BIG / 2**20

    def rate(key: str) -> float:
        return mib / statistics.median(r[key] for r in rounds)

    print(
        f"\n== 1 GiB file, median of {REPEAT} (API: PUT /blobs and GET /files; direct: "
        "minio put_object/get_object on the same MinIO)"
    )
    print(f"{'':10} {'API MiB/s':>10} {'direct MiB/s':>13} {'API/direct':>11}")
    for name in ("up", "down"):
        api, direct_rate = rate(f"{name}_api"), rate(f"{name}_direct")
        label = "upload" if name == "up" else "download"
        print(f"{label:10} {api:10.1f} {direct_rate:13.1f} {api / direct_rate:11.2f}")
    up = max(r["up_rss"] for r in rounds) / 2**20
    down = max(r["down_rss"] for r in rounds) / 2**20
    print(
        f"API process peak RSS growth: upload {up:.1f} MiB, download {down:.1f} MiB "
        "(target < 100 MiB)"
    )


def main() -> None:
    base = Settings(_env_file=None)
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    with (
        forebear_server(bucket) as (url, pid),
        httpx.Client(base_url=url, timeout=300, headers=auth_headers()) as http,
    ):
        direct = Minio(
            base.s3_netloc,
            access_key=base.s3_access_key,
            secret_key=base.s3_secret_key.get_secret_value(),
            secure=False,
        )
        print(
            f"Forebear benchmark: Neo4j {base.neo4j_uri}, MinIO {base.s3_endpoint}, "
            f"{os.cpu_count()} cores"
        )
        bench_commits(http)
        bench_transfer(http, direct, bucket, pid)


if __name__ == "__main__":
    main()
