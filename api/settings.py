"""Forebear's settings: read once from FOREBEAR_* environment variables, each with a local default.

`make services` writes the credentials of the local servers it starts to .services/forebear.env,
which is read after the environment (a variable set in the environment wins).
"""

from __future__ import annotations

import re
import sys
from typing import Final, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_ENV_FILE: Final = ".services/forebear.env"
NEO4J_SCHEMES: Final = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
# S3 bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens.
BUCKET_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# User and service account names: what an audit event's actor can be.
PRINCIPAL_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
PRINCIPAL_RULE: Final = "1-100 letters, digits and . _ @ + -, starting with a letter or digit"


class Settings(BaseSettings):
    """Every knob of the service; see the README's Configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="FOREBEAR_", env_file=LOCAL_ENV_FILE, extra="ignore", frozen=True
    )

    neo4j_uri: str = Field("bolt://127.0.0.1:7687", description="Bolt URI of the Neo4j server")
    neo4j_user: str = Field("neo4j", description="Neo4j user")
    neo4j_password: SecretStr = Field(SecretStr(""), description="Neo4j password; empty: no auth")
    neo4j_database: str = Field("neo4j", description="Neo4j database name")
    s3_endpoint: str = Field("http://127.0.0.1:9000", description="S3 endpoint URL (http or https)")
    s3_access_key: str = Field("minioadmin", description="S3 access key")
    s3_secret_key: SecretStr = Field(SecretStr("minioadmin"), description="S3 secret key")
    s3_bucket: str = Field("forebear", description="bucket holding the blobs, created if missing")
    s3_region: str = Field("us-east-1", description="S3 region name")
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, ge=1, le=65535, description="port the API listens on")
    pending_ttl: int = Field(86_400, ge=60, description="seconds a PENDING version lives")
    max_blob_size: int = Field(100 * 2**30, ge=1, description="largest upload, in bytes")
    gc_grace: int = Field(3_600, ge=0, description="seconds an unreferenced blob is kept")
    gc_upload_grace: int = Field(
        86_400, ge=0, description="seconds before an unfinished multipart upload is aborted"
    )
    gc_interval: int = Field(300, ge=0, description="seconds between collections; 0: never")
    run_watch: float = Field(
        15.0,
        ge=0,
        description="seconds between looks for runs whose client fell silent (a run started "
        "with heartbeatSeconds is CRASHED after four beats unheard); 0: this process does not "
        "look",
    )
    lineage_max_nodes: int = Field(10_000, ge=1, description="node cap of one lineage walk")
    lineage_max_page: int = Field(
        10_000, ge=1, description="most nodes on one page of a lineage answer (`first`)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    startup_timeout: float = Field(30.0, ge=0, description="seconds to wait for Neo4j and S3")
    ready_timeout: float = Field(3.0, gt=0, description="seconds /readyz waits for each server")
    secret_key: SecretStr = Field(
        SecretStr(""), description="server secret API keys are hashed with (HMAC); required"
    )
    admin_user: str = Field("admin", description="the first org admin, created on first start")
    admin_key: SecretStr = Field(
        SecretStr(""), description="the first org admin's API key; empty: no bootstrap"
    )
    metrics_public: bool = Field(True, description="serve /metrics without an API key")
    max_body_size: int = Field(
        1 * 2**20, ge=1024, description="largest /graphql request body, in bytes"
    )
    idempotency_ttl: int = Field(
        86_400, ge=60, description="seconds an Idempotency-Key and its first answer are kept"
    )
    cors_origins: str = Field(
        "",
        description="origins (scheme://host[:port], comma-separated) whose browser pages "
        "may call the API; empty: none",
    )
    auth_cache_ttl: float = Field(
        5.0, ge=0, description="seconds a checked API key is trusted without asking Neo4j"
    )
    events_poll: float = Field(
        0.5,
        gt=0,
        description="seconds between looks for events other replicas committed "
        "(live subscriptions) and left unsealed by a stopped replica (this process's own "
        "changes wake both at once)",
    )
    webhook_allow_private: bool = Field(
        False,
        description="allow webhook URLs to loopback, private, link-local and metadata "
        "addresses (refused by default: a webhook must not reach inside the network)",
    )
    webhook_workers: int = Field(
        16, ge=0, description="webhooks this process sends at once; 0: it delivers none"
    )
    webhook_poll: float = Field(
        1.0, gt=0, description="seconds between looks for due webhooks made by other replicas"
    )
    webhook_timeout: float = Field(10.0, gt=0, description="seconds a receiver has to answer")
    webhook_retry_for: float = Field(
        86_400.0, gt=0, description="seconds a failing webhook is retried before it is FAILED"
    )
    webhook_keep: float = Field(
        2_592_000.0,
        ge=0,
        description="seconds a settled delivery (delivered, failed, cancelled) stays in the "
        "log after its last attempt; 0 keeps them all",
    )

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr) -> SecretStr:
        # Empty is allowed here (tools such as `python -m api.collect` need no keys); the API
        # server refuses to start without one (api.services.startup.check_secret).
        if value.get_secret_value() and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("admin_key")
    @classmethod
    def _admin_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 20:
            raise ValueError("must be at least 20 characters when set")
        return value

    @field_validator("admin_user")
    @classmethod
    def _admin_user(cls, value: str) -> str:
        if not PRINCIPAL_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid user name ({PRINCIPAL_RULE})")
        return value

    @field_validator("neo4j_uri")
    @classmethod
    def _neo4j_uri(cls, value: str) -> str:
        parts = _split(value)
        if parts.scheme not in NEO4J_SCHEMES or not parts.hostname:
            raise ValueError(
                f"{value!r} is not a Neo4j URI: expected "
                f"{'|'.join(NEO4J_SCHEMES)}://host[:port], e.g. bolt://127.0.0.1:7687"
            )
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _s3_endpoint(cls, value: str) -> str:
        parts = _split(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an S3 endpoint: expected http(s)://host[:port], "
                "e.g. http://127.0.0.1:9000"
            )
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(
                f"{value!r} must not have a path or query: the bucket is set apart "
                "in FOREBEAR_S3_BUCKET"
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            parts = _split(origin)
            if origin == "*":
                continue
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(
                    f"{origin!r} is not an origin: expected scheme://host[:port] with no path, "
                    "e.g. https://forebear.example.com, or *"
                )
        return value

    @field_validator("s3_bucket")
    @classmethod
    def _s3_bucket(cls, value: str) -> str:
        if not BUCKET_NAME.match(value) or ".." in value:
            raise ValueError(
                f"{value!r} is not a valid bucket name: 3-63 lowercase letters, "
                "digits, dots and hyphens, starting and ending with a letter or digit"
            )
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def neo4j_auth(self) -> tuple[str, str] | None:
        password = self.neo4j_password.get_secret_value()
        return (self.neo4j_user, password) if password else None

    @property
    def s3_netloc(self) -> str:
        """host:port of the S3 endpoint, as the minio client wants it."""
        return urlsplit(self.s3_endpoint).netloc

    @property
    def s3_secure(self) -> bool:
        return urlsplit(self.s3_endpoint).scheme == "https"


def _split(value: str) -> SplitResult:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError as exc:
        raise ValueError(f"{value!r} has an invalid port: {exc}") from exc
    return parts


def describe_errors(exc: Exception) -> str:
    """One line per invalid setting, naming its environment variable."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    lines = []
    for error in exc.errors():
        name = "FOREBEAR_" + "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "\n".join(lines)


def settings_or_exit() -> Settings:
    """Settings from the environment; on an invalid one, say which on stderr and exit 2."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        print(f"forebear: invalid settings:\n{describe_errors(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
