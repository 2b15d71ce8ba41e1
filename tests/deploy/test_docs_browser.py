"""``/docs`` renders in headless Chromium with every outside host blocked, under a strict CSP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import Request, Response
from playwright.sync_api import Route, expect

from idpsync.store import Store
from tests.service.support import harness, serve_in_thread
from tests.service.test_browser import page, shot  # noqa: F401  (the page fixture)

pytestmark = pytest.mark.slow

CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


def test_docs_render_offline_under_a_strict_csp(tmp_path: Path, page) -> None:  # noqa: F811
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store)

    @h.app.middleware("http")
    async def csp(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        return response

    server, url = serve_in_thread(h.app)
    outside: list[str] = []
    problems: list[str] = []

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{url}/docs")
        expect(page.locator(".opblock-summary-path", has_text="/api/runs").first).to_be_visible(
            timeout=30_000
        )
        expect(page.locator("h1").first).to_contain_text("idpsync")
        shot(page, "api-docs")
    finally:
        server.stop()
        store.close()
    assert outside == []
    assert not [p for p in problems if "Content Security Policy" in p], problems
