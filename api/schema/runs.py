"""Projects and runs: start, update, log metrics, finish; and the queries over them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON

from api.context import Info
from api.errors import BadInput
from api.inputs import (
    AlertRunIn,
    LogMetricsIn,
    ProjectIn,
    StartRunIn,
    UpdateRunIn,
    fields_of,
    parse,
)
from api.schema.relay import Connection, Node, connection, decode_cursor, page_size
from api.schema.scalars import Long, MetricValue
from graph import records

if TYPE_CHECKING:
    from api.schema.artifacts import ArtifactVersion

VersionType = Annotated["ArtifactVersion", strawberry.lazy("api.schema.artifacts")]
MAX_METRIC_POINTS_PER_KEY = 100_000


@strawberry.enum(description="Where a run stands.")
class RunStatus(Enum):
    RUNNING = strawberry.enum_value("RUNNING", description="Started and not finished.")
    FINISHED = strawberry.enum_value("FINISHED", description="Ended normally.")
    FAILED = strawberry.enum_value("FAILED", description="Ended with an error.")
    CRASHED = strawberry.enum_value("CRASHED", description="Stopped without saying so.")


@strawberry.enum(description="What starting a run with the key of one that exists does.")
class RunResume(Enum):
    NEVER = strawberry.enum_value("NEVER", description="Refuse it (CONFLICT).")
    ALLOW = strawberry.enum_value(
        "ALLOW", description="Resume that run; start a new one with the key if there is none."
    )
    MUST = strawberry.enum_value(
        "MUST", description="Resume that run; refuse (NOT_FOUND) if there is none."
    )


@strawberry.enum(description="Which values of a run a filter looks at.")
class RunValueSource(Enum):
    CONFIG = strawberry.enum_value("CONFIG", description="A top-level config key.")
    SUMMARY = strawberry.enum_value("SUMMARY", description="A top-level summary key.")


@strawberry.enum(description="How a filter compares.")
class FilterOp(Enum):
    EQ = strawberry.enum_value("EQ", description="equal")
    NE = strawberry.enum_value("NE", description="not equal")
    GT = strawberry.enum_value("GT", description="greater than")
    GTE = strawberry.enum_value("GTE", description="greater than or equal")
    LT = strawberry.enum_value("LT", description="less than")
    LTE = strawberry.enum_value("LTE", description="less than or equal")


@strawberry.type(description="A project: the namespace of runs and the artifacts they log.")
class Project(Node):
    name: str = strawberry.field(description="Unique name, as used in references.")
    description: str = strawberry.field(description="Free text.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_record(cls, p: records.Project) -> Project:
        return cls(
            id=strawberry.ID(p.id), name=p.name, description=p.description, created_at=p.created_at
        )


@strawberry.type(description="One point of a metric series.")
class MetricPoint:
    step: Long = strawberry.field(description="Step the value was logged at.")
    value: MetricValue = strawberry.field(description="The value.")


@strawberry.type(description="The history of one metric key of a run, in step order.")
class MetricSeries:
    key: str = strawberry.field(description="Metric name.")
    points: list[MetricPoint] = strawberry.field(description="Points in step order.")

    @classmethod
    def from_record(cls, s: records.MetricSeries) -> MetricSeries:
        return cls(
            key=s.key,
            points=[
                MetricPoint(step=Long(st), value=MetricValue(v))
                for st, v in zip(s.steps, s.values, strict=True)
            ],
        )


@strawberry.type(description="One execution of training or evaluation code.")
class Run(Node):
    project: str = strawberry.field(description="Name of the run's project.")
    name: str = strawberry.field(
        description="Display name; for a run started without one, two made-up words and "
        "its number in the project, e.g. brave-otter-7."
    )
    status: RunStatus = strawberry.field(description="RUNNING until finished.")
    config: JSON = strawberry.field(description="Hyper-parameters and settings (JSON object).")
    summary: JSON = strawberry.field(
        description="Last value of each metric key (by highest step) and explicit summary values."
    )
    tags: list[str] = strawberry.field(description="Labels, sorted.")
    source_commit: str | None = strawberry.field(description="Source revision, e.g. git SHA.")
    entry_point: str | None = strawberry.field(description="Program or command that ran.")
    host: str | None = strawberry.field(description="Machine it ran on.")
    job_type: str | None = strawberry.field(
        description="What kind of work it did, e.g. train or evaluate (W&B's job_type)."
    )
    group: str | None = strawberry.field(
        description="The larger experiment it is part of (W&B's group)."
    )
    notes: str | None = strawberry.field(description="Free text about the run.")
    actor: str = strawberry.field(description="Who started it.")
    started_at: datetime = strawberry.field(description="When it started.")
    ended_at: datetime | None = strawberry.field(description="When it finished, if it has.")
    key: str | None = strawberry.field(
        description="The key it was started with, unique in its project (W&B's run id)."
    )
    last_step: int | None = strawberry.field(
        description="The highest step of any metric logged; null before the first (a resumed "
        "run's history goes on after it)."
    )
    heartbeat_seconds: int | None = strawberry.field(
        description="The heartbeat its client promised at start; null: none."
    )
    heard_at: datetime | None = strawberry.field(
        description="When its client was last heard from (a heartbeat, metrics, its start)."
    )

    @classmethod
    def from_record(cls, r: records.Run) -> Run:
        return cls(
            id=strawberry.ID(r.id),
            project=r.project,
            name=r.name,
            status=RunStatus(r.status),
            config=cast(JSON, r.config),
            summary=cast(JSON, r.summary),
            tags=list(r.tags),
            source_commit=r.source_commit,
            entry_point=r.entry_point,
            host=r.host,
            job_type=r.job_type,
            group=r.group,
            notes=r.notes,
            actor=r.actor,
            started_at=r.started_at,
            ended_at=r.ended_at,
            key=r.key,
            last_step=r.last_step,
            heartbeat_seconds=r.heartbeat_seconds,
            heard_at=r.heard_at,
        )

    @strawberry.field(description="Metric history for the given keys, each in step order.")
    async def metrics(
        self,
        info: Info,
        keys: list[str],
        after_step: Annotated[
            int, strawberry.argument(description="Only points with a higher step.")
        ] = -1,
        first: Annotated[
            int, strawberry.argument(description="At most this many points per key (<= 100000).")
        ] = 10_000,
    ) -> list[MetricSeries]:
        if not 1 <= first <= MAX_METRIC_POINTS_PER_KEY:
            raise BadInput("first", f"must be between 1 and {MAX_METRIC_POINTS_PER_KEY}")
        if not 1 <= len(keys) <= 50:
            raise BadInput("keys", "give between 1 and 50 keys")
        series = await info.context.repos.runs.metric_history(
            str(self.id), keys, after_step=after_step, limit=first
        )
        return [MetricSeries.from_record(s) for s in series]

    @strawberry.field(description="Versions this run logged (PRODUCED).")
    async def outputs(self, info: Info) -> list[VersionType]:
        return await _versions(info, str(self.id), "PRODUCED")

    @strawberry.field(
        description="Versions this run used (CONSUMED), among those the caller may read."
    )
    async def inputs(self, info: Info) -> list[VersionType]:
        return await _versions(info, str(self.id), "CONSUMED")


async def _versions(info: Info, run_id: str, kind: str) -> list[ArtifactVersion]:
    from api.schema.artifacts import ArtifactVersion

    ids = await info.context.repos.artifacts.run_versions(run_id, kind)
    readable = await info.context.access.readable(ids)
    found = await info.context.loaders.version_by_id.load_many([i for i in ids if i in readable])
    return [ArtifactVersion.from_record(v) for v in found if v is not None]


@strawberry.input(description="A condition on a top-level config or summary value.")
class RunFilter:
    source: RunValueSource = strawberry.field(description="CONFIG or SUMMARY.")
    key: str = strawberry.field(description="Top-level key.")
    op: FilterOp = strawberry.field(description="Comparison.")
    value: JSON = strawberry.field(description="A number, string or boolean to compare with.")


@strawberry.input(description="Create a project explicitly (runs also create theirs).")
class CreateProjectInput:
    name: str = strawberry.field(description="Unique name: letters, digits, '.', '_', '-'.")
    description: str = strawberry.field(default="", description="Free text.")


@strawberry.input(description="Start a run; its project is created on first use.")
class StartRunInput:
    project: str = strawberry.field(description="Project name.")
    name: str | None = strawberry.field(
        default=None, description="Display name (none: e.g. brave-otter-7, see Run.name)."
    )
    # null, not {}: see CreateArtifactVersionInput.metadata
    config: JSON | None = strawberry.field(default=None, description="JSON object (none: {}).")
    tags: list[str] = strawberry.field(default_factory=list, description="Labels.")
    source_commit: str | None = strawberry.field(default=None, description="e.g. git SHA.")
    entry_point: str | None = strawberry.field(default=None, description="Program that ran.")
    host: str | None = strawberry.field(default=None, description="Machine it runs on.")
    job_type: str | None = strawberry.field(
        default=None, description="What kind of work it does, e.g. train (1-128 characters)."
    )
    group: str | None = strawberry.field(
        default=None, description="The larger experiment it is part of (1-128 characters)."
    )
    notes: str | None = strawberry.field(
        default=None, description="Free text about the run (up to 10,000 characters)."
    )
    key: str | None = strawberry.field(
        default=None,
        description="Your own id for the run, unique in the project (W&B's run id; 1-128 "
        "letters, digits, '.', '_', '-'): a start with the key, or the id, of a run that exists "
        "resumes it as `resume` says.",
    )
    resume: RunResume = strawberry.field(
        default=RunResume.NEVER,
        description="With `key`: what a run of that key (or id) that exists becomes.",
    )
    heartbeat_seconds: int | None = strawberry.field(
        default=None,
        description="How often (1-3600 seconds) the client will say it is alive "
        "(heartbeatRun; metrics count too). A run unheard for four beats is CRASHED by the "
        "server (its process killed, out of memory, its machine gone), and RUNNING again if "
        "its client is heard later. None: it stays RUNNING until it is finished.",
    )


@strawberry.input(description="Change a run: config and summary are merged key by key.")
class UpdateRunInput:
    run: strawberry.ID = strawberry.field(description="Run id.")
    name: str | None = strawberry.field(default=None, description="New display name.")
    config: JSON | None = strawberry.field(default=None, description="Keys to set in config.")
    summary: JSON | None = strawberry.field(default=None, description="Keys to set in summary.")
    tags: list[str] | None = strawberry.field(default=None, description="Replaces the tags.")
    notes: str | None = strawberry.field(
        default=None, description="Replaces the notes (up to 10,000 characters)."
    )


@strawberry.enum(description="How urgent a run's alert is (W&B's AlertLevel).")
class AlertLevel(Enum):
    INFO = strawberry.enum_value("INFO", description="For information.")
    WARN = strawberry.enum_value("WARN", description="Something to look at.")
    ERROR = strawberry.enum_value("ERROR", description="Something went wrong.")


@strawberry.input(description="An alert raised by a run, for its project's automations.")
class AlertRunInput:
    run: strawberry.ID = strawberry.field(description="Run id.")
    title: str = strawberry.field(description="What happened, in a line (1-256 characters).")
    text: str = strawberry.field(default="", description="The details (up to 10,000 characters).")
    level: AlertLevel = strawberry.field(default=AlertLevel.INFO, description="How urgent.")


@strawberry.input(description="A run's client is alive.")
class HeartbeatRunInput:
    run: strawberry.ID = strawberry.field(description="Run id.")


@strawberry.input(description="One metric value at one step.")
class MetricPointInput:
    step: Long = strawberry.field(description="Step (>= 0).")
    key: str = strawberry.field(description="Metric name.")
    value: MetricValue = strawberry.field(description="The value (NaN and infinities too).")


@strawberry.input(description="A batch of metric points (at most 10,000) for a running run.")
class LogMetricsInput:
    run: strawberry.ID = strawberry.field(description="Run id.")
    points: list[MetricPointInput] = strawberry.field(description="The points.")


@strawberry.input(description="End a run.")
class FinishRunInput:
    run: strawberry.ID = strawberry.field(description="Run id.")
    status: RunStatus = strawberry.field(
        default=RunStatus.FINISHED, description="FINISHED, FAILED or CRASHED."
    )


@strawberry.type(description="The created project.")
class CreateProjectPayload:
    project: Project = strawberry.field(description="The new project.")


@strawberry.type(description="The run as it is now.")
class RunPayload:
    run: Run = strawberry.field(description="The run after the change.")


@strawberry.type(description="The run started, or resumed.")
class StartRunPayload:
    run: Run = strawberry.field(description="The run, RUNNING.")
    resumed: bool = strawberry.field(
        description="Whether it is a run that existed (its key's or id's), running again."
    )


@strawberry.type(description="The run and how many points were stored.")
class LogMetricsPayload:
    run: Run = strawberry.field(description="The run, summary updated.")
    logged: int = strawberry.field(description="Points stored.")


@strawberry.type
class RunQuery:
    @strawberry.field(description="A project by name.")
    async def project(self, info: Info, name: str) -> Project | None:
        found = await info.context.repos.runs.find_project(name)
        return Project.from_record(found) if found else None

    @strawberry.field(
        description="Projects by name: every one for org admins, the caller's own for others."
    )
    async def projects(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Project]:
        principal = info.context.access.principal
        page = await info.context.repos.runs.list_projects(
            None if principal.org_admin else principal.projects,
            first=page_size(first),
            after=decode_cursor(after),
        )
        return connection(page, Project.from_record, lambda p: p.name)

    @strawberry.field(description="A run by id.")
    async def run(self, info: Info, id: strawberry.ID) -> Run | None:
        found = await info.context.loaders.run_by_id.load(str(id))
        return Run.from_record(found) if found else None

    @strawberry.field(description="Runs of a project, newest first, filtered.")
    async def runs(
        self,
        info: Info,
        project: str,
        status: RunStatus | None = None,
        tag: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        where: list[RunFilter] | None = None,
        first: int | None = None,
        after: str | None = None,
        key: Annotated[
            str | None, strawberry.argument(description="Only the run of this key (W&B's id).")
        ] = None,
    ) -> Connection[Run]:
        cursor = decode_cursor(after)
        parsed_after = None
        if cursor is not None:
            time_text, _, run_id = cursor.partition("|")
            try:
                parsed_after = (datetime.fromisoformat(time_text), run_id)
            except ValueError as exc:
                raise BadInput("after", "not a cursor of this list") from exc
        filters = []
        for i, f in enumerate(where or []):
            if not isinstance(f.value, str | int | float | bool):
                raise BadInput(f"where[{i}].value", "must be a number, string or boolean")
            filters.append((f.source.name, f.key, f.op.name, f.value))
        page = await info.context.repos.runs.list_runs(
            project,
            status=status.name if status else None,
            tag=tag,
            started_after=started_after,
            started_before=started_before,
            filters=filters,
            first=page_size(first),
            after=parsed_after,
            key=key,
        )
        return connection(page, Run.from_record, lambda r: f"{r.started_at.isoformat()}|{r.id}")


@strawberry.type
class RunMutation:
    @strawberry.mutation(description="Create a project.")
    async def create_project(self, info: Info, input: CreateProjectInput) -> CreateProjectPayload:
        data = parse(ProjectIn, fields_of(input))
        project = await info.context.repos.runs.create_project(
            data.name, data.description, actor=info.context.actor
        )
        info.context.wrote_into(data.name)
        return CreateProjectPayload(project=Project.from_record(project))

    @strawberry.mutation(
        description="Start a run (RUNNING), or resume the run of `key` (W&B's resume)."
    )
    async def start_run(self, info: Info, input: StartRunInput) -> StartRunPayload:
        data = parse(StartRunIn, fields_of(input))
        run, resumed = await info.context.repos.runs.start_run(
            project=data.project,
            name=data.name,
            config=data.config,
            tags=data.tags,
            source_commit=data.source_commit,
            entry_point=data.entry_point,
            host=data.host,
            job_type=data.job_type,
            group=data.group,
            notes=data.notes,
            key=data.key,
            resume=data.resume,
            heartbeat_seconds=data.heartbeat_seconds,
            actor=info.context.actor,
        )
        info.context.wrote_into(data.project)
        return StartRunPayload(run=Run.from_record(run), resumed=resumed)

    @strawberry.mutation(
        description="Merge config and summary keys, rename, retag, replace the notes."
    )
    async def update_run(self, info: Info, input: UpdateRunInput) -> RunPayload:
        data = parse(UpdateRunIn, fields_of(input))
        run = await info.context.repos.runs.update_run(
            data.run,
            name=data.name,
            config=data.config,
            summary=data.summary,
            tags=data.tags,
            notes=data.notes,
            actor=info.context.actor,
        )
        return RunPayload(run=Run.from_record(run))

    @strawberry.mutation(description="Append metric points; the summary keeps the latest.")
    async def log_metrics(self, info: Info, input: LogMetricsInput) -> LogMetricsPayload:
        data = parse(
            LogMetricsIn, {"run": input.run, "points": [fields_of(p) for p in input.points]}
        )
        run, logged = await info.context.repos.runs.log_metrics(
            data.run, [(p.step, p.key, p.value) for p in data.points], actor=info.context.actor
        )
        return LogMetricsPayload(run=Run.from_record(run), logged=logged)

    @strawberry.mutation(
        description="Raise an alert from a run (W&B's run.alert): an event that automations "
        "on the run's project with the RUN_ALERT trigger send as webhooks."
    )
    async def alert_run(self, info: Info, input: AlertRunInput) -> RunPayload:
        data = parse(AlertRunIn, {"run": input.run, "title": input.title, "text": input.text})
        run = await info.context.repos.runs.alert(
            data.run, data.title, data.text, input.level.name, actor=info.context.actor
        )
        return RunPayload(run=Run.from_record(run))

    @strawberry.mutation(
        description="Say a run's client is alive (started with heartbeatSeconds): a run the "
        "server CRASHED for its silence is RUNNING again. Bookkeeping, not a change: no event, "
        "unless it brings the run back (run.resumed)."
    )
    async def heartbeat_run(self, info: Info, input: HeartbeatRunInput) -> RunPayload:
        run = await info.context.repos.runs.heartbeat(str(input.run), actor=info.context.actor)
        return RunPayload(run=Run.from_record(run))

    @strawberry.mutation(description="End a RUNNING run with a final status.")
    async def finish_run(self, info: Info, input: FinishRunInput) -> RunPayload:
        if input.status is RunStatus.RUNNING:
            raise BadInput("input.status", "a run finishes as FINISHED, FAILED or CRASHED")
        run = await info.context.repos.runs.finish_run(
            str(input.run), input.status.name, actor=info.context.actor
        )
        return RunPayload(run=Run.from_record(run))
