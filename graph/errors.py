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


# who can let a caller into a project, said by every refusal for want of membership
JOIN_PROJECT = "one of its members or an org admin can add you (setProjectMember)"


def not_a_member(actor: str, project: str) -> Forbidden:
    """Writing in a project the actor is no member of: who can change that."""
    return Forbidden(f"{actor!r} is not a member of project {project!r}: {JOIN_PROJECT}")


class GraphUnavailable(GraphError):
    pass
