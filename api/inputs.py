"""Rules for input beyond what GraphQL's types say, as pydantic models; `parse` turns a
violation into BadInput naming the field (`input.files[2].path: ...`)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from api.errors import BadInput
from api.settings import PRINCIPAL_NAME, PRINCIPAL_RULE
from graph.refs import ALIAS_RE, NAME_RE

M = TypeVar("M", bound=BaseModel)

MAX_FILES: Final = 100_000
MAX_METRIC_POINTS: Final = 10_000
SHA256: Final = r"^[0-9a-f]{64}$"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

TYPE: Final = r"^[a-z][a-z0-9_-]{0,63}$"
PRINTABLE: Final = r"^[^\x00-\x1f]+$"
PRINTABLE_NO_DEL: Final = r"^[^\x00-\x1f\x7f]+$"
# Each pattern in words: a refusal says the rule, not the regular expression.
RULES: Final = {
    NAME_RE.pattern: "1-128 letters, digits and . _ -, starting with a letter or digit",
    ALIAS_RE.pattern: "1-64 lowercase letters, digits and . _ -, starting with a letter",
    TYPE: "1-64 lowercase letters, digits and _ -, starting with a letter",
    SHA256: "64 lowercase hexadecimal digits",
    PRINTABLE: "no control characters",
    PRINTABLE_NO_DEL: "no control characters",
    PRINCIPAL_NAME.pattern: PRINCIPAL_RULE,
}

Name = Annotated[str, StringConstraints(pattern=NAME_RE.pattern)]
AliasName = Annotated[str, StringConstraints(pattern=ALIAS_RE.pattern)]
TypeName = Annotated[str, StringConstraints(pattern=TYPE)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=PRINTABLE)]
Text = Annotated[str, StringConstraints(max_length=10_000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _path(value: str) -> str:
    if not value or len(value) > 1024:
        raise ValueError("must be 1 to 1024 characters")
    if value.startswith("/") or "\\" in value or _CONTROL.search(value):
        raise ValueError(
            f"{value!r} must be relative, with '/' separators and no control characters"
        )
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError(f"{value!r} must not contain empty, '.' or '..' segments")
    return value


RelativePath = Annotated[str, AfterValidator(_path)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileIn(Strict):
    path: RelativePath
    size: int = Field(ge=0)
    sha256: Annotated[str, StringConstraints(pattern=SHA256)]
    content_type: Annotated[str, StringConstraints(max_length=255)] | None = None


# Where a reference entry's data is: object stores, the web, or a shared file system.
REFERENCE_SCHEMES: Final = (
    *("s3", "gs", "az", "abfss", "hdfs", "http", "https", "file"),
    *("git+https", "git+ssh", "git+file"),  # pip's form: git+<url>@<commit>#<path>
)


def _uri(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in REFERENCE_SCHEMES or not rest.strip("/"):
        raise ValueError(
            f"{value!r} is not a reference URI: scheme://location with a scheme of "
            f"{', '.join(REFERENCE_SCHEMES)}"
        )
    return value


class ReferenceIn(Strict):
    path: RelativePath
    uri: Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_uri)]
    sha256: Annotated[str, StringConstraints(pattern=SHA256)] | None = None
    size: int | None = Field(default=None, ge=0)


class CreateVersionIn(Strict):
    project: Name
    artifact: Name
    type: TypeName
    files: list[FileIn] = Field(max_length=MAX_FILES)
    references: list[ReferenceIn] = Field(default=[], max_length=MAX_FILES)
    metadata: dict[str, Any] = {}
    description: Text = ""
    run: str | None = None
    allow_duplicate: bool = False
    commit: bool = False

    @field_validator("metadata", mode="before")
    @classmethod
    def _no_metadata(cls, value: object) -> object:
        return {} if value is None else value  # a null JSON object means an empty one

    @field_validator("files", "references")
    @classmethod
    def _unique_paths(cls, entries: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for f in entries:
            if f.path in seen:
                raise ValueError(f"path {f.path!r} appears twice")
            seen.add(f.path)
        return entries

    @model_validator(mode="after")
    def _files_or_references(self) -> CreateVersionIn:
        both = {f.path for f in self.files} & {r.path for r in self.references}
        if both:
            raise ValueError(f"path {sorted(both)[0]!r} is both a file and a reference")
        return self


class StartRunIn(Strict):
    project: Name
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    config: dict[str, Any] = {}
    tags: list[Tag] = Field(default=[], max_length=100)

    @field_validator("config", mode="before")
    @classmethod
    def _no_config(cls, value: object) -> object:
        return {} if value is None else value  # a null JSON object means an empty one

    source_commit: Annotated[str, StringConstraints(max_length=256)] | None = None
    entry_point: Annotated[str, StringConstraints(max_length=1024)] | None = None
    host: Annotated[str, StringConstraints(max_length=256)] | None = None
    job_type: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    group: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    key: Name | None = None
    resume: Literal["NEVER", "ALLOW", "MUST"] = "NEVER"
    heartbeat_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None

    @field_validator("resume", mode="before")
    @classmethod
    def _resume_name(cls, value: object) -> object:
        return getattr(value, "value", value)  # the GraphQL enum's member


class UpdateRunIn(Strict):
    run: str
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class AlertRunIn(Strict):
    run: str
    title: Short
    text: Text


class MetricPointIn(Strict):
    step: int = Field(ge=0, le=2**62)
    key: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=PRINTABLE)]
    value: float  # NaN and infinities too: a diverged loss is data


class LogMetricsIn(Strict):
    run: str
    points: list[MetricPointIn] = Field(min_length=1, max_length=MAX_METRIC_POINTS)


class AliasIn(Strict):
    alias: AliasName

    @field_validator("alias")
    @classmethod
    def _not_an_index(cls, alias: str) -> str:
        if re.fullmatch(r"v[0-9]+", alias):
            raise ValueError(f"{alias!r} looks like a version index (v<N>)")
        return alias


class RegistryIn(Strict):
    name: Name
    description: Text = ""
    allowed_types: list[TypeName] = Field(default=[], max_length=50)
    stages: list[AliasName] = Field(
        default=["dev", "staging", "production"], min_length=1, max_length=20
    )
    protected_aliases: list[AliasName] = Field(default=["production"], max_length=20)


class CollectionIn(Strict):
    name: Name
    description: Text = ""
    tags: list[Tag] = Field(default=[], max_length=100)
    types: list[TypeName] = Field(default=[], max_length=50)


class NewCollectionIn(Strict):
    """The name of a collection linkVersion makes (createCollection)."""

    collection: Name


class CollectionUpdateIn(Strict):
    name: Name | None = None
    description: Text | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)


class ProjectIn(Strict):
    name: Name
    description: Text = ""


class UserIn(Strict):
    name: Annotated[str, StringConstraints(pattern=PRINCIPAL_NAME.pattern)]
    kind: Literal["user", "service"] = "user"
    org_admin: bool = False


class ApiKeyIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE_NO_DEL)]
    user: str | None = None
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("must name its time zone")
            if value <= datetime.now(UTC):
                raise ValueError("must be in the future")
        return value


class MemberIn(Strict):
    project: Name
    principal: Annotated[str, StringConstraints(pattern=PRINCIPAL_NAME.pattern)]
    member: bool = True


def fields_of(obj: Any) -> dict[str, Any]:
    """The fields of a strawberry input (a dataclass) as a dict, ready for `parse`."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def parse(model: type[M], data: dict[str, Any], prefix: str = "input") -> M:
    """Validate `data` against `model`; raise BadInput naming the first offending field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = prefix + "".join(
            f"[{part}]" if isinstance(part, int) else f".{_camel(str(part))}"
            for part in error["loc"]
        )
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch":
            rule = RULES.get(str(error.get("ctx", {}).get("pattern")))
            if rule is not None:
                shown = repr(error["input"])
                if len(shown) > 80:
                    shown = shown[:60] + "…"
                message = f"{shown} does not fit: {rule}"
        raise BadInput(field, message) from exc


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
