"""Idempotency keys: a retried mutation whose answer was lost returns the first answer.

A client that times out cannot know whether its mutation happened. Sent with an
`Idempotency-Key: <key>` header (as payment APIs take it), a mutation runs at most once per
caller and key:

- the first request claims the key (graph.repository.idempotency) and runs; the event its
  mutation writes carries the claim, and events are unique by claim, so no retry, however
  raced, can commit the mutation a second time;
- when it committed, its answer is kept with the key and every retry with the same request
  (query, operation name and variables) gets that answer again, with `Idempotent-Replayed:
  true`, writing nothing; when it committed nothing (refused, failed), the key is given back
  and a retry runs afresh;
- the same key with a different request is refused (409 CONFLICT); a retry while the first
  still runs waits for its answer a few seconds, then is told to retry later (409);
- keys are kept FOREBEAR_IDEMPOTENCY_TTL seconds (a day by default), then forgotten.

One key covers one mutation field: a document with several mutation fields, sent with a key,
is refused. Queries are left alone: they write nothing.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta
from typing import Any, Final

import anyio
import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.guard import GraphQLBody, send_json
from api.settings import Settings
from graph.errors import GraphUnavailable
from graph.records import Principal
from graph.repository.idempotency import CLAIM, Claim, IdempotencyRepository

HEADER: Final = "idempotency-key"
KEY: Final = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as Stripe's keys
# A claim whose request died before committing is taken over after this long.
LEASE: Final = timedelta(seconds=30)
# How long a retry waits for the first request's answer before it is told to retry later.
WAIT_SECONDS: Final = 5.0


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


async def _respond(send: Send, status: int, body: bytes, replayed: bool = False) -> None:
    await send_json(send, status, body, [(b"idempotent-replayed", b"true")] if replayed else None)


def mutation_fields(payload: dict[str, Any]) -> int | None:
    """How many root fields the request's mutation selects; None when it is no mutation (or
    unreadable: strawberry then says what is wrong)."""
    try:
        document = parse(payload["query"])
    except GraphQLError:
        return None
    name = payload.get("operationName")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    if len(chosen) != 1 or chosen[0].operation is not OperationType.MUTATION:
        return None
    return len(chosen[0].selection_set.selections)


class Idempotent:
    """ASGI wrapper of the GraphQL endpoint (behind api.guard, which bounded, checked and
    parsed the body) that applies Idempotency-Key headers to mutations."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.ttl = timedelta(seconds=settings.idempotency_ttl)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = Headers(scope=scope).get(HEADER)
        state = scope.get("state", {})
        request: GraphQLBody | None = state.get("graphql_body")  # POST bodies api.guard read
        if key is None or request is None or "principal" not in state:
            await self.app(scope, receive, send)
            return
        if not KEY.match(key):
            await _respond(
                send,
                400,
                _error("BAD_INPUT", f"{HEADER}: 1 to 255 visible ASCII characters, such as a UUID"),
            )
            return
        payload = request.payload
        fields = mutation_fields(payload)
        if fields is None:
            await self.app(scope, receive, send)
            return
        if fields != 1:
            await _respond(
                send,
                400,
                _error(
                    "BAD_INPUT",
                    f"{HEADER} covers one mutation "
                    f"field, this request has {fields}: send each "
                    "in a request of its own",
                ),
            )
            return
        principal: Principal = state["principal"]
        repo = IdempotencyRepository(state["driver"], state["settings"].neo4j_database)
        fingerprint = hashlib.sha256(
            orjson.dumps(
                [payload["query"], payload.get("operationName"), payload.get("variables")],
                option=orjson.OPT_SORT_KEYS,
            )
        ).hexdigest()
        try:
            await self._keyed(scope, receive, send, repo, f"{principal.id}:{key}", fingerprint)
        except GraphUnavailable as exc:
            await _respond(send, 503, _error("UNAVAILABLE", str(exc)))

    async def _keyed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        repo: IdempotencyRepository,
        key_id: str,
        fingerprint: str,
    ) -> None:
        owner = uuid.uuid4().hex
        deadline = anyio.current_time() + WAIT_SECONDS
        while True:
            claimed = await repo.claim(key_id, fingerprint, owner=owner, ttl=self.ttl, lease=LEASE)
            if claimed.outcome == "replay":
                await _respond(send, claimed.status, claimed.body, replayed=True)
                return
            if claimed.outcome == "mismatch":
                message = (
                    f"this {HEADER} was used for a different request: use a new key "
                    "for a new request"
                )
                await _respond(send, 409, _error("CONFLICT", message))
                return
            if claimed.outcome == "run":
                if await self._run(scope, receive, send, repo, key_id, owner, claimed.claim):
                    return
            elif anyio.current_time() >= deadline:
                message = (
                    f"the request with this {HEADER} is still running: retry shortly"
                    if claimed.outcome == "busy"
                    else f"the request with this {HEADER} was carried out, but its answer was "
                    "lost when the server stopped: read the result with a query"
                )
                await _respond(send, 409, _error("CONFLICT", message))
                return
            await anyio.sleep(0.05)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        repo: IdempotencyRepository,
        key_id: str,
        owner: str,
        claim_id: str,
    ) -> bool:
        """Run the mutation under the claim and send its answer; False when another request
        committed it meanwhile (a lease taken over): the caller then replays that one."""
        claim = Claim(claim_id)
        answer = _Answer()
        token = CLAIM.set(claim)
        try:
            await self.app(scope, receive, answer.send)
        finally:
            CLAIM.reset(token)
        committed = await repo.committed(claim_id)
        if committed and claim.events == 0:
            return False  # not ours: wait for the answer of the one that committed
        if committed:
            await repo.answer(key_id, owner, answer.status, answer.body)
        else:
            await repo.release(key_id, owner)
        await answer.forward(send)
        return True


class _Answer:
    """A whole response, held until it is decided whether it is kept (mutation answers are
    small)."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.status = 0
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start, self.status = message, message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def forward(self, send: Send) -> None:
        assert self.start is not None
        await send(self.start)
        await send({"type": "http.response.body", "body": self.body})
