"""Errors raised by the graph layer. They know nothing of GraphQL; api/errors.py maps them.

GraphError
 +-- NotFound(kind, ref)       a referenced node does not exist
 +-- Conflict                  the change collides with the current state
 +-- Forbidden                 the actor may not do this
 +-- GraphUnavailable          Neo4j cannot be reached
"""

from __future__ import annotations


class GraphError(Exception):
    """Base of every error the graph layer raises on purpose."""


class NotFound(GraphError):
    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"{kind} {ref!r} not found")
        self.kind = kind
        self.ref = ref


class Invalid(GraphError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Conflict(GraphError):
    pass


class Forbidden(GraphError):
    pass


class GraphUnavailable(GraphError):
    pass
