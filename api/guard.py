"""The HTTP gate in front of every route: API keys, and the size of a GraphQL request body.

Only /healthz, /readyz, /metrics (unless FOREBEAR_METRICS_PUBLIC=false), a browser's GET of
/graphql (sent on to the web app's GraphiQL) and the web app's own pages and files (api.web)
answer without a key. Everything else needs `Authorization: Bearer <key>`; the principal it
names is put in the request state for api.context and the byte routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access import Authenticator, refused
from api.settings import Settings
from api.web import is_api_path
from graph.errors import GraphUnavailable
from graph.repository.access import AccessRepository

PUBLIC: Final = frozenset({"/healthz", "/readyz"})


def _error(path: str, status: int, code: str, message: str) -> JSONResponse:
    """An error in the body shape of the endpoint asked: GraphQL's, or the byte routes'."""
    headers = {"www-authenticate": "Bearer"} if code == "UNAUTHENTICATED" else None
    if path == "/graphql":
        body: object = {"errors": [{"message": message, "extensions": {"code": code}}]}
    else:
        body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings, authenticator: Authenticator) -> None:
        self.app = app
        self.settings = settings
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self._public(scope, headers):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            refused(None, f"{scope['method']} {path}", "no API key")
            await _error(
                path, 401, "UNAUTHENTICATED", "an API key is required: Authorization: Bearer <key>"
            )(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        repo = AccessRepository(state["driver"], self.settings.neo4j_database)
        try:
            principal = await self.authenticator.principal(repo, key.strip())
        except GraphUnavailable as exc:
            await _error(path, 503, "UNAVAILABLE", str(exc))(scope, receive, send)
            return
        if principal is None:
            refused(None, f"{scope['method']} {path}", "unknown, expired or revoked key")
            await _error(
                path, 401, "UNAUTHENTICATED", "the API key is unknown, expired or revoked"
            )(scope, receive, send)
            return
        state["principal"] = principal
        if path == "/graphql" and scope["method"] == "POST":
            body = await self._bounded_body(headers, receive)
            if body is None:
                await _error(
                    path,
                    413,
                    "BAD_INPUT",
                    f"the request body is larger than {self.settings.max_body_size} bytes",
                )(scope, receive, send)
                return
            read = read_graphql_body(headers, body)
            if isinstance(read, str):
                await _error(path, 400, "BAD_INPUT", read)(scope, receive, send)
                return
            # parsed once, here: api.idempotency and api.kept read it from the state
            state["graphql_body"] = read
            receive = replay(body, receive)
        if path == "/graphql":
            send = json_errors(send)
        await self.app(scope, receive, send)

    def _public(self, scope: Scope, headers: Headers) -> bool:
        path: str = scope["path"]
        if path in PUBLIC or (path == "/metrics" and self.settings.metrics_public):
            return True
        # Pages (a browser cannot send a key for them); every query they make needs one.
        if scope["method"] in ("GET", "HEAD") and not is_api_path(path):
            return True
        return (
            path == "/graphql"
            and scope["method"] == "GET"
            and "text/html" in headers.get("accept", "")
            and not scope.get("query_string")
        )

    async def _bounded_body(self, headers: Headers, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is known to pass the limit."""
        limit = self.settings.max_body_size
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class GraphQLBody:
    """A POST /graphql body the guard checked: its JSON object and its size in bytes."""

    payload: dict[str, Any]
    size: int


def read_graphql_body(headers: Headers, body: bytes) -> GraphQLBody | str:
    """A POST /graphql body, parsed; or what is wrong with it, said for its sender. Checked
    here, before strawberry, whose answers to these are plain text or a 500."""
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        return (
            f"a POST to /graphql needs content-type: application/json (got {media or 'none'}); "
            'send {"query": "...", "variables": {...}}'
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not valid UTF-8 (byte {exc.start} is {body[exc.start]:#04x})"
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            return f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels"
        return f"the body is not JSON: {exc}"
    if not isinstance(payload, dict):
        return 'the body must be one JSON object: {"query": "...", "variables": {...}}'
    for name, kinds, what in _BODY_FIELDS:
        if not isinstance(payload.get(name), kinds):
            return f"{name!r} must be {what}"
    if _deeper_than(payload, MAX_JSON_DEPTH):
        return f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels"
    return GraphQLBody(payload, len(body))


# A GraphQL request's members: a list value nested past this is refused whole (the query's own
# depth limit is 12; JSON values such as a run's config rarely pass ten).
MAX_JSON_DEPTH: Final = 64
_BODY_FIELDS: Final = (
    ("query", str, "the GraphQL document, a string"),
    ("variables", dict | None, "an object or null"),
    ("operationName", str | None, "a string or null"),
    ("extensions", dict | None, "an object or null"),
)


def _deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects nest in `value` past `limit` levels (without recursing)."""
    stack: list[tuple[dict[str, object] | list[object], int]] = []
    if isinstance(value, dict | list):
        stack.append((value, 1))
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def json_errors(send: Send) -> Send:
    """`send` for /graphql: a plain-text error (strawberry's 400s for what it cannot parse, a
    405) goes out in GraphQL's JSON error shape instead, with the same status."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def sender(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            media = Headers(raw=message.get("headers", [])).get("content-type", "")
            if message["status"] >= 400 and media.startswith("text/plain"):
                start = message
                return
        elif start is not None and message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            text = b"".join(chunks).decode("utf-8", "replace")
            status = start["status"]
            code = "INTERNAL" if status >= 500 else "BAD_INPUT"
            body = orjson.dumps({"errors": [{"message": text, "extensions": {"code": code}}]})
            await send_json(send, status, body)
            return
        await send(message)

    return sender


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """One whole JSON response, encoded already."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def replay(body: bytes, then: Receive) -> Receive:
    """The body read already, as one message; after it, the connection's own messages (so a
    real disconnect is still noticed, and no false one is made up)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
