"""scripts/services.py: local servers started and stopped by PID file, never by name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "services.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def services(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    # The suite's own servers are given through FOREBEAR_*: drop those so the script manages
    # servers of its own here.
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOREBEAR_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def recorded_pid(run_dir: Path, name: str) -> int:
    return int((run_dir / f"{name}.pid").read_text().split()[0])


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "run"
    services("down", "--run-dir", str(tmp_path / "run"), env={})


def test_minio_starts_and_stops_by_its_pid_file(run_dir: Path) -> None:
    port = free_port()
    env = {"MINIO_PORT": str(port), "MINIO_CONSOLE_PORT": str(free_port())}
    up = services("up", "--only", "minio", "--run-dir", str(run_dir), env=env)
    assert up.returncode == 0, up.stderr
    pid = recorded_pid(run_dir, "minio")
    assert alive(pid)
    url = f"http://127.0.0.1:{port}/minio/health/cluster"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    written = (run_dir / "forebear.env").read_text()
    assert f"FOREBEAR_S3_ENDPOINT=http://127.0.0.1:{port}\n" in written
    assert "FOREBEAR_S3_SECRET_KEY=" in written

    secrets = dict(line.split("=", 1) for line in written.splitlines())
    assert len(secrets["FOREBEAR_SECRET_KEY"]) >= 32
    assert secrets["FOREBEAR_ADMIN_KEY"].startswith("fbk_")

    again = services("up", "--only", "minio", "--run-dir", str(run_dir), env=env)
    assert again.returncode == 0
    assert "already runs" in again.stderr
    assert recorded_pid(run_dir, "minio") == pid
    kept = dict(line.split("=", 1) for line in (run_dir / "forebear.env").read_text().splitlines())
    # Keys are hashed with the secret: a second `up` must not make a new one.
    assert kept["FOREBEAR_SECRET_KEY"] == secrets["FOREBEAR_SECRET_KEY"]
    assert kept["FOREBEAR_ADMIN_KEY"] == secrets["FOREBEAR_ADMIN_KEY"]

    down = services("down", "--run-dir", str(run_dir), env={})
    assert down.returncode == 0
    assert f"stopped minio (pid {pid})" in down.stderr
    assert not alive(pid)
    assert not (run_dir / "minio.pid").exists()


def test_neo4j_starts_with_auth_on_and_a_generated_password(run_dir: Path) -> None:
    port = free_port()
    up = services(
        "up", "--only", "neo4j", "--run-dir", str(run_dir), env={"NEO4J_BOLT_PORT": str(port)}
    )
    assert up.returncode == 0, up.stderr
    pid = recorded_pid(run_dir, "neo4j")
    env_file = dict(
        line.split("=", 1) for line in (run_dir / "forebear.env").read_text().splitlines()
    )
    assert env_file["FOREBEAR_NEO4J_URI"] == f"bolt://127.0.0.1:{port}"
    password = env_file["FOREBEAR_NEO4J_PASSWORD"]
    assert len(password) >= 16
    with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", password)) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        assert records[0]["one"] == 1
    with (
        GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", "neo4j")) as driver,
        pytest.raises(AuthError),
    ):
        driver.verify_connectivity()

    down = services("down", "--run-dir", str(run_dir), env={})
    assert down.returncode == 0
    assert not alive(pid)


def test_a_stale_pid_file_is_dropped_and_a_recycled_pid_is_never_killed(run_dir: Path) -> None:
    run_dir.mkdir(parents=True)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        # Same PID, different start time: the recorded process is gone and the PID reused.
        (run_dir / "minio.pid").write_text(f"{bystander.pid} 1\n")
        (run_dir / "neo4j.pid").write_text("999999999 1\n")
        status = services("status", "--run-dir", str(run_dir), env={})
        assert "neo4j: stopped" in status.stderr
        assert "minio: stopped" in status.stderr
        down = services("down", "--run-dir", str(run_dir), env={})
        assert down.returncode == 0
        assert bystander.poll() is None
        assert not (run_dir / "minio.pid").exists()
        assert not (run_dir / "neo4j.pid").exists()
    finally:
        bystander.send_signal(signal.SIGTERM)
        bystander.wait()


def test_a_taken_port_is_reported_with_the_variable_that_moves_it(run_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = services(
            "up", "--only", "minio", "--run-dir", str(run_dir), env={"MINIO_PORT": str(port)}
        )
    assert up.returncode == 1
    assert f"port {port} on 127.0.0.1 is already taken" in up.stderr
    assert "MINIO_PORT" in up.stderr
    assert not (run_dir / "minio.pid").exists()


def test_servers_given_in_the_environment_are_neither_installed_nor_started(
    run_dir: Path, tmp_path: Path
) -> None:
    empty_cache = tmp_path / "cache"
    started = time.monotonic()
    up = services(
        "up",
        "--run-dir",
        str(run_dir),
        env={
            "FOREBEAR_NEO4J_URI": "bolt://db.example:7687",
            "FOREBEAR_S3_ENDPOINT": "http://s3.example:9000",
            "SERVICES_CACHE": str(empty_cache),
        },
        timeout=30,
    )
    assert up.returncode == 0, up.stderr
    assert time.monotonic() - started < 20
    assert not empty_cache.exists()
    assert not list(run_dir.glob("*.pid"))


def test_run_gives_the_command_fresh_servers_and_removes_them_after(run_dir: Path) -> None:
    show = "import os; print(os.environ['FOREBEAR_S3_ENDPOINT']); raise SystemExit(3)"
    done = services(
        "run",
        "--only",
        "minio",
        "--run-dir",
        str(run_dir),
        "--",
        sys.executable,
        "-c",
        show,
        env={},
    )
    assert done.returncode == 3  # the command's own exit code
    endpoint = done.stdout.strip()
    assert endpoint.startswith("http://127.0.0.1:")
    assert "stopped minio" in done.stderr
    assert not run_dir.exists()
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        urllib.request.urlopen(f"{endpoint}/minio/health/cluster", timeout=2)


def test_run_stops_its_servers_when_it_is_terminated(run_dir: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOREBEAR_")}
    runner = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "run",
            "--only",
            "minio",
            "--run-dir",
            str(run_dir),
            "--",
            "sleep",
            "120",
        ],
        env=base,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "forebear.env").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = recorded_pid(run_dir, "minio")
        assert alive(pid)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if runner.poll() is None:
            runner.kill()
    assert not alive(pid)
    assert not run_dir.exists()
