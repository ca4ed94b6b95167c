"""The GraphQL schema: one Query merged from the per-domain query types, with its guards."""

from __future__ import annotations

from typing import Final

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext

from api.errors import ErrorCodes
from api.metrics import OperationMetrics
from api.schema.server import ServerQuery

MAX_QUERY_DEPTH: Final = 12
MAX_QUERY_TOKENS: Final = 5_000
MAX_ALIASES: Final = 30


@strawberry.type(description="Everything a client can read.")
class Query(ServerQuery):
    pass


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client errors are the client's business; api.errors logs the unexpected ones."""


schema = Schema(
    query=Query,
    extensions=[
        OperationMetrics,
        ErrorCodes,
        lambda: QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_QUERY_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    ],
)
