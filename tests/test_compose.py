"""compose.yaml speaks the same configuration contract as the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_every_forebear_variable_in_compose_is_a_setting() -> None:
    known = {f"FOREBEAR_{name.upper()}" for name in Settings.model_fields}
    api_env = compose()["services"]["api"]["environment"]
    unknown = {name for name in api_env if name.startswith("FOREBEAR_")} - known
    assert not unknown, f"compose.yaml sets variables the API does not read: {sorted(unknown)}"
    for name in ("FOREBEAR_NEO4J_URI", "FOREBEAR_S3_ENDPOINT", "FOREBEAR_NEO4J_PASSWORD"):
        assert name in api_env


def test_the_api_waits_for_healthy_servers_and_has_its_own_health_check() -> None:
    services = compose()["services"]
    assert services["neo4j"]["image"].startswith("neo4j:5.26")
    for name in ("neo4j", "minio", "api"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    assert services["api"]["depends_on"] == {
        "neo4j": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
    }
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
