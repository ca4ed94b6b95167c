"""The per-request context every resolver reaches resources through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeAlias

import orjson
import strawberry
from neo4j import AsyncDriver
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from api.access import NOBODY, Access, Authenticator, refused
from api.loaders import Loaders
from api.metrics import Metrics
from api.services.live import EventFeed
from api.settings import Settings
from graph.lineage_index import LineageIndex
from graph.read_cache import ReadCache
from graph.records import Principal
from graph.repository.access import AccessRepository
from graph.repository.artifacts import ArtifactRepository
from graph.repository.automations import AutomationRepository
from graph.repository.blobs import BlobRepository
from graph.repository.events import EventRepository
from graph.repository.lineage import LineageRepository
from graph.repository.policies import PolicyRepository, PromotionRequests
from graph.repository.registries import RegistryRepository
from graph.repository.runs import RunRepository
from graph.repository.server import ServerRepository
from storage.blobs import BlobStore


@dataclass(frozen=True, slots=True)
class Repositories:
    server: ServerRepository
    runs: RunRepository
    artifacts: ArtifactRepository
    blobs: BlobRepository
    registries: RegistryRepository
    events: EventRepository
    lineage: LineageRepository
    access: AccessRepository
    automations: AutomationRepository
    policies: PolicyRepository
    promotion_requests: PromotionRequests

    @classmethod
    def on(
        cls,
        driver: AsyncDriver,
        database: str,
        lineage_index: LineageIndex | None = None,
        read_cache: ReadCache | None = None,
    ) -> Repositories:
        return cls(
            server=ServerRepository(driver, database),
            runs=RunRepository(driver, database),
            artifacts=ArtifactRepository(driver, database),
            blobs=BlobRepository(driver, database),
            registries=RegistryRepository(driver, database, read_cache),
            events=EventRepository(driver, database),
            lineage=LineageRepository(driver, database, lineage_index),
            access=AccessRepository(driver, database),
            automations=AutomationRepository(driver, database),
            policies=PolicyRepository(driver, database),
            promotion_requests=PromotionRequests(driver, database),
        )


@dataclass(slots=True)
class Context:
    settings: Settings
    blobs: BlobStore
    metrics: Metrics
    repos: Repositories
    loaders: Loaders
    access: Access  # a WebSocket's is set once its connection_init names a key
    authenticator: Authenticator
    feed: EventFeed | None = None
    connection_params: dict[str, object] | None = None  # a WebSocket's connection_init

    async def socket_principal(self) -> Principal | None:
        """Who the key in a WebSocket's connection_init is now (None: none, or no longer
        live); asked again while a subscription runs, so a revoked key or role stops it."""
        params = self.connection_params or {}
        raw = str(params.get("Authorization") or params.get("authorization") or "")
        scheme, _, bearer_key = raw.partition(" ")
        key = bearer_key if scheme.lower() == "bearer" else str(params.get("apiKey") or "")
        if not key.strip():
            return None
        return await self.authenticator.principal(self.repos.access, key.strip())

    def wrote_into(self, project: str) -> None:
        """After a write into `project`: one made just now has the caller as its member, which
        their cached principal does not know yet (org admins too: they are listed as members)."""
        if project not in self.access.principal.projects:
            self.authenticator.forget(self.access.principal.id)

    @property
    def actor(self) -> str:
        """Who the request acts as: what audit events record."""
        return self.access.actor

    @property
    def server(self) -> ServerRepository:
        return self.repos.server


Info: TypeAlias = strawberry.Info[Context, None]


def _fragment(value: object) -> object:
    """json's view of an orjson.Fragment (JSON encoded ahead, api.schema.lineage.compact)."""
    if isinstance(value, orjson.Fragment):
        return json.loads(value.contents)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class GraphQLApp(GraphQL[Context, None]):
    def encode_json(self, data: object) -> str | bytes:
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # what orjson cannot encode (integers past 64 bits) json can
            return json.dumps(data, separators=(",", ":"), default=_fragment)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.state
        settings: Settings = state.settings
        repos = Repositories.on(
            state.driver, settings.neo4j_database, state.lineage_index, state.read_cache
        )
        return Context(
            settings=settings,
            blobs=state.blobs,
            metrics=state.metrics,
            repos=repos,
            loaders=Loaders(repos.runs, repos.artifacts),
            # Only the GraphiQL page is served without a key (api.guard); nothing executes
            # as NOBODY (api.access.Authorize refuses it).
            access=Access(getattr(state, "principal", NOBODY), repos.access),
            authenticator=state.authenticator,
            feed=getattr(state, "feed", None),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A subscription's WebSocket names its key in connection_init's payload (browsers
        cannot set headers on one): `{"Authorization": "Bearer <key>"}` or `{"apiKey": ...}`."""
        principal = await context.socket_principal()
        if principal is None:
            refused(None, "WebSocket /graphql", "no API key, or an unknown one")
            raise ConnectionRejectionError(
                {
                    "message": "connection_init must carry a live API key: "
                    '{"Authorization": "Bearer <key>"}'
                }
            )
        context.access = Access(principal, context.repos.access)
        plain: UnsetType = UNSET  # a connection_ack without a payload
        return plain
