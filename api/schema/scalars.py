"""Custom scalars."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

LIMIT = 2**63


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"Long cannot represent {value!r}: give an integer")
    try:
        number = int(value)
    except ValueError as exc:
        raise ValueError(f"Long cannot represent {value!r}: give an integer") from exc
    if not -LIMIT <= number < LIMIT:
        raise ValueError(f"Long cannot represent {value!r}: outside the 64-bit range")
    return number


Long = NewType("Long", int)

# Registered on the schema through StrawberryConfig(scalar_map=SCALARS).
SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        serialize=int,
        parse_value=_parse_long,
        description="A 64-bit integer, such as a size in bytes; accepted as a number or a "
        "string of digits (JSON numbers past 2^53 lose precision in JavaScript).",
    )
}
