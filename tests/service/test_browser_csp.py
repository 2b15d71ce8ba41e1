"""The pages under their Content-Security-Policy in headless Chromium: nothing is blocked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from playwright.sync_api import Error as PlaywrightError

from idpsync.store import Store
from tests.browser import launched
from tests.filedata import people, write
from tests.service.support import PASSWORD, harness, serve_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture
def page() -> Iterator[Page]:
    with launched() as browser:
        yield browser.new_page()


def test_pages_run_under_the_csp_and_logout_ends_the_session(tmp_path: Path, page: Page) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store)
    write(h.data, people(5))
    server, url = serve_in_thread(h.app)
    console: list[str] = []
    page.on("console", lambda m: console.append(_text(m)))
    try:
        page.goto(f"{url}/")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        expect(page.locator("h1")).to_have_text("Connectors")
        # the dashboard's script polls the progress endpoint: a fetch the CSP must allow
        with page.expect_response(lambda r: r.url.endswith("/api/connectors/hr/progress")):
            pass
        for path in ("/runs", "/users", "/groups", "/connectors/hr/check"):
            page.goto(f"{url}{path}")
            expect(page.locator("h1")).to_be_visible()
        font = page.evaluate("getComputedStyle(document.body).fontFamily")
        assert "system-ui" in font, "the stylesheet did not load"
        assert not [m for m in console if "Content Security Policy" in m]
        # an inline script (as injected markup would be) does not run
        with contextlib.suppress(PlaywrightError):
            page.add_script_tag(content="window.injected = 1")
        assert page.evaluate("window.injected === undefined")
        assert any("Content Security Policy" in m for m in console)
        console.clear()
        page.goto(f"{url}/")
        page.click("header form button")  # log out
        expect(page.locator("#login")).to_be_visible()
        page.go_back()
        page.goto(f"{url}/users")
        expect(page.locator("#login")).to_be_visible()
        blocked = [m for m in console if "Content Security Policy" in m]
        assert blocked == []
    finally:
        server.stop()
        store.close()


def _text(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"
