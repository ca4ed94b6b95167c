"""Where the SDK's settings come from: arguments, then FOREBEAR_* variables, then the key that
`forebear login` stored in the user's config directory."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forebear._errors import AuthError, ForebearError

DEFAULT_URL = "http://127.0.0.1:8000"
MODES = ("online", "offline", "disabled")


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/forebear (default ~/.config/forebear)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "forebear"


def credentials_file() -> Path:
    return config_dir() / "credentials.json"


def save_key(url: str, key: str) -> Path:
    """Store `key` for `url` in the credentials file, readable by the user alone (0600)."""
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = _stored_keys()
    keys[url.rstrip("/")] = key
    # Created 0600 before anything is written, so the key is never readable by others.
    descriptor = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"keys": keys}, out, indent=2)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def _stored_keys() -> dict[str, str]:
    try:
        data = json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}
    keys = data.get("keys") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in keys.items()} if isinstance(keys, dict) else {}


@dataclass(frozen=True)
class Settings:
    url: str
    api_key: str | None
    project: str | None
    mode: str
    cache_dir: Path
    silent: bool
    heartbeat: int = 30  # seconds between a run's heartbeats (FOREBEAR_HEARTBEAT)

    @classmethod
    def load(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        project: str | None = None,
        mode: str | None = None,
    ) -> Settings:
        env = os.environ
        url = (url or env.get("FOREBEAR_URL") or DEFAULT_URL).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ForebearError(f"FOREBEAR_URL {url!r} must start with http:// or https://")
        mode = (mode or env.get("FOREBEAR_MODE") or "online").lower()
        if mode not in MODES:
            raise ForebearError(f"FOREBEAR_MODE {mode!r} is not one of {', '.join(MODES)}")
        cache = env.get("FOREBEAR_CACHE_DIR") or str(Path.home() / ".cache" / "forebear")
        beat = env.get("FOREBEAR_HEARTBEAT") or "30"
        if not beat.isdigit() or not 1 <= int(beat) <= 3600:
            raise ForebearError(
                f"FOREBEAR_HEARTBEAT {beat!r}: give the seconds between a run's heartbeats, "
                "1 to 3600 (a run unheard for four of them is CRASHED by the server)"
            )
        return cls(
            url=url,
            api_key=api_key or env.get("FOREBEAR_API_KEY") or _stored_keys().get(url),
            project=project or env.get("FOREBEAR_PROJECT"),
            mode=mode,
            cache_dir=Path(cache),
            silent=env.get("FOREBEAR_SILENT", "") not in ("", "0", "false"),
            heartbeat=int(beat),
        )

    def key(self) -> str:
        """The API key, or AuthError saying how to give one."""
        if not self.api_key:
            raise AuthError(
                f"no API key for {self.url}: set FOREBEAR_API_KEY, or run `forebear login`"
            )
        return self.api_key


class RunSettings:
    """W&B's `wandb.Settings(...)`, for `init(settings=)`: every keyword of W&B's is taken.
    `mode`, `silent` (or `quiet`), `base_url`, `api_key` and `project` are used; the others
    (`start_method`, `console`, `_disable_stats`...) tune W&B's own process and change
    nothing here."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        """A setting not given is None, as most of W&B's are by default."""
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.__dict__.items()) if k != "api_key")
        return f"Settings({shown})"
