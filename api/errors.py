"""The one mapping from domain errors to the `extensions.code` values clients see.

A GraphQL parse or validation error is the client's: BAD_INPUT with graphql-core's message.
An error class in ERROR_CODES sends its message and code. Anything else is logged with its
traceback and reaches the client only as `Internal error` with code INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Final, TypeVar

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graph.errors import Conflict, Forbidden, GraphUnavailable, Invalid, NotFound
from storage.errors import StorageUnavailable

log = logging.getLogger("forebear.errors")
T = TypeVar("T")


class BadInput(Exception):
    """Input that GraphQL's types accept but Forebear's rules do not; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Unauthenticated(Exception):
    pass


ERROR_CODES: Final[Mapping[type[Exception], str]] = {
    BadInput: "BAD_INPUT",
    Invalid: "BAD_INPUT",
    NotFound: "NOT_FOUND",
    Conflict: "CONFLICT",
    Forbidden: "FORBIDDEN",
    Unauthenticated: "UNAUTHENTICATED",
    GraphUnavailable: "UNAVAILABLE",
    StorageUnavailable: "UNAVAILABLE",
}


# The HTTP status of each code, for the byte endpoints (api.routes), which answer in JSON
# outside GraphQL.
HTTP_STATUS: Final[Mapping[str, int]] = {
    "BAD_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "UNAVAILABLE": 503,
}


def error_code(error: Exception) -> str | None:
    for cls in type(error).__mro__:
        if cls in ERROR_CODES:
            return ERROR_CODES[cls]
    return None


def shape(error: GraphQLError) -> GraphQLError:
    """The error as the client must see it: a known code, or masked as INTERNAL."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        # graphql-core's own checks: parsing, validation, variable and scalar coercion.
        return _with(error, error.message, {"code": "BAD_INPUT"})
    code = error_code(original)
    if code is None:
        log.error("unhandled error in %s", error.path, exc_info=original)
        return _with(error, "Internal error", {"code": "INTERNAL"})
    extensions: dict[str, object] = {"code": code}
    for attribute in ("field", "ref", "policy", "node", "dependents"):
        if (value := getattr(original, attribute, None)) is not None:
            extensions[attribute] = value
    return _with(error, str(original), extensions)


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class ErrorCodes(SchemaExtension):
    """Rewrites every error of a result through `shape` once the operation is done."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shape(error) for error in result.errors]
            for error in result.errors:
                if (error.extensions or {}).get("code") in ("FORBIDDEN", "UNAUTHENTICATED"):
                    # Every refusal, wherever decided, in the structured log (not the audit log).
                    log_refusal(
                        getattr(self.execution_context.context, "actor", None),
                        str(error.path[0]) if error.path else "graphql",
                        error.message,
                    )


async def shaped_stream(
    items: AsyncIterator[T], actor: str | None, operation: str
) -> AsyncIterator[T]:
    """A subscription's items, its error shaped as `shape` shapes a query's (strawberry runs
    no operation hooks around a subscription's items): a known code and message, or INTERNAL
    with the details only in the log."""
    try:
        async for item in items:
            yield item
    except GraphQLError:
        raise
    except Exception as exc:
        code = error_code(exc)
        if code is None:
            log.error("unhandled error in the subscription %s", operation, exc_info=exc)
            raise GraphQLError("Internal error", extensions={"code": "INTERNAL"}) from exc
        if code in ("FORBIDDEN", "UNAUTHENTICATED"):
            log_refusal(actor, operation, str(exc))
        extensions: dict[str, object] = {"code": code}
        if (field := getattr(exc, "field", None)) is not None:
            extensions["field"] = field
        raise GraphQLError(str(exc), extensions=extensions) from exc


def log_refusal(actor: str | None, operation: str, reason: str) -> None:
    logging.getLogger("forebear.access").warning(
        "refused", extra={"actor": actor, "operation": operation, "reason": reason}
    )
