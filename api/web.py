"""The web app (web/, built into web/dist by `make install`), served at `/` on the API's origin.

Its files need no key (a browser cannot send one for a page; every query it makes does). A
path that names no built file gets index.html, so every page's URL can be opened and shared;
hashed assets are cached for good, index.html never.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

DIST: Final = Path(__file__).resolve().parent.parent / "web" / "dist"
# Paths the API answers itself: never the web app's, and always behind a key.
API_PATHS: Final = ("/graphql", "/blobs", "/uploads", "/files", "/metrics", "/healthz", "/readyz")

NOT_BUILT: Final = """<!doctype html><title>Forebear</title>
<h1>The web app is not built</h1>
<p>Run <code>make install</code> (it builds web/ with npm), then reload this page.
The API itself is up: <code>POST /graphql</code>.</p>"""


# The app runs its own code only: scripts, styles and connections of this origin; images and
# media also from the blob URLs it makes of files fetched with the key. A version's HTML page,
# shown in a sandboxed srcdoc frame (which inherits this policy), loads nothing from elsewhere.
POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def is_api_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in API_PATHS)


class WebApp(StaticFiles):
    """web/dist, with index.html for any path that is not a built file (the app's routes)."""

    def __init__(self, directory: Path = DIST) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.index = directory / "index.html"

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self.index.is_file():  # asked each time: a build after start-up is served
            return HTMLResponse(NOT_BUILT, status_code=503)
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            response = await super().get_response("index.html", scope)
        if path.startswith("assets/"):  # names carry a hash of their content
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


class GraphiQLRedirect:
    """A browser opening /graphql gets the app's own GraphiQL (no CDN), at /graphiql."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string"):
            accept = dict(scope["headers"]).get(b"accept", b"")
            if b"text/html" in accept:
                await RedirectResponse("/graphiql", status_code=307)(scope, receive, send)
                return
        await self.app(scope, receive, send)
