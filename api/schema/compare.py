"""Compare: the producing runs of several linked versions side by side."""

from __future__ import annotations

from typing import Final

import strawberry

from api.context import Info
from api.errors import BadInput
from api.schema.registries import LinkedVersion, load_linked, resolve_link
from api.schema.runs import MetricSeries, Run

MAX_COMPARED: Final = 10
MAX_KEYS: Final = 20


@strawberry.type(description="One linked version in a comparison, with the run that made it.")
class ComparedVersion:
    link: LinkedVersion = strawberry.field(description="The linked version.")
    run: Run | None = strawberry.field(
        description="Its producing run; null when none or when the caller is not in its project."
    )
    metrics: list[MetricSeries] = strawberry.field(description="History of the asked keys.")


@strawberry.type(description="Producing runs of linked versions side by side.")
class Comparison:
    versions: list[ComparedVersion] = strawberry.field(description="In the order asked.")
    differing_config_keys: list[str] = strawberry.field(
        description="Config keys whose values are not the same in every run (missing counts "
        "as a value)."
    )
    summary_keys: list[str] = strawberry.field(description="Every summary key of any run.")


@strawberry.type
class CompareQuery:
    @strawberry.field(
        description="Compare the producing runs of up to 10 linked versions "
        "(ids or registry/collection:selector references)."
    )
    async def compare(
        self, info: Info, links: list[str], metric_keys: list[str] | None = None
    ) -> Comparison:
        if not 1 <= len(links) <= MAX_COMPARED:
            raise BadInput("links", f"give between 1 and {MAX_COMPARED} linked versions")
        keys = metric_keys or []
        if len(keys) > MAX_KEYS:
            raise BadInput("metricKeys", f"give at most {MAX_KEYS} keys")
        compared = []
        for i, ref in enumerate(links):
            link = await load_linked(info, await resolve_link(info, ref, f"links[{i}]"))
            run_id = await info.context.loaders.producer_by_version.load(link.version_id)
            run = await info.context.loaders.run_by_id.load(run_id) if run_id else None
            if run is not None and not info.context.access.in_project(run.project):
                run = None  # runs are for their project's members, as everywhere else
            series = []
            if run is not None and keys:
                history = await info.context.repos.runs.metric_history(
                    run.id, keys, after_step=-1, limit=10_000
                )
                series = [MetricSeries.from_record(s) for s in history]
            compared.append((link, run, series))
        runs = [run for _, run, _ in compared if run is not None]
        config_keys = sorted({key for run in runs for key in run.config})
        differing = [
            key for key in config_keys if len({repr(run.config.get(key)) for run in runs}) > 1
        ]
        return Comparison(
            versions=[
                ComparedVersion(
                    link=link, run=Run.from_record(run) if run else None, metrics=series
                )
                for link, run, series in compared
            ],
            differing_config_keys=differing,
            summary_keys=sorted({key for run in runs for key in run.summary}),
        )
