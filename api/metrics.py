"""Prometheus metrics: one registry per app, GraphQL operations counted and timed by name."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension

from graph.lineage_index import LineageIndex
from graph.read_cache import ReadCache

if TYPE_CHECKING:
    from api.kept import KeptAnswers

# Operation names are chosen by clients: only sane names become label values.
_OPERATION_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations = Counter(
            "forebear_graphql_operations",
            "GraphQL operations served, by name and outcome",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forebear_graphql_operation_duration_seconds",
            "GraphQL operation latency",
            ["operation", "type"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    def watch_lineage(self, index: LineageIndex) -> None:
        """Export the lineage index's size and reloads, read at scrape time."""
        Gauge(
            "forebear_lineage_index_nodes",
            "Runs and versions held in this process's lineage index",
            registry=self.registry,
        ).set_function(lambda: len(index.nodes))
        Gauge(
            "forebear_lineage_index_reloads",
            "Full reloads of the lineage index (first use, bulk changes behind the API)",
            registry=self.registry,
        ).set_function(lambda: index.reloads)
        self._counts(
            "forebear_lineage_answers",
            "Lineage answers made by walking, and served again from those kept (a kept answer "
            "lasts until a change touches one of its nodes)",
            "source",
            walked=lambda: index.walked,
            kept=lambda: index.reused,
        )

    def watch_reads(self, cache: ReadCache) -> None:
        """Export how often kept registry reads were current (graph.read_cache)."""
        self._counts(
            "forebear_kept_reads",
            "Registry reads answered from the process's kept copy (the audit head had not "
            "moved) and read afresh",
            "outcome",
            kept=lambda: cache.hits,
            read=lambda: cache.misses,
        )

    def watch_answers(self, answers: KeptAnswers) -> None:
        """Export how often a whole GraphQL answer was served kept (api.kept)."""
        self._counts(
            "forebear_kept_answers",
            "Keepable GraphQL reads answered with the bytes kept from last time (the audit head "
            "had not moved) and executed",
            "outcome",
            kept=lambda: answers.hits,
            executed=lambda: answers.misses,
        )

    def _counts(self, name: str, doc: str, label: str, **read: Callable[[], float]) -> None:
        """A gauge with one series per label value, each read at scrape time."""
        gauge = Gauge(name, doc, [label], registry=self.registry)
        for value, reader in read.items():
            gauge.labels(value).set_function(reader)

    def observe(self, operation: str | None, kind: str, seconds: float, ok: bool) -> None:
        name = operation if operation and _OPERATION_NAME.match(operation) else "anonymous"
        self.operations.labels(name, kind, "ok" if ok else "error").inc()
        self.latency.labels(name, kind).observe(seconds)


class OperationMetrics(SchemaExtension):
    """Times every operation and records it in the app's Metrics (reached through the context)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        metrics: Metrics = ctx.context.metrics
        try:
            kind = ctx.operation_type.value
        except RuntimeError:  # the document did not parse, or names no operation
            kind = "unknown"
        ok = ctx.result is not None and not ctx.result.errors
        metrics.observe(ctx.operation_name, kind, time.perf_counter() - started, ok)
