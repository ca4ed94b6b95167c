"""Prometheus metrics: one registry per app.

- GraphQL operations are counted and timed by their root fields (`fields="linkVersion"`,
  `fields="collection,registry"`), not by the name a client chose: the label takes only the
  schema's own field names, at most MAX_FIELDS of them, so its values are bounded.
- Uploads and downloads are counted by outcome, with the bytes they moved.
- What other parts of the process count (kept answers, lineage walks) is read at scrape time
  and exported as counters; sizes as gauges. The process collector adds CPU, memory and open
  files, as every Python service exports them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from strawberry.extensions import SchemaExtension

from graph.lineage_index import LineageIndex
from graph.read_cache import ReadCache

if TYPE_CHECKING:
    from api.kept import KeptAnswers

# An operation selecting more root fields than this is labelled SEVERAL.
MAX_FIELDS: Final = 3
SEVERAL: Final = "(several)"
UNKNOWN: Final = "(unknown)"  # a document that does not parse, or names no field we have


class _ReadAtScrape(Collector):
    """Counters whose values another object keeps, read when Prometheus scrapes."""

    def __init__(
        self, name: str, doc: str, label: str | None, read: dict[str, Callable[[], float]]
    ) -> None:
        self.name, self.doc, self.label, self.read = name, doc, label, read

    def collect(self) -> Iterable[CounterMetricFamily]:
        labels = [self.label] if self.label else []
        family = CounterMetricFamily(self.name, self.doc, labels=labels)
        for value, reader in self.read.items():
            family.add_metric([value] if self.label else [], reader())
        yield family


class Metrics:
    def __init__(self, root_fields: Collection[str] = ()) -> None:
        self.root_fields = frozenset(root_fields)
        self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.operations = Counter(
            "forebear_graphql_operations",
            "GraphQL operations served, by root fields, type and outcome",
            ["fields", "type", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forebear_graphql_operation_duration_seconds",
            "GraphQL operation latency, by root fields and type",
            ["fields", "type"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.transfers = Counter(
            "forebear_transfers",
            "Uploads (PUT /blobs) and downloads (GET /files), by outcome",
            ["direction", "outcome"],
            registry=self.registry,
        )
        self.transfer_bytes = Counter(
            "forebear_transfer_bytes",
            "Bytes received by uploads and sent by downloads",
            ["direction"],
            registry=self.registry,
        )

    def fields_label(self, names: Iterable[str] | None) -> str:
        """The `fields` label of an operation selecting these root fields."""
        wanted = sorted(set(names or ()))
        if not wanted or any(n not in self.root_fields for n in wanted):
            return UNKNOWN
        return ",".join(wanted) if len(wanted) <= MAX_FIELDS else SEVERAL

    def observe(self, fields: str, kind: str, seconds: float, ok: bool) -> None:
        self.operations.labels(fields, kind, "ok" if ok else "error").inc()
        self.latency.labels(fields, kind).observe(seconds)

    def transfer(self, direction: str, outcome: str, size: int = 0) -> None:
        """Count one upload or download (`direction`), and the bytes it moved."""
        self.transfers.labels(direction, outcome).inc()
        if size > 0:
            self.transfer_bytes.labels(direction).inc(size)

    async def counted(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A download's body, counting its bytes as they go (a cut-off one counts what left)."""
        sent = 0
        try:
            async for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            self.transfer("download", "ok", sent)

    def watch_lineage(self, index: LineageIndex) -> None:
        """Export the lineage index's size, reloads and answers, read at scrape time."""
        Gauge(
            "forebear_lineage_index_nodes",
            "Runs and versions held in this process's lineage index",
            registry=self.registry,
        ).set_function(lambda: len(index.nodes))
        self._counts(
            "forebear_lineage_index_reloads",
            "Full reloads of the lineage index (first use, bulk changes behind the API)",
            None,
            reloads=lambda: index.reloads,
        )
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
            "Registry reads answered from the process's kept copy (nothing was committed "
            "since) and read afresh",
            "outcome",
            kept=lambda: cache.hits,
            read=lambda: cache.misses,
        )

    def watch_answers(self, answers: KeptAnswers) -> None:
        """Export how often a whole GraphQL answer was served kept (api.kept)."""
        self._counts(
            "forebear_kept_answers",
            "Keepable GraphQL reads answered with the bytes kept from last time (nothing was "
            "committed since) and executed",
            "outcome",
            kept=lambda: answers.hits,
            executed=lambda: answers.misses,
        )

    def _counts(self, name: str, doc: str, label: str | None, **read: Callable[[], float]) -> None:
        """A counter with one series per label value (one, unlabelled, without a label), each
        read at scrape time."""
        self.registry.register(_ReadAtScrape(name, doc, label, read))


def root_fields(document: DocumentNode | None, operation: str | None) -> list[str] | None:
    """The root field names the operation selects (through fragments), None when the
    document names no single operation."""
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation is None or (o.name and o.name.value == operation)]
    if len(chosen) != 1:
        return None
    fragments = {
        d.name.value: d.selection_set
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    names: list[str] = []
    pending: list[SelectionSetNode] = [chosen[0].selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    seen.add(name)
                    pending.append(fragments[name])
    return names


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
        fields = metrics.fields_label(root_fields(ctx.graphql_document, ctx.operation_name))
        ok = ctx.result is not None and not ctx.result.errors
        metrics.observe(fields, kind, time.perf_counter() - started, ok)
