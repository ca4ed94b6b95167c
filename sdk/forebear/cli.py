"""The `forebear` command: a thin layer over the SDK. Exit codes: 0 done, 1 the server or the
files said no (the message says why), 2 a wrong command line. `--json` prints what scripts
read; otherwise tables for people."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar, cast

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from forebear._api import Api, Event, Lineage, LinkedVersion
from forebear._artifact import Artifact
from forebear._errors import Conflict, ForebearError, NotFound
from forebear._graphql import jsonable
from forebear._imports import ImportReport
from forebear._settings import Settings, save_key
from forebear._version import __version__

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
out = Console()


def _plain(value: Any) -> Any:
    """A result as JSON shows it: a dataclass's shown fields (not the Api or artifact it
    keeps), walked."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@contextlib.contextmanager
def _asks_to_confirm() -> Iterator[None]:
    """A refusal for want of a confirmation says how to give it here."""
    try:
        yield
    except Conflict as exc:
        if exc.dependents is None:
            raise
        raise Conflict(f"{exc}; here: add --confirm", dependents=exc.dependents) from exc


@contextlib.contextmanager
def _failing() -> Iterator[None]:
    """A ForebearError ends the command with its message, exit 1; so does a file or folder of
    this machine that cannot be read or written (a --root where none can be made)."""
    try:
        yield
    except ForebearError as exc:
        click.echo(f"forebear: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"forebear: {exc.strerror or exc}{where}", err=True)
        sys.exit(1)


def _answer(ask: Callable[[], T], instead: str) -> T:
    """What a person answers `ask`; when there is no one to ask (stdin is no terminal and
    holds no answer: a script), a wrong command line saying what to give `instead`."""
    try:
        return ask()
    except click.Abort:
        if sys.stdin is not None and sys.stdin.isatty():
            raise  # Ctrl-C at the prompt
        raise click.UsageError(f"asked for an answer and read none: {instead}") from None


def command(fn: F) -> F:
    """A command with --json, whose ForebearErrors end it with their message and exit 1."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @functools.wraps(fn)
    def wrapper(*args: Any, as_json: bool, **kwargs: Any) -> None:
        with _failing():
            result = fn(*args, **kwargs)
        if as_json:
            click.echo(json.dumps(jsonable(_plain(result)), indent=2))
        elif result is not None:
            _show(result)

    return cast(F, wrapper)


def _show(result: Any) -> None:
    if isinstance(result, LinkedVersion):
        # one line, however long: rich would break it at 80 columns when piped (`| grep`)
        out.print(
            escape(
                f"{result.name}  aliases: {', '.join(result.aliases) or '-'}  "
                f"stages: {', '.join(result.stages) or '-'}"
                + (f"  semver: {result.semver}" if result.semver else "")
                + ("  (deregistered)" if result.deregistered else "")
            ),
            soft_wrap=True,
        )
    elif isinstance(result, list) and not result:
        out.print("(none)")
    elif isinstance(result, list) and isinstance(result[0], dict):
        table = Table()
        for key in result[0]:
            # a narrow terminal folds a value onto more lines: an id cut to `run_c556f…` is lost
            table.add_column(key, overflow="fold")
        for row in result:
            table.add_row(*(_cell(v, k) for k, v in row.items()))
        out.print(table)
    elif isinstance(result, list):
        for item in result:
            _show(item)
    elif isinstance(result, dict) or dataclasses.is_dataclass(result):
        # one record: a field a line
        table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        for field, value in _plain(result).items():
            table.add_row(escape(field), _cell(value, field))
        out.print(table)
    else:
        out.print(result)


def _cell(value: Any, field: str = "") -> str:
    if value is None or value == [] or value == {}:
        return "-"
    if field.endswith("At") and isinstance(value, str):  # createdAt: to the second, UTC
        return escape(_utc(value))
    if isinstance(value, list):
        return escape(", ".join(map(str, value)))
    if isinstance(value, dict):  # an altered event in `audit verify`: as JSON, for people too
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def _api() -> Api:
    return Api()


@click.group()
@click.version_option(__version__, prog_name="forebear")
def main() -> None:
    """Forebear: log, fetch, link and trace models and datasets."""


@main.command()
@click.option("--key", help="The API key (asked for when not given).")
@click.option("--url", help="The server (default FOREBEAR_URL or http://127.0.0.1:8000).")
@command
def login(key: str | None, url: str | None) -> dict[str, str]:
    """Check an API key and store it for later (0600, in ~/.config/forebear)."""
    if not key:
        key = _answer(
            lambda: str(click.prompt("API key", hide_input=True)),
            "pass --key (or set FOREBEAR_API_KEY and skip login)",
        )
    settings = Settings.load(url=url, api_key=key)
    with Api(url=settings.url, api_key=key) as api:
        who = api.graphql("{ viewer { user { name } } }")["viewer"]["user"]["name"]
    path = save_key(settings.url, str(key))
    return {"user": who, "url": settings.url, "stored": str(path)}


@main.group("import")
def import_() -> None:
    """Bring another registry's history in (org admins)."""


@import_.command("gto")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--registry", default="model", show_default=True, help="Registry to import into.")
@click.option("--project", help="Project for the versions (default: the folder's name).")
@command
def import_gto(repo: Path, registry: str, project: str | None) -> dict[str, Any]:
    """Import a GTO (DVC model registry) repository's tags: versions, stages, deregistrations
    and deprecations, with their taggers and dates. Again: only what is new."""
    with _api() as api:
        report = api.import_gto(repo, registry=registry, project=project)
    return _reported(report)


@import_.command("mlflow")
@click.option("--tracking-uri", required=True, help="The MLflow server, e.g. http://host:5000.")
@click.option("--models", "models", multiple=True, help="Registered model to import (repeat).")
@click.option("--registry", default="model", show_default=True, help="Registry to import into.")
@click.option("--project", default="mlflow", show_default=True, help="Project for the versions.")
@command
def import_mlflow(
    tracking_uri: str, models: tuple[str, ...], registry: str, project: str
) -> dict[str, Any]:
    """Import an MLflow Model Registry: versions (files, descriptions, tags), their runs and
    dataset inputs, and aliases, with MLflow's users and times. Again: only what is new."""
    with _api() as api:
        report = api.import_mlflow(
            tracking_uri, list(models) or None, registry=registry, project=project
        )
    return _reported(report)


def _reported(report: ImportReport) -> dict[str, Any]:
    if report.failed:
        for key, why in report.failed.items():
            click.echo(f"forebear: {key}: {why}", err=True)
    summary = {
        "source": report.source,
        "imported": len(report.imported),
        "already imported": len(report.already),
        "failed": len(report.failed),
    }
    if report.failed:
        click.echo(json.dumps(summary), err=True)
        sys.exit(1)
    return summary


@main.group()
def artifact() -> None:
    """Log, fetch and list artifact versions."""


@artifact.command("put")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("-n", "--name", "target", required=True, help="project/name to log into.")
@click.option("-t", "--type", "kind", default="artifact", show_default=True)
@click.option("-a", "--alias", "aliases", multiple=True, help="Alias to point at it (repeat).")
@click.option("-d", "--description", default="")
@command
def artifact_put(
    path: Path, target: str, kind: str, aliases: tuple[str, ...], description: str
) -> dict[str, Any]:
    """Log a file or directory as the next version of project/name."""
    project, _, name = target.partition("/")
    if not project or not name:
        raise click.BadParameter("give project/name", param_hint="--name")
    art = Artifact(name=name, type=kind, description=description)
    if path.is_dir():
        art._add_dir_when_logged(path)
    else:
        art.add_file(path)
    with _api() as api:
        logged = api.log_artifact(art, project=project, aliases=aliases)
    return {"id": logged.id, "name": logged.qualified_name, "aliases": logged.aliases}


@artifact.command("get")
@click.argument("ref")
@click.option("--root", type=click.Path(path_type=Path), help="Where to put the files.")
@click.option(
    "--allow-missing-references",
    is_flag=True,
    help="Download even when a file:// or http(s):// reference cannot be read.",
)
@command
def artifact_get(ref: str, root: Path | None, allow_missing_references: bool) -> dict[str, Any]:
    """Download a version (project/name:alias|vN, or registry/collection:alias), each file's
    sha256 checked as it lands, and its file:// and http(s):// references fetched and checked
    too (other schemes stay where they point); other files already under ROOT are left alone
    (`forebear artifact verify` checks that ROOT holds exactly the version)."""
    with _api() as api:
        art = api.artifact(ref)
        placed = art.download(root, allow_missing_references=allow_missing_references)
    return {"name": art.qualified_name, "root": str(placed), "files": len(art.files())}


@artifact.command("verify")
@click.argument("ref")
@click.option("--root", type=click.Path(path_type=Path), help="The directory to check.")
@command
def artifact_verify(ref: str, root: Path | None) -> dict[str, Any]:
    """Check that ROOT holds exactly a version's files, hashing each: exit 1 naming those
    missing, changed or extra."""
    with _api() as api:
        art = api.artifact(ref)
        checked = Path(root) if root is not None else art.default_root()
        art.verify(checked)
    return {"name": art.qualified_name, "root": str(checked), "files": len(art.files())}


@artifact.command("diff")
@click.argument("old")
@click.argument("new")
@command
def artifact_diff(old: str, new: str) -> list[dict[str, Any]]:
    """The files and references added, removed and changed from version OLD to NEW (by
    content), in path order; none when they hold the same."""
    with _api() as api:
        return [
            {"change": c.change, "path": c.path, "before": c.before, "after": c.after}
            for c in api.diff(old, new)
        ]


@artifact.command("rm")
@click.argument("ref")
@click.option("--delete-aliases", is_flag=True, help="Remove its aliases (not latest) with it.")
@click.option(
    "--confirm",
    is_flag=True,
    help="Delete it even though runs used it, versions were made from it or it is linked.",
)
@command
def artifact_rm(ref: str, delete_aliases: bool, confirm: bool) -> dict[str, Any]:
    """Delete a version (project/name:vN or :alias, or its id); `forebear artifact restore`
    brings it back. A version holding aliases, or one that others depend on, is refused
    (naming them) unless told to go on."""
    if ":" not in ref and not ref.startswith("ver_"):
        raise click.BadParameter(
            f"name the version to delete: {ref}:vN (or :alias)", param_hint="REF"
        )
    with _api() as api:
        art = api.artifact(ref)
        art.delete(delete_aliases=delete_aliases, confirm=confirm)
    return {"deleted": art.qualified_name, "id": art.id}


@artifact.command("restore")
@click.argument("ref")
@command
def artifact_restore(ref: str) -> dict[str, Any]:
    """Bring back a deleted version (project/name:vN, or its id)."""
    with _api() as api:
        back = api.restore_version(api.artifact(ref).id or ref)
    return {"restored": back.qualified_name, "id": back.id, "aliases": back.aliases}


@artifact.command("ls")
@click.argument("project")
@command
def artifact_ls(project: str) -> list[dict[str, Any]]:
    """List a project's artifacts, or an artifact's versions (PROJECT/NAME), newest first."""
    with _api() as api:
        if "/" not in project:
            return api.artifacts(project)
        return [
            {
                "version": v.version,
                "id": v.id,
                "aliases": v.aliases,
                "files": v.file_count,
                "size": v.size,
                "digest": v.digest,
            }
            for v in api.versions(project)
        ]


@main.command()
@click.argument("target", required=False)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Deprecated collections and deregistered versions too.",
)
@command
def show(target: str | None, everything: bool) -> list[dict[str, Any]]:
    """The registries; a REGISTRY's collections, each with its latest version, the versions its
    aliases and stages name; or a REGISTRY/COLLECTION's linked versions, newest first (as
    `gto show`)."""
    with _api() as api:
        if target is None:
            return [
                {
                    "registry": r.name,
                    "types": r.allowed_types,
                    "stages": r.stages,
                    "protectedAliases": r.protected_aliases,
                    "description": r.description,
                }
                for r in api.registries()
            ]
        if "/" not in target:
            rows = []
            for c in api.collections(target, include_deprecated=everything):
                named = _named(c.named) if c.latest else {}
                rows.append(
                    {
                        "collection": c.name + (" (deprecated)" if c.deprecated else ""),
                        "latest": _label(c.latest) if c.latest else None,
                        **named,
                        "tags": c.tags,
                    }
                )
            return rows
        return [
            {
                "version": _label(v),
                "aliases": v.aliases,
                "stages": v.stages,
                "source": v.source,
                "linkedAt": v.linked_at,
                "linkedBy": v.linked_by,
                **({"deregistered": v.deregistered} if everything else {}),
            }
            for v in api.linked_versions(target, include_deregistered=everything)
        ]


def _label(link: LinkedVersion) -> str:
    """vN, and its semver when it has one: `v3 (1.2.0)`."""
    return f"v{link.index}" + (f" ({link.semver})" if link.semver else "")


def _named(links: list[LinkedVersion]) -> dict[str, list[str]]:
    """Which linked version each alias (but latest) and each stage names: `prod: v3`."""
    aliases = [f"{a}: v{v.index}" for v in links for a in v.aliases if a != "latest"]
    stages = [f"{s}: v{v.index}" for v in links for s in v.stages]
    return {"aliases": sorted(aliases), "stages": sorted(stages)}


@main.command()
@command
def projects() -> list[dict[str, Any]]:
    """The projects you may read, by name (every one for an org admin), with their pages."""
    with _api() as api:
        return [
            {
                "project": p.name,
                "description": p.description,
                "createdAt": p.created_at,
                "url": p.url,
            }
            for p in api.projects()
        ]


@main.command()
@click.argument("project")
@click.option("--status", type=click.Choice(["running", "finished", "failed", "crashed"]))
@click.option("--tag", help="Only runs with this tag.")
@command
def runs(project: str, status: str | None, tag: str | None) -> list[dict[str, Any]]:
    """A project's runs, newest first: status, job type, tags, when, and their summary."""
    filters: dict[str, Any] = {}
    if status:
        filters["state"] = status
    if tag:
        filters["tags"] = tag
    with _api() as api:
        return [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "jobType": r.job_type,
                "tags": r.tags,
                "startedAt": r.started_at,
                "summary": {k: v for k, v in r.summary.items() if _is_metric(v)},
            }
            for r in api.runs(project, filters)
        ]


def _is_metric(value: Any) -> bool:
    """A summary value that is a metric's (a number, NaN and the infinities too): not a
    logged file's description, nor define_metric's aggregates."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@main.command()
@click.argument("ref")
@click.argument("collection")
@click.option("-a", "--alias", "aliases", multiple=True, help="Alias to point at it (repeat).")
@command
def link(ref: str, collection: str, aliases: tuple[str, ...]) -> LinkedVersion:
    """Link a version into registry/collection (made when missing)."""
    with _api() as api:
        return api.link(api.artifact(ref).id or ref, collection, aliases)


@main.group()
def alias() -> None:
    """Move or remove an alias: of a registry collection, or of a project's artifact."""


@alias.command("set")
@click.argument("link_ref", metavar="LINK")
@click.argument("name")
@command
def alias_set(link_ref: str, name: str) -> LinkedVersion | dict[str, Any]:
    """Point alias NAME at LINK (registry/collection:selector), or at a project's version
    (project/artifact:vN) when no registry collection has that name."""
    with _api() as api:
        try:
            return api.set_alias(link_ref, name)
        except NotFound as missing:
            version = _project_version(api, link_ref, missing)
            moved = api.set_artifact_alias(version, name)
            return {"id": moved["id"], "name": moved["name"], "aliases": moved["aliases"]}


@alias.command("history")
@click.argument("collection")
@click.argument("name")
@click.option("-n", "--first", default=50, show_default=True, help="At most this many moves.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def alias_history(collection: str, name: str, first: int, as_json: bool) -> None:
    """Every move of alias NAME of registry/collection, newest first: who pointed it where,
    and when."""
    with _failing(), _api() as api:
        _print_events(api, api.alias_history(collection, name, first), as_json)


@alias.command("rm")
@click.argument("collection")
@click.argument("name", required=False)
@command
def alias_rm(collection: str, name: str | None) -> dict[str, str]:
    """Remove alias NAME from registry/collection (also written registry/collection:NAME),
    or from a project's artifact (project/artifact)."""
    target, _, held = collection.partition(":")
    if held and name and held != name:
        raise click.BadParameter(
            f"{collection!r} names {held!r}, not {name!r}; an alias is removed from its "
            f"collection: forebear alias rm {target} {name}",
            param_hint="COLLECTION",
        )
    alias = held or name
    if not alias:
        raise click.UsageError(f"which alias? forebear alias rm {target} NAME")
    with _api() as api:
        try:
            api.remove_alias(target, alias)
        except NotFound as missing:
            version = _project_version(api, f"{target}:{alias}", missing)
            project, _, artifact = target.partition("/")
            api.remove_artifact_alias(project, artifact, alias)
            return {"artifact": target, "removed": alias, "from": version}
    return {"collection": target, "removed": alias}


def _project_version(api: Api, ref: str, missing: NotFound) -> str:
    """The id of the project version `ref` names, for an alias command whose registry
    collection was not found (`missing`, raised again with a hint when neither is there)."""
    try:
        return api.artifact(ref).id or ""
    except NotFound:
        raise NotFound(
            f"{missing} (nor is {ref!r} a version of a project's artifact): aliases are moved "
            "in a registry collection (registry/collection:vN) or in a project's artifact "
            "(project/artifact:vN)"
        ) from missing


@main.group()
def stage() -> None:
    """Assign or unassign a lifecycle stage."""


@stage.command("assign")
@click.argument("link_ref", metavar="LINK")
@click.argument("name")
@command
def stage_assign(link_ref: str, name: str) -> LinkedVersion:
    """Put LINK (registry/collection:selector) in stage NAME (the registry's stages)."""
    with _api() as api:
        return api.assign_stage(link_ref, name)


@stage.command("unassign")
@click.argument("link_ref", metavar="LINK")
@click.argument("name")
@command
def stage_unassign(link_ref: str, name: str) -> LinkedVersion:
    """Take LINK (registry/collection:selector) out of stage NAME."""
    with _api() as api:
        return api.unassign_stage(link_ref, name)


@main.group()
def semver() -> None:
    """Label a linked version with a semantic version."""


@semver.command("set")
@click.argument("link_ref", metavar="LINK")
@click.argument("version")
@command
def semver_set(link_ref: str, version: str) -> LinkedVersion:
    """Label LINK (registry/collection:selector) with VERSION (1.2.0, 2.0.0-rc.1)."""
    with _api() as api:
        return api.set_semver(link_ref, version)


@main.command()
@click.argument("link_ref", metavar="LINK")
@click.option(
    "--confirm", is_flag=True, help="Go on although it holds aliases or stages, or has dependents."
)
@command
def deregister(link_ref: str, confirm: bool) -> LinkedVersion:
    """Deregister a linked version (soft; `forebear restore` brings it back)."""
    with _api() as api, _asks_to_confirm():
        return api.deregister(link_ref, confirm=confirm)


@main.command()
@click.argument("ref")
@command
def restore(ref: str) -> LinkedVersion | dict[str, str]:
    """Restore a deregistered linked version (registry/collection:selector) or a deprecated
    collection (registry/collection)."""
    with _api() as api:
        if ":" in ref:
            return api.restore(ref)
        api.restore_collection(ref)
    return {"restored": ref}


@main.command()
@click.argument("collection")
@click.option("--yes", is_flag=True, help="Do not ask to confirm.")
@click.option(
    "--confirm",
    is_flag=True,
    help="Go on although its versions hold aliases or stages, or have dependents.",
)
@command
def deprecate(collection: str, yes: bool, confirm: bool) -> dict[str, str]:
    """Deprecate a whole registry/collection (`forebear restore` brings it back)."""
    if not yes and not _answer(lambda: click.confirm(f"Deprecate {collection}?"), "add --yes"):
        raise click.Abort()
    with _api() as api, _asks_to_confirm():
        api.deprecate(collection, confirm=confirm)
    return {"deprecated": collection}


@main.command()
@click.argument("collection")
@click.option("-d", "--description", help="Its new description.")
@click.option(
    "-t", "--tag", "tags", multiple=True, help="A tag (repeat it): the tags given replace its tags."
)
@click.option("--no-tags", is_flag=True, help="Remove every tag.")
@click.option("--rename", help="Its new name.")
@command
def describe(
    collection: str,
    description: str | None,
    tags: tuple[str, ...],
    no_tags: bool,
    rename: str | None,
) -> dict[str, Any]:
    """A registry/collection's description and tags; with options, change them (or its name)."""
    if tags and no_tags:
        raise click.UsageError("give --tag or --no-tags, not both")
    with _api() as api:
        if description is None and not tags and not no_tags and rename is None:
            found = api.collection(collection)
        else:
            found = api.update_collection(
                collection,
                description=description,
                tags=[] if no_tags else list(tags) or None,
                name=rename,
            )
    return {
        "collection": found.path,
        "description": found.description,
        "tags": found.tags,
        "types": found.types,
        "latest": found.latest.name if found.latest else None,
        "deprecated": found.deprecated,
    }


@main.command()
@click.argument("ref")
@click.option("--up", "direction", flag_value="upstream", default=True, help="Where it came from.")
@click.option("--down", "direction", flag_value="downstream", help="What it fed.")
@click.option("--both", "direction", flag_value="both", help="Both ways.")
@click.option("--depth", type=int, help="At most this many hops.")
@click.option(
    "--format", "fmt", type=click.Choice(["tree", "json", "dot", "mermaid"]), default="tree"
)
@click.option("--json", "fmt", flag_value="json", help="Print JSON for scripts (--format json).")
def lineage(ref: str, direction: str, depth: int | None, fmt: str) -> None:
    """The lineage of a version, run or linked version."""
    with _failing(), _api() as api:
        found = api.lineage(ref, direction, depth)
    if fmt == "json":
        click.echo(json.dumps(_plain(found), indent=2))
    elif fmt in ("dot", "mermaid"):
        click.echo(found.dot if fmt == "dot" else found.mermaid, nl=False)
    else:
        out.print(_tree(found))


def _tree(found: Lineage) -> Tree:
    by_id = {n.id: n for n in found.nodes}
    start = next((n for n in found.nodes if n.distance == 0), None)
    root = Tree(escape(start.name) if start else "(nothing visible)")
    children: dict[str, list[str]] = {}
    for edge in found.edges:
        ends = (edge.source, edge.target)
        near, far = sorted(ends, key=lambda i: abs(by_id[i].distance) if i in by_id else 0)
        if near in by_id and far in by_id and by_id[near].distance != by_id[far].distance:
            children.setdefault(near, []).append(far)
    shown: set[str] = set()

    def grow(branch: Tree, node_id: str) -> None:
        for child in sorted(set(children.get(node_id, []))):
            node = by_id[child]
            label = escape(
                f"{node.name} [{node.kind.lower()}{', ' + node.type if node.type else ''}]"
            )
            if child in shown:
                branch.add(label + " (above)")
                continue
            shown.add(child)
            grow(branch.add(label), child)

    if start is not None:
        shown.add(start.id)
        grow(root, start.id)
    if found.truncated:
        root.add("... more past the depth limit")
    if found.hidden:
        root.add(f"({found.hidden} nodes you may not read)")
    return root


@main.command()
@click.argument("ref")
@command
def impact(ref: str) -> list[dict[str, Any]]:
    """The linked versions downstream of a version, by collection."""
    with _api() as api:
        groups = api.impact(ref)
        if not groups:
            # what descends from it, not its own links: say where it is registered itself
            click.echo(
                f"forebear: no registered version descends from {ref}{_own(api, ref)}", err=True
            )
        return [
            {
                "collection": g.collection,
                "linked": ", ".join(
                    f"v{link.index}" + (f" ({', '.join(link.aliases)})" if link.aliases else "")
                    for link in g.links
                ),
            }
            for g in groups
        ]


def _own(api: Api, ref: str) -> str:
    """` (it is registered itself as model/clf:v3)` when the version REF names is linked."""
    try:
        links = api.artifact(ref).linked_artifacts
    except ForebearError:  # REF names a run, not a version: no links of its own
        return ""
    return (
        f" (it is registered itself as {', '.join(link.name for link in links)})" if links else ""
    )


@main.command()
@click.argument("ref")
@click.option("-n", "--first", default=50, show_default=True, help="At most this many events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def history(ref: str, first: int, as_json: bool) -> None:
    """The audit events about REF, newest first: a version (project/name:v3), a linked
    version (registry/collection:production), a collection (registry/collection), an
    artifact (project/name), a registry, or a run's id. The table says what changed, with
    names for ids; --json gives each event as the server gives it."""
    with _failing(), _api() as api:
        _print_events(api, api.history(ref, first), as_json)


def _print_events(api: Api, events: list[Event], as_json: bool) -> None:
    """Events as a table for people (what changed, with names for ids), or JSON as the server
    gives them."""
    if as_json:
        click.echo(json.dumps(_plain(events), indent=2))
        return
    try:
        names = api._names(i for e in events for i in _strings([e.before, e.after]))
    except ForebearError:  # names are for reading ease: the ids are shown instead
        names = {}
    if not events:
        out.print("(none)")
        return
    table = Table()
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("actor")
    table.add_column("type", no_wrap=True)
    table.add_column("change")
    for e in events:
        table.add_row(_utc(e.time), escape(e.actor), escape(e.type), escape(_change(e, names)))
    out.print(table)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside an event's before and after (where its ids are)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        yield from _strings(list(value.values()))


def _utc(time: str) -> str:
    """An event's ISO time to the second, in UTC (as the server wrote it, when Python 3.9's
    fromisoformat cannot read it: a `Z`, or other than 3 or 6 digits of a second)."""
    try:
        at = datetime.fromisoformat(time)
    except ValueError:
        return time
    return (at.astimezone(timezone.utc) if at.tzinfo else at).strftime("%Y-%m-%d %H:%M:%S")


def _change(event: Event, names: dict[str, str]) -> str:
    """What an event changed, for people: each value after it, and what it was before when
    that differs (`link: model/clf:v0 -> model/clf:v1`), ids by name."""

    def shown(value: Any) -> str:
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, list):
            return ", ".join(map(shown, value)) or "-"
        if isinstance(value, dict):  # {alias: the link it was on}, None: on none
            return ", ".join(f"{k}={shown(v)}" for k, v in value.items() if v is not None) or "-"
        return "-" if value is None else json.dumps(value)

    if event.withheld:
        return "(also about something you may not read: left out)"

    def pair(then: Any, now: Any) -> tuple[str, str]:
        """Before and after; where each alias was ({candidate: lnk_}) and the aliases a link
        holds after ([candidate]) read as a move: `- -> candidate (from model/clf:v0)`."""
        if not (isinstance(then, dict) and isinstance(now, list)):
            return shown(then), shown(now)
        lost = {k: v for k, v in then.items() if k not in now}
        gained = [f"{a} (from {shown(then[a])})" if then.get(a) else shown(a) for a in now]
        return shown(lost), ", ".join(gained) or "-"

    parts = []
    for key in dict.fromkeys([*event.after, *event.before]):
        then, now = pair(event.before.get(key), event.after.get(key))
        if now == then == "-":  # empty before and after ({} then, [] now): nothing to say
            continue
        if key in event.before and then != now:
            now = f"{then} -> {now}"
        parts.append(f"{key}: {now}")
    return "; ".join(parts) or "-"


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@command
def sync(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    """Send offline runs (FOREBEAR_MODE=offline) to the server: all not sent yet, or those at
    PATHS. Safe to run twice."""
    from forebear._offline import sync as replay

    with _api() as api:
        sent = replay(api, list(paths) or None)
    if not sent:
        click.echo("forebear: no offline run is waiting to be sent", err=True)
    return sent


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("log")
@click.option("--actor", help="Only changes by this user.")
@click.option(
    "-t",
    "--type",
    "types",
    multiple=True,
    help="Only events of this type "
    "(alias.set, stage.assigned, link.created, ...); may be given again.",
)
@click.option("--registry", help="Only changes in this registry.")
@click.option("--since", help="From this time on (ISO 8601, e.g. 2026-12-01T00:00:00Z).")
@click.option("--until", help="Up to this time (ISO 8601).")
@click.option("-n", "--first", default=50, show_default=True, help="At most this many events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def audit_log(
    actor: str | None,
    types: tuple[str, ...],
    registry: str | None,
    since: str | None,
    until: str | None,
    first: int,
    as_json: bool,
) -> None:
    """Every change in the org, newest first, filtered: who moved what when. Events also
    about what you may not read are shown withheld."""
    with _failing(), _api() as api:
        events = api.audit_log(actor, types or None, registry, since, until, first)
        _print_events(api, events, as_json)


@audit.command("verify")
@command
def audit_verify() -> dict[str, Any]:
    """Recompute the audit log's hash chain (org admins); exit 1 when it is broken."""
    with _api() as api:
        check = api.verify_audit_log()
    if not check["intact"]:
        raise ForebearError(f"the audit log is altered: {check.get('reason')}")
    return check


if __name__ == "__main__":
    main()
