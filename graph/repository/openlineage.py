"""OpenLineage RunEvents written into the graph (graph.openlineage says what maps to what).

Events are written in batches: a batch is one transaction, with one audit event per
RunEvent, so a client sending many events at once is not held to a transaction (and some ten
round trips) per event. A batch reads what its events are about once, applies the events in
order in memory exactly as if they were written one after another (a run's START then its
COMPLETE; a dataset one event writes and the next reads), and writes the outcome with one
query per kind of change.

An event refused in its batch (a project its sender may not write into, a dataset named like
an artifact of another type) writes nothing and leaves the others be. When anything else
fails, each event of the batch is written alone, so one event's trouble is its own.

Locks, in this order: the events' projects (by name), their dataset artifacts (by project and
name), their runs (by OpenLineage runId). A version is written only under its artifact's lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, overload

from graph.errors import GraphError, GraphUnavailable, Invalid, not_a_member
from graph.events import Change, new_event
from graph.ids import new_id
from graph.openlineage import DATASET_TYPE, TAG, Dataset, RunEvent
from graph.queries import openlineage as q
from graph.records import Reference, loads, native
from graph.repository.artifacts import manifest_digest
from graph.repository.base import Repository, Tx
from graph.repository.runs import TERMINAL, ensure_project, new_run


@dataclass(frozen=True, slots=True)
class Delivery:
    """One RunEvent as it came, with who sent it."""

    event: RunEvent
    actor: str


@dataclass(frozen=True, slots=True)
class Ingested:
    run_id: str
    event_id: str | None  # the audit event; for a duplicate, the first delivery's
    duplicate: bool
    consumed: tuple[str, ...] = ()  # version ids
    produced: tuple[str, ...] = ()


Outcome = Ingested | GraphError


class OpenLineageRepository(Repository):
    async def ingest(self, event: RunEvent, *, actor: str) -> Ingested:
        """Write one RunEvent (see ingest_many); raise what refused it."""
        (done,) = await self.ingest_many([Delivery(event, actor)])
        if isinstance(done, GraphError):
            raise done
        return done

    async def ingest_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Write RunEvents in one transaction, in order: each one's run (created on first
        sight, its status moved as the event says unless a later one already did), what it
        consumed and, once it completed, what it produced. The same event twice changes
        nothing the second time. Each delivery's outcome: what was written, or the error
        that refused it (that event wrote nothing)."""
        try:
            return await self._write(lambda tx: _Batch(tx, deliveries).write())
        except GraphUnavailable:
            raise
        except GraphError as exc:
            if len(deliveries) == 1:
                return [exc]
        # Something no event was refused for up front (another replica made a project or
        # an artifact meanwhile): each event alone, so the trouble stays with its own.
        return [(await self.ingest_many([delivery]))[0] for delivery in deliveries]


@dataclass
class _Dataset:
    """What a batch holds of one dataset artifact under its lock."""

    id: str
    project: str
    name: str
    next_index: int
    latest: dict[str, Any] | None = None
    keyed: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Batch:
    """One transaction's events, applied in arrival order (see the module's docstring)."""

    def __init__(self, tx: Tx, deliveries: Sequence[Delivery]) -> None:
        self.tx = tx
        self.deliveries = deliveries
        self.now = datetime.now(UTC)
        self.project_ids: dict[str, str] = {}
        self.datasets: dict[tuple[str, str], _Dataset] = {}
        self.runs: dict[str, dict[str, Any]] = {}  # OpenLineage runId -> the run's node
        self.run_changes: dict[str, dict[str, Any]] = {}  # run id -> properties to set
        self.versions: list[dict[str, Any]] = []  # made by the batch, in order
        self.adopted: list[dict[str, str]] = []
        self.uses: list[dict[str, str]] = []
        self.claims: list[Mapping[str, Any]] = []

    async def write(self) -> list[Outcome]:
        tx = self.tx
        outcomes: list[Outcome | None] = [None] * len(self.deliveries)
        pairs = sorted({(name, d.actor) for d in self.deliveries for name in _projects(d.event)})
        names = sorted(
            {(d.project, d.artifact) for x in self.deliveries for d, _ in _named(x.event)}
        )
        opened = await (
            await tx.run(
                q.OPEN_BATCH,
                digests=list(dict.fromkeys(d.event.digest for d in self.deliveries)),
                pairs=[{"name": name, "actor": actor} for name, actor in pairs],
                names=[{"project": p, "name": n} for p, n in names],
                now=self.now,
            )
        ).single(strict=True)
        self.claims = opened["claims"]
        claims = {claim["digest"]: claim for claim in self.claims}
        admitted, makers = self._admit(opened["projects"], opened["types"], outcomes)
        written = {self.deliveries[i].event.digest for i in admitted}
        unwritten = [
            digest for digest, c in claims.items() if c["created"] and digest not in written
        ]
        if unwritten:  # only refused deliveries: nothing claims them
            await (await tx.run(q.UNCLAIM_EVENTS, digests=unwritten)).consume()
        for i, delivery in enumerate(self.deliveries):
            claim = claims[delivery.event.digest]
            if outcomes[i] is None and not claim["created"]:
                outcomes[i] = Ingested(
                    claim["run"],
                    claim["event"],
                    duplicate=True,
                    consumed=tuple(claim["consumed"] or ()),
                    produced=tuple(claim["produced"] or ()),
                )
        if admitted:
            await self._lock([self.deliveries[i] for i in admitted], makers)
            changes, done = [], []
            for i in admitted:
                change, ingested = self._apply(self.deliveries[i])
                changes.append(new_event(change))
                done.append(ingested)
            claimed = []
            for i, ingested, event in zip(admitted, done, changes, strict=True):
                outcomes[i] = ingested = replace(ingested, event_id=event["id"])
                claimed.append(
                    {
                        "digest": self.deliveries[i].event.digest,
                        "run": ingested.run_id,
                        "event": ingested.event_id,
                        "consumed": list(ingested.consumed),
                        "produced": list(ingested.produced),
                    }
                )
            await self._flush(changes, claimed)
        # A copy of an event written in the same batch is its duplicate.
        writer = {self.deliveries[i].event.digest: i for i in reversed(admitted)}
        for i, delivery in enumerate(self.deliveries):
            if outcomes[i] is None:
                first = outcomes[writer[delivery.event.digest]]
                assert isinstance(first, Ingested)
                outcomes[i] = replace(first, duplicate=True)
        return [outcome for outcome in outcomes if outcome is not None]

    def _admit(
        self,
        projects: list[Mapping[str, Any]],
        types: list[Mapping[str, Any]],
        outcomes: list[Outcome | None],
    ) -> tuple[list[int], dict[str, str]]:
        """Which deliveries write their event, in order, from what OPEN_BATCH read of their
        projects and datasets: (admitted, the projects to make with the first member of
        each). A refused delivery gets its error in `outcomes`; a copy of an event written
        before, or by an earlier delivery of the batch, is neither (it is a duplicate), once
        its sender may write where it is. A project is made by the first admitted event that
        writes into it, with its sender as a member, as one event alone would."""
        self.project_ids = {row["name"]: row["id"] for row in projects if row["id"] is not None}
        members = {(row["name"], row["actor"]) for row in projects if row["member"]}
        admins = {row["actor"] for row in projects if row["admin"]}
        kinds = {(row["project"], row["name"]): row["type"] for row in types}
        fresh = {row["digest"] for row in self.claims if row["created"]}
        makers: dict[str, str] = {}
        admitted: list[int] = []
        for i, delivery in enumerate(self.deliveries):
            event, actor = delivery.event, delivery.actor
            making: dict[str, str] = {}
            try:
                for name in _projects(event):
                    if name in self.project_ids:
                        allowed = (name, actor) in members or actor in admins
                    elif name in makers:
                        allowed = makers[name] == actor or actor in admins
                    else:
                        making[name] = actor
                        allowed = True
                    if not allowed:
                        raise not_a_member(actor, name)
                for dataset, output in _named(event):
                    kind = kinds.get((dataset.project, dataset.artifact), DATASET_TYPE)
                    if kind != DATASET_TYPE:
                        raise Invalid(
                            "outputs" if output else "inputs",
                            f"{dataset.project}/{dataset.artifact} is a {kind!r} artifact, "
                            f"not a {DATASET_TYPE!r}: an OpenLineage dataset cannot be logged "
                            "into it",
                        )
            except GraphError as exc:
                outcomes[i] = exc
                continue
            if event.digest in fresh:
                fresh.discard(event.digest)  # later copies are duplicates of this one
                makers.update(making)
                admitted.append(i)
        return admitted, makers

    async def _lock(self, deliveries: list[Delivery], makers: dict[str, str]) -> None:
        """Make the new projects, then (LOCK_BATCH) make the new artifacts and runs and
        write-lock all the events are about, in the module's order, and read their datasets'
        versions under the locks."""
        for name, maker in makers.items():
            project, _ = await ensure_project(self.tx, name, actor=maker)
            self.project_ids[name] = project.id
        events = [d.event for d in deliveries]
        projects = sorted({name for event in events for name in _projects(event)})
        keys = {
            (d.project, d.artifact, _key(d, output=output, run=e.run_id) or "")
            for e in events
            for d, output in _named(e)
        }
        first: dict[str, Delivery] = {}
        for delivery in deliveries:
            first.setdefault(delivery.event.run_id, delivery)
        locked = await (
            await self.tx.run(
                q.LOCK_BATCH,
                projects=[self.project_ids[name] for name in projects],
                artifacts=[
                    {"project": p, "name": n, "id": new_id("art")}
                    for p, n in sorted({(p, n) for p, n, _ in keys})
                ],
                runs=[
                    {"project": d.event.project, "olRunId": run_id, "props": _new_run(d)}
                    for run_id, d in sorted(first.items())
                ],
                wanted=[{"project": p, "name": n, "key": k} for p, n, k in sorted(keys)],
                type=DATASET_TYPE,
                now=self.now,
            )
        ).single(strict=True)
        for node in locked["artifacts"]:
            if node["type"] != DATASET_TYPE:  # made by another replica since OPEN_BATCH
                raise Invalid("outputs", f"{node['project']}/{node['name']} is not a dataset")
            self.datasets[(node["project"], node["name"])] = _Dataset(
                node["id"], node["project"], node["name"], int(node["nextIndex"])
            )
        for row in locked["runs"]:
            node = dict(row["run"])
            node["_created"] = row["created"]
            self.runs[node["olRunId"]] = node
        by_id = {held.id: held for held in self.datasets.values()}
        for row in locked["versions"]:
            held = by_id[row["artifact"]]
            held.latest = row["latest"]
            if row["keyed"] is not None:
                held.keyed[row["key"]] = row["keyed"]

    def _dataset(self, d: Dataset) -> _Dataset:
        return self.datasets[(d.project, d.artifact)]

    def _apply(self, delivery: Delivery) -> tuple[Change, Ingested]:
        """One event applied to what the batch holds: its change to record, and its answer
        (without the change's id yet)."""
        event = delivery.event
        node = self.runs[event.run_id]
        run_id = str(node["id"])
        created_run = bool(node.pop("_created", False))
        if not created_run:
            changes = _run_changes(node, event)
            node.update(changes)
            self.run_changes.setdefault(run_id, {}).update(changes)
        made: list[str] = []
        consumed: list[dict[str, Any]] = []
        for dataset in event.inputs:
            key = _key(dataset, output=False)
            held = self._dataset(dataset)
            version = held.keyed.get(key) if key is not None else held.latest
            if version is None:
                version = self._reference_version(
                    held, dataset, key or f"source:{self.now.isoformat()}", None
                )
                made.append(version["id"])
            consumed.append(version)
        produced: list[dict[str, Any]] = []
        if event.event_type == "COMPLETE":
            made_here = {v["id"] for v in self.versions}
            for dataset in event.outputs:
                key = _key(dataset, output=True, run=event.run_id)
                held = self._dataset(dataset)
                version = held.keyed.get(key)
                if version is None:
                    version = self._reference_version(held, dataset, key, run_id)
                    made.append(version["id"])
                elif version.get("runId") is None:  # first seen as an input: now its writer
                    version["runId"] = run_id
                    if version["id"] not in made_here:
                        self.adopted.append({"id": version["id"], "run": run_id})
                produced.append(version)
        self.uses += [{"run": run_id, "id": v["id"], "ref": _name(v)} for v in consumed]
        artifacts = [self._dataset(d).id for d, _ in _named(event)]
        subjects = [
            run_id,
            *([self.project_ids[event.project]] if created_run else []),
            *(v["id"] for v in (*consumed, *produced)),
            *artifacts,
        ]
        change = Change(
            "openlineage.run_event",
            actor=delivery.actor,
            subjects=list(dict.fromkeys(subjects)),
            after={
                "eventType": event.event_type,
                "eventTime": event.event_time.isoformat(),
                "job": f"{event.job_namespace}/{event.job_name}",
                "runId": event.run_id,
                "run": run_id,
                "consumed": [_name(v) for v in consumed],
                "produced": [_name(v) for v in produced],
                "created": made,
                "producer": event.producer,
            },
            project=event.project,
        )
        ingested = Ingested(
            run_id,
            None,
            duplicate=False,
            consumed=tuple(v["id"] for v in consumed),
            produced=tuple(v["id"] for v in produced),
        )
        return change, ingested

    def _reference_version(
        self, held: _Dataset, dataset: Dataset, key: str, run_id: str | None
    ) -> dict[str, Any]:
        """A committed version with no files, the artifact's newest (so its `latest`): the
        data is at `dataset.reference`."""
        metadata = {
            TAG: {"namespace": dataset.namespace, "name": dataset.name, "facets": dataset.facets},
            "reference": dataset.reference,
        }
        reference = Reference(dataset.name.lstrip("/") or "data", dataset.reference)
        props = {
            "id": new_id("ver"),
            "artifactId": held.id,
            "project": held.project,
            "artifact": held.name,
            "type": DATASET_TYPE,
            "state": "COMMITTED",
            "index": held.next_index,
            "digest": manifest_digest([], [reference]),
            "description": "",
            "metadata": json.dumps(metadata, sort_keys=True, default=str),
            "size": 0,
            "fileCount": 0,
            "references": json.dumps([reference.as_map()]),
            "referenceCount": 1,
            "runId": run_id,
            "expiresAt": None,
            "olVersion": key,
            "reference": dataset.reference,
        }
        held.next_index += 1
        held.latest = held.keyed[key] = props
        self.versions.append(props)
        return props

    async def _flush(self, events: list[dict[str, Any]], claims: list[dict[str, Any]]) -> None:
        """Write what the batch's events did, their audit events and their claims' answers
        (FLUSH_BATCH)."""
        newest = {v["artifactId"]: v for v in self.versions}
        await (
            await self.tx.run(
                q.FLUSH_BATCH,
                versions=self.versions,
                moves=[
                    {"artifact": a, "version": v["id"], "next": v["index"] + 1}
                    for a, v in newest.items()
                ],
                adopted=self.adopted,
                uses=self.uses,
                runs=[
                    {"id": run, "props": props} for run, props in self.run_changes.items() if props
                ],
                events=events,
                claims=claims,
                now=self.now,
            )
        ).consume()


@overload
def _key(dataset: Dataset, *, output: Literal[True], run: str) -> str: ...
@overload
def _key(dataset: Dataset, *, output: bool, run: str = "") -> str | None: ...
def _key(dataset: Dataset, *, output: bool, run: str = "") -> str | None:
    """Which version of `dataset` an event means: the one its version facet names; for an
    output, else the one its run wrote; for an input, else None (the latest)."""
    if dataset.version:
        return f"version:{dataset.version}"
    return f"run:{run}" if output else None


def _projects(event: RunEvent) -> list[str]:
    """The projects an event writes into: its job's, and its datasets' namespaces'."""
    return sorted({event.project, *(d.project for d in (*event.inputs, *event.outputs))})


def _named(event: RunEvent) -> list[tuple[Dataset, bool]]:
    """The datasets an event reads, and writes once its run completed (an output is written
    then), each with whether it is an output."""
    written = event.outputs if event.event_type == "COMPLETE" else ()
    return [(d, False) for d in event.inputs] + [(d, True) for d in written]


def _name(version: Mapping[str, Any]) -> str:
    """`project/artifact:vN` of a committed version's properties."""
    return f"{version['project']}/{version['artifact']}:v{version['index']}"


def _new_run(delivery: Delivery) -> dict[str, Any]:
    """The properties of the run an event names, made on its first sight."""
    event = delivery.event
    config = {
        TAG: {
            "namespace": event.job_namespace,
            "job": event.job_name,
            "runId": event.run_id,
            "runFacets": event.run_facets,
            "jobFacets": event.job_facets,
        }
    }
    return {
        **new_run(
            project=event.project,
            name=event.job_name[:200],
            config=config,
            tags=[TAG],
            actor=delivery.actor,
            status=event.status or "RUNNING",
            started_at=event.event_time,
        ),
        "olRunId": event.run_id,
        "olEventTime": event.event_time,
    }


def _run_changes(node: Mapping[str, Any], event: RunEvent) -> dict[str, Any]:
    """What a later event changes on a run: its facets, and its status and times as the event
    leaves them. Events may come in any order: a terminal status is only replaced by a later
    terminal event, never by START or RUNNING."""
    changes: dict[str, Any] = {}
    config = loads(node.get("config"))
    before = config.get(TAG) or {}
    merged = {
        **before,
        "runFacets": {**(before.get("runFacets") or {}), **event.run_facets},
        "jobFacets": {**(before.get("jobFacets") or {}), **event.job_facets},
    }
    if merged != before:
        changes["config"] = json.dumps({**config, TAG: merged}, sort_keys=True)
    last = native(node.get("olEventTime"))
    later = last is None or event.event_time > last
    status = node["status"]
    if event.status is not None and (
        (event.status in TERMINAL and (status not in TERMINAL or later))
        or (event.status not in TERMINAL and status not in TERMINAL and later)
    ):
        changes.update(status=event.status, olEventTime=event.event_time)
        changes["endedAt"] = event.event_time if event.status in TERMINAL else None
    if event.event_type == "START" and event.event_time < native(node["startedAt"]):
        changes["startedAt"] = event.event_time
    return changes
