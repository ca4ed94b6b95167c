"""schema.graphql is the checked-in contract; it must be exactly what the code serves."""

from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema

from api.schema import schema

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    assert SDL.read_text() == print_schema(schema) + "\n", (
        "schema.graphql differs from the code: run `make schema` and commit the result"
    )
