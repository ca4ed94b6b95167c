"""A GTO (DVC model registry) repository's history, imported into a Forebear registry.

GTO keeps its registry as git tags: `name@v1.2.0` registers a version, `name#stage#N` assigns
a stage, `name#stage!#N` unassigns it, `name@v1.2.0!` deregisters, `name@deprecated`
deprecates. The real `gto` package reads them (`pip install 'forebear-sdk[gto]'`); each becomes
the same change in Forebear, with the tagger as its actor and the tag's date as its time
(`importRegistryChanges`). A registered version becomes an artifact version that references
the artifact's file at the tagged commit (no bytes are copied). Importing again brings only
the tags that are new.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forebear._errors import ForebearError
from forebear._imports import ImportReport, name_of, reference_version, send

if TYPE_CHECKING:
    from forebear._api import Api

KIND = {
    "registration": "LINK",
    "assignment": "ASSIGN_STAGE",
    "unassignment": "UNASSIGN_STAGE",
    "deregistration": "DEREGISTER",
    "deprecation": "DEPRECATE",
}


def _source(repo: Path) -> str:
    """The repository's identity: its origin's URL, else its absolute path."""
    try:
        url = subprocess.run(
            ["git", "-C", str(repo), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        url = ""
    return f"gto:{url or repo.resolve()}"


def import_gto(
    api: Api, repo_path: str | Path, *, registry: str = "model", project: str | None = None
) -> ImportReport:
    """Import the GTO registry of the git repository at `repo_path` into `registry`; its
    versions are logged in `project` (default: the repository's folder name)."""
    try:
        from gto import api as gto
    except ImportError as exc:
        raise ForebearError(
            "importing from GTO needs the gto package: pip install 'forebear-sdk[gto]'"
        ) from exc
    repo = Path(repo_path)
    if not (repo / ".git").exists():
        raise ForebearError(f"{repo} is not a git repository (no .git)")
    source = _source(repo)
    project = project or name_of(repo.resolve().name, "gto")
    events = gto.history(str(repo), ascending=True)
    changes = []
    for event in events:
        kind = KIND.get(event["event"])
        if kind is None:
            continue
        change: dict[str, Any] = {
            "key": event["ref"],
            "kind": kind,
            "collection": event["artifact"],
            "actor": event.get("author") or event.get("author_email") or "unknown",
            "time": event["timestamp"].isoformat()
            if hasattr(event["timestamp"], "isoformat")
            else str(event["timestamp"]),
        }
        version = event.get("version")
        if version:
            change["semver"] = str(version).removeprefix("v")
        if event.get("stage"):
            change["stage"] = event["stage"]
        if kind == "LINK":
            change["version"] = _log_version(
                api, gto, repo, source, project, event, change["semver"], registry
            )
        changes.append(change)
    return send(api, registry, source, changes)


def _annotation(gto: Any, repo: Path, artifact: str, commit: str) -> tuple[str, str]:
    """The artifact's path and type at `commit`: from GTO's own index (artifacts.yaml), else
    from the `artifacts:` section of DVC's dvc.yaml there (where DVC keeps them)."""
    try:
        described = gto.describe(str(repo), artifact, rev=commit)
    except (AttributeError, LookupError, ValueError):  # no artifacts.yaml at that commit
        described = None
    if described is not None and getattr(described, "path", None):
        return str(described.path), name_of(str(getattr(described, "type", None) or "model"), "gto")
    from ruamel.yaml import YAML  # comes with gto

    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:dvc.yaml"], capture_output=True, text=True
    )
    found = {}
    if shown.returncode == 0:
        found = (YAML(typ="safe").load(shown.stdout) or {}).get("artifacts", {}).get(artifact, {})
    return str(found.get("path") or artifact), name_of(str(found.get("type") or "model"), "gto")


def _log_version(
    api: Api,
    gto: Any,
    repo: Path,
    source: str,
    project: str,
    event: dict[str, Any],
    semver: str,
    registry: str,
) -> str:
    """The artifact version a registration links: the one linked before under this semver,
    else a new version referencing the artifact's file at the tagged commit."""
    found = api.graphql(
        "query($ref: String!) { linkedVersion(ref: $ref) { versionId } }",
        ref=f"{registry}/{event['artifact']}:{semver}",
    )["linkedVersion"]
    if found:
        return str(found["versionId"])
    path, kind = _annotation(gto, repo, event["artifact"], event["commit"])
    commit = event["commit"]
    if "://" in path:
        uri = path  # the artifact lives outside the repository already
    else:
        uri = f"git+{source.removeprefix('gto:')}@{commit}#{path}"
        if "://" not in uri.split("@", 1)[0]:
            uri = f"git+file://{repo.resolve()}@{commit}#{path}"
    entry = path.rsplit("/", 1)[-1] or event["artifact"]
    return reference_version(
        api,
        project=project,
        artifact=name_of(event["artifact"], "gto"),
        type=kind,
        references=[{"path": entry, "uri": uri}],
        metadata={
            "gto": {"repository": source, "commit": commit, "path": path, "tag": event["ref"]}
        },
        allowDuplicate=True,
    )
