"""The comparison page in headless Chromium, wide (1366×900) and narrow (390×844).

Screenshots go to ``test-artifacts/service/`` (``compare-*``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from idpsync.store import Store
from tests.browser import launched
from tests.migration.test_compare_pages import synced
from tests.service.support import PASSWORD, Harness, serve_in_thread
from tests.service.test_explain_browser import SIZES, shot

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


def test_compare_page_wide_and_narrow(tmp_path: Path, browser: Browser) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    made: list[Harness] = []  # Playwright's loop runs in this thread: sync in another
    worker = threading.Thread(target=lambda: made.append(asyncio.run(synced(tmp_path, store, 12))))
    worker.start()
    worker.join(60)
    (h,) = made
    server, url = serve_in_thread(h.app)
    try:
        for size, (width, height) in SIZES.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            dialogs: list[str] = []
            page.on("dialog", lambda d, seen=dialogs: (seen.append(d.message), d.dismiss()))
            page.goto(f"{url}/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#login")
            page.goto(f"{url}/connectors/hr/compare/next")
            expect(page.locator("#compare-title")).to_contain_text("hr → next")
            page.fill("#keys", "email,attributes.employeeId")
            page.click("#compare-go")
            expect(page.locator("#tab-matched .count")).to_have_text("9")
            expect(page.locator("#compare-matched")).to_contain_text("attributes.employeeId")
            expect(page.locator("#compare-matched")).to_contain_text("<img src=x")
            shot(page, f"compare-{size}-matched")
            page.click("#tab-ambiguous")
            expect(page.locator("#compare-ambiguous")).to_contain_text("one old to many new")
            shot(page, f"compare-{size}-ambiguous")
            page.click("#tab-only_new")
            expect(page.locator("#compare-only_new")).to_contain_text("newcomer")
            assert dialogs == []  # the IdP's markup never ran
            width_used = page.evaluate("document.documentElement.scrollWidth")
            assert width_used <= width, f"{size}: the page scrolls sideways ({width_used}px)"
            page.close()
    finally:
        server.stop()
    store.close()
