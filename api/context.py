"""The per-request context every resolver reaches resources through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import strawberry
from neo4j import AsyncDriver
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from api.metrics import Metrics
from api.settings import Settings
from graph.repository.server import ServerRepository
from storage.blobs import BlobStore


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    blobs: BlobStore
    metrics: Metrics
    server: ServerRepository


Info: TypeAlias = strawberry.Info[Context, None]


class GraphQLApp(GraphQL[Context, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.state
        driver: AsyncDriver = state.driver
        settings: Settings = state.settings
        return Context(
            settings=settings,
            blobs=state.blobs,
            metrics=state.metrics,
            server=ServerRepository(driver, settings.neo4j_database),
        )
