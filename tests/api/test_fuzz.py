"""The GraphQL endpoint fuzzed from its own schema with schemathesis: every query and mutation
with generated arguments, sent to a real server process as the org admin, never answers 500
nor an INTERNAL error. `make fuzz` runs it with many more examples (FUZZ_EXAMPLES)."""

from __future__ import annotations

import collections
import os
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from schemathesis import Case
from schemathesis.core.result import Ok

from tests.helpers import ADMIN_KEY, bearer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CODES = {"BAD_INPUT", "NOT_FOUND", "CONFLICT", "FORBIDDEN"}

# Forebear's own scalars, so that generated arguments reach the resolvers.
schemathesis.graphql.scalar(
    "DateTime", st.datetimes().map(lambda d: nodes.String(d.isoformat() + "Z"))
)
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        st.text(max_size=20).map(nodes.String),
        st.integers(-(2**40), 2**40).map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    ),
)
schemathesis.graphql.scalar(
    "MetricValue",
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(nodes.String),
    ),
)
schemathesis.graphql.scalar("Long", st.integers(-(2**63), 2**63 - 1).map(nodes.Int))


def test_generated_operations_never_answer_500_or_internal(server: tuple[str, int]) -> None:
    base, _ = server
    schema = schemathesis.graphql.from_url(f"{base}/graphql", headers=bearer(ADMIN_KEY))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the schema loads whole
        operations.append(result.ok())
    assert len(operations) > 50  # every root field, queries and mutations
    outcomes: collections.Counter[str] = collections.Counter()
    with httpx.Client(headers=bearer(ADMIN_KEY), timeout=30) as http:

        @given(case=st.one_of([op.as_strategy() for op in operations]))
        @settings(
            max_examples=EXAMPLES * len(operations),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_sanely(case: Case[Any]) -> None:
            response = http.post(f"{base}/graphql", json={"query": case.body})
            assert response.status_code < 500, (case.body, response.text)
            body = response.json()
            codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
            assert codes <= CODES, (case.body, body)
            outcomes.update(codes or {"ok"})

        answers_sanely()
    # Generated names mostly break Forebear's naming rules (BAD_INPUT), but the fuzz is only
    # worth its time if a good share of the operations get past them into the resolvers.
    past_input = sum(n for code, n in outcomes.items() if code != "BAD_INPUT")
    assert past_input > EXAMPLES * len(operations) // 10, outcomes
