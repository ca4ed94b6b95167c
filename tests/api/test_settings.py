"""Settings: FOREBEAR_* names, working local defaults, and errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings, describe_errors
from tests.helpers import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FOREBEAR_"):
            monkeypatch.delenv(name)


def settings_from_env(**env: str) -> Settings:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        return Settings(_env_file=None)


@pytest.mark.usefixtures("bare_env")
def test_every_setting_has_a_local_default() -> None:
    settings = Settings(_env_file=None)
    assert settings.neo4j_uri == "bolt://127.0.0.1:7687"
    assert settings.s3_endpoint == "http://127.0.0.1:9000"
    assert (settings.s3_netloc, settings.s3_secure) == ("127.0.0.1:9000", False)
    assert settings.s3_bucket == "forebear"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.neo4j_auth is None  # empty password: connect without auth


@pytest.mark.usefixtures("bare_env")
def test_settings_come_from_forebear_variables() -> None:
    settings = settings_from_env(
        FOREBEAR_NEO4J_URI="neo4j+s://graph.example:7688",
        FOREBEAR_NEO4J_USER="svc",
        FOREBEAR_NEO4J_PASSWORD="pw123456",
        FOREBEAR_S3_ENDPOINT="https://s3.example",
        FOREBEAR_S3_BUCKET="models.prod",
        FOREBEAR_PORT="9100",
    )
    assert settings.neo4j_uri == "neo4j+s://graph.example:7688"
    assert settings.neo4j_auth == ("svc", "pw123456")
    assert (settings.s3_netloc, settings.s3_secure) == ("s3.example", True)
    assert settings.s3_bucket == "models.prod"
    assert settings.port == 9100


@pytest.mark.usefixtures("bare_env")
def test_the_local_env_file_fills_in_what_the_environment_does_not_set(tmp_path: Path) -> None:
    env_file = tmp_path / "forebear.env"
    env_file.write_text("FOREBEAR_NEO4J_PASSWORD=from-file\nFOREBEAR_S3_BUCKET=from-file\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FOREBEAR_S3_BUCKET", "from-env")
        settings = Settings(_env_file=env_file)
    assert settings.neo4j_password.get_secret_value() == "from-file"
    assert settings.s3_bucket == "from-env"


@pytest.mark.usefixtures("bare_env")
@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("FOREBEAR_NEO4J_URI", "http://127.0.0.1:7474", "is not a Neo4j URI"),
        ("FOREBEAR_NEO4J_URI", "bolt://", "is not a Neo4j URI"),
        ("FOREBEAR_NEO4J_URI", "bolt://127.0.0.1:99999", "invalid port"),
        ("FOREBEAR_S3_ENDPOINT", "127.0.0.1:9000", "is not an S3 endpoint"),
        ("FOREBEAR_S3_ENDPOINT", "http://127.0.0.1:9000/bucket", "must not have a path"),
        ("FOREBEAR_S3_BUCKET", "Models_Prod", "is not a valid bucket name"),
        ("FOREBEAR_PORT", "70000", "less than or equal to 65535"),
        ("FOREBEAR_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("FOREBEAR_CORS_ORIGINS", "https://ok.example, app.example", "is not an origin"),
        ("FOREBEAR_CORS_ORIGINS", "https://app.example/page", "is not an origin"),
    ],
)
def test_a_bad_setting_is_named_with_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from_env(**{name: value})
    message = describe_errors(caught.value)
    assert message.startswith(f"{name}: ")
    assert says in message


def serve(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env={**os.environ, "FOREBEAR_SECRET_KEY": TEST_SECRET, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_server_refuses_to_start_on_a_bad_uri_and_says_why() -> None:
    done = serve({"FOREBEAR_NEO4J_URI": "localhost:7687"})
    assert done.returncode == 2
    assert "FOREBEAR_NEO4J_URI: 'localhost:7687' is not a Neo4j URI" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_server_refuses_to_start_without_a_secret_key(unused_port: int) -> None:
    done = serve({"FOREBEAR_SECRET_KEY": "", "FOREBEAR_PORT": str(unused_port)})
    assert done.returncode != 0
    assert "FOREBEAR_SECRET_KEY is not set" in done.stderr
    short = serve({"FOREBEAR_SECRET_KEY": "short", "FOREBEAR_PORT": str(unused_port)})
    assert short.returncode == 2
    assert "FOREBEAR_SECRET_KEY: must be at least 16 characters" in short.stderr


def test_the_server_gives_up_on_an_unreachable_neo4j_naming_it(unused_port: int) -> None:
    uri = f"bolt://127.0.0.1:{unused_port}"
    done = serve(
        {
            "FOREBEAR_NEO4J_URI": uri,
            "FOREBEAR_STARTUP_TIMEOUT": "1",
            "FOREBEAR_PORT": str(unused_port),
        }
    )
    assert done.returncode != 0
    assert f"Neo4j at {uri} is unavailable" in done.stderr


def test_the_server_stops_at_once_on_wrong_neo4j_credentials(unused_port: int) -> None:
    done = serve(
        {
            "FOREBEAR_NEO4J_PASSWORD": "not-the-password",
            "FOREBEAR_STARTUP_TIMEOUT": "60",
            "FOREBEAR_PORT": str(unused_port),
        },
        timeout=30,
    )
    assert done.returncode != 0
    assert "refused the credentials" in done.stderr
    assert "FOREBEAR_NEO4J_PASSWORD" in done.stderr
