"""An MLflow Model Registry, imported into a Forebear registry through MLflow's REST API (no
MLflow install needed): registered models, their versions with descriptions and tags, the
files of each version (downloaded through MLflow's artifact service), the runs that logged them
(params, metrics, tags) and the datasets those runs logged as inputs, and aliases. Each version
link and alias keeps its MLflow user and time (`importRegistryChanges`); importing again brings
only versions and alias moves that are new.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from forebear._artifact import REFERENCE, Artifact, local_path
from forebear._errors import ForebearError
from forebear._imports import ImportReport, name_of, reference_version, send

if TYPE_CHECKING:
    from forebear._api import Api

IMPORTED = """query($source: String!, $keys: [String!]!) {
  importedKeys(source: $source, keys: $keys) }"""
STATUS = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "CRASHED"}


def _when(millis: Any) -> str:
    return datetime.fromtimestamp(int(millis or 0) / 1000, tz=timezone.utc).isoformat()


class _MLflow:
    """MLflow's REST API (2.0), and its artifact service (mlflow-artifacts)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.http = httpx.Client(base_url=self.uri, timeout=120)

    def get(self, path: str, **params: Any) -> Any:
        try:
            answer = self.http.get(f"/api/2.0/mlflow/{path}", params=params)
        except httpx.HTTPError as exc:
            raise ForebearError(f"cannot reach MLflow at {self.uri}: {exc}") from exc
        if answer.status_code != 200:
            raise ForebearError(
                f"MLflow at {self.uri} answered {answer.status_code} to {path}: {answer.text[:300]}"
            )
        return answer.json()

    def paged(self, path: str, field: str, **params: Any) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            page = self.get(
                path, max_results=1000, **params, **({"page_token": token} if token else {})
            )
            yield from page.get(field, [])
            token = page.get("next_page_token")
            if not token:
                return

    def download(self, artifact_uri: str, target: Path) -> None:
        """Every file under an artifact URI, into `target`."""
        if artifact_uri.startswith("mlflow-artifacts:"):
            self._fetch(artifact_uri.split(":", 1)[1].lstrip("/"), target)
            return
        local = local_path(artifact_uri) or Path(artifact_uri)  # file:// or a bare path
        if local.is_dir():  # an artifact store this machine sees directly
            shutil.copytree(local, target, dirs_exist_ok=True)
            return
        raise ForebearError(
            f"cannot download {artifact_uri}: serve MLflow's artifacts (mlflow server "
            "--serve-artifacts, the default) so they come through its API"
        )

    def _fetch(self, path: str, target: Path) -> None:
        try:
            self._fetch_all(path, target)
        except httpx.HTTPError as exc:
            raise ForebearError(
                f"downloading {path} from MLflow at {self.uri} failed: {exc}"
            ) from exc

    def _fetch_all(self, path: str, target: Path) -> None:
        answer = self.http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": path})
        answer.raise_for_status()
        for item in answer.json().get("files", []):
            inside = f"{path}/{item['path']}" if path else item["path"]
            name = item["path"].rsplit("/", 1)[-1]
            if item.get("is_dir"):
                self._fetch_all(inside, target / name)
                continue
            target.mkdir(parents=True, exist_ok=True)
            with self.http.stream(
                "GET", f"/api/2.0/mlflow-artifacts/artifacts/{quote(inside)}"
            ) as got:
                got.raise_for_status()
                with open(target / name, "wb") as out:
                    for chunk in got.iter_bytes():
                        out.write(chunk)


def import_mlflow(
    api: Api,
    tracking_uri: str,
    *,
    models: list[str] | None = None,
    registry: str = "model",
    project: str = "mlflow",
) -> ImportReport:
    """Import the registered models of the MLflow server at `tracking_uri` (all, or `models`)
    into `registry`; versions are logged, with their runs, in `project`."""
    mlflow = _MLflow(tracking_uri)
    source = f"mlflow:{mlflow.uri}"
    names = models or [
        m["name"] for m in mlflow.paged("registered-models/search", "registered_models")
    ]
    runs: dict[str, str] = {}
    finishing: dict[str, str] = {}
    changes: list[dict[str, Any]] = []
    for name in names:
        model = mlflow.get("registered-models/get", name=name)["registered_model"]
        versions = sorted(
            mlflow.paged("model-versions/search", "model_versions", filter=f"name='{name}'"),
            key=lambda v: int(v["version"]),
        )
        keys = [f"{name}/{v['version']}" for v in versions]
        done = set(api.graphql(IMPORTED, source=source, keys=keys)["importedKeys"])
        for version, key in zip(versions, keys):
            if key in done:
                continue
            logged = _log_version(api, mlflow, project, model, version, runs, finishing)
            changes.append(
                {
                    "key": key,
                    "kind": "LINK",
                    "collection": name_of(name, "model"),
                    "version": logged,
                    "actor": version.get("user_id") or "unknown",
                    "time": _when(version.get("creation_timestamp")),
                }
            )
        for alias in model.get("aliases", []):
            changes.append(
                {
                    "key": f"{name}@{alias['alias']}={alias['version']}",
                    "kind": "SET_ALIAS",
                    "collection": name_of(name, "model"),
                    "semver": f"{name}/{alias['version']}",
                    "alias": alias["alias"].lower(),
                    "actor": model.get("user_id") or "unknown",
                    "time": _when(model.get("last_updated_timestamp")),
                }
            )
    for made, status in finishing.items():
        api._finish_run(made, status)
    return send(api, registry, source, changes)


def _log_version(
    api: Api,
    mlflow: _MLflow,
    project: str,
    model: dict[str, Any],
    version: dict[str, Any],
    runs: dict[str, str],
    finishing: dict[str, str],
) -> str:
    """Log a model version's files as an artifact version produced by (an import of) its run;
    its id."""
    run_id = version.get("run_id")
    forebear_run = _run(api, mlflow, project, run_id, runs, finishing) if run_id else None
    metadata = {
        "mlflow": {
            key: version.get(key)
            for key in (
                "name",
                "version",
                "source",
                "run_id",
                "status",
                "user_id",
                "creation_timestamp",
                "last_updated_timestamp",
            )
        }
    }
    metadata["mlflow"]["tags"] = {t["key"]: t["value"] for t in version.get("tags", [])}
    metadata["mlflow"]["model_description"] = model.get("description") or ""
    uri = mlflow.get(
        "model-versions/get-download-uri", name=version["name"], version=version["version"]
    )["artifact_uri"]
    with tempfile.TemporaryDirectory(prefix="forebear-mlflow-") as folder:
        files = Path(folder) / "files"
        mlflow.download(uri, files)
        artifact = Artifact(
            name_of(version["name"], "model"),
            type="model",
            description=version.get("description") or "",
            metadata=metadata,
        )
        if files.is_dir():
            artifact._add_dir_when_logged(files)
        logged = api.log_artifact(artifact, project=project, run=forebear_run)
    assert logged.id is not None
    return str(logged.id)


def _run(
    api: Api,
    mlflow: _MLflow,
    project: str,
    run_id: str,
    runs: dict[str, str],
    finishing: dict[str, str],
) -> str:
    """The Forebear run of an MLflow run: its params as config, its latest metrics as summary,
    its tags, and the datasets it logged as inputs (consumed); made once per import, and
    finished (`finishing`: its MLflow status) once its versions are logged."""
    if run_id in runs:
        return runs[run_id]
    found = mlflow.get("runs/get", run_id=run_id)["run"]
    info, data = found["info"], found.get("data", {})
    tags = {t["key"]: t["value"] for t in data.get("tags", [])}
    config = {p["key"]: p["value"] for p in data.get("params", [])}
    config["mlflow"] = {
        "run_id": run_id,
        "experiment_id": info.get("experiment_id"),
        "user_id": info.get("user_id"),
        "start_time": _when(info.get("start_time")),
        "end_time": _when(info.get("end_time")) if info.get("end_time") else None,
        "tags": tags,
    }
    made: str = api._start_run(
        {
            "project": project,
            "name": (info.get("run_name") or run_id)[:256],
            "config": config,
            "tags": ["mlflow"],
        }
    )["id"]
    summary = {m["key"]: m["value"] for m in data.get("metrics", [])}
    if summary:
        api._update_run(made, {"summary": summary})
    for entry in (found.get("inputs") or {}).get("dataset_inputs", []):
        dataset = entry.get("dataset") or {}
        api._use_version(made, _dataset(api, project, dataset))
    runs[run_id] = made
    finishing[made] = STATUS.get(info.get("status", ""), "FINISHED")
    return made


def _dataset(api: Api, project: str, dataset: dict[str, Any]) -> str:
    """A dataset an MLflow run logged, as a version of a `dataset` artifact: a reference to
    its source when that is a URI, with its digest, schema and source in metadata."""
    try:
        source = json.loads(dataset.get("source") or "{}")
    except ValueError:
        source = {}
    uri = str(source.get("uri") or source.get("url") or "")
    references = (
        [{"path": name_of(dataset.get("name") or "data", "model"), "uri": uri}]
        if REFERENCE.match(uri)
        else []
    )
    return reference_version(
        api,
        project=project,
        artifact=name_of(dataset.get("name") or "dataset", "model"),
        type="dataset",
        references=references,
        metadata={
            "mlflow": {
                k: dataset.get(k)
                for k in ("name", "digest", "source_type", "source", "schema", "profile")
            }
        },
    )
