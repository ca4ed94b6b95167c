"""The Starlette application: routes, middleware, and the resources its lifespan owns."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TypedDict

import anyio
from neo4j import AsyncDriver
from neo4j.exceptions import Neo4jError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.access import Authenticator
from api.context import GraphQLApp
from api.guard import Guard
from api.idempotency import Idempotent
from api.kept import KeptAnswers, KeptGraphQL
from api.logs import RequestLog
from api.metrics import Metrics
from api.resources import open_resources
from api.routes.blobs import post_blobs, put_blob
from api.routes.files import get_archive, get_file
from api.routes.health import healthz, readyz
from api.routes.lineage import post_lineage
from api.routes.metrics import metrics as metrics_endpoint
from api.routes.uploads import complete_upload, drop_upload, get_upload, open_upload, put_part
from api.schema import schema
from api.services.blobs import collect_periodically
from api.services.live import EventFeed
from api.services.openlineage import Ingester
from api.services.runwatch import RunWatch
from api.services.sealer import Sealer
from api.services.startup import prepare
from api.services.uploads import PartHashes
from api.services.webhooks import Deliverer
from api.settings import Settings
from api.web import GraphiQLRedirect, WebApp
from graph.errors import GraphError
from graph.lineage_index import LineageIndex
from graph.read_cache import ReadCache
from graph.repository.lineage import LineageRepository
from storage.blobs import BlobStore

log = logging.getLogger("forebear.app")


class State(TypedDict):
    settings: Settings
    driver: AsyncDriver
    blobs: BlobStore
    metrics: Metrics
    authenticator: Authenticator
    lineage_index: LineageIndex
    read_cache: ReadCache
    part_hashes: PartHashes
    feed: EventFeed
    ingester: Ingester


async def warm_lineage_index(driver: AsyncDriver, settings: Settings, index: LineageIndex) -> None:
    try:
        await LineageRepository(driver, settings.neo4j_database, index).indexed()
    except (GraphError, Neo4jError) as exc:  # the first lineage question tries again
        log.warning("could not load the lineage index at start-up: %s", exc)


def create_app(settings: Settings) -> Starlette:
    """One app, one Neo4j driver and one S3 client per process, opened in the lifespan."""
    graphql_schema = schema._schema  # graphql-core's schema under strawberry's
    roots = [graphql_schema.query_type, graphql_schema.mutation_type]
    metrics = Metrics([name for root in roots if root is not None for name in root.fields])
    authenticator = Authenticator(settings)
    lineage_index = LineageIndex()  # one per process, kept up to date from the audit log
    metrics.watch_lineage(lineage_index)
    read_cache = ReadCache()  # registry reads kept while nothing is committed
    metrics.watch_reads(read_cache)
    answers = KeptAnswers(graphql_schema)  # whole answers kept while nothing is committed
    metrics.watch_answers(answers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with open_resources(settings) as (driver, blobs):
            await prepare(driver, blobs, settings)
            async with anyio.create_task_group() as background:
                if settings.gc_interval > 0:
                    background.start_soon(collect_periodically, driver, blobs, settings)
                background.start_soon(Sealer(driver, settings).run)
                feed = EventFeed(driver, settings)
                background.start_soon(feed.run)
                if settings.webhook_workers > 0:
                    background.start_soon(Deliverer(driver, settings).run)
                if settings.run_watch > 0:
                    background.start_soon(RunWatch(driver, settings).run)
                # Load the lineage index now rather than on the first lineage question.
                background.start_soon(warm_lineage_index, driver, settings, lineage_index)
                yield {
                    "settings": settings,
                    "driver": driver,
                    "blobs": blobs,
                    "metrics": metrics,
                    "authenticator": authenticator,
                    "lineage_index": lineage_index,
                    "read_cache": read_cache,
                    "part_hashes": PartHashes(),
                    "feed": feed,
                    "ingester": Ingester(driver, settings.neo4j_database),
                }
                background.cancel_scope.cancel()

    routes = [
        Route(
            "/graphql",
            GraphiQLRedirect(
                Idempotent(KeptGraphQL(GraphQLApp(schema, graphql_ide=None), answers), settings)
            ),
            methods=["GET", "POST"],
        ),
        # Subscriptions: graphql-transport-ws, the key in connection_init (api.context).
        WebSocketRoute(
            "/graphql",
            GraphQLApp(
                schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,)
            ),
        ),
        Route("/blobs/{sha256}", put_blob, methods=["PUT"]),
        Route("/blobs", post_blobs, methods=["POST"]),
        Route("/uploads", open_upload, methods=["POST"]),
        Route("/uploads/{session}", get_upload, methods=["GET"]),
        Route("/uploads/{session}", drop_upload, methods=["DELETE"]),
        Route("/uploads/{session}/parts/{number:int}", put_part, methods=["PUT"]),
        Route("/uploads/{session}/complete", complete_upload, methods=["POST"]),
        Route("/files/{version_id}/{path:path}", get_file, methods=["GET", "HEAD"]),
        Route("/files/{version_id}", get_archive, methods=["GET", "POST"]),
        Route("/api/v1/lineage", post_lineage, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Mount("/", app=WebApp()),  # last: the web app's pages and files
    ]
    middleware = [Middleware(RequestLog)]
    if origins := settings.cors_origin_list:
        # Before the guard: a browser's preflight carries no key, and every answer (a refusal
        # too) must carry the CORS headers for the page to read it.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "HEAD", "POST", "PUT", "OPTIONS"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "idempotency-key",
                    "range",
                    "if-none-match",
                    "x-request-id",
                ],
                expose_headers=[
                    "etag",
                    "content-range",
                    "content-length",
                    "accept-ranges",
                    "idempotent-replayed",
                    "x-request-id",
                ],
                max_age=600,
            )
        )
    middleware.append(Middleware(Guard, settings=settings, authenticator=authenticator))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
