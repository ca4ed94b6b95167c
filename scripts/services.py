"""Install, start and stop the local Neo4j and MinIO servers that Forebear runs against.

    services.py install          fetch the Neo4j jars (Maven) and build MinIO (Go), cached
    services.py up               start both on loopback, write .services/forebear.env
    services.py down             stop what `up` started, by PID file
    services.py status           say what runs
    services.py run -- CMD ...   fresh throw-away servers for CMD, stopped afterwards

Options: --run-dir DIR (default .services, and .services/test for run), --only neo4j|minio.

Neo4j comes from Maven Central as the jars of the community server; MinIO is built from source
through the Go module proxy. Both land in a cache ($SERVICES_CACHE, default
~/.cache/forebear/services) so that a second start takes seconds. Runtime state (data, logs, PID
files, generated credentials) lives under a git-ignored run directory. When FOREBEAR_NEO4J_URI or
FOREBEAR_S3_ENDPOINT is set, that server is someone else's: nothing is installed or started for it.
Processes are found again only through the PID files written here, never by name.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "scripts" / "services.env"
NEO4J_READY_SECONDS = 120.0
MINIO_READY_SECONDS = 60.0
STOP_SECONDS = 30.0


class ServiceError(RuntimeError):
    """A service could not be installed, started or stopped; the message says why."""


def read_pins(path: Path = PINS) -> dict[str, str]:
    """Return the KEY=VALUE pins of scripts/services.env."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


@dataclass(frozen=True)
class Layout:
    """Where the cache and the runtime state of one set of services live."""

    cache: Path
    run_dir: Path
    neo4j_version: str
    minio_version: str

    @classmethod
    def from_env(cls, run_dir: Path | None = None) -> Layout:
        pins = read_pins()
        cache = Path(os.environ.get("SERVICES_CACHE", Path.home() / ".cache/forebear/services"))
        default_run = Path(os.environ.get("RUN_DIR", ROOT / ".services"))
        return cls(
            cache, (run_dir or default_run).resolve(), pins["NEO4J_VERSION"], pins["MINIO_VERSION"]
        )

    @property
    def neo4j_home(self) -> Path:
        return self.cache / f"neo4j-{self.neo4j_version}"

    @property
    def minio_binary(self) -> Path:
        return self.cache / f"minio-{self.minio_version}" / "bin" / "minio"

    @property
    def env_file(self) -> Path:
        return self.run_dir / "forebear.env"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"


# --- install ------------------------------------------------------------------------------

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.forebear</groupId>
  <artifactId>neo4j-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.neo4j</groupId><artifactId>neo4j</artifactId><version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def install_neo4j(layout: Layout) -> Path:
    """Resolve the Neo4j community server's runtime jars into the cache; return the lib dir."""
    home = layout.neo4j_home
    lib = home / "lib"
    if (home / ".complete").exists():
        return lib
    require_tool("mvn", "Maven fetches the Neo4j jars from Maven Central")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(POM.format(version=layout.neo4j_version))
    shutil.rmtree(lib, ignore_errors=True)
    say(f"installing Neo4j {layout.neo4j_version} from Maven Central into {home}")
    run_checked(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ]
    )
    if not (lib / f"neo4j-{layout.neo4j_version}.jar").exists():
        raise ServiceError(f"Maven finished but {lib} has no neo4j-{layout.neo4j_version}.jar")
    (home / ".complete").write_text(layout.neo4j_version + "\n")
    return lib


def install_minio(layout: Layout) -> Path:
    """Build the pinned MinIO server with the Go toolchain into the cache; return the binary."""
    binary = layout.minio_binary
    if binary.exists():
        return binary
    require_tool("go", "the Go toolchain builds MinIO from source")
    say(f"building MinIO {layout.minio_version} with Go (first time only, a few minutes)")
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-trimpath",
        "GOMODCACHE": str(layout.cache / "go/mod"),
        "GOCACHE": str(layout.cache / "go/build"),
        "GOBIN": str(binary.parent),
    }
    run_checked(["go", "install", f"github.com/minio/minio@{layout.minio_version}"], env=env)
    return binary


def require_tool(tool: str, why: str) -> None:
    if shutil.which(tool) is None:
        raise ServiceError(f"'{tool}' is not on PATH: {why}")


def run_checked(cmd: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ServiceError(f"{' '.join(cmd[:3])} failed with exit code {done.returncode}:\n{tail}")


# --- PID files ----------------------------------------------------------------------------


def process_start_time(pid: int) -> str | None:
    """Return the kernel start time of `pid` (to tell it from a recycled PID), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def write_pid_file(path: Path, pid: int) -> None:
    path.write_text(f"{pid} {process_start_time(pid)}\n")


def running_pid(path: Path) -> int | None:
    """Return the PID recorded in `path` if that very process still runs; drop a stale file."""
    try:
        pid_text, _, started = path.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if process_start_time(pid) != started:
        path.unlink(missing_ok=True)
        return None
    return pid


def stop_pid_file(path: Path, name: str) -> bool:
    """Stop the process recorded in `path` (TERM, then KILL after 30 s); True if one was running."""
    pid = running_pid(path)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while process_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_start_time(pid) is not None:
        say(f"{name} (pid {pid}) ignored SIGTERM for {STOP_SECONDS:.0f}s; sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    say(f"stopped {name} (pid {pid})")
    return True


def launch(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


# --- ports and readiness --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, what: str, variable: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise ServiceError(
                f"port {port} on 127.0.0.1 is already taken, so {what} cannot use "
                f"it; stop whatever holds it or set {variable} to another port"
            )


def wait_until(
    ready: Callable[[], bool],
    proc_alive: Callable[[], bool],
    seconds: float,
    what: str,
    log_tail: Callable[[], str],
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        if not proc_alive():
            raise ServiceError(f"{what} exited before it became ready.\n{log_tail()}")
        time.sleep(0.5)
    raise ServiceError(f"{what} was not ready after {seconds:.0f}s.\n{log_tail()}")


def tail(path: Path, lines: int = 40, only: tuple[str, ...] = ()) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path})"
    if only:
        text = [line for line in text if any(word in line for word in only)]
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text[-lines:])


# --- Neo4j ------------------------------------------------------------------------------------

# keep_alive_for_requests=OFF: no keep-alive messages during requests, hence no
# `connection.recv_timeout_seconds` hint, for which the Python driver wraps every socket read in
# a task of its own (7-10% of the API's CPU under load); graph.repository.base.GRAPH_TIMEOUT
# bounds each unit of work instead.
# min_replan_interval=5m: a cached plan is checked against the statistics every 5 minutes at
# most, not every 10 s, and Neo4j plans a query again when they have moved past a threshold.
# For Forebear's writes they nearly always have: index statistics are sampled in the
# background, so a growing graph's plans are often made on a stale sample (debug.log showed an
# id index's selectivity "changed from 0.1 to 1.0" again and again), and indexes of
# transient nodes (upload sessions) go from empty to not with each log. Planning a large write
# query costs Neo4j 100-400 ms of CPU: with 10 s, 2-4 s of it during one 1 GiB log on 2 cores;
# with 1 m, logs of 1,000 files a minute and a half apart took 1.3 s instead of 0.4 s.
NEO4J_CONF = """server.default_listen_address=127.0.0.1
server.bolt.enabled=true
server.bolt.listen_address=127.0.0.1:{port}
server.bolt.advertised_address=127.0.0.1:{port}
server.http.enabled=false
server.https.enabled=false
dbms.security.auth_enabled=true
dbms.security.auth_minimum_password_length=8
server.memory.pagecache.size=64m
server.directories.data={home}/data
server.directories.logs={home}/logs
server.directories.run={home}/run
server.directories.plugins={home}/plugins
server.directories.import={home}/import
server.directories.transaction.logs.root={home}/data/transactions
db.transaction.timeout=60s
server.bolt.connection_keep_alive_for_requests=OFF
dbms.usage_report.enabled=false
dbms.cypher.min_replan_interval=5m
"""


@dataclass
class Neo4jService:
    layout: Layout
    port: int

    name = "neo4j"
    variable = "NEO4J_BOLT_PORT"

    @property
    def home(self) -> Path:
        return self.layout.run_dir / "neo4j"

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def password(self) -> str:
        """The local password: FOREBEAR_NEO4J_PASSWORD, else one generated once per run dir."""
        stored = self.home / "password"
        if stored.exists():
            return stored.read_text().strip()
        password = os.environ.get("FOREBEAR_NEO4J_PASSWORD") or secrets.token_urlsafe(18)
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.touch(mode=0o600)
        stored.write_text(password + "\n")
        return password

    def start(self) -> subprocess.Popen[bytes]:
        lib = install_neo4j(self.layout)
        for sub in ("conf", "data", "logs", "run", "plugins", "import"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        (self.home / "conf" / "neo4j.conf").write_text(
            NEO4J_CONF.format(port=self.port, home=self.home)
        )
        cmd = [
            "java",
            "-Xms256m",
            "-Xmx512m",
            "-XX:+ExitOnOutOfMemoryError",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--enable-native-access=ALL-UNNAMED",
            "-Dlog4j2.disable.jmx=true",
            "-cp",
            f"{lib}/*:{self.home}/plugins/*",
            "org.neo4j.server.CommunityEntryPoint",
            f"--home-dir={self.home}",
            f"--config-dir={self.home / 'conf'}",
        ]
        return launch(cmd, self.home / "console.log")

    def wait_ready(self, alive: Callable[[], bool]) -> None:
        from neo4j import GraphDatabase
        from neo4j.exceptions import (
            AuthError,
            Neo4jError,
            ServiceUnavailable,
            SessionExpired,
            TransientError,
        )

        password = self.password()
        initialised = self.home / "password.set"

        def ready() -> bool:
            auth = ("neo4j", password) if initialised.exists() else ("neo4j", "neo4j")
            try:
                with GraphDatabase.driver(self.uri, auth=auth, connection_timeout=2) as driver:
                    if not initialised.exists():
                        with driver.session(database="system") as session:
                            session.run(
                                "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                                old="neo4j",
                                new=password,
                            ).consume()
                        initialised.touch()
                        return False
                    driver.verify_connectivity()
                    return True
            except (ServiceUnavailable, SessionExpired, TransientError, OSError):
                return False  # still starting: the store or the system database is not up
            except (AuthError, Neo4jError) as exc:
                raise ServiceError(
                    f"Neo4j at {self.uri} refused the local credentials ({exc}); "
                    f"delete {self.home} to start from an empty store"
                ) from exc

        wait_until(ready, alive, NEO4J_READY_SECONDS, f"Neo4j on {self.uri}", self.log_tail)

    def log_tail(self) -> str:
        return "\n".join(
            [
                tail(self.home / "console.log"),
                tail(self.home / "logs" / "debug.log", 20, only=("ERROR", "WARN")),
            ]
        )

    def env(self) -> dict[str, str]:
        return {
            "FOREBEAR_NEO4J_URI": self.uri,
            "FOREBEAR_NEO4J_USER": "neo4j",
            "FOREBEAR_NEO4J_PASSWORD": self.password(),
        }


# --- MinIO ------------------------------------------------------------------------------------


@dataclass
class MinioService:
    layout: Layout
    port: int
    console_port: int

    name = "minio"
    variable = "MINIO_PORT"

    @property
    def home(self) -> Path:
        return self.layout.run_dir / "minio"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials(self) -> tuple[str, str]:
        """Root user and password: FOREBEAR_S3_ACCESS_KEY/SECRET_KEY, else generated once."""
        stored = self.home / "credentials"
        if stored.exists():
            user, secret = stored.read_text().split()
            return user, secret
        user = os.environ.get("FOREBEAR_S3_ACCESS_KEY") or "forebear"
        secret = os.environ.get("FOREBEAR_S3_SECRET_KEY") or secrets.token_urlsafe(24)
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.touch(mode=0o600)
        stored.write_text(f"{user} {secret}\n")
        return user, secret

    def start(self) -> subprocess.Popen[bytes]:
        binary = install_minio(self.layout)
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        user, secret = self.credentials()
        env = {
            **os.environ,
            "MINIO_ROOT_USER": user,
            "MINIO_ROOT_PASSWORD": secret,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
        cmd = [
            str(binary),
            "server",
            "--quiet",
            # No MD5 of every byte written (a part's or object's ETag is a random id then):
            # Forebear checks each blob's sha256 itself and never reads an ETag as an MD5, and
            # the MD5 was 40% of MinIO's CPU and a quarter of a 1 GiB upload's time here.
            "--no-compat",
            "--address",
            f"127.0.0.1:{self.port}",
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            str(self.home / "data"),
        ]
        return launch(cmd, self.home / "console.log", env=env)

    def wait_ready(self, alive: Callable[[], bool]) -> None:
        # /minio/health/cluster answers 503 until storage, bucket metadata and IAM are up;
        # /live and /ready answer 200 too early.
        def ready() -> bool:
            try:
                url = f"{self.endpoint}/minio/health/cluster"
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(
            ready,
            alive,
            MINIO_READY_SECONDS,
            f"MinIO on {self.endpoint}",
            lambda: tail(self.home / "console.log"),
        )

    def env(self) -> dict[str, str]:
        user, secret = self.credentials()
        return {
            "FOREBEAR_S3_ENDPOINT": self.endpoint,
            "FOREBEAR_S3_ACCESS_KEY": user,
            "FOREBEAR_S3_SECRET_KEY": secret,
        }


Service = Neo4jService | MinioService


def port_setting(variable: str, default: int | None) -> int:
    """The port in `variable`, else `default`, else a free one (default None)."""
    value = os.environ.get(variable)
    if value:
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ServiceError(f"{variable}={value!r} is not a TCP port (1-65535)")
        return int(value)
    return default if default is not None else free_port()


def wanted_services(layout: Layout, only: str | None, fixed_ports: bool) -> list[Service]:
    """The services this project must run itself: those not given through the environment."""
    services: list[Service] = []
    if only in (None, "neo4j") and not os.environ.get("FOREBEAR_NEO4J_URI"):
        services.append(
            Neo4jService(layout, port_setting("NEO4J_BOLT_PORT", 7687 if fixed_ports else None))
        )
    if only in (None, "minio") and not os.environ.get("FOREBEAR_S3_ENDPOINT"):
        services.append(
            MinioService(
                layout,
                port_setting("MINIO_PORT", 9000 if fixed_ports else None),
                port_setting("MINIO_CONSOLE_PORT", 9001 if fixed_ports else None),
            )
        )
    return services


def recorded_port(service: Service) -> int | None:
    """The port a running instance of `service` was started on (kept beside its PID file)."""
    try:
        return int(service.layout.pid_file(service.name).with_suffix(".port").read_text())
    except (OSError, ValueError):
        return None


def start_all(services: list[Service]) -> list[Service]:
    """Start every service not already running, in parallel; return those started here."""
    started: list[tuple[Service, subprocess.Popen[bytes]]] = []
    try:
        for service in services:
            pid_file = service.layout.pid_file(service.name)
            if running_pid(pid_file) is not None:
                say(f"{service.name} already runs (pid file {pid_file})")
                continue
            ensure_port_free(service.port, service.name, service.variable)
            if isinstance(service, MinioService):
                ensure_port_free(service.console_port, "the MinIO console", "MINIO_CONSOLE_PORT")
            service.layout.run_dir.mkdir(parents=True, exist_ok=True)
            proc = service.start()
            write_pid_file(pid_file, proc.pid)
            pid_file.with_suffix(".port").write_text(f"{service.port}\n")
            started.append((service, proc))
        for service, proc in started:
            service.wait_ready(lambda proc=proc: proc.poll() is None)  # type: ignore[misc]
            say(f"{service.name} ready (pid {proc.pid}, port {service.port})")
    except BaseException:
        for service, _ in started:
            stop_pid_file(service.layout.pid_file(service.name), service.name)
        raise
    return [service for service, _ in started]


def stop_all(layout: Layout, *, quiet: bool = False) -> None:
    for name in ("neo4j", "minio"):
        pid_file = layout.pid_file(name)
        if not stop_pid_file(pid_file, name) and not quiet:
            say(f"{name} was not running")
        pid_file.with_suffix(".port").unlink(missing_ok=True)


def api_secrets(layout: Layout) -> dict[str, str]:
    """The API's own secrets for local use, generated once per run dir (kept, like the Neo4j
    password: API keys are hashed with the secret, so a new one would void every key):
    FOREBEAR_SECRET_KEY, and FOREBEAR_ADMIN_KEY, the first org admin's key."""
    stored = layout.run_dir / "api-secrets"
    if not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.touch(mode=0o600)
        stored.write_text(
            f"FOREBEAR_SECRET_KEY={secrets.token_urlsafe(32)}\n"
            f"FOREBEAR_ADMIN_KEY=fbk_{secrets.token_urlsafe(32)}\n"
        )
    found = dict(line.split("=", 1) for line in stored.read_text().split())
    # What the environment sets wins, as for every other setting.
    return {name: os.environ.get(name) or value for name, value in found.items()}


def write_env_file(layout: Layout, services: list[Service]) -> dict[str, str]:
    env: dict[str, str] = api_secrets(layout)
    for service in services:
        env.update(service.env())
    layout.env_file.parent.mkdir(parents=True, exist_ok=True)
    layout.env_file.touch(mode=0o600)
    layout.env_file.write_text("".join(f"{key}={value}\n" for key, value in sorted(env.items())))
    return env


def adopt_running_ports(services: list[Service]) -> None:
    for service in services:
        port = recorded_port(service)
        if port is not None and running_pid(service.layout.pid_file(service.name)) is not None:
            service.port = port


# --- commands ---------------------------------------------------------------------------------


def cmd_install(layout: Layout, only: str | None) -> int:
    for service in wanted_services(layout, only, fixed_ports=True):
        if isinstance(service, Neo4jService):
            install_neo4j(layout)
        else:
            install_minio(layout)
    say("installed")
    return 0


def cmd_up(layout: Layout, only: str | None) -> int:
    services = wanted_services(layout, only, fixed_ports=True)
    adopt_running_ports(services)
    start_all(services)
    write_env_file(layout, services)
    say(f"settings for the API are in {layout.env_file}")
    return 0


def cmd_status(layout: Layout) -> int:
    for name in ("neo4j", "minio"):
        pid = running_pid(layout.pid_file(name))
        say(f"{name}: " + (f"running (pid {pid})" if pid else "stopped"))
    return 0


@contextlib.contextmanager
def throwaway_services(layout: Layout, only: str | None) -> Iterator[dict[str, str]]:
    """Fresh servers on free ports under layout.run_dir, stopped and deleted on exit."""
    stop_all(layout, quiet=True)  # leftovers of a run that was killed
    shutil.rmtree(layout.run_dir, ignore_errors=True)
    services = wanted_services(layout, only, fixed_ports=False)
    try:
        start_all(services)
        yield write_env_file(layout, services)
    finally:
        stop_all(layout, quiet=True)
        if os.environ.get("KEEP_SERVICES") != "1":
            shutil.rmtree(layout.run_dir, ignore_errors=True)


def cmd_run(layout: Layout, only: str | None, command: list[str]) -> int:
    if not command:
        raise ServiceError("run needs a command after --")
    # A CI runner's SIGTERM must still stop the servers: turn it into SystemExit so that the
    # `finally` blocks below run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with throwaway_services(layout, only) as env:
        child = subprocess.Popen(command, env={**os.environ, **env})
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait(STOP_SECONDS)


def say(message: str) -> None:
    print(f"services: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["install", "up", "down", "status", "run"])
    parser.add_argument("--run-dir", type=Path, help="runtime state (default .services)")
    parser.add_argument("--only", choices=["neo4j", "minio"], help="one service only")
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    # `run` wipes its run dir: never let it default to the one `up` keeps data in.
    run_dir = args.run_dir or (ROOT / ".services" / "test" if args.command == "run" else None)
    layout = Layout.from_env(run_dir)
    command = argv[split + 1 :]
    try:
        if args.command == "install":
            return cmd_install(layout, args.only)
        if args.command == "up":
            return cmd_up(layout, args.only)
        if args.command == "down":
            stop_all(layout)
            return 0
        if args.command == "status":
            return cmd_status(layout)
        return cmd_run(layout, args.only, command)
    except ServiceError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
