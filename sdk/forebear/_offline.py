"""Offline runs (FOREBEAR_MODE=offline): what a run does is written to a journal under
FOREBEAR_CACHE_DIR/offline, with a copy of every file it logs, and `forebear sync` replays it
to a server later. Safe to run twice: each replayed mutation carries an idempotency key made
from the journal and the step, the server's other steps are idempotent by nature (the same
manifest is the same version, a link or use made already is given back), and a journal synced
whole is marked done and skipped."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forebear._api import Api, LinkedVersion, settable
from forebear._artifact import Artifact, ArtifactReference, registry_path, stand_in
from forebear._errors import AuthError, Conflict, ForebearError, ServerError, TransportError
from forebear._graphql import jsonable
from forebear._hashing import HashCache
from forebear._run import Run, ended

DONE = ".synced"


def offline_root(cache_dir: Path) -> Path:
    return cache_dir / "offline"


class Journal:
    """One offline run: `journal.jsonl` (one operation a line) and `files/` (logged contents
    by sha256)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "journal.jsonl"
        self.files = root / "files"

    @classmethod
    def new(cls, cache_dir: Path) -> Journal:
        root = offline_root(cache_dir) / f"run-{uuid.uuid4().hex}"
        (root / "files").mkdir(parents=True)
        return cls(root)

    def write(self, op: str, **data: Any) -> None:
        with open(self.path, "a") as out:
            out.write(json.dumps({"op": op, **data}, default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def keep(self, source: str, sha256: str) -> None:
        """A copy of a logged file's content, so that sync sends what was logged."""
        target = self.files / sha256
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)

    def operations(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with open(self.path) as lines:
            for number, line in enumerate(lines):
                if line.strip():
                    yield number, json.loads(line)

    @property
    def synced(self) -> bool:
        return (self.root / DONE).exists()


class OfflineRun(Run):
    """A run that writes a journal instead of calling a server."""

    journaled = True

    def __init__(self, api: Api, journal: Journal, record: dict[str, Any]) -> None:
        super().__init__(api, record, disabled=True)
        self.journal = journal
        self._hashes = HashCache(api.settings.cache_dir)

    def _send(self, points: list[dict[str, Any]]) -> None:
        if points:  # a step of media alone has no metric point to send
            self.journal.write("log", points=points)

    def _update(self, **changes: Any) -> None:
        self.journal.write("update", changes=changes)

    def _alert(self, title: str, text: str, level: str) -> None:
        self.journal.write("alert", title=title, text=text, level=level)

    def _log_built(self, artifact: Artifact, aliases: tuple[str, ...]) -> Artifact:
        if artifact._kept or artifact.incremental:
            raise ForebearError(
                f"{artifact.name} is a draft of a logged version (new_draft, or incremental): "
                "the files it keeps are on the server, so it is logged online"
            )
        files = []
        ordered = artifact._ordered()
        for (entry, local), sha in zip(ordered, self._hashes.digests([p for _, p in ordered])):
            self.journal.keep(local, sha)
            files.append({"path": entry, "sha256": sha})
        self.journal.write(
            "artifact",
            name=artifact.name,
            type=artifact.type,
            description=artifact.description,
            metadata=jsonable(artifact.metadata),
            files=files,
            references=[r.as_input() for r in artifact.references()],
            aliases=list(settable(aliases)),
        )
        return artifact

    def use_artifact(
        self,
        ref: str | Artifact,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        if isinstance(ref, Artifact):
            raise ForebearError("offline, use an artifact by reference (project/name:alias)")
        full = ref if "/" in ref else f"{self.project}/{ref}"
        self.journal.write("use", ref=full)
        return stand_in(
            full,
            type,
            f"{full} was used offline: its files are not here. Run `forebear sync`, then "
            f"fetch it online: forebear.Api().artifact({full!r}).download()",
        )

    def link_artifact(
        self, artifact: Artifact | str, target_path: str, aliases: list[str] | None = None
    ) -> LinkedVersion | None:
        name = artifact.name if isinstance(artifact, Artifact) else str(artifact)
        self.journal.write(
            "link",
            artifact=name,
            target=registry_path(target_path),
            aliases=list(settable(aliases or ())),
        )
        return None

    def finish(
        self, status: str = "FINISHED", exit_code: int | None = None, quiet: bool | None = None
    ) -> None:
        if not self._close():
            return
        failed = self._wrap_up()  # its media and saved files, journaled as its own artifacts
        self.journal.write("finish", status=ended(status, exit_code))
        print(
            f"forebear: offline run saved in {self.journal.root}; `forebear sync` sends it",
            file=sys.stderr,
        )
        for error in failed:
            raise error


def sync(api: Api, roots: list[Path] | None = None) -> list[dict[str, Any]]:
    """Replay offline runs to the server (all not yet synced, or those at `roots`); what each
    became."""
    found = roots or sorted(offline_root(api.settings.cache_dir).glob("run-*"))
    done = []
    failed: list[str] = []
    for root in found:
        journal = Journal(root)
        if not journal.path.exists():
            raise ForebearError(f"{root} holds no offline run (no journal.jsonl)")
        if journal.synced:
            continue
        try:
            done.append(_replay(api, journal))
        except ForebearError as exc:
            if roots is None and not isinstance(exc, (AuthError, ServerError, TransportError)):
                failed.append(str(exc))  # refused: the others are still sent
                continue
            raise  # the server or the key fails every journal alike
        (root / DONE).write_text(json.dumps(done[-1]))
    if failed:
        raise ForebearError(
            "; ".join(failed)
            + f" (sent {len(done)} other run(s)). What came before a refused step is on the "
            "server; once it can be done, `forebear sync` carries on from that step"
        )
    return done


def _replay(api: Api, journal: Journal) -> dict[str, Any]:
    run_id = ""
    project = ""
    artifacts: dict[str, Artifact] = {}
    for number, op in journal.operations():
        try:
            run_id, project = _step(api, journal, number, op, run_id, project, artifacts)
        except ForebearError as exc:
            exc.args = (f"{journal.root}, step {number} ({_described(op)}): {exc}",)
            raise
    return {"journal": str(journal.root), "run": run_id, "project": project}


def _synced_names(changes: dict[str, Any], artifacts: dict[str, Artifact]) -> dict[str, Any]:
    """A journaled change with the artifacts its summary names as logged offline (a media
    key's last file: {"_type": ..., "artifact": "run-<offline id>-media"}) named as synced."""

    def named(value: Any) -> Any:
        if isinstance(value, list):
            return [named(v) for v in value]
        logged = artifacts.get(value.get("artifact", "")) if isinstance(value, dict) else None
        return {**value, "artifact": logged.qualified_name} if logged is not None else value

    summary = changes.get("summary")
    if not isinstance(summary, dict):
        return changes
    return {**changes, "summary": {k: named(v) for k, v in summary.items()}}


def _described(op: dict[str, Any]) -> str:
    kind = str(op["op"])
    detail = op.get("ref") or op.get("name") or op.get("artifact") or op.get("title") or ""
    return f"{kind} {detail}".strip()


def _step(
    api: Api,
    journal: Journal,
    number: int,
    op: dict[str, Any],
    run_id: str,
    project: str,
    artifacts: dict[str, Artifact],
) -> tuple[str, str]:
    """Replay one operation; the run's id and project after it."""
    key = f"{journal.root.name}:{number}"
    kind = op["op"]
    if kind == "start":
        project = op["input"]["project"]
        run_id = api._start_run(op["input"], key)["id"]
    elif kind == "log":
        if op["points"]:  # (journals written before empty steps were left out hold them)
            api._log_metrics(run_id, op["points"], key)
    elif kind == "update":
        api._update_run(run_id, _synced_names(op["changes"], artifacts), key)
    elif kind == "artifact":
        name = op["name"]  # the run's own (run-<offline id>-media) named after its id now
        offline = f"run-{journal.root.name}-"
        if name.startswith(offline):
            name = f"run-{run_id}-{name[len(offline) :]}"
        art = Artifact(name, op["type"], op["description"], dict(op["metadata"]))
        for f in op["files"]:
            art._entries[f["path"]] = str(journal.files / f["sha256"])
        for r in op.get("references", []):  # journals written before references were kept
            art._references[r["path"]] = ArtifactReference(**r)
        artifacts[op["name"]] = api.log_artifact(
            art,
            project=project,
            run=run_id,
            aliases=tuple(op["aliases"]),
            idempotency_key=key,
        )
    elif kind == "use":
        api._use_version(run_id, op["ref"], key)
    elif kind == "alert":
        api._alert_run(run_id, op["title"], op["text"], op["level"], key)
    elif kind == "link":
        logged = artifacts.get(op["artifact"])
        version = logged.id if logged else f"{project}/{op['artifact']}"
        api.link(version or "", op["target"], tuple(op["aliases"]), idempotency_key=key)
    elif kind == "finish":
        with contextlib.suppress(Conflict):  # ended already, by an earlier sync
            api._finish_run(run_id, op["status"], key)
    return run_id, project
