"""Runs as the server keeps them, for scripts that compare them (W&B's public-API `Run` and
`api.runs`): their config, summary and metric history, and what they logged and used."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from forebear._artifact import VERSION_FIELDS, Artifact, ArtifactFile, bound, content_type
from forebear._errors import BadInput, ForebearError, NotFound
from forebear._graphql import NON_FINITE, jsonable, paged, read_numbers

if TYPE_CHECKING:
    from forebear._api import Api

RUN_FIELDS = (
    "id name project status config summary tags jobType group notes key lastStep startedAt endedAt"
)
RUN_BY_ID = f"query($id: ID!) {{ run(id: $id) {{ {RUN_FIELDS} }} }}"
RUNS = f"""query($project: String!, $where: [RunFilter!], $status: RunStatus, $tag: String,
  $key: String, $after: String) {{ project(name: $project) {{ name }}
  runs(project: $project, where: $where, status: $status,
  tag: $tag, key: $key, first: 100, after: $after) {{ nodes {{ {RUN_FIELDS} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"""
HISTORY = """query($id: ID!, $keys: [String!]!, $after: Int!) { run(id: $id) {
  metrics(keys: $keys, afterStep: $after, first: 10000) { key points { step value } } } }"""
PAGE = 10_000  # points per key per request (the server's `first`)
OPS = {"$eq": "EQ", "$ne": "NE", "$gt": "GT", "$gte": "GTE", "$lt": "LT", "$lte": "LTE"}
STATES = ("running", "finished", "failed", "crashed")


@dataclass
class RunInfo:
    """A run as the server has it now (W&B's public-API Run): `state` is W&B's lower-case
    `status`, `history()` its metrics step by step. Change its name, notes, tags, config or
    summary here and `update()` saves them, as W&B's."""

    id: str
    name: str
    project: str
    status: str
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str]
    job_type: str | None
    group: str | None
    notes: str | None
    key: str | None
    last_step: int | None
    started_at: str
    ended_at: str | None
    api: Api = field(repr=False, compare=False)
    # the editable fields as read: what `update` compares them with
    _as_read: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, api: Api, record: dict[str, Any]) -> RunInfo:
        return cls(
            id=record["id"],
            name=record["name"],
            project=record["project"],
            status=record["status"],
            config=dict(record.get("config") or {}),
            summary=read_numbers(record.get("summary") or {}),
            tags=list(record.get("tags") or []),
            job_type=record.get("jobType"),
            group=record.get("group"),
            notes=record.get("notes"),
            key=record.get("key"),
            last_step=record.get("lastStep"),
            started_at=record["startedAt"],
            ended_at=record.get("endedAt"),
            api=api,
            _as_read=copy.deepcopy(
                {
                    "name": record["name"],
                    "notes": record.get("notes"),
                    "tags": list(record.get("tags") or []),
                    "config": record.get("config") or {},
                    "summary": read_numbers(record.get("summary") or {}),
                    "job_type": record.get("jobType"),
                    "group": record.get("group"),
                }
            ),
        )

    def update(self) -> RunInfo:
        """Save the changes made here to the run's name, notes, tags, and config and summary
        keys (W&B's public-API `run.update()`); the run as the server has it then. Keys are
        set, never removed, and the job type and group stay as the run started."""
        read = self._as_read
        removed = [
            f"{part}.{key}"
            for part in ("config", "summary")
            for key in read[part]
            if key not in getattr(self, part)
        ]
        if removed:
            raise BadInput(f"{', '.join(removed)}: a run's keys are set, never removed")
        if (self.job_type, self.group) != (read["job_type"], read["group"]):
            raise BadInput("a run's job_type and group are kept as it started them")
        changes: dict[str, Any] = {}
        if self.name != read["name"]:
            changes["name"] = self.name
        if self.notes != read["notes"]:
            changes["notes"] = self.notes or ""
        if sorted(self.tags) != sorted(read["tags"]):
            changes["tags"] = list(self.tags)
        for part in ("config", "summary"):
            mine: dict[str, Any] = jsonable(getattr(self, part))
            theirs: dict[str, Any] = jsonable(read[part])  # NaN read as NaN: unchanged
            changed = {k: v for k, v in mine.items() if k not in theirs or theirs[k] != v}
            if changed:
                changes[part] = changed
        if not changes:
            return self
        record = self.api.graphql(
            f"""mutation($input: UpdateRunInput!) {{ updateRun(input: $input) {{
            run {{ {RUN_FIELDS} }} }} }}""",
            input={"run": self.id, **changes},
        )["updateRun"]["run"]
        fresh = RunInfo.of(self.api, record)
        for kept in dataclasses.fields(self):
            setattr(self, kept.name, getattr(fresh, kept.name))
        return self

    @property
    def state(self) -> str:
        """W&B's name: running, finished, failed or crashed."""
        return self.status.lower()

    @property
    def path(self) -> list[str]:
        """`[project, id]`, as W&B's public-API `run.path` (`[entity, project, id]`) is read:
        `"/".join(run.path)` is what `Api().run` takes."""
        return [self.project, self.id]

    @property
    def url(self) -> str:
        """The run on its project's page in the web app."""
        return f"{project_page(self.api.settings.url, self.project)}?run={self.id}"

    def metric_keys(self) -> list[str]:
        """The keys whose last value the summary holds as a number: the metrics logged (and
        any number set in the summary by hand, which has no history)."""
        return sorted(
            k
            for k, v in self.summary.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        )

    def scan_history(self, keys: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every step logged, in order, as a row: `{"_step": 3, "loss": 0.1, ...}` with the
        `keys` asked for (default: every metric) that have a value at that step. NaN and
        infinities come back as floats."""
        rows: dict[int, dict[str, Any]] = {}
        for key in keys if keys is not None else self.metric_keys():
            for step, value in self._series(key):
                rows.setdefault(step, {"_step": step})[key] = value
        for step in sorted(rows):
            yield rows[step]

    def history(self, keys: list[str] | None = None, pandas: bool = True) -> Any:
        """`scan_history`'s rows as a pandas DataFrame (W&B's default), or a list of them with
        `pandas=False`."""
        rows = list(self.scan_history(keys))
        if not pandas:
            return rows
        try:
            pd = importlib.import_module("pandas")
        except ImportError:
            raise ForebearError(
                "history() gives a pandas DataFrame: pip install pandas, or pass pandas=False "
                "for a list of rows"
            ) from None
        return pd.DataFrame(rows)

    def _series(self, key: str) -> Iterator[tuple[int, float]]:
        after = -1
        while True:
            found = self.api.graphql(HISTORY, id=self.id, keys=[key], after=after)["run"]
            points = found["metrics"][0]["points"] if found and found["metrics"] else []
            for point in points:
                value = point["value"]  # a number, or "NaN", "Infinity" or "-Infinity"
                yield point["step"], NON_FINITE[value] if isinstance(value, str) else float(value)
            if len(points) < PAGE:
                return
            after = points[-1]["step"]

    def logged_artifacts(self) -> list[Artifact]:
        """The versions this run logged."""
        return self._versions("outputs")

    def used_artifacts(self) -> list[Artifact]:
        """The versions this run used (those the caller may read)."""
        return self._versions("inputs")

    def files(self) -> list[RunFile]:
        """The files the run kept with `save` (W&B's `run.files()`), in path order."""
        try:
            kept = self.api.artifact(f"{self.project}/run-{self.id}-files")
        except NotFound:
            return []
        return [RunFile(f.path, f.size, f.sha256, kept) for f in kept.files()]

    def file(self, name: str) -> RunFile:
        """One file the run kept with `save`, by its name (W&B's `run.file(name)`)."""
        files = self.files()
        for found in files:
            if found.name == name:
                return found
        kept = ", ".join(f.name for f in files[:20]) or "nothing"
        raise NotFound(
            f"run {self.project}/{self.id} kept no file {name!r} with save(); it kept: {kept}"
        )

    def _versions(self, which: str) -> list[Artifact]:
        query = f"query($id: ID!) {{ run(id: $id) {{ {which} {{ {VERSION_FIELDS} }} }} }}"
        return [bound(self.api, v) for v in self.api.graphql(query, id=self.id)["run"][which]]


@dataclass(frozen=True)
class RunFile:
    """A file a run kept with `save` (W&B's public-API File)."""

    name: str
    size: int
    sha256: str
    artifact: Artifact = field(repr=False, compare=False)  # the run's run-<id>-files

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> IO[str]:
        """Fetch it into `root`, at its name, and open it for reading. A file already there is
        refused, unless `replace` (fetched again) or `exist_ok` (read as it is), as W&B's."""
        target = Path(root) / self.name
        if target.exists() and not replace:
            if not exist_ok:
                raise ForebearError(
                    f"{target} exists: pass replace=True to fetch it again, or exist_ok=True"
                )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            found = ArtifactFile(self.name, self.size, self.sha256, content_type(self.name))
            shutil.copyfile(self.artifact._fetched(found), target)
        return open(target)  # W&B's: the caller reads and closes it


def project_page(server: str, project: str) -> str:
    """A project's page in the web app of the server at `server`: its runs, compared."""
    return f"{server}/projects/{urllib.parse.quote(project)}"


@dataclass(frozen=True)
class Project:
    """A project: where runs log and their artifacts live (W&B's public-API Project)."""

    id: str
    name: str
    description: str
    created_at: str
    url: str

    @classmethod
    def of(cls, server: str, record: dict[str, Any]) -> Project:
        return cls(
            id=record["id"],
            name=record["name"],
            description=record["description"],
            created_at=record["createdAt"],
            url=project_page(server, record["name"]),
        )


def run_of(api: Api, path: str) -> RunInfo:
    """The run a path names: its id (`run_...`), `project/<id or key>`, or W&B's
    `entity/project/<id or key>` (the entity is not used)."""
    parts = path.strip("/").split("/")
    if len(parts) > 3 or not all(parts):
        raise ForebearError(
            f"run {path!r}: give a run id, project/<id or key>, or entity/project/id"
        )
    last = parts[-1]
    if last.startswith("run_"):
        found = api.graphql(RUN_BY_ID, id=last)["run"]
        if found is None or (len(parts) > 1 and found["project"] != parts[-2]):
            raise NotFound(f"no run {path!r}: check the id, or that you may read its project")
        return RunInfo.of(api, found)
    if len(parts) == 1:
        raise ForebearError(f"run {path!r}: a key needs its project (project/{last})")
    matched = list(runs_of(api, parts[-2], key=last))
    if not matched:
        raise NotFound(f"no run {last!r} in project {parts[-2]!r}")
    return matched[0]


def runs_of(
    api: Api,
    path: str,
    filters: Mapping[str, Any] | None = None,
    order: str = "-created_at",
    key: str | None = None,
) -> Iterator[RunInfo]:
    """The runs of a project (`project`, or W&B's `entity/project`) that pass `filters`, in
    `order`; see Api.runs."""
    project = path.strip("/").split("/")[-1]
    where, status, tag = _where(filters or {})
    variables = {"project": project, "where": where, "status": status, "tag": tag, "key": key}
    descending, by = order.startswith("-"), order.lstrip("+-")
    if by != "created_at":
        value_of = _value_of(by)
        found = list(_pages(api, variables))
        ranked = [(v, r) for r in found if (v := value_of(r)) is not None]
        ranked.sort(key=lambda pair: pair[0], reverse=descending)
        yield from [r for _, r in ranked] + [r for r in found if value_of(r) is None]
        return
    if descending:
        yield from _pages(api, variables)
    else:
        yield from reversed(list(_pages(api, variables)))


def _pages(api: Api, variables: dict[str, Any]) -> Iterator[RunInfo]:
    def page(after: str | None) -> dict[str, Any]:
        answer = api.graphql(RUNS, **variables, after=after)
        if answer["project"] is None:  # an empty list would hide a misspelt name
            raise NotFound(f"no project {variables['project']!r} that you may read")
        runs: dict[str, Any] = answer["runs"]
        return runs

    return (RunInfo.of(api, node) for node in paged(page))


def _value_of(by: str) -> Callable[[RunInfo], float | None]:
    """What `order` sorts by: a number of `config.K` or `summary_metrics.K` (or `summary.K`);
    None when a run has none (it comes last)."""
    source, _, name = by.partition(".")
    if source not in ("config", "summary", "summary_metrics") or not name:
        raise ForebearError(
            f"order={by!r}: order by created_at, config.<key> or summary_metrics.<key> "
            "(+ or - before it)"
        )

    def value(run: RunInfo) -> float | None:
        found = (run.config if source == "config" else run.summary).get(name)
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            return None
        return float(found)

    return value


def _where(
    filters: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """W&B's MongoDB-style filters as the server's RunFilter list, status and tag: keys
    `config.K`, `summary_metrics.K` (or `summary.K`), `state` (or `status`) and `tags`; values
    compared equal, or with $eq, $ne, $gt, $gte, $lt, $lte; `$and` of such filters."""
    where: list[dict[str, Any]] = []
    status = tag = None
    for name, wanted in filters.items():
        if name == "$and":
            for part in wanted:
                more, part_status, part_tag = _where(part)
                where += more
                status, tag = part_status or status, part_tag or tag
            continue
        source, _, key = name.partition(".")
        if name in ("state", "status"):
            if str(wanted).lower() not in STATES:
                raise ForebearError(f"filters: {name} is one of {', '.join(STATES)}")
            status = str(wanted).upper()
        elif name == "tags":
            tag = wanted.get("$in", [None])[0] if isinstance(wanted, Mapping) else wanted
            if not isinstance(tag, str) or (
                isinstance(wanted, Mapping) and len(wanted["$in"]) != 1
            ):
                raise ForebearError("filters: tags is one tag, or {'$in': [one tag]}")
        elif source in ("config", "summary", "summary_metrics") and key:
            for op, value in wanted.items() if isinstance(wanted, Mapping) else [("$eq", wanted)]:
                if op not in OPS:
                    raise ForebearError(f"filters: {op} is not one of {', '.join(OPS)}")
                where.append(
                    {
                        "source": "CONFIG" if source == "config" else "SUMMARY",
                        "key": key,
                        "op": OPS[op],
                        "value": value,
                    }
                )
        else:
            raise ForebearError(
                f"filters: {name!r} is not config.<key>, summary_metrics.<key>, state, tags or $and"
            )
    return where, status, tag
