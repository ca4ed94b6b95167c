"""OpenLineage in: `POST /api/v1/lineage`, where Marquez serves it and the OpenLineage clients
send by default (`Authorization: Bearer <key>`, as their `api_key` auth sends it).

One RunEvent per request, as JSON (gzip-encoded too, as the clients' `compression` sends it).
Events posted at once are written together (api.services.openlineage); each request answers
once its own event is committed.
A malformed event gets 400 naming what is wrong; an event of a spec version this server does
not know, or not a RunEvent, 422; nothing is written for either. The same event twice is
written once.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from api.routes.blobs import domain_error, error
from api.services.openlineage import Ingester
from graph.errors import GraphError, Invalid
from graph.openlineage import Dataset, RunEvent
from graph.records import Principal

MAX_BODY: Final = 8 * 1024 * 1024  # bytes of one event, decompressed
MAJORS: Final = frozenset({1, 2})  # spec versions this server reads
SCHEMA_URL: Final = re.compile(
    r"^https?://openlineage\.io/spec/(?P<major>\d+)-(?P<minor>\d+)-(?P<patch>\d+)/"
    r"OpenLineage\.json#/(?:\$defs|definitions)/(?P<kind>\w+)$"
)

Facets = dict[str, Any]
Text = Field(min_length=1, max_length=2048)


class _Dataset(BaseModel):
    model_config = ConfigDict(extra="allow")
    namespace: str = Text
    name: str = Text
    facets: Facets = Field(default_factory=dict)
    inputFacets: Facets = Field(default_factory=dict)  # noqa: N815 (the spec's names)
    outputFacets: Facets = Field(default_factory=dict)  # noqa: N815


class _Run(BaseModel):
    model_config = ConfigDict(extra="allow")
    runId: str = Field(  # noqa: N815
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )
    facets: Facets = Field(default_factory=dict)


class _Job(BaseModel):
    model_config = ConfigDict(extra="allow")
    namespace: str = Text
    name: str = Text
    facets: Facets = Field(default_factory=dict)


class _RunEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    eventType: Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"] | None = None  # noqa: N815
    eventTime: datetime  # noqa: N815
    run: _Run
    job: _Job
    inputs: list[_Dataset] = Field(default_factory=list, max_length=1000)
    outputs: list[_Dataset] = Field(default_factory=list, max_length=1000)
    producer: str = Text
    schemaURL: str = Text  # noqa: N815


def parse(body: bytes) -> RunEvent:
    """The RunEvent in `body`; Invalid (400) naming what is wrong, or Unsupported (422)."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid("body", f"is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise Invalid("body", "must be one OpenLineage event, a JSON object")
    schema = raw.get("schemaURL")
    if not isinstance(schema, str) or not schema:
        raise Invalid("schemaURL", "is required: the spec version the event follows")
    found = SCHEMA_URL.match(schema)
    if found is None:
        raise Invalid(
            "schemaURL",
            f"{schema!r} is not an OpenLineage spec URL "
            "(https://openlineage.io/spec/<version>/OpenLineage.json#/$defs/RunEvent)",
        )
    if int(found["major"]) not in MAJORS:
        raise Unsupported(
            f"spec version {found['major']}-{found['minor']}-{found['patch']} is not one this "
            f"server reads (major versions {', '.join(map(str, sorted(MAJORS)))})"
        )
    if found["kind"] != "RunEvent" and ("run" not in raw or found["kind"] != "BaseEvent"):
        raise Unsupported(
            f"{found['kind']} is not taken here: send RunEvents (a run of a job, with its "
            "inputs and outputs)"
        )
    try:
        event = _RunEvent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(where, first["msg"]) from exc
    when = event.eventTime if event.eventTime.tzinfo else event.eventTime.replace(tzinfo=UTC)
    return RunEvent(
        event_type=event.eventType or "OTHER",
        event_time=when.astimezone(UTC),
        run_id=event.run.runId.lower(),
        job_namespace=event.job.namespace,
        job_name=event.job.name,
        run_facets=event.run.facets,
        job_facets=event.job.facets,
        inputs=tuple(
            Dataset(d.namespace, d.name, {**d.facets, **d.inputFacets}) for d in event.inputs
        ),
        outputs=tuple(
            Dataset(d.namespace, d.name, {**d.facets, **d.outputFacets}) for d in event.outputs
        ),
        producer=event.producer,
        digest=hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest(),
    )


class Unsupported(Exception):
    """A well-formed event this server does not take (422)."""


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Invalid("body", f"is more than {MAX_BODY} bytes")
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "x-gzip"):
        try:
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = decompressor.decompress(body, MAX_BODY + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise Invalid("body", f"is not gzip: {exc}") from exc
        if len(body) > MAX_BODY:
            raise Invalid("body", f"is more than {MAX_BODY} bytes once decompressed")
    elif encoding not in ("", "identity"):
        raise Invalid("Content-Encoding", f"{encoding!r} is not gzip or identity")
    return body


async def post_lineage(request: Request) -> Response:
    principal: Principal = request.state.principal
    try:
        event = parse(await _body(request))
        ingester: Ingester = request.state.ingester
        done = await ingester.ingest(event, actor=principal.name)
    except ClientDisconnect:
        return error(400, "BAD_INPUT", "the event ended before its last byte")
    except Unsupported as exc:
        return error(422, "BAD_INPUT", str(exc))
    except GraphError as exc:
        return domain_error(exc)
    body = {
        "run": done.run_id,
        "event": done.event_id,
        "duplicate": done.duplicate,
        "consumed": list(done.consumed),
        "produced": list(done.produced),
    }
    return JSONResponse(body, status_code=200 if done.duplicate else 201)
