"""`forebear.Api`: the registry from scripts and audits, with typed results."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, cast, overload

from forebear._artifact import (
    VERSION_FIELDS,
    Artifact,
    ArtifactReference,
    bound,
    content_type,
    registry_path,
)
from forebear._errors import BadInput, ForebearError, NotFound, Refused
from forebear._graphql import Client, Pending, jsonable, paged
from forebear._gto import import_gto
from forebear._hashing import HashCache
from forebear._imports import ImportReport
from forebear._progress import bar
from forebear._runs import Project, RunInfo, run_of, runs_of
from forebear._settings import Settings
from forebear._transfer import put_blobs

# A version by id or reference (project/name:latest too), as `bound` reads it.
VERSION_BY_REF = f"query($ref: String!) {{ artifactVersion(ref: $ref) {{ {VERSION_FIELDS} }} }}"
LINK_FIELDS = (
    "id name index semver deregistered stages versionId linkedAt linkedBy aliases { name }"
)
# A collection as Api.collections gives it (Collection): its latest version and named ones.
COLLECTION_FIELDS = f"""registry name description tags types deprecated
  latest: version(selector: "latest") {{ {LINK_FIELDS} }}
  named: links(named: true, first: 100) {{ nodes {{ {LINK_FIELDS} }}
    pageInfo {{ hasNextPage }} }}"""


@dataclass(frozen=True)
class LinkedVersion:
    """A version linked into a registry collection (registry/collection:vN)."""

    id: str
    name: str
    index: int
    semver: str | None
    aliases: list[str]
    stages: list[str]
    deregistered: bool
    version_id: str
    # when and by whom it was linked; the version's own name in listings (Api.linked_versions)
    linked_at: str | None = None
    linked_by: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, record: dict[str, Any]) -> LinkedVersion:
        return cls(
            id=record["id"],
            name=record["name"],
            index=record["index"],
            semver=record.get("semver"),
            aliases=[a["name"] for a in record.get("aliases") or []],
            stages=list(record.get("stages") or []),
            deregistered=bool(record.get("deregistered")),
            version_id=record["versionId"],
            linked_at=record.get("linkedAt"),
            linked_by=record.get("linkedBy"),
            source=(record.get("version") or {}).get("name"),
        )


@dataclass(frozen=True)
class FileChange:
    """How one path differs between two versions (Api.diff): `added`, `removed` or `changed`,
    with its size before and after (None where it is not, or a reference's unknown size)."""

    path: str
    change: str
    before: int | None
    after: int | None


@dataclass(frozen=True)
class Registry:
    """A governed registry: the types it takes, its lifecycle stages, its protected aliases."""

    name: str
    description: str
    allowed_types: list[str]
    stages: list[str]
    protected_aliases: list[str]


@dataclass(frozen=True)
class Collection:
    """A registry collection (registry/name), its latest linked version, if any, and the
    linked versions an alias (latest too) or a stage names, newest first."""

    registry: str
    name: str
    description: str
    tags: list[str]
    types: list[str]
    deprecated: bool
    latest: LinkedVersion | None
    named: list[LinkedVersion] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{self.registry}/{self.name}"


@dataclass(frozen=True)
class LineageNode:
    id: str
    kind: str  # RUN or VERSION
    name: str
    distance: int
    type: str | None
    status: str


@dataclass(frozen=True)
class LineageEdge:
    source: str  # the run
    target: str  # the version
    kind: str  # PRODUCED or CONSUMED


@dataclass(frozen=True)
class Lineage:
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool
    hidden: int
    dot: str = ""
    mermaid: str = ""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    actor: str
    time: str
    before: dict[str, Any]
    after: dict[str, Any]
    withheld: bool = False  # before and after left out: it is also about what you may not read
    seq: int | None = None  # its place in the org-wide log


@dataclass(frozen=True)
class ImpactGroup:
    """A collection and the linked versions in it that descend from the version asked about."""

    collection: str  # registry/collection
    links: list[LinkedVersion]


DIRECTIONS: dict[str, str] = {
    "upstream": "UPSTREAM",
    "up": "UPSTREAM",
    "downstream": "DOWNSTREAM",
    "down": "DOWNSTREAM",
    "both": "BOTH",
}


class Api:
    """The Forebear API for scripts: `Api()` reads FOREBEAR_URL and FOREBEAR_API_KEY (or the
    key `forebear login` stored)."""

    def __init__(self, url: str | None = None, api_key: str | None = None) -> None:
        self.settings = Settings.load(url=url, api_key=api_key)
        self._client = Client(self.settings)
        self._registries: set[str] | None = None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    def _looks_linked(self, ref: str) -> bool:
        """Whether a reference names a linked version (registry/collection:selector) rather
        than a logged one (project/artifact:selector): as the server decides, a registry of
        that name wins."""
        if "/" not in ref or ":" not in ref:
            return False
        return ref.split("/", 1)[0] in self._registry_names()

    def _registry_names(self) -> set[str]:
        if self._registries is None:
            answer = self.graphql("{ registries { name } }")["registries"]
            self._registries = {r["name"] for r in answer}
        return self._registries

    def graphql(
        self, query: str, idempotency_key: str | None = None, **variables: Any
    ) -> dict[str, Any]:
        """Any GraphQL query or mutation; its data, or the ForebearError it answered. A
        mutation sent again with the same `idempotency_key` is done once."""
        return self._client.graphql(query, idempotency_key, **variables)

    # --- runs: written alike by forebear.init, offline journals replayed and MLflow imports ---

    def _start_run(
        self, start: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Start (or resume) a run (a StartRunInput); the run's id, name, project, config,
        summary, job type, group, notes, key and last step, and whether it was resumed."""
        started = self.graphql(
            """mutation($input: StartRunInput!) { startRun(input: $input) { resumed
            run { id name project config summary tags jobType group notes key lastStep
            heartbeatSeconds } } }""",
            idempotency_key=idempotency_key,
            input=start,
        )["startRun"]
        return {**started["run"], "resumed": started["resumed"]}

    def _heartbeat(self, run: str) -> None:
        """Say the run's client is alive (a run the server CRASHED for its silence comes
        back)."""
        self.graphql(
            "mutation($input: HeartbeatRunInput!) { heartbeatRun(input: $input) { run { id } } }",
            input={"run": run},
        )

    def _log_metrics(
        self, run: str, points: list[dict[str, Any]], idempotency_key: str | None = None
    ) -> None:
        self.graphql(
            """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { logged } }""",
            idempotency_key=idempotency_key,
            input={"run": run, "points": points},
        )

    def _update_run(
        self, run: str, changes: dict[str, Any], idempotency_key: str | None = None
    ) -> None:
        """Change a run's name, tags, config or summary keys (an UpdateRunInput's fields)."""
        self.graphql(
            """mutation($input: UpdateRunInput!) { updateRun(input: $input) { run { id } } }""",
            idempotency_key=idempotency_key,
            input={"run": run, **changes},
        )

    def _use_version(self, run: str, version: str, idempotency_key: str | None = None) -> None:
        """Record that `run` used `version` (an id or a reference; naming no version, its
        latest): lineage."""
        self.graphql(
            """mutation($run: ID!, $v: String!) { useArtifactVersion(input: {run: $run,
            version: $v}) { created } }""",
            idempotency_key=idempotency_key,
            run=run,
            v=_latest_unless_named(version),
        )

    def _alert_run(
        self, run: str, title: str, text: str, level: str, idempotency_key: str | None = None
    ) -> None:
        self.graphql(
            """mutation($input: AlertRunInput!) { alertRun(input: $input) { run { id } } }""",
            idempotency_key=idempotency_key,
            input={"run": run, "title": title, "text": text, "level": level},
        )

    def _finish_run(self, run: str, status: str, idempotency_key: str | None = None) -> None:
        self.graphql(
            """mutation($run: ID!, $s: RunStatus!) { finishRun(input: {run: $run,
            status: $s}) { run { status } } }""",
            idempotency_key=idempotency_key,
            run=run,
            s=status,
        )

    def projects(self, entity: str | None = None, per_page: int = 200) -> list[Project]:
        """The projects you may read, by name: every one for an org admin, the projects you
        are a member of otherwise (W&B's `api.projects`; `entity` is not used: one
        organization)."""
        query = """query($first: Int, $after: String) { projects(first: $first, after: $after) {
          nodes { id name description createdAt } pageInfo { hasNextPage endCursor } } }"""
        pages = paged(
            lambda after: self.graphql(query, first=min(max(per_page, 1), 100), after=after)[
                "projects"
            ]
        )
        return [Project.of(self.settings.url, p) for p in pages]

    def project(self, name: str, entity: str | None = None) -> Project:
        """One project by name (W&B's `api.project`; `entity` is not used)."""
        found = self.graphql(
            "query($name: String!) { project(name: $name) { id name description createdAt } }",
            name=name,
        )["project"]
        if found is None:
            raise NotFound(f"no project {name!r}: forebear.init(project={name!r}) makes it")
        return Project.of(self.settings.url, found)

    def run(self, path: str) -> RunInfo:
        """A run by its id, `project/<id or key>`, or W&B's `entity/project/<id or key>`:
        its config, summary, `history()`, and the versions it logged and used."""
        return run_of(self, path)

    def runs(
        self, path: str, filters: dict[str, Any] | None = None, order: str = "-created_at"
    ) -> list[RunInfo]:
        """The runs of a project (`project`, or W&B's `entity/project`), newest first, as W&B's
        `api.runs`: `filters` in W&B's form (`{"config.lr": 0.1, "state": "finished",
        "summary_metrics.acc": {"$gt": 0.9}, "tags": "best"}`; $eq, $ne, $gt, $gte, $lt, $lte,
        $and), `order` `+created_at`, or `config.<key>` or `summary_metrics.<key>` after + or -
        (runs without the key last)."""
        return list(runs_of(self, path, filters, order))

    # --- artifacts ---------------------------------------------------------------------------

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """A logged version by id or reference (project/name:v3, project/name:latest), or a
        version linked in a registry (registry/collection:production). A reference without
        a version means its latest, as in W&B (project/name is project/name:latest); W&B's
        entity/project/name:alias (the entity is not used: one organization) and
        wandb-registry-model/collection:alias are read too. With `type`, a version of
        another type is refused."""
        ref = _latest_unless_named(name)
        asked = self.linked(ref).version_id if self._looks_linked(ref) else ref
        found = self.graphql(VERSION_BY_REF, ref=asked)["artifactVersion"]
        if found is None:
            raise NotFound(f"no version {ref!r}: check the project, name and alias or vN")
        artifact = bound(self, found)
        if type is not None and artifact.type != type:
            raise ForebearError(f"{artifact.qualified_name} is a {artifact.type}, not a {type}")
        return artifact

    def log_artifact(
        self,
        artifact: Artifact,
        *,
        project: str,
        run: str | None = None,
        aliases: tuple[str, ...] = (),
        idempotency_key: str | None = None,
    ) -> Artifact:
        """Log a built artifact as the next version of `project/name`: hash each file once,
        send the manifest, upload only what the server lists as missing, commit, then point
        `aliases` at it. Return the logged version (the latest one when nothing changed).
        With `idempotency_key`, doing it again (a replayed journal) changes nothing."""

        def key(step: str) -> str | None:
            return f"{idempotency_key}:{step}" if idempotency_key else None

        aliases = settable(aliases)
        # The latest version is asked for while the files are looked at: an unchanged
        # artifact is then known as soon as its digest is (a replayed journal always creates,
        # under its key).
        latest = None
        if idempotency_key is None:
            latest = self._client.ask_ahead(VERSION_BY_REF, ref=f"{project}/{artifact.name}:latest")
        try:
            if artifact.incremental:  # built on that latest version: its answer is wanted now
                found = _latest(latest) if latest is not None else None
                artifact._on_latest(bound(self, found) if found else None)
            ordered = artifact._ordered()
            sources = [source for _, source in ordered]
            stats = list(map(os.stat, sources))
            total = sum(st.st_size for st in stats)
            hashes = HashCache(self.settings.cache_dir)
            with bar(f"hashing {artifact.name}", total, self.settings.silent) as advance:
                digests = hashes.digests(sources, _until_failed(advance, latest), stats)
            sums = [(path, sha, st.st_size) for (path, _), sha, st in zip(ordered, digests, stats)]
            kept = artifact._kept_files()  # a draft's files the server holds already
            if kept:
                sums = sorted(sums + [(f.path, f.sha256, f.size) for f in kept])
            # Only an answer as fresh as the files is trusted: after hashing anything, the
            # manifest goes to the server, which compares it with the latest then.
            same = _latest(latest) if latest and not hashes.hashed else None
        finally:
            if latest is not None:
                latest.close()
        if (
            same is None
            or same["type"] != artifact.type
            or same["digest"] != digest_of(sums, artifact.references())
        ):
            by_sha = dict(zip(digests, sources))
            manifest = [
                {"path": path, "size": size, "sha256": sha, "contentType": content_type(path)}
                for path, sha, size in sums
            ]
            same = self._log_manifest(artifact, project, run, manifest, by_sha, key)
        version = same  # the latest one when nothing changed: no manifest was sent then
        for alias in aliases:
            version = self.set_artifact_alias(version["id"], alias, key(f"alias:{alias}"))
        logged = bound(self, version)
        artifact._version, artifact._api = logged._version, self
        return logged

    def _log_manifest(
        self,
        artifact: Artifact,
        project: str,
        run: str | None,
        manifest: list[dict[str, Any]],
        by_sha: dict[str, str],
        key: Callable[[str], str | None],
    ) -> dict[str, Any]:
        """Open the version, upload what the server lacks, commit; the version (the latest
        one when the server found the manifest unchanged). With nothing to upload (references,
        or content the caller's versions hold already) the server commits it as it opens it:
        one call."""
        created = self.graphql(
            f"""mutation($input: CreateArtifactVersionInput!) {{ createArtifactVersion(
            input: $input) {{ version {{ {VERSION_FIELDS} }} missingBlobs existing }} }}""",
            idempotency_key=key("create"),
            input={
                "project": project,
                "artifact": artifact.name,
                "type": artifact.type,
                "files": manifest,
                "references": [r.as_input() for r in artifact.references()],
                "metadata": jsonable(artifact.metadata),
                "description": artifact.description,
                "run": run,
                "commit": True,
            },
        )["createArtifactVersion"]
        version: dict[str, Any] = created["version"]
        if version["state"] != "PENDING":  # the same as the latest, or committed at once
            return version
        if key("create") is not None:
            # A replayed journal gets the first answer of the create again: the version may
            # be committed since, and then there is nothing left to upload or commit.
            now = self.graphql(VERSION_BY_REF, ref=version["id"])["artifactVersion"]
            if now is not None and now["state"] != "PENDING":
                return dict(now)
        lacking = [sha for sha in created["missingBlobs"] if sha not in by_sha]
        if lacking:  # kept in a draft, and gone from the server since (collected)
            paths = sorted(f.path for f in artifact._kept_files() if f.sha256 in lacking)
            raise ForebearError(
                f"the server no longer holds {', '.join(paths[:10])}, kept from the version "
                f"this draft of {artifact.name} came from: add those files again (add_file)"
            )
        missing = {sha: Path(by_sha[sha]) for sha in created["missingBlobs"]}
        size = sum(p.stat().st_size for p in missing.values())
        with bar(f"uploading {artifact.name}", size, self.settings.silent) as advance:
            put_blobs(self._client, missing, advance)
        committed: dict[str, Any] = self.graphql(
            f"""mutation($id: ID!) {{ commitArtifactVersion(input: {{version: $id}}) {{
            version {{ {VERSION_FIELDS} }} }} }}""",
            idempotency_key=key("commit"),
            id=version["id"],
        )["commitArtifactVersion"]["version"]
        return committed

    def set_artifact_alias(
        self, version: str, alias: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Point an alias of the version's artifact at it (one step, moved from any holder)."""
        moved: dict[str, Any] = self.graphql(
            f"""mutation($v: String!, $a: String!) {{ setArtifactAlias(input: {{version: $v,
            alias: $a}}) {{ version {{ {VERSION_FIELDS} }} }} }}""",
            idempotency_key=idempotency_key,
            v=version,
            a=alias,
        )["setArtifactAlias"]["version"]
        return moved

    def remove_artifact_alias(self, project: str, artifact: str, alias: str) -> None:
        """Take an alias off whichever version of project/artifact holds it."""
        self.graphql(
            """mutation($p: String!, $a: String!, $alias: String!) { removeArtifactAlias(input: {
            project: $p, artifact: $a, alias: $alias}) { previous { id } } }""",
            p=project,
            a=artifact,
            alias=alias,
        )

    def delete_version(self, version: str, confirm: bool = False) -> None:
        """Soft-delete a version (id or project/name:vN). While it holds an alias, or (unless
        `confirm`) runs used it, versions were made from it or it is linked, the server
        refuses, naming them."""
        self.graphql(
            """mutation($v: String!, $confirm: Boolean!) { deleteArtifactVersion(input: {
            version: $v, confirmDependents: $confirm}) { version { id } } }""",
            v=version,
            confirm=confirm,
        )

    def restore_version(self, version: str) -> Artifact:
        """Bring back a deleted version (id or project/name:vN); `latest` moves back onto it
        if it is the newest."""
        return bound(
            self,
            self.graphql(
                f"""mutation($v: String!) {{ restoreArtifactVersion(input: {{version: $v}})
                {{ version {{ {VERSION_FIELDS} }} }} }}""",
                v=version,
            )["restoreArtifactVersion"]["version"],
        )

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether a version by this reference exists, not deleted, and you may read it (of
        `type`, if given), as W&B's `artifact_exists`."""
        try:
            found = self.artifact(name)
        except NotFound:
            return False
        deleted = found._version is not None and found._version.state == "DELETED"
        return not deleted and (type is None or found.type == type)

    # --- registries --------------------------------------------------------------------------

    def diff(self, old: str, new: str) -> list[FileChange]:
        """What differs from version `old` to version `new` (references, ids, or linked
        versions), path by path in path order: files by content (sha256), references by URI
        and sha256. [] when they hold the same."""

        def entries(ref: str) -> dict[str, tuple[str, int | None]]:
            version = self.artifact(ref)
            found: dict[str, tuple[str, int | None]] = {
                f.path: (f.sha256, f.size) for f in version.files()
            }
            for r in version.references():
                found[r.path] = (f"{r.uri} {r.sha256 or ''}", r.size)
            return found

        before, after = entries(old), entries(new)
        changes = []
        for path in sorted(before.keys() | after.keys()):
            was, now = before.get(path), after.get(path)
            if was == now:
                continue
            change = "added" if was is None else "removed" if now is None else "changed"
            sizes = (None if was is None else was[1], None if now is None else now[1])
            changes.append(FileChange(path, change, *sizes))
        return changes

    def registries(self) -> list[Registry]:
        """The registries the caller may read."""
        found = self.graphql(
            "{ registries { name description allowedTypes stages protectedAliases } }"
        )["registries"]
        return [
            Registry(
                r["name"], r["description"], r["allowedTypes"], r["stages"], r["protectedAliases"]
            )
            for r in found
        ]

    def collections(
        self,
        registry: str | None = None,
        search: str | None = None,
        tag: str | None = None,
        type: str | None = None,
        stage: str | None = None,
        include_deprecated: bool = False,
    ) -> list[Collection]:
        """The collections the caller may read (of one registry; whose name holds `search`;
        tagged `tag`; taking `type`; with a version in `stage`), each with its latest linked
        version."""
        if registry is not None and registry not in {r.name for r in self.registries()}:
            raise NotFound(f"no registry {registry!r} that you may read: forebear show lists them")

        def page(after: str | None) -> dict[str, Any]:
            found: dict[str, Any] = self.graphql(
                f"""query($r: String, $s: String, $t: String, $ty: String, $st: String,
                $d: Boolean!, $after: String) {{ collections(registry: $r, search: $s, tag: $t,
                type: $ty, stage: $st, includeDeprecated: $d, first: 100, after: $after) {{
                nodes {{ {COLLECTION_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}""",
                r=registry,
                s=search,
                t=tag,
                ty=type,
                st=stage,
                d=include_deprecated,
                after=after,
            )["collections"]
            return found

        return [self._collection(c) for c in paged(page)]

    def _collection(self, c: dict[str, Any]) -> Collection:
        """A Collection from COLLECTION_FIELDS."""
        return Collection(
            c["registry"],
            c["name"],
            c["description"],
            c["tags"],
            c["types"],
            c["deprecated"],
            LinkedVersion.of(c["latest"]) if c["latest"] else None,
            # more than a page of them is rare: the rest are read on their own
            self.linked_versions(f"{c['registry']}/{c['name']}", named=True)
            if c["named"]["pageInfo"]["hasNextPage"]
            else [LinkedVersion.of(link) for link in c["named"]["nodes"]],
        )

    def collection(self, collection: str) -> Collection:
        """One collection (registry/collection), deprecated or not; NotFound when there is
        none the caller may read."""
        registry, name = _target(collection)
        found = self.graphql(
            f"""query($r: String!, $c: String!) {{ collection(registry: $r, name: $c) {{
            {COLLECTION_FIELDS} }} }}""",
            r=registry,
            c=name,
        )["collection"]
        if found is None:
            raise NotFound(f"no collection {collection!r}: forebear show {registry} lists them")
        return self._collection(found)

    def update_collection(
        self,
        collection: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        name: str | None = None,
    ) -> Collection:
        """Change a collection (registry/collection): its description, its tags (replaced
        whole) or its name; what is None stays. The collection as it is now."""
        registry, current = _target(collection)
        changed: dict[str, Any] = self.graphql(
            f"""mutation($r: String!, $c: String!, $n: String, $d: String, $t: [String!]) {{
            updateCollection(input: {{registry: $r, collection: $c, name: $n, description: $d,
            tags: $t}}) {{ collection {{ {COLLECTION_FIELDS} }} }} }}""",
            r=registry,
            c=current,
            n=name,
            d=description,
            t=None if tags is None else list(dict.fromkeys(tags)),
        )["updateCollection"]["collection"]
        return self._collection(changed)

    def linked_versions(
        self, collection: str, include_deregistered: bool = False, named: bool = False
    ) -> list[LinkedVersion]:
        """A collection's linked versions (registry/collection), newest first, each with when
        it was linked and the version it is; `named`: only those an alias (latest too) or a
        stage names."""
        registry, name = _target(collection)

        def page(after: str | None) -> dict[str, Any]:
            found = self.graphql(
                f"""query($r: String!, $n: String!, $d: Boolean!, $named: Boolean!,
                $after: String) {{ collection(registry: $r, name: $n) {{ links(
                includeDeregistered: $d, named: $named, first: 100, after: $after) {{
                nodes {{ {LINK_FIELDS}
                version {{ name }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}""",
                r=registry,
                n=name,
                d=include_deregistered,
                named=named,
                after=after,
            )["collection"]
            if found is None:
                raise NotFound(f"no collection {collection!r} that you may read")
            links: dict[str, Any] = found["links"]
            return links

        return [LinkedVersion.of(link) for link in paged(page)]

    def linked(self, ref: str, as_of: str | None = None) -> LinkedVersion:
        """A linked version by id or registry/collection:alias|stage|semver|vN, now or as of
        an ISO time."""
        found = self.graphql(
            f"""query($ref: String!, $at: DateTime) {{ linkedVersion(ref: $ref, asOf: $at) {{
            {LINK_FIELDS} }} }}""",
            ref=ref,
            at=as_of,
        )["linkedVersion"]
        if found is None:
            raise NotFound(f"{ref!r} names no linked version{' then' if as_of else ''}")
        return LinkedVersion.of(found)

    def link(
        self,
        version: str,
        target: str,
        aliases: tuple[str, ...] = (),
        create_collection: bool = True,
        idempotency_key: str | None = None,
    ) -> LinkedVersion:
        """Link a logged version (id or reference; naming no version, its latest) into
        `registry/collection`, made first when it does not exist and `create_collection`."""
        registry, collection = _target(target)
        aliases = settable(aliases)
        return LinkedVersion.of(
            self.graphql(
                f"""mutation($input: LinkVersionInput!) {{ linkVersion(input: $input) {{
                link {{ {LINK_FIELDS} }} }} }}""",
                idempotency_key=idempotency_key,
                input={
                    "registry": registry,
                    "collection": collection,
                    "version": _latest_unless_named(version),
                    "aliases": list(aliases),
                    "createCollection": create_collection,
                },
            )["linkVersion"]["link"]
        )

    def _link_change(self, mutation: str, link: str, **extra: str) -> LinkedVersion:
        fields = "".join(f", {k}: ${k}" for k in extra)
        params = "".join(f", ${k}: String!" for k in extra)
        return LinkedVersion.of(
            self.graphql(
                f"""mutation($link: String!{params}) {{ {mutation}(input: {{link: $link{fields}}})
                {{ link {{ {LINK_FIELDS} }} }} }}""",
                link=link,
                **extra,
            )[mutation]["link"]
        )

    def set_alias(self, link: str, alias: str) -> LinkedVersion:
        return self._link_change("setCollectionAlias", link, alias=alias)

    def remove_alias(self, collection: str, alias: str) -> None:
        registry, name = _target(collection)
        self.graphql(
            """mutation($r: String!, $c: String!, $a: String!) { removeCollectionAlias(input: {
            registry: $r, collection: $c, alias: $a}) { __typename } }""",
            r=registry,
            c=name,
            a=alias,
        )

    def assign_stage(self, link: str, stage: str) -> LinkedVersion:
        return self._link_change("assignStage", link, stage=stage)

    def unassign_stage(self, link: str, stage: str) -> LinkedVersion:
        return self._link_change("unassignStage", link, stage=stage)

    def set_semver(self, link: str, semver: str) -> LinkedVersion:
        return self._link_change("setSemver", link, semver=semver)

    def deregister(self, link: str, confirm: bool = False) -> LinkedVersion:
        """Deregister a linked version. When it holds aliases or stages, or anything was made
        from its version, the server refuses (a Conflict naming them) unless `confirm`."""
        return LinkedVersion.of(
            self.graphql(
                f"""mutation($link: String!, $confirm: Boolean!) {{ deregisterLink(input: {{
                link: $link, confirmDependents: $confirm}}) {{ link {{ {LINK_FIELDS} }} }} }}""",
                link=link,
                confirm=confirm,
            )["deregisterLink"]["link"]
        )

    def restore(self, link: str) -> LinkedVersion:
        return self._link_change("restoreLink", link)

    def import_gto(
        self, repo_path: str | Path, registry: str = "model", project: str | None = None
    ) -> ImportReport:
        """Import a GTO repository's registry (its git tags) into `registry`, keeping taggers
        and tag dates (org admins); importing again brings only new tags."""
        return import_gto(self, repo_path, registry=registry, project=project)

    def import_mlflow(
        self,
        tracking_uri: str,
        models: list[str] | None = None,
        registry: str = "model",
        project: str = "mlflow",
    ) -> ImportReport:
        """Import an MLflow Model Registry (all registered models, or `models`) into
        `registry`: versions with their files, runs and dataset inputs, and aliases, keeping
        MLflow's users and times (org admins); importing again brings only what is new."""
        from forebear._mlflow import import_mlflow

        return import_mlflow(self, tracking_uri, models=models, registry=registry, project=project)

    def deprecate(self, collection: str, confirm: bool = False) -> None:
        """Deprecate a whole collection (registry/collection); restorable. When its versions
        hold aliases or stages, were used by runs or had versions made from them, the server
        refuses (a Conflict naming them) unless `confirm`."""
        registry, name = _target(collection)
        self.graphql(
            """mutation($r: String!, $c: String!, $confirm: Boolean!) { deprecateCollection(
            input: {registry: $r, collection: $c, confirm: $c, confirmDependents: $confirm})
            { __typename } }""",
            r=registry,
            c=name,
            confirm=confirm,
        )

    def restore_collection(self, collection: str) -> None:
        """Bring back a deprecated collection (registry/collection), as it was."""
        registry, name = _target(collection)
        self.graphql(
            """mutation($r: String!, $c: String!) { restoreCollection(
            input: {registry: $r, collection: $c}) { __typename } }""",
            r=registry,
            c=name,
        )

    # --- lineage and history -----------------------------------------------------------------

    def lineage(self, ref: str, direction: str = "upstream", depth: int | None = None) -> Lineage:
        """Where a version, run or linked version came from (upstream), what it fed
        (downstream), or both; `depth` hops at most. `direction`: upstream (up), downstream
        (down) or both. A reference naming no version starts at its latest."""
        way = DIRECTIONS.get(direction.lower())
        if way is None:
            raise BadInput(
                f"lineage direction {direction!r}: use upstream (up), downstream (down) or both",
                field="direction",
            )
        answer = self.graphql(
            """query($of: ID!, $d: LineageDirection!, $depth: Int) { lineage(of: $of,
            direction: $d, depth: $depth, first: 10000) { truncated hiddenNodes dot mermaid
            nodes { id kind name distance type status } edges { source target kind } } }""",
            of=_latest_unless_named(ref),
            d=way,
            depth=depth,
        )["lineage"]
        return Lineage(
            nodes=[LineageNode(**n) for n in answer["nodes"]],
            edges=[LineageEdge(**e) for e in answer["edges"]],
            truncated=answer["truncated"],
            hidden=answer["hiddenNodes"],
            dot=answer["dot"],
            mermaid=answer["mermaid"],
        )

    def impact(self, ref: str) -> list[ImpactGroup]:
        """Every linked version downstream of a version (a dataset, say), by collection."""
        groups = self.graphql(
            f"""query($of: ID!) {{ impact(of: $of) {{ collection {{ registry name }}
            links {{ {LINK_FIELDS} }} }} }}""",
            of=_latest_unless_named(ref),
        )["impact"]
        return [
            ImpactGroup(
                f"{g['collection']['registry']}/{g['collection']['name']}",
                [LinkedVersion.of(link) for link in g["links"]],
            )
            for g in groups
        ]

    def history(self, ref: str, first: int = 100) -> list[Event]:
        """The audit events about one thing, newest first: a version (project/name:v3), a
        linked version (registry/collection:production), a collection (registry/collection),
        an artifact's every version (project/name), a registry (its name), or any id (a
        run's). Every change writes an event, so none at all means nothing of that id is
        there for the caller: NotFound."""
        events = self._events(
            "query($s: ID!, $n: Int!, $after: String) { history(subject: $s, first: $n, "
            "after: $after) { %s } }",
            ["history"],
            first,
            s=self._subject(ref),
        )
        if not events and first > 0:
            raise NotFound(
                f"no events about {ref!r} that you may read: check it, or name a version "
                "(project/name:v0), a linked version (registry/collection:alias), a "
                "collection (registry/collection), an artifact (project/name), a registry "
                "or a run's id"
            )
        return events

    def alias_history(self, collection: str, alias: str, first: int = 100) -> list[Event]:
        """Every move of one alias of a collection (registry/collection), newest first: who
        pointed production where, and when, through every link it was on."""
        registry, name = _target(collection)
        return self._events(
            "query($r: String!, $c: String!, $a: String!, $n: Int!, $after: String) { "
            "collection(registry: $r, name: $c) { aliasHistory(alias: $a, first: $n, "
            "after: $after) { %s } } }",
            ["collection", "aliasHistory"],
            first,
            missing=f"no collection {collection!r} that you may read",
            r=registry,
            c=name,
            a=alias,
        )

    def audit_log(
        self,
        actor: str | None = None,
        types: Iterable[str] | None = None,
        registry: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        first: int = 100,
    ) -> list[Event]:
        """The org-wide audit log, newest first: every change by `actor`, of `types`
        (alias.set, stage.assigned, ...), in `registry`, from `since` until `until` (ISO
        times or datetimes). Events also about what you may not read come withheld."""

        def iso(at: str | datetime | None, name: str) -> str | None:
            if isinstance(at, str):
                try:  # (Python before 3.11 reads no Z)
                    at = datetime.fromisoformat(at.replace("Z", "+00:00"))
                except ValueError:
                    raise BadInput(
                        f"{name}: {at!r} is no ISO 8601 time; write it as 2026-12-01 or "
                        "2026-12-01T09:30:00Z"
                    ) from None
            # a time without a zone is the machine's local time, as Python's own are
            return at.astimezone().isoformat() if at is not None else None

        return self._events(
            "query($actor: String, $types: [String!], $registry: String, $since: DateTime, "
            "$until: DateTime, $n: Int!, $after: String) { auditLog(actor: $actor, types: "
            "$types, registry: $registry, since: $since, until: $until, first: $n, "
            "after: $after) { %s } }",
            ["auditLog"],
            first,
            actor=actor,
            types=list(types) if types is not None else None,
            registry=registry,
            since=iso(since, "since"),
            until=iso(until, "until"),
        )

    def _events(
        self, query: str, path: list[str], first: int, missing: str = "", **variables: Any
    ) -> list[Event]:
        """Up to `first` events of the connection at `path` in `query`'s answer, page after
        page (the server's largest is 100); `query` has %s where the connection's fields go.
        NotFound(`missing`) when the answer has null on the way (no such collection)."""
        asked = query % (
            "nodes { id seq type actor time before after withheld } "
            "pageInfo { hasNextPage endCursor }"
        )

        def page(after: str | None) -> dict[str, Any]:
            found: Any = self.graphql(asked, n=min(first, 100), after=after, **variables)
            for key in path:
                found = found[key]
                if found is None:
                    raise NotFound(missing)
            return cast(dict[str, Any], found)

        if first <= 0:
            return []
        return [Event(**n) for n in itertools.islice(paged(page), first)]

    def _names(self, ids: Iterable[str]) -> dict[str, str]:
        """What the objects among `ids` are called, for those the caller may read: a
        version's project/name:vN, a linked version's registry/collection:vN, a collection's
        registry/collection, a run's, a registry's or a project's name. An audit event names
        things by id; people read these."""
        wanted = sorted({i for i in ids if NAMED_ID.fullmatch(i)})
        names: dict[str, str] = {}
        for at in range(0, len(wanted), NAMES_PER_CALL):
            chunk = wanted[at : at + NAMES_PER_CALL]
            asked = " ".join(f"n{n}: node(id: $i{n}) {{ ...named }}" for n in range(len(chunk)))
            found = self.graphql(
                f"query({', '.join(f'$i{n}: ID!' for n in range(len(chunk)))}) {{ {asked} }} "
                f"fragment named on Node {{ {NAMED_FIELDS} }}",
                **{f"i{n}": i for n, i in enumerate(chunk)},
            )
            for node in filter(None, found.values()):  # null: not there, or not for the caller
                within = node.get("registry") or node.get("project")
                names[node["id"]] = f"{within}/{node['name']}" if within else node["name"]
        return names

    def _subject(self, ref: str) -> str:
        """The id whose events `history` asks for: references resolved, ids as they are."""
        if ":" in ref:
            return self.linked(ref).id if self._looks_linked(ref) else self.artifact(ref).id or ref
        if "/" in ref:
            first, name = ref.split("/", 1)
            if first in self._registry_names():
                found = self.graphql(
                    "query($r: String!, $n: String!) { found: collection(registry: $r, name: $n) "
                    "{ id } }",
                    r=first,
                    n=name,
                )["found"]
                missing = f"registry {first!r} has no collection {name!r}"
            else:
                found = self.graphql(
                    "query($p: String!, $n: String!) { found: artifact(project: $p, name: $n) "
                    "{ id } }",
                    p=first,
                    n=name,
                )["found"]
                missing = _no_artifact(first, name)
            if found is None:
                raise NotFound(missing)
            return str(found["id"])
        if ref in self._registry_names():
            registry = self.graphql("query($n: String!) { registry(name: $n) { id } }", n=ref)[
                "registry"
            ]
            return str(registry["id"]) if registry else ref
        return ref

    def verify_audit_log(self) -> dict[str, Any]:
        """Recompute the audit log's hash chain (org admins): whether it is intact, and the
        first altered event if not."""
        check: dict[str, Any] = self.graphql(
            "{ verifyAuditLog { intact checked reason firstBreak { id seq type time } } }"
        )["verifyAuditLog"]
        return check

    def versions(self, artifact: str) -> list[Artifact]:
        """Every committed version of an artifact (project/name), newest first, as W&B's
        `Api.artifacts(type, name)`."""
        project, _, name = artifact.partition("/")
        if not project or not name or ":" in name or "/" in name:
            raise BadInput(f"{artifact!r}: name an artifact as project/name, e.g. vision/mnist")

        def page(after: str | None) -> dict[str, Any]:
            answer = self.graphql(
                f"""query($p: String!, $n: String!, $after: String) {{
                artifact(project: $p, name: $n) {{ versions(first: 100, after: $after) {{
                nodes {{ {VERSION_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }} }}""",
                p=project,
                n=name,
                after=after,
            )["artifact"]
            if answer is None:
                raise NotFound(_no_artifact(project, name))
            versions: dict[str, Any] = answer["versions"]
            return versions

        return [bound(self, v) for v in paged(page)]

    @overload
    def artifacts(self, project: str) -> list[dict[str, Any]]: ...

    @overload
    def artifacts(self, project: str, name: str) -> list[Artifact]: ...

    def artifacts(
        self, project: str, name: str | None = None
    ) -> list[dict[str, Any]] | list[Artifact]:
        """The artifacts of a project: name, type, latest version (vN, None when all are
        deleted), description, when made. W&B's form,
        `artifacts(type_name, "project/name")` (or entity/project/name), gives that artifact's
        versions of that type instead, newest first."""
        if name is not None:
            parts = name.split(":", 1)[0].split("/")
            artifact = "/".join(parts[-2:])
            versions = self.versions(artifact)
            other = {v.type for v in versions} - {project}
            if other:  # an artifact has one type: another one is a mistake to say
                raise BadInput(f"{artifact} is a {other.pop()}, not a {project}")
            return versions

        def page(after: str | None) -> dict[str, Any]:
            answer = self.graphql(
                """query($p: String!, $after: String) { project(name: $p) { name }
                artifacts(project: $p, first: 100, after: $after) { nodes { name type
                versions(first: 1) { nodes { index } } description createdAt }
                pageInfo { hasNextPage endCursor } } }""",
                p=project,
                after=after,
            )
            if answer["project"] is None:  # an empty list would hide a misspelt name
                raise NotFound(
                    f"no project {project!r} that you may read: check its name (projects are "
                    "made by the first run or version logged into them)"
                )
            artifacts: dict[str, Any] = answer["artifacts"]
            artifacts["nodes"] = [
                {
                    "name": a["name"],
                    "type": a["type"],
                    "latest": f"v{newest[0]['index']}"
                    if (newest := a["versions"]["nodes"])
                    else None,
                    "description": a["description"],
                    "createdAt": a["createdAt"],
                }
                for a in artifacts["nodes"]
            ]
            return artifacts

        return list(paged(page))

    def artifact_versions(self, type_name: str, name: str) -> list[Artifact]:
        """W&B's older name of `artifacts(type_name, name)`: the artifact's versions."""
        return self.artifacts(type_name, name)


def _no_artifact(project: str, name: str) -> str:
    return (
        f"project {project!r} has no artifact {name!r} that you may read: "
        f"forebear artifact ls {project} lists them"
    )


def _latest_unless_named(ref: str) -> str:
    """A reference as the server reads it, whichever call takes it: W&B's forms made
    Forebear's (entity/project/name:alias loses its entity, wandb-registry-model/... names
    the registry `model`: see registry_path), and one naming no version (project/name,
    registry/collection) means its latest, as in W&B. Ids and references with :alias or :vN
    are otherwise as given."""
    path, colon, selector = ref.partition(":")
    if "/" not in path:
        return ref
    return registry_path(path) + (colon + selector if colon else ":latest")


def _latest(asked: Pending) -> dict[str, Any] | None:
    """The artifact's latest version (asked with VERSION_BY_REF), or None: no such artifact
    yet, or not readable (logging it then says why, naming what was asked)."""
    try:
        latest: dict[str, Any] | None = asked.result()["artifactVersion"]
    except (NotFound, Refused):
        return None
    return latest


def _until_failed(
    advance: Callable[[int], None] | None, pending: Pending | None
) -> Callable[[int], None] | None:
    """`advance` (a progress bar's, or none), raising what `pending` raised as soon as it has:
    a wrong key or a server out of reach is said while the first file is hashed, not after
    gigabytes of them."""
    if pending is None:
        return advance

    def step(done: int) -> None:
        if advance is not None:
            advance(done)
        failed = pending.exception() if pending.done() else None
        if failed is not None and not isinstance(failed, (NotFound, Refused)):
            raise failed  # (a refused read proves nothing: logging may still be allowed)

    return step


# What Api._names asks of each object: its name, and for a collection or an artifact the
# registry or project it is in (the names of versions and linked versions include theirs).
NAMED_FIELDS = """id ... on ArtifactVersion { name } ... on LinkedVersion { name }
  ... on Run { name } ... on Collection { registry name } ... on Artifact { project name }
  ... on Registry { name } ... on Project { name }"""
NAMED_ID = re.compile(r"(ver|lnk|run|col|art|reg|prj)_[0-9a-f]{24}")
NAMES_PER_CALL = 25  # the server allows 30 aliases an operation


ALIAS = re.compile(r"[a-z][a-z0-9._-]{0,63}")  # the server's rule for an alias name
INDEX = re.compile(r"v[0-9]+")


def settable(aliases: Iterable[str]) -> tuple[str, ...]:
    """The aliases to point at a version as it is logged or linked, checked before anything
    is written (a wrong one leaves no version or link behind without it). `latest` is left
    out: the server gives it to the newest version itself, and W&B scripts name it."""
    wanted = tuple(dict.fromkeys(a for a in aliases if a != "latest"))
    for alias in wanted:
        if not ALIAS.fullmatch(alias) or INDEX.fullmatch(alias):
            raise BadInput(
                f"alias {alias!r}: an alias starts with a lowercase letter, then up to 63 "
                "lowercase letters, digits, '.', '_' or '-', and is not v<N> (a version's "
                "index): give it another name"
            )
    return wanted


def _target(target: str) -> tuple[str, str]:
    """(registry, name) of a collection written `registry/collection`; BadInput otherwise."""
    parts = target.strip("/").split("/")
    if len(parts) != 2 or not all(parts) or ":" in target:
        raise BadInput(f"{target!r}: give a collection as registry/collection, e.g. model/mnist")
    return parts[0], parts[1]


def digest_of(files: list[tuple[str, str, int]], references: list[ArtifactReference]) -> str:
    """The server's digest of a manifest: sha256 of its sorted (path, sha256, size) lines and
    its sorted reference lines (equal digests, equal manifests)."""
    lines = sorted(f"{path}\t{sha}\t{size}" for path, sha, size in files)
    lines += sorted(
        f"ref\t{r.path}\t{r.uri}\t{r.sha256 or ''}\t{'' if r.size is None else r.size}"
        for r in references
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
