"""The SDK against a real server process (tests/conftest.py `server`), configured as a user
configures it: FOREBEAR_* variables, a cache and a config directory of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ADMIN_KEY, gql_at


@dataclass
class Sdk:
    base: str
    home: Path
    env: dict[str, str]

    def gql(self, query: str, key: str = ADMIN_KEY, **variables: Any) -> dict[str, Any]:
        """A GraphQL call straight to the server, to check what the SDK did."""
        return gql_at(self.base, query, key, **variables)

    def python(
        self, script: str, python: str = sys.executable, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a script as a user would, in the test's working directory."""
        return self.run([python, "-c", script], check, env)

    def cli(
        self, *args: str, check: bool = True, typed: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """The `forebear` command, installed with the SDK; `typed` is what a person types
        at it (by default nothing: its stdin is empty, as a script's)."""
        return self.run([str(Path(sys.executable).parent / "forebear"), *args], check, env, typed)

    def run(
        self, argv: list[str], check: bool, env: dict[str, str], typed: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command in the test's working directory with the SDK's settings (and `env`);
        with `check`, it must succeed."""
        done = subprocess.run(
            argv,
            cwd=self.home,
            env={**self.env, **env},
            input=typed or "",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done


@pytest.fixture
def sdk(server: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sdk:
    base, _ = server
    home = tmp_path / "work"
    home.mkdir()
    env = {
        "FOREBEAR_URL": base,
        "FOREBEAR_API_KEY": ADMIN_KEY,
        "FOREBEAR_CACHE_DIR": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "FOREBEAR_SILENT": "1",
    }
    for name in list(os.environ):
        if name.startswith("FOREBEAR_") and name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(home)
    return Sdk(base, home, {**os.environ, **env})
