"""The GraphQL schema: Query and Mutation merged from the per-domain types, with its guards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

import cachetools
import strawberry
from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    ValidationContext,
    ValidationRule,
    parse,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from api.access import guard_root_fields
from api.context import Info
from api.errors import ErrorCodes
from api.metrics import OperationMetrics
from api.schema.artifacts import Artifact, ArtifactMutation, ArtifactQuery, ArtifactVersion
from api.schema.automations import AutomationMutation, AutomationQuery
from api.schema.compare import CompareQuery
from api.schema.events import EventQuery
from api.schema.identity import ApiKey, IdentityMutation, IdentityQuery, User
from api.schema.imports import ImportMutation, ImportQuery
from api.schema.lineage import LineageQuery
from api.schema.live import Subscription
from api.schema.policies import (
    DependentsQuery,
    PolicyMutation,
    PolicyQuery,
    PromotionRequestMutation,
    PromotionRequestQuery,
)
from api.schema.registries import (
    Collection,
    LinkedVersion,
    Registry,
    RegistryMutation,
    RegistryQuery,
    load_linked,
)
from api.schema.relay import Node
from api.schema.runs import Project, Run, RunMutation, RunQuery
from api.schema.scalars import SCALARS
from api.schema.server import ServerQuery
from graph.errors import NotFound
from graph.ids import kind_of

MAX_QUERY_DEPTH: Final = 12
MAX_QUERY_TOKENS: Final = 5_000
MAX_ALIASES: Final = 30
# Distinct query texts whose parse and validation are kept: clients send the same few texts
# with different variables, and validation is most of a small request's CPU.
QUERY_CACHE_SIZE: Final = 512  # validations strawberry keeps (its ValidationCache)
PARSE_CACHE_BYTES: Final = 16 << 20  # parsed query texts kept, by their estimated bytes

# Lineage answers are the expensive ones (up to FOREBEAR_LINEAGE_MAX_NODES nodes each): an
# operation may ask for this many of them.
MAX_LINEAGE_CALLS: Final = 3
LINEAGE_FIELDS: Final = frozenset({"lineage", "impact", "derivation", "provenance", "lineageDiff"})


class LineageCost(ValidationRule):
    """Refuses an operation with more than MAX_LINEAGE_CALLS lineage fields (aliases count)."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.calls = 0

    def enter_field(self, node: FieldNode, *_: object) -> None:
        if node.name.value in LINEAGE_FIELDS:
            self.calls += 1
            if self.calls == MAX_LINEAGE_CALLS + 1:
                self.report_error(
                    GraphQLError(
                        f"an operation may ask for at most {MAX_LINEAGE_CALLS} lineage "
                        "answers (lineage, impact, derivation, provenance, lineageDiff)",
                        node,
                    )
                )


# The limit rules are classes made once: the validation cache keys on them, so rules made
# afresh per request would never hit it.
LIMIT_RULES: Final = [
    *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    LineageCost,
]


def _document_bytes(document: DocumentNode) -> int:
    """What a parsed document costs, estimated from its text: about 75 bytes of nodes and
    tokens per character of GraphQL (tracemalloc, parsing the lineage query of tests/api)."""
    text = document.loc.source.body if document.loc is not None else ""
    return 1_024 + 75 * len(text)


_parse = cachetools.cached(LRUCache(maxsize=PARSE_CACHE_BYTES, getsizeof=_document_bytes))(parse)


class ParseCache(SchemaExtension):
    """Reuse the parsed document of a query text seen before (the same object each time, which
    is what lets ValidationCache hit). A text that does not parse is left to strawberry, so
    its syntax error is reported like every other error."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parse(context.query, **context.parse_options)
        yield


@strawberry.type(description="Everything a client can read.")
class Query(
    ServerQuery,
    IdentityQuery,
    RunQuery,
    ArtifactQuery,
    RegistryQuery,
    EventQuery,
    CompareQuery,
    LineageQuery,
    AutomationQuery,
    PolicyQuery,
    PromotionRequestQuery,
    DependentsQuery,
    ImportQuery,
):
    @strawberry.field(description="Any object by its global id; null when there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        loaders, key = info.context.loaders, str(id)
        if not await info.context.access.can_read(key):
            return None
        match kind_of(key):
            case "Run":
                run = await loaders.run_by_id.load(key)
                return Run.from_record(run) if run else None
            case "ArtifactVersion":
                version = await loaders.version_by_id.load(key)
                return ArtifactVersion.from_record(version) if version else None
            case "Artifact":
                artifact = await loaders.artifact_by_id.load(key)
                return Artifact.from_record(artifact) if artifact else None
            case "Registry":
                registry = await info.context.repos.registries.find_registry(key)
                return Registry.from_record(registry) if registry else None
            case "Collection":
                collection = await info.context.repos.registries.find_collection(key, key)
                return Collection.from_record(collection) if collection else None
            case "LinkedVersion":
                try:
                    return await load_linked(info, key)
                except NotFound:
                    return None
            case "Project":
                project = await info.context.repos.runs.find_project(id=key)
                return Project.from_record(project) if project else None
        return None


@strawberry.type(
    description="Everything a client can change; each mutation is one transaction "
    "and writes one audit event."
)
class Mutation(
    IdentityMutation,
    RunMutation,
    ArtifactMutation,
    RegistryMutation,
    AutomationMutation,
    PolicyMutation,
    PromotionRequestMutation,
    ImportMutation,
):
    pass


guard_root_fields(Query, Mutation)


class SubscriptionsOverWebSocket(SchemaExtension):
    """A subscription sent as an HTTP request is answered with where to send it (strawberry
    would run it as a query and fail); over the WebSocket it runs."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if (
            context.operation_type == OperationType.SUBSCRIPTION
            and getattr(context.context, "connection_params", None) is None
        ):
            context.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "subscriptions are served over WebSocket at /graphql "
                        "(graphql-transport-ws, the key in connection_init: "
                        '{"Authorization": "Bearer <key>"})'
                    )
                ],
            )
        yield


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client errors are the client's business; api.errors logs the unexpected ones."""


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[
        Project,
        Run,
        Artifact,
        ArtifactVersion,
        Registry,
        Collection,
        LinkedVersion,
        User,
        ApiKey,
    ],
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        OperationMetrics,
        ErrorCodes,
        SubscriptionsOverWebSocket,
        lambda: MaxTokensLimiter(max_token_count=MAX_QUERY_TOKENS),
        lambda: AddValidationRules(LIMIT_RULES),
        ParseCache,
        lambda: ValidationCache(maxsize=QUERY_CACHE_SIZE),
    ],
)
