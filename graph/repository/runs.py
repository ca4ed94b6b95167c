"""Projects, runs, and the metric history of runs."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import coolname

from graph.errors import Conflict, NotFound, not_a_member
from graph.events import Change, write_event
from graph.ids import new_id
from graph.queries import runs as q
from graph.records import JsonObject, MetricSeries, Page, Project, Run, json_number, loads, native
from graph.repository.base import COMMIT_LISTENERS, Repository, Tx, tell

TERMINAL: Final = frozenset({"FINISHED", "FAILED", "CRASHED"})
# A run whose client promised a heartbeat is lost (CRASHED) after this many beats unheard.
MISSED_BEATS: Final = 4
# Top-level scalar config and summary values are also kept as properties of their own, so
# that runs can be filtered on them in Cypher.
CONFIG_PREFIX: Final = "cfg."
SUMMARY_PREFIX: Final = "sum."


def project_from(node: Mapping[str, Any]) -> Project:
    return Project(
        id=node["id"],
        name=node["name"],
        description=node.get("description") or "",
        created_at=native(node["createdAt"]),
    )


def run_from(node: Mapping[str, Any]) -> Run:
    return Run(
        id=node["id"],
        project=node["project"],
        name=node["name"],
        status=node["status"],
        config=loads(node.get("config")),
        summary=loads(node.get("summary")),
        tags=tuple(node.get("tags") or ()),
        source_commit=node.get("sourceCommit"),
        entry_point=node.get("entryPoint"),
        host=node.get("host"),
        actor=node["actor"],
        started_at=native(node["startedAt"]),
        ended_at=native(node.get("endedAt")),
        job_type=node.get("jobType"),
        group=node.get("group"),
        notes=node.get("notes"),
        key=node.get("key"),
        last_step=max(loads(node.get("summarySteps")).values(), default=None),
        heartbeat_seconds=node.get("heartbeatSeconds"),
        heard_at=native(node.get("heardAt")),
        lost=bool(node.get("lost")),
    )


def flat(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar top-level entries of `values` as `prefix + key` properties."""
    return {prefix + key: value for key, value in values.items() if _scalar(value)}


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


async def ensure_project(
    tx: Tx, name: str, *, actor: str, description: str = ""
) -> tuple[Project, bool]:
    """The project called `name`, created now (with `actor` as its member) if it did not
    exist; True when created. Raise Forbidden when it exists and `actor` may not write in it."""
    row = await (
        await tx.run(
            q.ENSURE_PROJECT,
            name=name,
            id=new_id("prj"),
            description=description,
            now=datetime.now(UTC),
            actor=actor,
        )
    ).single(strict=True)
    if not row["created"] and not row["allowed"]:
        raise not_a_member(actor, name)
    return project_from(row["project"]), bool(row["created"])


def new_run(
    *,
    project: str,
    name: str | None,
    config: JsonObject,
    tags: Sequence[str],
    actor: str,
    status: str = "RUNNING",
    started_at: datetime | None = None,
    source_commit: str | None = None,
    entry_point: str | None = None,
    host: str | None = None,
    job_type: str | None = None,
    group: str | None = None,
    notes: str | None = None,
    heartbeat_seconds: int | None = None,
) -> dict[str, Any]:
    """The properties of a new Run node (without a name when `name` is None: the query that
    makes it names it, queries.runs._NAME_UNNAMED)."""
    run_id = new_id("run")
    started_at = started_at or datetime.now(UTC)
    return {
        **_heard(heartbeat_seconds, started_at),
        "id": run_id,
        "project": project,
        "name": name,
        "status": status,
        "config": json.dumps(config, sort_keys=True),
        "summary": "{}",
        "tags": sorted(set(tags)),
        "sourceCommit": source_commit,
        "entryPoint": entry_point,
        "host": host,
        "jobType": job_type,
        "group": group,
        "notes": notes,
        "actor": actor,
        "startedAt": started_at,
        "endedAt": started_at if status in TERMINAL else None,
        **flat(CONFIG_PREFIX, config),
    }


def _stem() -> str:
    """Two made-up words (coolname's curated lists), e.g. brave-otter: most of an unnamed
    run's name."""
    return str(coolname.generate_slug(2))


def _silent_after(heartbeat_seconds: int | None, heard: datetime) -> datetime | None:
    """The moment after which a run last heard from at `heard` is lost (MISSED_BEATS beats
    unheard); None for a run that promised no beat."""
    if heartbeat_seconds is None:
        return None
    return heard + timedelta(seconds=heartbeat_seconds * MISSED_BEATS)


def _heard(heartbeat_seconds: int | None, now: datetime) -> dict[str, Any]:
    """A run's client heard from at `now`: when, and the moment after which its silence makes
    it lost (`silentAfter`, indexed: the watch looks runs up by it; none without a beat)."""
    return {
        "heartbeatSeconds": heartbeat_seconds,
        "heardAt": now,
        "silentAfter": _silent_after(heartbeat_seconds, now),
        "lost": None,
    }


class RunRepository(Repository):
    async def create_project(self, name: str, description: str, *, actor: str) -> Project:
        """Create a project; raise Conflict if the name is taken."""

        async def work(tx: Tx) -> Project:
            project, created = await ensure_project(tx, name, actor=actor, description=description)
            if not created:
                raise Conflict(f"project {name!r} already exists")
            await write_event(
                tx,
                Change(
                    "project.created",
                    actor=actor,
                    subjects=[project.id],
                    after={"name": name, "description": description},
                ),
            )
            return project

        return await self._write(work)

    async def find_project(
        self, name: str | None = None, *, id: str | None = None
    ) -> Project | None:
        """The project with this name (or id), or None."""

        async def work(tx: Tx) -> Project | None:
            if id is not None:
                result = await tx.run(q.GET_PROJECT_BY_ID, id=id)
            else:
                result = await tx.run(q.GET_PROJECT, name=name)
            row = await result.single()
            return None if row is None else project_from(row["project"])

        return await self._read(work)

    async def list_projects(
        self, names: Collection[str] | None, *, first: int, after: str | None
    ) -> Page[Project]:
        """Projects by name: those in `names`, or all of them (None)."""

        async def work(tx: Tx) -> list[Project]:
            result = await tx.run(
                q.LIST_PROJECTS,
                names=None if names is None else sorted(names),
                after=after,
                limit=first + 1,
            )
            return [project_from(row["project"]) async for row in result]

        found = await self._read(work)
        page = tuple(found[:first])
        return Page(page, len(found) > first, page[-1].name if page else None)

    async def start_run(
        self,
        *,
        project: str,
        name: str | None,
        config: JsonObject,
        tags: Sequence[str],
        source_commit: str | None,
        entry_point: str | None,
        host: str | None,
        actor: str,
        job_type: str | None = None,
        group: str | None = None,
        notes: str | None = None,
        key: str | None = None,
        resume: str = "NEVER",
        heartbeat_seconds: int | None = None,
    ) -> tuple[Run, bool]:
        """Start a RUNNING run in `project`, creating the project on first use. With `key`, a
        run of that key (or id) in the project is resumed as `resume` (W&B's) says: NEVER
        refuses it, ALLOW resumes it or starts a new one, MUST resumes it or refuses when there
        is none. With `heartbeat_seconds`, the client promises a heartbeat that often: the run
        is lost (CRASHED) when MISSED_BEATS go unheard. The run, and whether it was resumed."""

        async def work(tx: Tx) -> tuple[Run, bool]:
            proj, created = await ensure_project(tx, project, actor=actor)
            props = new_run(
                project=project,
                name=name,
                config=config,
                tags=tags,
                actor=actor,
                source_commit=source_commit,
                entry_point=entry_point,
                host=host,
                job_type=job_type,
                group=group,
                notes=notes,
                heartbeat_seconds=heartbeat_seconds,
            )
            if key is None:
                row = await (
                    await tx.run(q.CREATE_RUN, project=project, props=props, stem=_stem())
                ).single(strict=True)
            else:
                row = await (
                    await tx.run(
                        q.START_KEYED_RUN,
                        project=project,
                        key=key,
                        props={**props, "key": key},
                        stem=_stem(),
                    )
                ).single(strict=True)
                if not row["created"]:
                    return await _resume(tx, run_from(row["run"]), proj, resume, props, actor), True
                if resume == "MUST":
                    raise NotFound("run", f"{project}/{key}")  # rolls back the run just made
            run = run_from(row["run"])
            await write_event(
                tx,
                Change(
                    "run.started",
                    actor=actor,
                    subjects=[run.id, proj.id],
                    after={"project": project, "name": run.name, "created_project": created},
                ),
            )
            return run, False

        return await self._write(work)

    async def update_run(
        self,
        run_id: str,
        *,
        name: str | None,
        config: JsonObject | None,
        summary: JsonObject | None,
        tags: Sequence[str] | None,
        actor: str,
        notes: str | None = None,
    ) -> Run:
        """Merge `config` and `summary` into the run's, replace its tags, name and notes if
        given."""

        async def work(tx: Tx) -> Run:
            before = await _lock_run(tx, run_id)
            changes: dict[str, Any] = {}
            if name is not None:
                changes["name"] = name
            if notes is not None:
                changes["notes"] = notes
            if tags is not None:
                changes["tags"] = sorted(set(tags))
            if config is not None:
                changes.update(_merged("config", CONFIG_PREFIX, before.config, config))
            if summary is not None:
                changes.update(_merged("summary", SUMMARY_PREFIX, before.summary, summary))
            run = await _set_props(tx, run_id, changes)
            await write_event(
                tx,
                Change(
                    "run.updated",
                    actor=actor,
                    subjects=[run_id],
                    before=_view(before, changes),
                    after=_view(run, changes),
                ),
            )
            return run

        return await self._write(work)

    async def log_metrics(
        self, run_id: str, points: Sequence[tuple[int, str, float]], *, actor: str
    ) -> tuple[Run, int]:
        """Append metric points (step, key, value); the summary keeps each key's last value."""

        async def work(tx: Tx) -> tuple[Run, int]:
            before, before_steps = await _lock_run_raw(tx, run_id)
            before = await _revived(tx, before, actor)
            if before.status in TERMINAL:
                raise Conflict(f"run {run_id!r} is {before.status}: it takes no more metrics")
            chunks = _chunks(points)
            await tx.run(q.LOG_METRIC_CHUNKS, id=run_id, chunks=chunks, now=datetime.now(UTC))
            # The summary keeps the value at the highest step seen, whatever the batch order.
            last = {c["key"]: (c["last_step"], c["last_value"]) for c in chunks}
            steps: dict[str, int] = loads(before_steps)
            newer = {k: json_number(v) for k, (step, v) in last.items() if step >= steps.get(k, -1)}
            steps.update({k: last[k][0] for k in newer})
            run = await _set_props(
                tx,
                run_id,
                {
                    "summary": json.dumps({**before.summary, **newer}, sort_keys=True),
                    "summarySteps": json.dumps(steps, sort_keys=True),
                    **flat(SUMMARY_PREFIX, newer),
                    **_heard(before.heartbeat_seconds, datetime.now(UTC)),
                },
            )
            await write_event(
                tx,
                Change(
                    "run.metrics_logged",
                    actor=actor,
                    subjects=[run_id],
                    after={"points": len(points), "keys": sorted(last)},
                ),
            )
            return run, len(points)

        return await self._write(work)

    async def finish_run(self, run_id: str, status: str, *, actor: str) -> Run:
        """Move a RUNNING run to a terminal status; raise Conflict if it already ended."""

        async def work(tx: Tx) -> Run:
            before = await _lock_run(tx, run_id)
            if before.status in TERMINAL and not before.lost:  # (lost: its client ends it)
                raise Conflict(f"run {run_id!r} already ended as {before.status}")
            run = await _set_props(
                tx,
                run_id,
                {"status": status, "endedAt": datetime.now(UTC), "silentAfter": None, "lost": None},
            )
            await write_event(
                tx,
                Change(
                    "run.finished",
                    actor=actor,
                    subjects=[run_id],
                    before={"status": before.status},
                    after={"status": status},
                    project=before.project,
                ),
            )
            return run

        return await self._write(work)

    async def heartbeat(self, run_id: str, *, actor: str) -> Run:
        """Its client is alive: the run is heard from now (a run lost meanwhile is RUNNING
        again); refused once the run has ended."""

        async def work(tx: Tx) -> tuple[Run, bool]:
            locked = await _lock_run(tx, run_id)
            before = await _revived(tx, locked, actor)
            if before.status in TERMINAL:
                raise Conflict(f"run {run_id!r} ended as {before.status}: no heartbeat is due")
            run = await _set_props(tx, run_id, _heard(before.heartbeat_seconds, datetime.now(UTC)))
            return run, before is not locked

        # A beat writes no event: the sealer is told only when it brought the run back.
        run, revived = await self._write(work, notify=False)
        if revived:
            tell(COMMIT_LISTENERS)
        return run

    async def lose_silent(self, now: datetime, limit: int = 100) -> list[Run]:
        """CRASH the RUNNING runs whose clients promised heartbeats and went MISSED_BEATS
        unheard (killed, out of memory, cut off), each in a transaction of its own with its
        event, by `system`; a replica that looked at the same moment finds it done. Heard
        from again, such a run is RUNNING again (its client was only cut off)."""

        async def silent(tx: Tx) -> list[str]:
            result = await tx.run(q.SILENT_RUNS, now=now, limit=limit)
            return [row["id"] async for row in result]

        lost = []
        for run_id in await self._read(silent):

            async def work(tx: Tx, run_id: str = run_id) -> Run | None:
                before = await _lock_run(tx, run_id)
                heard = before.heard_at
                silent_after = _silent_after(before.heartbeat_seconds, heard) if heard else None
                if (
                    before.status != "RUNNING"
                    or heard is None
                    or silent_after is None
                    or silent_after >= now
                ):
                    return None  # heard from, or lost, since it was looked up
                run = await _set_props(
                    tx,
                    run_id,
                    # it ended, as far as anyone knows, when it was last heard from
                    {"status": "CRASHED", "endedAt": heard, "silentAfter": None, "lost": True},
                )
                await write_event(
                    tx,
                    Change(
                        "run.finished",
                        actor="system",
                        subjects=[run_id],
                        before={"status": "RUNNING"},
                        after={"status": "CRASHED", "silentSince": heard.isoformat()},
                        project=before.project,
                    ),
                )
                return run

            if (run := await self._write(work)) is not None:
                lost.append(run)
        return lost

    async def alert(self, run_id: str, title: str, text: str, level: str, *, actor: str) -> Run:
        """Record the run's alert (W&B's `run.alert`) as an event its project's automations
        hear (RUN_ALERT): a webhook, a Slack message, is how it reaches people."""

        async def work(tx: Tx) -> Run:
            run = await _lock_run(tx, run_id)
            await write_event(
                tx,
                Change(
                    "run.alert",
                    actor=actor,
                    subjects=[run_id],
                    after={"title": title, "text": text, "level": level},
                    project=run.project,
                ),
            )
            return run

        return await self._write(work)

    async def get_runs(self, ids: Sequence[str]) -> dict[str, Run]:
        """The runs among `ids` that exist, by id."""

        async def work(tx: Tx) -> dict[str, Run]:
            result = await tx.run(q.GET_RUNS, ids=list(ids))
            return {r.id: r for r in [run_from(row["run"]) async for row in result]}

        return await self._read(work)

    async def get_run(self, run_id: str) -> Run:
        """The run `run_id`; raise NotFound if there is none."""
        found = await self.get_runs([run_id])
        if run_id not in found:
            raise NotFound("run", run_id)
        return found[run_id]

    async def list_runs(
        self,
        project: str,
        *,
        status: str | None,
        tag: str | None,
        started_after: datetime | None,
        started_before: datetime | None,
        filters: Sequence[tuple[str, str, str, Any]],
        first: int,
        after: tuple[datetime, str] | None,
        key: str | None = None,
    ) -> Page[Run]:
        """Runs of `project`, newest first; `filters` are (CONFIG|SUMMARY, key, op, value);
        `key`: only the run of that key."""
        params = {
            "project": project,
            "status": status,
            "key": key,
            "tag": tag,
            "started_after": started_after,
            "started_before": started_before,
            "cursor_time": after[0] if after else None,
            "cursor_id": after[1] if after else None,
            "filters": [
                {
                    "property": (CONFIG_PREFIX if source == "CONFIG" else SUMMARY_PREFIX) + key,
                    "op": op,
                    "value": value,
                }
                for source, key, op, value in filters
            ],
            "limit": first + 1,
        }

        async def work(tx: Tx) -> list[Run]:
            return [run_from(row["run"]) async for row in await tx.run(q.LIST_RUNS, params)]

        runs = await self._read(work)
        page = tuple(runs[:first])
        cursor = f"{page[-1].started_at.isoformat()}|{page[-1].id}" if page else None
        return Page(page, len(runs) > first, cursor)

    async def metric_history(
        self, run_id: str, keys: Sequence[str], *, after_step: int, limit: int
    ) -> list[MetricSeries]:
        """Up to `limit` points per key with step > after_step, in step order."""

        async def work(tx: Tx) -> list[MetricSeries]:
            series: dict[str, list[tuple[int, float]]] = {key: [] for key in keys}
            result = await tx.run(
                q.GET_METRIC_CHUNKS, id=run_id, keys=list(keys), after_step=after_step
            )
            async for row in result:
                points = series[row["key"]]
                if len(points) < limit:
                    points.extend(
                        (s, v)
                        for s, v in zip(row["steps"], row["values"], strict=True)
                        if s > after_step
                    )
            out = []
            for key, points in series.items():
                points.sort(key=lambda p: p[0])
                points = points[:limit]
                out.append(
                    MetricSeries(key, tuple(p[0] for p in points), tuple(p[1] for p in points))
                )
            return out

        await self.get_run(run_id)
        return await self._read(work)


async def _resume(
    tx: Tx, before: Run, project: Project, resume: str, props: Mapping[str, Any], actor: str
) -> Run:
    """`before` (locked) RUNNING again, as `resume` allows: its config merged with the new
    start's, its tags joined, its name, job type, group and notes those given."""
    if resume == "NEVER":
        raise Conflict(
            f"run {before.key or before.id!r} exists in project {project.name!r} "
            f"({before.id}, {before.status}): resume it (resume: ALLOW or MUST) or give "
            "another key"
        )
    changes: dict[str, Any] = {
        "status": "RUNNING",
        "endedAt": None,
        **_heard(props["heartbeatSeconds"], props["heardAt"]),
        "tags": sorted({*before.tags, *props["tags"]}),
        **_merged("config", CONFIG_PREFIX, before.config, loads(props["config"])),
        **{
            field: props[field]
            for field in ("jobType", "group", "notes")
            if props[field] is not None
        },
    }
    if props["name"] is not None:  # named by the new start
        changes["name"] = props["name"]
    run = await _set_props(tx, before.id, changes)
    await write_event(
        tx,
        Change(
            "run.resumed",
            actor=actor,
            subjects=[run.id, project.id],
            before={"status": before.status},
            after={"status": "RUNNING", "lastStep": run.last_step},
        ),
    )
    return run


def _merged(
    field: str, prefix: str, before: Mapping[str, Any], keys: Mapping[str, Any]
) -> dict[str, Any]:
    """The properties that set `keys` in a run's config or summary (`field`, flattened under
    `prefix` for filters): the whole merged JSON and each new key's own property."""
    return {field: json.dumps({**before, **keys}, sort_keys=True), **flat(prefix, keys)}


async def _lock_run(tx: Tx, run_id: str) -> Run:
    return (await _lock_run_raw(tx, run_id))[0]


async def _revived(tx: Tx, run: Run, actor: str) -> Run:
    """`run` (locked), RUNNING again if the server CRASHED it for a silence its client now
    breaks (a heartbeat, metrics): cut off for a while, not dead. Else as it is."""
    if not run.lost:
        return run
    revived = await _set_props(
        tx,
        run.id,
        {"status": "RUNNING", "endedAt": None, **_heard(run.heartbeat_seconds, datetime.now(UTC))},
    )
    await write_event(
        tx,
        Change(
            "run.resumed",
            actor=actor,
            subjects=[run.id],
            before={"status": run.status},
            after={"status": "RUNNING", "heardAgain": True},
            project=run.project,
        ),
    )
    return revived


async def _lock_run_raw(tx: Tx, run_id: str) -> tuple[Run, str | None]:
    """Take the run's write lock; return it and its raw summary steps."""
    row = await (await tx.run(q.LOCK_RUN, id=run_id)).single()
    if row is None:
        raise NotFound("run", run_id)
    return run_from(row["run"]), row["run"].get("summarySteps")


async def _set_props(tx: Tx, run_id: str, props: dict[str, Any]) -> Run:
    row = await (await tx.run(q.SET_RUN_PROPS, id=run_id, props=props)).single(strict=True)
    return run_from(row["run"])


def _view(run: Run, changes: Mapping[str, Any]) -> dict[str, Any]:
    fields = {
        "name": run.name,
        "notes": run.notes,
        "tags": list(run.tags),
        "config": run.config,
        "summary": run.summary,
    }
    return {k: v for k, v in fields.items() if k in changes}


def _chunks(points: Sequence[tuple[int, str, float]]) -> list[dict[str, Any]]:
    by_key: dict[str, list[tuple[int, float]]] = {}
    for step, key, value in points:
        by_key.setdefault(key, []).append((step, value))
    chunks = []
    for key, series in by_key.items():
        series.sort(key=lambda p: p[0])
        chunks.append(
            {
                "key": key,
                "steps": [s for s, _ in series],
                "values": [v for _, v in series],
                "first_step": series[0][0],
                "last_step": series[-1][0],
                "last_value": series[-1][1],
            }
        )
    return chunks
