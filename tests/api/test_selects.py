"""`selects`: whether a query asks for a field below the current one. Resolvers use it to
fetch a linked version's artifact version in the same Neo4j query as the link; a miss would
cost every such query a second round trip."""

from __future__ import annotations

import pytest
import strawberry

from api.schema.relay import selects


@strawberry.type
class Version:
    name: str = "v"


@strawberry.type
class Link:
    version: Version = strawberry.field(default_factory=Version)
    index: int = 0

    @strawberry.field
    def links(self) -> list[Link]:
        return [Link()]


@strawberry.type
class Query:
    @strawberry.field
    def link(self, info: strawberry.Info) -> Link:
        info.context["asked"] = selects(info, "version")
        return Link()


SCHEMA = strawberry.Schema(query=Query)


@pytest.mark.parametrize(
    ("query", "asked"),
    [
        ("{ link { version { name } } }", True),
        ("{ link { index } }", False),
        ("{ link { links { version { name } } } }", True),  # one level down
        ("{ link { links { links { version { name } } } } }", True),  # three levels: the limit
        ("{ link { links { links { links { version { name } } } } } }", False),  # four
        ("{ link { ...L } } fragment L on Link { version { name } }", True),
        ("{ link { ...L } } fragment L on Link { index }", False),
        ("{ link { ... on Link { version { name } } } }", True),
    ],
)
def test_selects_finds_a_field_through_levels_and_fragments(query: str, asked: bool) -> None:
    context: dict[str, bool] = {}
    result = SCHEMA.execute_sync(query, context_value=context)
    assert result.errors is None
    assert context["asked"] is asked


def test_selects_answers_for_the_field_being_resolved_not_its_siblings() -> None:
    seen: list[bool] = []

    @strawberry.type
    class Recording:
        @strawberry.field
        def link(self, info: strawberry.Info) -> Link:
            seen.append(selects(info, "version"))
            return Link()

    schema = strawberry.Schema(query=Recording)
    result = schema.execute_sync("{ a: link { index } b: link { version { name } } }")
    assert result.errors is None
    assert seen == [False, True]
