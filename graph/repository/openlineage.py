"""OpenLineage RunEvents written into the graph, each in one transaction with one audit event
(graph.openlineage says what maps to what)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.events import write_event
from graph.ids import new_id
from graph.openlineage import DATASET_TYPE, TAG, Dataset, RunEvent
from graph.queries import artifacts as aq
from graph.queries import openlineage as q
from graph.records import Artifact, ArtifactVersion, loads
from graph.repository.artifacts import _ensure_artifact, _move_latest, version_from
from graph.repository.base import Repository, Tx
from graph.repository.runs import CONFIG_PREFIX, TERMINAL, ensure_project, flat


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
                return Ingested(seen["run"], seen["event"], duplicate=True)
            project, _ = await ensure_project(tx, event.project, actor=actor)
            run_id, run_created = await _run(tx, event, actor, now)
            # Artifacts are locked in one order (sorted), so two events cannot deadlock.
            datasets = {(d.project, d.artifact): d for d in (*event.inputs, *event.outputs)}
            artifacts: dict[tuple[str, str], Artifact] = {}
            for key in sorted(datasets):
                await ensure_project(tx, key[0], actor=actor)
                artifacts[key] = await _lock_artifact(
                    tx, await _ensure_artifact(tx, key[0], key[1], DATASET_TYPE)
                )
            consumed, produced, made = [], [], []
            for dataset in event.inputs:
                artifact = artifacts[(dataset.project, dataset.artifact)]
                version, new = await _input_version(tx, artifact, dataset, now)
                made += [version.id] if new else []
                await tx.run(
                    aq.CONSUME_VERSION,
                    run_id=run_id,
                    version_id=version.id,
                    now=now,
                    ref=version.name,
                )
                consumed.append(version)
            if event.event_type == "COMPLETE":
                for dataset in event.outputs:
                    artifact = artifacts[(dataset.project, dataset.artifact)]
                    version, new = await _output_version(
                        tx, artifact, dataset, event.run_id, run_id, now
                    )
                    made += [version.id] if new else []
                    produced.append(version)
            subjects = [
                run_id,
                *([project.id] if run_created else []),
                *(v.id for v in (*consumed, *produced)),
                *(a.id for a in artifacts.values()),
            ]
            event_id = await write_event(
                tx,
                "openlineage.run_event",
                actor=actor,
                subjects=list(dict.fromkeys(subjects)),
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
            )
            await tx.run(q.SET_EVENT, digest=event.digest, run=run_id, event=event_id)
            return Ingested(
                run_id,
                event_id,
                duplicate=False,
                consumed=tuple(v.id for v in consumed),
                produced=tuple(v.id for v in produced),
            )

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
    props: dict[str, Any] = {
        "id": new_id("run"),
        "olRunId": event.run_id,
        "project": event.project,
        "name": event.job_name[:200],
        "status": status,
        "config": json.dumps(config, sort_keys=True),
        "summary": "{}",
        "tags": [TAG],
        "sourceCommit": None,
        "entryPoint": None,
        "host": None,
        "actor": actor,
        "startedAt": event.event_time,
        "endedAt": event.event_time if status in TERMINAL else None,
        "olEventTime": event.event_time,
        **flat(CONFIG_PREFIX, config),
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
        await tx.run("MATCH (r:Run {id: $id}) SET r += $props", id=node["id"], props=changes)
    return str(node["id"]), False


async def _lock_artifact(tx: Tx, artifact: Artifact) -> Artifact:
    await (await tx.run(aq.LOCK_ARTIFACT, artifact_id=artifact.id)).consume()
    return artifact


async def _by_key(tx: Tx, artifact: Artifact, key: str) -> ArtifactVersion | None:
    row = await (await tx.run(q.VERSION_BY_KEY, artifact_id=artifact.id, key=key)).single()
    return version_from(row["version"]) if row else None


async def _input_version(
    tx: Tx, artifact: Artifact, dataset: Dataset, now: datetime
) -> tuple[ArtifactVersion, bool]:
    """The version an input names (its version facet), else the artifact's latest; made now
    (a source seen for the first time, or a version not written yet) when there is none."""
    key = dataset.version
    if key is not None:
        found = await _by_key(tx, artifact, f"version:{key}")
    else:
        row = await (await tx.run(aq.LATEST_VERSION, artifact_id=artifact.id)).single()
        found = version_from(row["version"]) if row else None
    if found is not None:
        return found, False
    made = await _reference_version(
        tx, artifact, dataset, f"version:{key}" if key else f"source:{now.isoformat()}", None, now
    )
    return made, True


async def _output_version(
    tx: Tx, artifact: Artifact, dataset: Dataset, ol_run_id: str, run_id: str, now: datetime
) -> tuple[ArtifactVersion, bool]:
    """The version a completed run wrote: named by the version facet, else by the run."""
    key = f"version:{dataset.version}" if dataset.version else f"run:{ol_run_id}"
    found = await _by_key(tx, artifact, key)
    if found is None:
        return await _reference_version(tx, artifact, dataset, key, run_id, now), True
    if found.run_id is None:  # first seen as an input: now we know who wrote it
        await tx.run(q.ADOPT_VERSION, id=found.id, run_id=run_id, now=now)
    return found, False


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
    props = {
        "id": new_id("ver"),
        "artifactId": artifact.id,
        "project": artifact.project,
        "artifact": artifact.name,
        "type": artifact.type,
        "state": "PENDING",
        "digest": hashlib.sha256(f"{dataset.reference}\n{key}".encode()).hexdigest(),
        "description": "",
        "metadata": json.dumps(metadata, sort_keys=True, default=str),
        "size": 0,
        "fileCount": 0,
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
