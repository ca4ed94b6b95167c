"""OpenLineage RunEvents written into the graph, each in one transaction with one audit event
(graph.openlineage says what maps to what)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.errors import Forbidden, Invalid
from graph.events import Change, write_event
from graph.ids import new_id
from graph.openlineage import DATASET_TYPE, TAG, Dataset, RunEvent
from graph.queries import artifacts as aq
from graph.queries import openlineage as q
from graph.records import Artifact, ArtifactVersion, Reference, loads
from graph.repository.artifacts import (
    _ensure_artifact,
    _lock_artifact,
    _move_latest,
    artifact_from,
    manifest_digest,
    version_from,
)
from graph.repository.base import Repository, Tx
from graph.repository.runs import TERMINAL, ensure_project, new_run


@dataclass(frozen=True, slots=True)
class Ingested:
    run_id: str
    event_id: str | None  # the audit event; for a duplicate, the first delivery's
    duplicate: bool
    consumed: tuple[str, ...] = ()  # version ids
    produced: tuple[str, ...] = ()


class OpenLineageRepository(Repository):
    async def ingest(self, event: RunEvent, *, actor: str) -> Ingested:
        """Write one RunEvent: its run (created on first sight, its status moved as the
        event says unless a later one already did), what it consumed and, once it completed,
        what it produced. The same event twice changes nothing the second time."""

        async def work(tx: Tx) -> Ingested:
            now = datetime.now(UTC)
            seen = await (await tx.run(q.CLAIM_EVENT, digest=event.digest, now=now)).single(
                strict=True
            )
            if not seen["created"]:
                return Ingested(
                    seen["run"],
                    seen["event"],
                    duplicate=True,
                    consumed=tuple(seen["consumed"] or ()),
                    produced=tuple(seen["produced"] or ()),
                )
            project_id = await _projects(tx, event, actor)
            run_id, run_created = await _run(tx, event, actor, now)
            outputs = event.outputs if event.event_type == "COMPLETE" else ()
            wanted = [
                *((d, f"version:{d.version}" if d.version else None) for d in event.inputs),
                *(
                    (d, f"version:{d.version}" if d.version else f"run:{event.run_id}")
                    for d in outputs
                ),
            ]
            found = await _datasets(tx, wanted)
            # Every node the event will be about, write-locked now in one order (sorted): its
            # ABOUT edges would lock them last, in the subjects' order, and shared locks taken
            # on the way (a MERGE that finds an edge) would be upgraded: either deadlocks with
            # another event about the same popular table.
            known = {artifact.id for artifact, _ in found}
            known |= {version.id for _, version in found if version is not None}
            await (await tx.run(q.LOCK_SUBJECTS, ids=sorted(known))).consume()
            made: list[str] = []
            consumed: list[ArtifactVersion] = []
            produced: list[ArtifactVersion] = []
            # Versions are made under their artifact's lock, taken in one order (sorted), so
            # two events cannot deadlock; what was read before the lock is read again.
            missing = sorted(
                (i for i, (_, version) in enumerate(found) if version is None),
                key=lambda i: (wanted[i][0].project, wanted[i][0].artifact),
            )
            for i in missing:
                dataset, key = wanted[i]
                artifact = found[i][0]
                await _lock_artifact(tx, artifact.id)
                again = await _existing(tx, artifact, key)
                if again is None:
                    producer = run_id if i >= len(event.inputs) else None
                    again = await _reference_version(
                        tx, artifact, dataset, key or f"source:{now.isoformat()}", producer, now
                    )
                    made.append(again.id)
                found[i] = (artifact, again)
            for i, (_, version) in enumerate(found):
                assert version is not None
                if i < len(event.inputs):
                    consumed.append(version)
                else:
                    if version.run_id is None:  # first seen as an input: now its writer
                        await tx.run(q.ADOPT_VERSION, id=version.id, run_id=run_id, now=now)
                    produced.append(version)
            if consumed:
                used = [{"id": v.id, "ref": v.name} for v in consumed]
                await tx.run(q.CONSUME, run_id=run_id, versions=used, now=now)
            subjects = [
                run_id,
                *([project_id] if run_created else []),
                *(v.id for v in (*consumed, *produced)),
                *(artifact.id for artifact, _ in found),
            ]
            subjects = list(dict.fromkeys(subjects))
            event_id = await write_event(
                tx,
                Change(
                    "openlineage.run_event",
                    actor=actor,
                    subjects=subjects,
                    after={
                        "eventType": event.event_type,
                        "eventTime": event.event_time.isoformat(),
                        "job": f"{event.job_namespace}/{event.job_name}",
                        "runId": event.run_id,
                        "run": run_id,
                        "consumed": [v.name for v in consumed],
                        "produced": [v.name for v in produced],
                        "created": made,
                        "producer": event.producer,
                    },
                    project=event.project,
                ),
            )
            done = Ingested(
                run_id,
                event_id,
                duplicate=False,
                consumed=tuple(v.id for v in consumed),
                produced=tuple(v.id for v in produced),
            )
            await tx.run(
                q.SET_EVENT,
                digest=event.digest,
                run=run_id,
                event=event_id,
                consumed=list(done.consumed),
                produced=list(done.produced),
            )
            return done

        return await self._write(work)


async def _run(tx: Tx, event: RunEvent, actor: str, now: datetime) -> tuple[str, bool]:
    """The event's run, created on first sight; its status, times and facets as the event
    leaves them. Events may come in any order: a terminal status is only replaced by a later
    terminal event, never by START or RUNNING."""
    config = {
        TAG: {
            "namespace": event.job_namespace,
            "job": event.job_name,
            "runId": event.run_id,
            "runFacets": event.run_facets,
            "jobFacets": event.job_facets,
        }
    }
    status = event.status or "RUNNING"
    props = {
        **new_run(
            project=event.project,
            name=event.job_name[:200],
            config=config,
            tags=[TAG],
            actor=actor,
            status=status,
            started_at=event.event_time,
        ),
        "olRunId": event.run_id,
        "olEventTime": event.event_time,
    }
    row = await (
        await tx.run(q.ENSURE_RUN, project=event.project, ol_run_id=event.run_id, props=props)
    ).single(strict=True)
    node = row["run"]
    if row["created"]:
        return str(node["id"]), True
    changes: dict[str, Any] = {}
    before = loads(node.get("config")).get(TAG) or {}
    merged = {
        **before,
        "runFacets": {**(before.get("runFacets") or {}), **event.run_facets},
        "jobFacets": {**(before.get("jobFacets") or {}), **event.job_facets},
    }
    if merged != before:
        changes["config"] = json.dumps({**loads(node.get("config")), TAG: merged}, sort_keys=True)
    last = node.get("olEventTime")
    later = last is None or event.event_time > last.to_native()
    if event.status is not None and (
        (event.status in TERMINAL and (node["status"] not in TERMINAL or later))
        or (event.status not in TERMINAL and node["status"] not in TERMINAL and later)
    ):
        changes.update(status=event.status, olEventTime=event.event_time)
        changes["endedAt"] = event.event_time if event.status in TERMINAL else None
    if event.event_type == "START" and event.event_time < node["startedAt"].to_native():
        changes["startedAt"] = event.event_time
    if changes:
        await tx.run(q.SET_RUN_PROPS, id=node["id"], props=changes)
    return str(node["id"]), False


async def _projects(tx: Tx, event: RunEvent, actor: str) -> str:
    """Make the projects the event writes into that do not exist (the actor their member);
    Forbidden for one the actor may not write into. Then lock them, in one order: the run and
    artifacts the event may make are tied to them (edges that lock both ends), and two events
    taking them in different orders deadlock. The job's project id."""
    names = sorted({event.project, *(d.project for d in (*event.inputs, *event.outputs))})
    job_project = ""
    ids = []
    for row in [row async for row in await tx.run(q.PROJECTS, names=names, actor=actor)]:
        if not row["exists"]:
            project, _ = await ensure_project(tx, row["name"], actor=actor)
            project_id = project.id
        elif not row["allowed"]:
            raise Forbidden(f"{actor!r} is not a member of project {row['name']!r}")
        else:
            project_id = row["id"]
        if row["name"] == event.project:
            job_project = project_id
        ids.append(project_id)
    # By name, the order they were made in above (a project made by another event waits on
    # its name first).
    await (await tx.run(q.LOCK_SUBJECTS, ids=ids)).consume()
    return job_project


async def _datasets(
    tx: Tx, wanted: list[tuple[Dataset, str | None]]
) -> list[tuple[Artifact, ArtifactVersion | None]]:
    """Each dataset's artifact (made now if new) and the version of its key (the latest when
    the key is None), if there is one yet."""
    rows = [{"project": d.project, "name": d.artifact, "key": key} for d, key in wanted]
    read = [row async for row in await tx.run(q.DATASETS, datasets=rows)]
    found: list[tuple[Artifact, ArtifactVersion | None]] = []
    made: dict[tuple[str, str], Artifact] = {}
    for row, (dataset, key) in zip(read, wanted, strict=True):
        if row["artifact"] is None:
            name = (dataset.project, dataset.artifact)
            if name not in made:
                made[name] = await _ensure_artifact(tx, *name, DATASET_TYPE)
            found.append((made[name], None))
            continue
        artifact = artifact_from(row["artifact"])
        if artifact.type != DATASET_TYPE:
            raise Invalid(
                "inputs" if key is None or key.startswith("version:") else "outputs",
                f"{artifact.project}/{artifact.name} is a {artifact.type!r} artifact, not a "
                f"{DATASET_TYPE!r}: an OpenLineage dataset cannot be logged into it",
            )
        version = row["keyed"] if key is not None else row["latest"]
        found.append((artifact, version_from(version) if version else None))
    return found


async def _existing(tx: Tx, artifact: Artifact, key: str | None) -> ArtifactVersion | None:
    """The version of `key` (the latest when None), read under the artifact's lock."""
    if key is None:
        row = await (await tx.run(aq.LATEST_VERSION, artifact_id=artifact.id)).single()
    else:
        row = await (await tx.run(q.VERSION_BY_KEY, artifact_id=artifact.id, key=key)).single()
    return version_from(row["version"]) if row else None


async def _reference_version(
    tx: Tx,
    artifact: Artifact,
    dataset: Dataset,
    key: str,
    run_id: str | None,
    now: datetime,
) -> ArtifactVersion:
    """A committed version with no files: the data is at `dataset.reference`."""
    metadata = {
        TAG: {"namespace": dataset.namespace, "name": dataset.name, "facets": dataset.facets},
        "reference": dataset.reference,
    }
    reference = Reference(dataset.name.lstrip("/") or "data", dataset.reference)
    props = {
        "id": new_id("ver"),
        "artifactId": artifact.id,
        "project": artifact.project,
        "artifact": artifact.name,
        "type": artifact.type,
        "state": "PENDING",
        "digest": manifest_digest([], [reference]),
        "description": "",
        "metadata": json.dumps(metadata, sort_keys=True, default=str),
        "size": 0,
        "fileCount": 0,
        "references": json.dumps([reference.as_map()]),
        "referenceCount": 1,
        "runId": run_id,
        "createdAt": now,
        "expiresAt": None,
        "olVersion": key,
        "reference": dataset.reference,
    }
    await (await tx.run(q.CREATE_REFERENCE_VERSION, artifact_id=artifact.id, props=props)).consume()
    row = await (await tx.run(aq.COMMIT_VERSION, id=props["id"], now=now)).single(strict=True)
    await _move_latest(tx, artifact.id, now)
    return version_from(row["version"])
