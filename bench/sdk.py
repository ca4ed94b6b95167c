"""The Python SDK against MLflow's client on the same data and machine.

Forebear: `Run.log_artifact` and `Artifact.download`, against `python -m api` on the
benchmark's Neo4j and MinIO. MLflow: `mlflow.log_artifact(s)` and
`mlflow.artifacts.download_artifacts` against `mlflow server` serving artifacts itself
(`--serve-artifacts`, its default), from its own virtualenv. Each operation runs in a fresh
client process, timed inside it (interpreter start-up is not counted), with its peak RSS. A log
is timed as a training script makes it, in a run already started (`forebear.init`,
`mlflow.start_run`: each client has met its server once). Before each operation of either
side, as much memory as its data is made fresh (`warm_pages`: this VM's host charges the
first write into memory freed seconds ago, by seconds a GiB). Each timed operation starts from a
collected heap (`gc.collect()`, both sides): the first collection after a client's imports,
1-3 ms here, otherwise falls inside whichever operation allocates first, where a long-running
training script would long since have paid it.

Data: one 1 GiB file; a directory of 1,000 files of 4 KiB; new content on every repetition (so
neither side deduplicates it). Also: logging the same data again, unchanged, in a new run
(Forebear hashes nothing: its hash cache, and the server's latest version equals it). Each
upload is shown twice: when the client returns, and then on disk (`on_disk`: MinIO has synced
its writes when it answers, MLflow's server has not).
Prints medians of REPEAT runs (SMALL_REPEAT for the small files), after one untimed run of
each operation on smaller data and untimed logs of small files until each side has settled
(MLflow: SETTLE_ROUNDS at most; Forebear: WARM_LOGS, each logged again), and the ratio MLflow /
Forebear (above 1: Forebear is faster). The sides take turns at going first. A server runs for
days, so its steady state is what is measured; what a relog takes on a just-started server
(its first untimed relogs) is printed too.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import auth_headers, forebear_server, mlflow_server

MLFLOW_VENV = Path(os.environ.get("MLFLOW_VENV", ".venv-mlflow"))
REPEAT = int(os.environ.get("SDK_BENCH_REPEAT", "5"))
# The small-file operations take a fraction of a second each, and on two shared cores one of
# five swung a median by 2x: they are repeated more (about 8 s a repetition, not 40).
SMALL_REPEAT = int(os.environ.get("SDK_BENCH_SMALL_REPEAT", str(3 * REPEAT)))
BIG = 2**30
SMALL_FILES, SMALL_SIZE = 1000, 4096
SETTLE_ROUNDS = 10
# Neo4j's JIT is slow to settle on the read a relog makes (artifactVersion by alias): 3-8 ms in
# its first executions on a just-started server, 1-1.5 ms from about the fiftieth (its driver
# calls timed). Each untimed log of Forebear's makes it twice (the log, then the relog).
WARM_LOGS = int(os.environ.get("SDK_BENCH_WARM_LOGS", "30"))
FRESH_RELOGS = 10  # the first untimed relogs: what a just-started server takes

# Each client script prints {"seconds": ..., "rss_mb": ...} of the operation alone.
FOREBEAR_UP = """
import gc, json, resource, sys, time
from pathlib import Path
import forebear
path = Path(sys.argv[1])
run = forebear.init(project="bench")  # as MLflow's start_run below: untimed
gc.collect()
start = time.perf_counter()
logged = run.log_artifact(path, name=sys.argv[2], type="dataset")
seconds = time.perf_counter() - start
run.finish()
print(json.dumps({"seconds": seconds, "id": logged.id,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
FOREBEAR_DOWN = """
import gc, json, resource, sys, time
from pathlib import Path
import forebear
gc.collect()
start = time.perf_counter()
forebear.Api().artifact(sys.argv[1]).download(sys.argv[2])
seconds = time.perf_counter() - start
got = sum(p.stat().st_size for p in Path(sys.argv[2]).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "bytes": got,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
MLFLOW_UP = """
import gc, json, resource, sys, time
from pathlib import Path
import mlflow
mlflow.set_tracking_uri(sys.argv[3])
path = Path(sys.argv[1])
run = mlflow.start_run()
gc.collect()
start = time.perf_counter()
# at the run's root: MLflow 3.17's client does not download what sits under an artifact_path
if path.is_dir():
    mlflow.log_artifacts(str(path))
else:
    mlflow.log_artifact(str(path))
seconds = time.perf_counter() - start
mlflow.end_run()
print(json.dumps({"seconds": seconds, "id": run.info.run_id,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
MLFLOW_DOWN = """
import gc, json, resource, sys, time
from pathlib import Path
import mlflow
mlflow.set_tracking_uri(sys.argv[3])
Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)
gc.collect()
start = time.perf_counter()
mlflow.artifacts.download_artifacts(run_id=sys.argv[1], dst_path=sys.argv[2])
seconds = time.perf_counter() - start
got = sum(p.stat().st_size for p in Path(sys.argv[2]).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "bytes": got,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(
    python: str, script: str, *args: str, env: dict[str, str], warm: int = 0
) -> dict[str, float | str]:
    """One client operation in a fresh process: what it prints. `warm`: bytes of memory made
    ready for it first (see `warm_pages`)."""
    warm_pages(warm)
    # Each operation starts with no dirty pages left by the one before (a GiB written just
    # before is otherwise flushed during the next one, whichever side that is).
    os.sync()
    done = subprocess.run(
        [python, "-c", script, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def on_disk(result: dict[str, float | str]) -> dict[str, float | str]:
    """`result` with the time it took then until every byte written is on disk (os.sync:
    `run` starts each operation with nothing left to write). MinIO writes an object's parts
    with O_DIRECT and fdatasync before it answers; MLflow's server answers with the bytes
    still in the page cache. An upload's first figure is when the client returns, this one
    when the data would survive a crash."""
    start = time.perf_counter()
    os.sync()
    return {**result, "seconds": float(result["seconds"]) + time.perf_counter() - start}


def warm_pages(size: int) -> None:
    """Write `size` bytes to a scratch file and delete it: the pages it held are free and
    fresh for the operation that follows. This VM's host takes back memory freed a few
    seconds ago, and the first write into a page taken back costs the guest about 14 us: a
    GiB written into the page cache took 0.2 s of system time right after a GiB was deleted,
    0.56 s three seconds after, 1.6 s six seconds after, and 3.5 s into pages never used
    (measured with `resource.getrusage`). Which side of a GiB transfer happened to find
    fresh pages swung its time by seconds; warmed before every operation of both sides, it
    no longer does."""
    if size <= 0:
        return
    block = bytes(2**20)
    with tempfile.TemporaryFile() as scratch:
        for _ in range(-(-size // len(block))):
            scratch.write(block)


def make_big(path: Path, seed: int, size: int = BIG) -> None:
    """`size` bytes (1 GiB), new content for each seed (the first block differs), written
    once per seed."""
    block = os.urandom(2**20)
    with open(path, "wb") as out:
        out.write(seed.to_bytes(8, "big", signed=True) + block[8:])
        for _ in range(size // len(block) - 1):
            out.write(block)


def make_small(root: Path, seed: int) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for i in range(SMALL_FILES):
        head = f"{seed}:{i}:".encode().ljust(24, b"-")  # every file exactly SMALL_SIZE
        (root / f"f{i:04d}.bin").write_bytes(head + os.urandom(SMALL_SIZE - 24))


def settle(log: Callable[[int], float]) -> None:
    """Untimed logs of new small files until two in a row agree within 10% (at most
    SETTLE_ROUNDS)."""
    seconds: list[float] = []
    while len(seconds) < SETTLE_ROUNDS:
        seconds.append(log(-100 - len(seconds)))
        if len(seconds) >= 2 and abs(seconds[-1] - seconds[-2]) <= 0.1 * max(seconds[-2:]):
            return


def main() -> None:
    mlflow_python = MLFLOW_VENV / "bin" / "python"
    if not mlflow_python.exists():
        raise SystemExit(f"{mlflow_python} not found: `make bench` installs MLflow")
    work = Path(tempfile.mkdtemp(prefix="sdk-bench-"))
    samples: dict[str, dict[str, list[float]]] = {}
    memory: dict[str, float] = {"Forebear": 0.0, "MLflow": 0.0}

    expected = {"1 GiB file": BIG, "1,000 files of 4 KiB": SMALL_FILES * SMALL_SIZE}

    def note(label: str, side: str, result: dict[str, float | str]) -> None:
        # a download counts only when it brought every byte back
        wanted = expected[label.split(":")[0]]
        if "bytes" in result and int(result["bytes"]) != wanted:
            raise RuntimeError(f"{side} {label}: {result['bytes']} bytes, not {wanted}")
        samples.setdefault(label, {}).setdefault(side, []).append(float(result["seconds"]))
        print(f"  {side:8} {label:40} {float(result['seconds']):8.3f}", file=sys.stderr, flush=True)
        memory[side] = max(memory[side], float(result["rss_mb"]))

    mlflow = mlflow_server(
        MLFLOW_VENV / "bin" / "mlflow",
        work,
        "--artifacts-destination",
        str(work / "mlflow-artifacts"),
    )
    try:
        with mlflow as mlflow_url, forebear_server(f"bench-{uuid.uuid4().hex[:12]}") as (base, _):
            key = auth_headers()["Authorization"].split()[1]
            env = {
                **os.environ,
                "FOREBEAR_URL": base,
                "FOREBEAR_API_KEY": key,
                "FOREBEAR_SILENT": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "600",
            }
            # Untimed, once: each operation on each side with a 64 MiB file and the small
            # files, so that no side's first-ever request (a server's imports, Neo4j's JIT and
            # query plans) is counted in the medians.
            make_big(work / "warm.bin", -1, 64 * 2**20)
            make_small(work / "warm", -1)
            for path in (work / "warm.bin", work / "warm"):
                fenv = {**env, "FOREBEAR_CACHE_DIR": str(work / "warm-cache")}
                up = run(sys.executable, FOREBEAR_UP, str(path), path.name, env=fenv)
                mine = run(str(mlflow_python), MLFLOW_UP, str(path), path.name, mlflow_url, env=env)
                cold = {**env, "FOREBEAR_CACHE_DIR": str(work / "warm-down")}
                run(sys.executable, FOREBEAR_DOWN, str(up["id"]), str(work / "w" / "f"), env=cold)
                run(
                    str(mlflow_python),
                    MLFLOW_DOWN,
                    str(mine["id"]),
                    str(work / "w" / "m"),
                    mlflow_url,
                    env=env,
                )
                shutil.rmtree(work / "w")

            # Neo4j's JIT takes several logs of a thousand files to settle (the first ones
            # burn seconds of its CPU), and dozens of relogs (WARM_LOGS): each side logs new
            # small files until it has settled.
            fresh_relogs: list[float] = []

            def forebear_small(seed: int) -> None:
                make_small(work / "settle", seed)
                fenv = {**env, "FOREBEAR_CACHE_DIR": str(work / f"settle-{seed}")}
                run(sys.executable, FOREBEAR_UP, str(work / "settle"), "settle", env=fenv)
                again = run(sys.executable, FOREBEAR_UP, str(work / "settle"), "settle", env=fenv)
                fresh_relogs.append(float(again["seconds"]))

            def mlflow_small(seed: int) -> float:
                make_small(work / "settle", seed)
                up = run(
                    str(mlflow_python), MLFLOW_UP, str(work / "settle"), "s", mlflow_url, env=env
                )
                return float(up["seconds"])

            for seed in range(-100, -100 - WARM_LOGS, -1):
                forebear_small(seed)
            settle(mlflow_small)

            def repetition(rep: int, label: str, path: Path, size: int) -> None:
                fenv = {**env, "FOREBEAR_CACHE_DIR": str(work / f"cache-{rep}-{path.name}")}
                cold = {**env, "FOREBEAR_CACHE_DIR": str(work / f"down-cache-{rep}")}
                target = work / f"down-{rep}"
                shutil.rmtree(target, ignore_errors=True)
                ids: dict[str, str] = {}

                def forebear_up() -> None:
                    up = run(sys.executable, FOREBEAR_UP, str(path), path.name, env=fenv, warm=size)
                    note(f"{label}: up", "Forebear", up)
                    note(f"{label}: up, then on disk", "Forebear", on_disk(up))
                    ids["Forebear"] = str(up["id"])
                    again = run(
                        sys.executable, FOREBEAR_UP, str(path), path.name, env=fenv, warm=size
                    )
                    note(f"{label}: log again, unchanged", "Forebear", again)

                def mlflow_up() -> None:
                    up = run(
                        str(mlflow_python),
                        MLFLOW_UP,
                        str(path),
                        path.name,
                        mlflow_url,
                        env=env,
                        warm=size,
                    )
                    note(f"{label}: up", "MLflow", up)
                    note(f"{label}: up, then on disk", "MLflow", on_disk(up))
                    ids["MLflow"] = str(up["id"])

                def forebear_down() -> None:
                    down = run(
                        sys.executable,
                        FOREBEAR_DOWN,
                        ids["Forebear"],
                        str(target / "f"),
                        env=cold,
                        warm=size,
                    )
                    note(f"{label}: down", "Forebear", down)

                def mlflow_down() -> None:
                    down = run(
                        str(mlflow_python),
                        MLFLOW_DOWN,
                        ids["MLflow"],
                        str(target / "m"),
                        mlflow_url,
                        env=env,
                        warm=size,
                    )
                    note(f"{label}: down", "MLflow", down)

                # Each side goes first in every other repetition: on this kind of VM the first
                # large write after the others pays for fresh memory pages (a GiB downloaded
                # first took 3.0-5.9 s, the same download second 2.0-2.4 s, whichever side's
                # it was), and a fixed order would charge that to one side every time.
                order = [forebear_up, mlflow_up, forebear_down, mlflow_down]
                if rep % 2:
                    order = [mlflow_up, forebear_up, mlflow_down, forebear_down]
                for step in order:
                    step()
                # What each side downloaded is let go (Forebear's bytes are in its cache, the
                # target only links them): memory does not fill with GiBs no one reads again.
                shutil.rmtree(target, ignore_errors=True)
                shutil.rmtree(cold["FOREBEAR_CACHE_DIR"], ignore_errors=True)

            for rep in range(max(REPEAT, SMALL_REPEAT)):
                for label, path, build, times in (
                    ("1 GiB file", work / "big.bin", make_big, REPEAT),
                    ("1,000 files of 4 KiB", work / "small", make_small, SMALL_REPEAT),
                ):
                    if rep < times:
                        build(path, rep)
                        repetition(rep, label, path, expected[label])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        "\n== SDK against MLflow's client: medians of n runs in seconds; ratio = MLflow / Forebear"
    )
    print(f"{'operation':40} {'n':>3} {'Forebear':>9} {'MLflow':>9} {'ratio':>8}")
    for label, sides in samples.items():
        ours = statistics.median(sides["Forebear"])
        theirs_s = sides.get("MLflow")
        head = f"{label:40} {len(sides['Forebear']):3} {ours:9.3f}"
        if theirs_s is None:
            first = statistics.median(samples[label.split(":")[0] + ": up"]["Forebear"])
            print(f"{head} {'':>9} {first / ours:7.0f}x faster than the first log")
        else:
            theirs_m = statistics.median(theirs_s)
            print(f"{head} {theirs_m:9.3f} {theirs_m / ours:7.1f}x")
    fresh = statistics.median(fresh_relogs[:FRESH_RELOGS])
    first = statistics.median(samples["1,000 files of 4 KiB: up"]["Forebear"])
    print(
        f"{'1,000 files of 4 KiB: log again, just-started server':40} "
        f"{len(fresh_relogs[:FRESH_RELOGS]):3} {fresh:9.3f} {'':>9} "
        f"{first / fresh:7.0f}x faster than the first log (its first untimed relogs)"
    )
    print(
        f"peak client RSS: Forebear {memory['Forebear']:.0f} MB, MLflow {memory['MLflow']:.0f} MB"
    )


if __name__ == "__main__":
    main()
