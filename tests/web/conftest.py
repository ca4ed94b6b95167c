"""The web app in a real browser: Debian's chromium, driven by Playwright (which cannot
download a browser here), against a real API process serving the built app (web/dist)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.helpers import ADMIN_KEY, bearer, gql_at

ROOT = Path(__file__).resolve().parents[2]
# Screenshots of every page the tests open, kept as the run's artifacts (and the README's).
SHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make browser` installs it")
    if not (ROOT / "web" / "dist" / "index.html").is_file():
        pytest.fail("the web app is not built: `make install` builds it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: tuple[str, int]) -> Iterator[Page]:
    base, _ = server
    context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    # A closed network, as many companies' are: anything asked of another origin (a CDN, a
    # font host) is refused, and the test fails naming it.
    outside: list[str] = []

    def closed_network(route: Route) -> None:
        url = route.request.url
        if url.startswith((base + "/", "data:", "blob:")) or url == base:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", closed_network)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    # The app's content security policy refuses what it does not expect: nothing it needs.
    refused: list[str] = []
    opened.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield opened
    context.close()
    assert not outside, f"the app asked for what is not its own: {outside}"
    assert not refused, f"the app's own policy refused: {refused}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


gql = gql_at


def log(
    base: str,
    project: str,
    artifact: str,
    files: dict[str, bytes],
    *,
    kind: str = "model",
    run: str | None = None,
    metadata: dict[str, Any] | None = None,
    types: dict[str, str] | None = None,
) -> str:
    """A committed version of `project/artifact` with these files (uploaded; `types`: the
    media types of some); its id."""
    version: str = gql(
        base,
        """mutation($i: CreateArtifactVersionInput!) { createArtifactVersion(input: $i) {
        version { id } } }""",
        i={
            "project": project,
            "artifact": artifact,
            "type": kind,
            "run": run,
            "metadata": metadata or {},
            "files": [
                {
                    "path": path,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "contentType": (types or {}).get(path),
                }
                for path, data in files.items()
            ],
        },
    )["createArtifactVersion"]["version"]["id"]
    for data in files.values():
        sha = hashlib.sha256(data).hexdigest()
        put = httpx.put(f"{base}/blobs/{sha}", content=data, headers=bearer(ADMIN_KEY))
        assert put.status_code in (200, 201), put.text
    gql(
        base,
        "mutation($v: ID!) { commitArtifactVersion(input: {version: $v}) { version { id } } }",
        v=version,
    )
    return version


def sign_in(page: Page, key: str = ADMIN_KEY, path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
