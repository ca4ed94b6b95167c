"""Users, service accounts, API keys and project membership; scopes for access checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from graph.errors import Conflict, NotFound
from graph.events import Change, write_event
from graph.ids import new_id
from graph.queries import access as q
from graph.records import (
    ApiKey,
    Principal,
    Scope,
    User,
    from_millis,
    instant,
    required_instant,
)
from graph.repository.base import Repository, Tx


def user_from(node: Mapping[str, Any]) -> User:
    return User(
        id=node["id"],
        name=node["name"],
        kind=node["kind"],
        org_admin=bool(node.get("orgAdmin")),
        created_at=required_instant(node["createdAt"]),
    )


def key_from(node: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=node["id"],
        name=node["name"],
        user=node["user"],
        created_at=required_instant(node["createdAt"]),
        expires_at=instant(node.get("expiresAt")),
        last_used_at=instant(node.get("lastUsedAt")),
        revoked_at=instant(node.get("revokedAt")),
    )


class AccessRepository(Repository):
    async def principal_for_key(self, key_hash: str) -> Principal | None:
        """Who holds the live key with this hash (recording its use), or None."""

        async def work(tx: Tx) -> Principal | None:
            row = await (
                await tx.run(q.PRINCIPAL_FOR_KEY, hash=key_hash, now=datetime.now(UTC))
            ).single()
            if row is None:
                return None
            user = row["user"]
            return Principal(
                id=user["id"],
                name=user["name"],
                kind=user["kind"],
                org_admin=bool(user.get("orgAdmin")),
                key_id=row["key"],
                projects=frozenset(row["projects"]),
                registries=dict(row["registries"]),
                key_expires_at=from_millis(row["expiresAt"]),
            )

        return await self._write(work, notify=False)  # lastUsedAt: no event

    async def memberships(self, user_id: str) -> tuple[frozenset[str], dict[str, str]]:
        """The projects and registry roles (name -> role) a user holds now, read afresh."""

        async def work(tx: Tx) -> tuple[frozenset[str], dict[str, str]]:
            row = await (await tx.run(q.MEMBERSHIPS, id=user_id)).single()
            if row is None:
                return frozenset(), {}
            return frozenset(row["projects"]), dict(row["registries"])

        return await self._read(work)

    async def bootstrap_admin(self, name: str, key_hash: str) -> bool:
        """Create the first org admin with this key unless a user of that name exists;
        True when created."""

        async def work(tx: Tx) -> bool:
            row = await (
                await tx.run(
                    q.BOOTSTRAP_ADMIN,
                    name=name,
                    user_id=new_id("usr"),
                    key_id=new_id("key"),
                    hash=key_hash,
                    now=datetime.now(UTC),
                )
            ).single()
            if row is None:
                return False
            await write_event(
                tx,
                Change(
                    "user.created",
                    actor="configuration",
                    subjects=[row["id"]],
                    after={"name": name, "kind": "user", "orgAdmin": True},
                ),
            )
            return True

        return await self._write(work)

    async def create_user(
        self, name: str, *, kind: str, org_admin: bool, key_hash: str, actor: str
    ) -> tuple[User, ApiKey]:
        """A new user or service account with its first API key (named `initial`)."""

        async def work(tx: Tx) -> tuple[User, ApiKey]:
            row = await (
                await tx.run(
                    q.CREATE_USER,
                    name=name,
                    id=new_id("usr"),
                    kind=kind,
                    org_admin=org_admin,
                    now=datetime.now(UTC),
                    actor=actor,
                )
            ).single(strict=True)
            if not row["created"]:
                raise Conflict(f"user {name!r} already exists")
            user = user_from(row["user"])
            key = await _add_key(tx, user.id, "initial", key_hash, None, actor)
            assert key is not None  # the user was made in this transaction
            await write_event(
                tx,
                Change(
                    "user.created",
                    actor=actor,
                    subjects=[user.id, key.id],
                    after={"name": name, "kind": kind, "orgAdmin": org_admin, "key": key.id},
                ),
            )
            return user, key

        return await self._write(work)

    async def find_user(self, name: str) -> User | None:
        async def work(tx: Tx) -> User | None:
            row = await (await tx.run(q.GET_USER, name=name)).single()
            return user_from(row["user"]) if row else None

        return await self._read(work)

    async def list_users(self) -> list[User]:
        async def work(tx: Tx) -> list[User]:
            return [user_from(row["user"]) async for row in await tx.run(q.LIST_USERS)]

        return await self._read(work)

    async def create_key(
        self,
        user_id: str,
        *,
        name: str,
        key_hash: str,
        expires_at: datetime | None,
        actor: str,
    ) -> ApiKey:
        async def work(tx: Tx) -> ApiKey:
            key = await _add_key(tx, user_id, name, key_hash, expires_at, actor)
            if key is None:
                raise NotFound("user", user_id)
            await write_event(
                tx,
                Change(
                    "apikey.created",
                    actor=actor,
                    subjects=[key.id, user_id],
                    after={"name": name, "user": key.user, "expiresAt": expires_at},
                ),
            )
            return key

        return await self._write(work)

    async def revoke_key(self, key_id: str, *, actor: str) -> ApiKey:
        async def work(tx: Tx) -> ApiKey:
            row = await (await tx.run(q.REVOKE_KEY, id=key_id, now=datetime.now(UTC))).single()
            if row is None:
                raise NotFound("API key", key_id)
            key = key_from(row["key"])
            if row["before"] is not None:
                raise Conflict(f"API key {key_id!r} is revoked already")
            await write_event(
                tx,
                Change(
                    "apikey.revoked",
                    actor=actor,
                    subjects=[key.id],
                    after={"name": key.name, "user": key.user},
                ),
            )
            return key

        return await self._write(work)

    async def keys_of(self, user_id: str) -> list[ApiKey]:
        async def work(tx: Tx) -> list[ApiKey]:
            return [key_from(row["key"]) async for row in await tx.run(q.KEYS_OF, user_id=user_id)]

        return await self._read(work)

    async def set_project_member(
        self, project: str, principal: str, *, member: bool, actor: str
    ) -> None:
        """Add `principal` to the project's members, or remove them."""

        async def work(tx: Tx) -> None:
            query = q.SET_PROJECT_MEMBER if member else q.REMOVE_PROJECT_MEMBER
            row = await (
                await tx.run(query, project=project, principal=principal, now=datetime.now(UTC))
            ).single()
            if row is None:
                raise NotFound("project member" if not member else "project or user", principal)
            await write_event(
                tx,
                Change(
                    "project.member_added" if member else "project.member_removed",
                    actor=actor,
                    subjects=[row["project_id"], row["user_id"]],
                    after={"project": project, "principal": principal},
                ),
            )

        await self._write(work)

    async def project_members(self, project: str) -> list[str]:
        async def work(tx: Tx) -> list[str]:
            return [row["name"] async for row in await tx.run(q.PROJECT_MEMBERS, project=project)]

        return await self._read(work)

    async def scopes(self, ids: Sequence[str]) -> dict[str, Scope]:
        """Where each existing object among `ids` belongs."""

        async def work(tx: Tx) -> dict[str, Scope]:
            return {
                row["id"]: Scope(
                    project=row["project"],
                    registry=row["registry"],
                    linked_in=tuple(row["linkedIn"]),
                    user=row["user"],
                )
                async for row in await tx.run(q.SCOPES, ids=list(dict.fromkeys(ids)))
            }

        return await self._read(work)

    async def blob_expected(self, sha256: str, uploader: Principal) -> bool:
        """Whether a PENDING version the uploader may write lists the content: of one of
        their projects, or of any project for org admins."""
        return bool(await self.blobs_expected([sha256], uploader))

    async def blobs_expected(self, shas: list[str], uploader: Principal) -> set[str]:
        """Those of `shas` that blob_expected allows."""

        async def work(tx: Tx) -> set[str]:
            wanted = None if uploader.org_admin else sorted(uploader.projects)
            row = await (await tx.run(q.BLOBS_EXPECTED, shas=shas, projects=wanted)).single(
                strict=True
            )
            return set(row["expected"])

        return await self._read(work)

    async def protected_aliases(self, registry: str) -> tuple[str, ...] | None:
        """The registry's protected aliases; None when there is no such registry."""

        async def work(tx: Tx) -> tuple[str, ...] | None:
            row = await (await tx.run(q.PROTECTED_ALIASES, name=registry)).single()
            return tuple(row["aliases"] or ()) if row else None

        return await self._read(work)


async def _add_key(
    tx: Tx,
    user_id: str,
    name: str,
    key_hash: str,
    expires_at: datetime | None,
    actor: str,
) -> ApiKey | None:
    """Store a key (its hash only) for the user; None when there is no such user."""
    row = await (
        await tx.run(
            q.CREATE_KEY,
            user_id=user_id,
            id=new_id("key"),
            hash=key_hash,
            name=name,
            now=datetime.now(UTC),
            expires_at=expires_at,
            actor=actor,
        )
    ).single()
    return key_from(row["key"]) if row else None
