"""Custom scalars."""

from __future__ import annotations

import math
from typing import Final, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from graph.records import json_number

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

# A diverged loss is data: metric values may be NaN or infinite, which JSON numbers cannot be.
NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _parse_metric(value: object) -> float:
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"MetricValue cannot represent {value!r}: give a number, or "
            '"NaN", "Infinity" or "-Infinity"'
        )
    return float(value)


MetricValue = NewType("MetricValue", float)

# Registered on the schema through StrawberryConfig(scalar_map=SCALARS).
SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        serialize=int,
        parse_value=_parse_long,
        description="A 64-bit integer, such as a size in bytes; accepted as a number or a "
        "string of digits (JSON numbers past 2^53 lose precision in JavaScript).",
    ),
    MetricValue: strawberry.scalar(
        name="MetricValue",
        serialize=json_number,
        parse_value=_parse_metric,
        description='A metric value: a number, or "NaN", "Infinity" or "-Infinity" (a '
        "diverged loss is data; JSON numbers cannot be these).",
    ),
}
