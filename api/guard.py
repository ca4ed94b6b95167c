"""The HTTP gate in front of every route: API keys, and the size of a GraphQL request body.

Only /healthz, /readyz, /metrics (unless FOREBEAR_METRICS_PUBLIC=false) and the GraphiQL page
answer without a key. Everything else needs `Authorization: Bearer <key>`; the principal it
names is put in the request state for api.context and the byte routes.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access import Authenticator, refused
from api.settings import Settings
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
            receive = replay(body, receive)
        await self.app(scope, receive, send)

    def _public(self, scope: Scope, headers: Headers) -> bool:
        path: str = scope["path"]
        if path in PUBLIC or (path == "/metrics" and self.settings.metrics_public):
            return True
        # The GraphiQL page itself (a browser cannot send a key for it); its queries need one.
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
