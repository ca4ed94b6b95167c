"""Users, service accounts, API keys and project membership: who the caller is."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from api.access import key_hash, new_key
from api.context import Info
from api.inputs import ApiKeyIn, MemberIn, UserIn, fields_of, parse
from api.schema.relay import Node
from graph import records
from graph.errors import Forbidden, NotFound


@strawberry.enum(description="A person, or a service account that programs act as.")
class PrincipalKind(Enum):
    USER = "user"
    SERVICE = "service"


@strawberry.type(description="An API key; its secret is shown once, when it is created.")
class ApiKey(Node):
    name: str = strawberry.field(description="What the owner calls it.")
    user: str = strawberry.field(description="The user or service account it acts as.")
    created_at: datetime = strawberry.field(description="When it was created.")
    expires_at: datetime | None = strawberry.field(description="When it stops working.")
    last_used_at: datetime | None = strawberry.field(
        description="When it was last used (to within FOREBEAR_AUTH_CACHE_TTL)."
    )
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")

    @classmethod
    def from_record(cls, k: records.ApiKey) -> ApiKey:
        return cls(
            id=strawberry.ID(k.id),
            name=k.name,
            user=k.user,
            created_at=k.created_at,
            expires_at=k.expires_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )


@strawberry.type(description="A user or service account.")
class User(Node):
    name: str = strawberry.field(description="Unique name; what audit events call its actor.")
    kind: PrincipalKind = strawberry.field(description="USER or SERVICE.")
    org_admin: bool = strawberry.field(description="May do everything.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_record(cls, u: records.User) -> User:
        return cls(
            id=strawberry.ID(u.id),
            name=u.name,
            kind=PrincipalKind(u.kind),
            org_admin=u.org_admin,
            created_at=u.created_at,
        )

    @strawberry.field(description="Its API keys, newest first (itself and org admins only).")
    async def api_keys(self, info: Info) -> list[ApiKey]:
        access = info.context.access
        if str(self.id) != access.principal.id and not access.principal.org_admin:
            raise Forbidden("only its owner and org admins see a principal's keys")
        return [
            ApiKey.from_record(k) for k in await info.context.repos.access.keys_of(str(self.id))
        ]


@strawberry.type(description="A role in a registry.")
class RegistryRole:
    registry: str = strawberry.field(description="Registry name.")
    role: str = strawberry.field(description="viewer, member or admin.")


@strawberry.type(description="The caller, as their API key names them.")
class Viewer:
    user: User = strawberry.field(description="The user or service account.")
    projects: list[str] = strawberry.field(description="Projects they are a member of.")
    registries: list[RegistryRole] = strawberry.field(description="Their registry roles.")


@strawberry.input(description="Create a user or a service account (org admins only).")
class CreateUserInput:
    name: str = strawberry.field(description="Unique name: letters, digits and . _ @ + -.")
    kind: PrincipalKind = strawberry.field(default=PrincipalKind.USER, description="Kind.")
    org_admin: bool = strawberry.field(default=False, description="Make an org admin.")


@strawberry.input(description="Create an API key.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What to call it.")
    user: str | None = strawberry.field(
        default=None,
        description="A service account to create it for (org admins); default: yourself.",
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it stops working; default: never."
    )


@strawberry.input(description="An API key by id.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key's id (not its secret).")


@strawberry.input(description="Add a user to a project's members, or remove them.")
class SetProjectMemberInput:
    project: str = strawberry.field(description="Project name.")
    principal: str = strawberry.field(description="User or service account name.")
    member: bool = strawberry.field(default=True, description="False removes them.")


@strawberry.type(description="The new user and their first API key, shown this once.")
class CreateUserPayload:
    user: User = strawberry.field(description="The user.")
    key: str = strawberry.field(description="Their first key's secret: hand it over safely.")
    api_key: ApiKey = strawberry.field(description="Its record (named `initial`).")


@strawberry.type(description="The new key: `key` is its secret, shown this once.")
class CreateApiKeyPayload:
    key: str = strawberry.field(description="Send as `Authorization: Bearer <key>`.")
    api_key: ApiKey = strawberry.field(description="Its record.")


@strawberry.type(description="The key after the change.")
class ApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The key.")


@strawberry.type(description="The project's members after the change.")
class ProjectMembersPayload:
    project: str = strawberry.field(description="Project name.")
    members: list[str] = strawberry.field(description="Member names.")


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Who the caller is, and what they belong to.")
    async def viewer(self, info: Info) -> Viewer:
        principal = info.context.access.principal
        user = await info.context.repos.access.find_user(principal.id)
        if user is None:
            raise NotFound("user", principal.name)
        # Read afresh, not from the cached principal: a project made a moment ago is listed.
        projects, registries = await info.context.repos.access.memberships(principal.id)
        return Viewer(
            user=User.from_record(user),
            projects=sorted(projects),
            registries=[
                RegistryRole(registry=name, role=role) for name, role in sorted(registries.items())
            ],
        )

    @strawberry.field(description="Every user and service account (org admins only).")
    async def users(self, info: Info) -> list[User]:
        return [User.from_record(u) for u in await info.context.repos.access.list_users()]


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Create a user or a service account (org admins only), with a first API "
        "key whose secret is in the answer and nowhere else."
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        data = parse(UserIn, {**fields_of(input), "kind": input.kind.value})
        key = new_key()
        user, record = await info.context.repos.access.create_user(
            data.name,
            kind=data.kind,
            org_admin=data.org_admin,
            key_hash=key_hash(info.context.settings, key),
            actor=info.context.actor,
        )
        return CreateUserPayload(
            user=User.from_record(user), key=key, api_key=ApiKey.from_record(record)
        )

    @strawberry.mutation(
        description="Create an API key for yourself, or (org admins) for a service account. "
        "The secret is in the answer and nowhere else: store it."
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        data = parse(ApiKeyIn, fields_of(input))
        access = info.context.access
        owner = access.principal.id
        if data.user is not None and data.user not in (access.principal.name, owner):
            access.require_org_admin("createApiKey for another user")
            found = await info.context.repos.access.find_user(data.user)
            if found is None:
                raise NotFound("user", data.user)
            if found.kind != "service":
                raise Forbidden("users create their own keys; org admins only for services")
            owner = found.id
        key = new_key()
        record = await info.context.repos.access.create_key(
            owner,
            name=data.name,
            key_hash=key_hash(info.context.settings, key),
            expires_at=data.expires_at,
            actor=info.context.actor,
        )
        return CreateApiKeyPayload(key=key, api_key=ApiKey.from_record(record))

    @strawberry.mutation(description="Revoke an API key: yours, or (org admins) anyone's.")
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> ApiKeyPayload:
        access = info.context.access
        if not access.principal.org_admin and not await access.can_read(str(input.id)):
            raise Forbidden("only its owner and org admins revoke a key")
        record = await info.context.repos.access.revoke_key(str(input.id), actor=access.actor)
        info.context.authenticator.forget()
        return ApiKeyPayload(api_key=ApiKey.from_record(record))

    @strawberry.mutation(description="Add or remove a project member (org admins, members).")
    async def set_project_member(
        self, info: Info, input: SetProjectMemberInput
    ) -> ProjectMembersPayload:
        data = parse(MemberIn, fields_of(input))
        info.context.access.require_project(data.project, "setProjectMember")
        repo = info.context.repos.access
        await repo.set_project_member(
            data.project, data.principal, member=data.member, actor=info.context.actor
        )
        info.context.authenticator.forget()
        return ProjectMembersPayload(
            project=data.project, members=await repo.project_members(data.project)
        )
