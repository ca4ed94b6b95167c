"""Whole GraphQL answers kept per process for as long as nothing is committed.

Every change writes an audit event in its own transaction, and the number of events (the
stamp, graph.events.STAMP_CLAUSE; called the head here) moves with each. An answer about
registry state given under one stamp stays right until the stamp moves. So a repeated read (a
serving job resolving `model/churn:production`, a dashboard reloading a collection) is
answered with the bytes given last time, after one small query says the stamp has not moved:
the query is not parsed, validated or executed again.

- **What may be kept** is read from the schema: the types and fields marked `@audited`
  (api.schema.audited), whose every change writes an event: registries, collections, links,
  aliases, stages, semvers, the audit log and artifact versions' own fields. A query
  selecting anything else (runs and their metrics, file URLs that expire, lineage with its own
  index, API keys' last use) runs every time, as does any mutation.
- **Per whom**: an answer is kept per principal and its memberships, query text, operation name,
  variables and Accept header, and only when it carries no errors.
- **Filed under which head**: one read before the answer's execution began. A check that finds
  the head moved gives that head. Otherwise the process's last known head serves, so a read of
  something not kept yet costs no extra round trip. A mutation served here forgets the known
  head, and the next keepable read asks for it first.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

import orjson
from cachetools import LRUCache
from graphql import (
    BREAK,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    parse,
    visit,
)
from neo4j.exceptions import Neo4jError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access import decision_key
from api.guard import GraphQLBody, send_json
from api.schema.audited import Audited
from graph.errors import GraphUnavailable
from graph.repository.events import EventRepository

MAX_ANSWER_BYTES: Final = 1 << 20
ENTRY_OVERHEAD: Final = 512  # bytes an entry costs besides its body and key (tuples, strings)
MAX_BYTES: Final = 64 << 20  # all kept answers of a process together
QUERY_TEXTS: Final = 512
# A request body larger than this is never kept (nor is its kind), so the keys stay small.
MAX_REQUEST_BYTES: Final = 16 << 10

_ALL: Final = frozenset({"*"})


def _audited(definition: object) -> bool:
    return any(isinstance(d, Audited) for d in getattr(definition, "directives", None) or ())


def kept_fields(schema: GraphQLSchema) -> dict[str, frozenset[str]]:
    """Type -> the fields an answer may select and still be kept ("*": every field), read from
    the schema's `@audited` directives (api.schema.audited): a type that carries it whole, the
    fields that carry it one by one, and the pages (connections and edges) of a type carried
    whole."""
    kept: dict[str, frozenset[str]] = {}
    for name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        definition = (graphql_type.extensions or {}).get("strawberry-definition")
        items = getattr(definition, "type_var_map", None) or {}
        page_of = [getattr(t, "__strawberry_definition__", None) for t in items.values()]
        if _audited(definition) or (page_of and all(_audited(d) for d in page_of)):
            kept[name] = _ALL
            continue
        fields = frozenset(
            field_name
            for field_name, field_ in graphql_type.fields.items()
            if _audited((field_.extensions or {}).get("strawberry-definition"))
        )
        if fields:
            kept[name] = fields
    return kept


class Kind(Enum):
    KEEP = "a query selecting only kept_fields"
    RUN = "a query that runs every time"
    WRITE = "a document with a mutation in it"


KEEP, RUN, WRITE = Kind.KEEP, Kind.RUN, Kind.WRITE


def kind_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    kept: Mapping[str, frozenset[str]] | None = None,
) -> Kind:
    """Whether `document` writes, may be kept (it selects only fields of `kept`, by default
    kept_fields(schema)), or runs every time."""
    allowed_by_type = kept_fields(schema) if kept is None else kept
    if any(
        isinstance(node, OperationDefinitionNode) and node.operation != OperationType.QUERY
        for node in document.definitions
    ):
        return WRITE
    type_info = TypeInfo(schema)
    verdict = KEEP

    class Check(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            nonlocal verdict
            parent = type_info.get_parent_type()
            name = node.name.value
            if name == "__typename":
                return None
            allowed = allowed_by_type.get(parent.name) if parent is not None else None
            if allowed is None or not (allowed is _ALL or name in allowed):
                verdict = RUN
                return BREAK
            return None

    visit(document, TypeInfoVisitor(type_info, Check()))
    return verdict


@dataclass(slots=True)
class KeptAnswers:
    """The answers one process keeps, what kind each query text is, and the last head seen."""

    schema: GraphQLSchema
    max_bytes: int = MAX_BYTES
    # Answers by key, least recently used out first once their bytes pass max_bytes (each
    # counted with its key: the query text and variables are kept too).
    entries: LRUCache[Hashable, tuple[str, bytes, int]] = field(init=False)
    kinds: LRUCache[str, Kind] = field(default_factory=lambda: LRUCache(maxsize=QUERY_TEXTS))
    kept_fields: Mapping[str, frozenset[str]] = field(init=False)
    head: str | None = None  # the last stamp read; None after a mutation served here
    hits: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        self.entries = LRUCache(maxsize=self.max_bytes, getsizeof=lambda entry: entry[2])
        self.kept_fields = kept_fields(self.schema)

    def kind(self, query: str) -> Kind:
        kind = self.kinds.get(query)
        if kind is None:
            try:
                kind = kind_of(self.schema, parse(query), self.kept_fields)
            except GraphQLError:  # strawberry answers the syntax error
                kind = RUN
            self.kinds[query] = kind
        return kind

    def kept(self, key: Hashable) -> tuple[str, bytes] | None:
        found = self.entries.get(key)
        return (found[0], found[1]) if found is not None else None

    def keep(self, key: Hashable, head: str, body: bytes, key_bytes: int) -> None:
        size = len(body) + key_bytes + ENTRY_OVERHEAD
        if len(body) > MAX_ANSWER_BYTES or size > self.max_bytes:
            return
        self.entries[key] = (head, body, size)


class KeptGraphQL:
    """ASGI wrapper around the GraphQL app: answers repeated keepable reads from KeptAnswers.

    It runs behind api.guard, which has authenticated the caller and bounded the body.
    """

    def __init__(self, app: ASGIApp, answers: KeptAnswers) -> None:
        self.app = app
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        state = scope.get("state", {})
        request: GraphQLBody | None = state.get("graphql_body")  # POST bodies api.guard read
        if request is None or "principal" not in state:
            await self.app(scope, receive, send)
            return
        payload = _payload(request.payload) if request.size <= MAX_REQUEST_BYTES else None
        kind = self.answers.kind(payload["query"]) if payload is not None else RUN
        if payload is None or kind is not KEEP:
            try:
                await self.app(scope, receive, send)
            finally:
                if kind is WRITE:  # it may have written: the known head is old now
                    self.answers.head = None
            return
        key = (
            decision_key(state["principal"]),
            headers.get("accept", ""),
            payload["query"],
            payload.get("operationName"),
            orjson.dumps(payload.get("variables"), option=orjson.OPT_SORT_KEYS),
        )
        answers = self.answers
        head = answers.head
        kept = answers.kept(key)
        if head is None or (kept is not None and kept[0] == head):
            try:
                events = EventRepository(state["driver"], state["settings"].neo4j_database)
                head = await events.head()
            except (GraphUnavailable, Neo4jError):  # executing says what is wrong with Neo4j
                head = None
            else:
                answers.head = head
                if kept is not None and kept[0] == head:
                    answers.hits += 1
                    await send_json(send, 200, kept[1])
                    return
        answers.misses += 1
        key_bytes = len(payload["query"]) + len(key[4]) + len(key[1])
        await self.app(scope, receive, self._keeping(send, key, head, key_bytes))

    def _keeping(self, send: Send, key: Hashable, head: str | None, key_bytes: int) -> Send:
        """`send`, keeping the answer under `head` when it is a whole 200 without errors."""
        status = 0
        chunks: list[bytes] = []

        async def sender(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200 and head is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answer = b"".join(chunks)
                    if b'"errors":' not in answer:  # an escaped one inside a value is \"errors\"
                        self.answers.keep(key, head, answer, key_bytes)
            await send(message)

        return sender


def _payload(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The request as this wrapper keeps it (api.guard checked the members' types); None
    for one with members beyond query, operationName and variables."""
    if payload.keys() - {"query", "operationName", "variables"}:
        return None
    return payload
