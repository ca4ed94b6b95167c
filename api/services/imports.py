"""Importing another registry's history: each change applied as the same Forebear change, in
its own transaction, as the source's actor at the source's time (graph.importing), once per
key however often it is sent."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from neo4j.exceptions import ConstraintError

from api.context import Repositories
from api.errors import BadInput
from api.inputs import AliasIn, NewCollectionIn, parse
from graph.errors import Conflict, GraphError, NotFound
from graph.importing import IMPORTING, Imported
from graph.repository.idempotency import CLAIM


@dataclass(frozen=True, slots=True)
class Change:
    """One change of the source's history (see ImportedChangeInput)."""

    key: str
    kind: str  # LINK, ASSIGN_STAGE, UNASSIGN_STAGE, DEREGISTER, SET_ALIAS, DEPRECATE
    collection: str
    actor: str
    time: datetime
    version: str | None = None
    semver: str | None = None
    stage: str | None = None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    status: str  # IMPORTED, ALREADY_IMPORTED or FAILED
    message: str | None
    link_id: str | None


async def import_changes(
    repos: Repositories, by: str, registry: str, source: str, changes: Sequence[Change]
) -> list[Outcome]:
    """Apply `changes` in order into `registry`; what became of each."""
    outcomes = []
    wrote = False
    for change in changes:
        key = f"{source}:{change.key}"
        if await repos.registries.imported_keys([key]):
            outcomes.append(Outcome(change.key, "ALREADY_IMPORTED", None, None))
            continue
        when = change.time if change.time.tzinfo else change.time.replace(tzinfo=UTC)
        token = IMPORTING.set(Imported(source, key, when, by))
        # A retried call (an idempotency key) is known by its first change's events; the
        # others are known by their import keys.
        unclaimed = CLAIM.set(None) if wrote else None
        try:
            link_id = await _apply(repos, registry, source, change)
            outcome = Outcome(change.key, "IMPORTED", None, link_id)
            wrote = True
        except ConstraintError:  # imported meanwhile by another call
            outcome = Outcome(change.key, "ALREADY_IMPORTED", None, None)
        except (GraphError, BadInput) as exc:
            outcome = Outcome(change.key, "FAILED", str(exc), None)
        finally:
            IMPORTING.reset(token)
            if unclaimed is not None:
                CLAIM.reset(unclaimed)
        outcomes.append(outcome)
    return outcomes


async def _apply(repos: Repositories, registry: str, source: str, change: Change) -> str | None:
    """Apply one change; the link it touched."""
    repo = repos.registries
    actor = change.actor.strip()[:256] or "unknown"
    # The names the source uses must be names here too (the API's rules, as for any change).
    parse(NewCollectionIn, {"collection": change.collection}, "collection")
    for field, value in (("stage", change.stage), ("alias", change.alias)):
        if value is not None:
            parse(AliasIn, {"alias": value}, field)
    if change.kind == "DEPRECATE":
        collection = await repo.get_collection(registry, change.collection)
        await repo.set_deprecated(collection.id, True, actor=actor, confirm_dependents=True)
        return None
    if change.kind == "LINK":
        if not change.version:
            raise BadInput("version", "a LINK names the artifact version to link")
        version_id = await repos.artifacts.resolve(change.version, "version")
        link, _, _, _ = await repo.link_version(
            registry, change.collection, version_id, create_collection=True, actor=actor
        )
        if change.semver and link.semver != change.semver:
            with _part("semver"):
                await repo.set_semver(link.id, change.semver, actor=actor)
        return link.id
    if not change.semver:
        raise BadInput("semver", f"{change.kind} names the linked version by its semver")
    link_id = await repo.imported_link(f"{source}:{change.semver}")
    if link_id is None:
        link_id = await repo.resolve_ref(registry, change.collection, change.semver, None)
    if link_id is None:
        raise NotFound("linked version", f"{registry}/{change.collection}:{change.semver}")
    if change.kind == "SET_ALIAS":
        if not change.alias:
            raise BadInput("alias", "SET_ALIAS names the alias")
        await repo.set_alias(link_id, change.alias, actor=actor)
        return link_id
    if change.kind == "DEREGISTER":
        await repo.set_link_state(link_id, False, actor=actor, confirm_dependents=True)
        return link_id
    if not change.stage:
        raise BadInput("stage", f"{change.kind} names the stage")
    assigned = change.kind == "ASSIGN_STAGE"
    try:
        await repo.assign_stage(link_id, change.stage, assigned, actor=actor)
    except Conflict:
        if not assigned:
            raise
        # Assigned again after another version took the stage: it becomes current again.
        with _part("unassigned"):
            await repo.assign_stage(link_id, change.stage, False, actor=actor)
        with _part("assigned"):
            await repo.assign_stage(link_id, change.stage, True, actor=actor)
    return link_id


@contextlib.contextmanager
def _part(name: str) -> Iterator[None]:
    """A second event of one imported change, under a key of its own."""
    imported = IMPORTING.get()
    assert imported is not None
    token = IMPORTING.set(dataclasses.replace(imported, key=f"{imported.key}#{name}"))
    unclaimed = CLAIM.set(None)  # the change's first event carries the idempotency claim
    try:
        yield
    finally:
        CLAIM.reset(unclaimed)
        IMPORTING.reset(token)
