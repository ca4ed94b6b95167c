"""Prometheus scrape endpoint."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from api.metrics import Metrics


async def metrics(request: Request) -> Response:
    registry: Metrics = request.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
