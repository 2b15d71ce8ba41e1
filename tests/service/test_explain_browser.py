"""The Explain page in headless Chromium, wide and narrow, with a hostile display name.

Screenshots go to ``test-artifacts/service/`` (``explain-*``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from idpsync.app.runner import run_sync
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.browser import launched, shot
from tests.filedata import people, write
from tests.service.support import PASSWORD, harness, serve_in_thread
from tests.world import add_local_user

pytestmark = pytest.mark.slow

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(2)>Chloé ‮evil'
SIZES = {"wide": (1366, 900), "narrow": (390, 844)}


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


def test_explain_page_wide_and_narrow(tmp_path: Path, browser: Browser) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store)
    doc = people(12)
    doc["users"][3]["display_name"] = HOSTILE
    doc["users"][5]["login"] = "chloe"
    write(h.data, doc)
    add_local_user(store, "chloe")
    done: list[str] = []  # Playwright's loop runs in this thread: sync in another
    sync = run_sync(store, "hr", h.loaded.connector("hr"), FileSource(h.data))
    worker = threading.Thread(target=lambda: done.append(asyncio.run(sync).status))
    worker.start()
    worker.join(60)
    assert done == ["succeeded"]
    runs = store.runs(limit=100)
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
            page.goto(f"{url}/users?q=user3")
            page.locator("a.user-link", has_text="user3").first.click()
            expect(page.locator("#user-title")).to_contain_text("<script>")
            page.click("#explain")
            expect(page.locator("#explain-verdict")).to_contain_text("every step passed")
            steps = page.locator("#explain-steps li.explain-step")
            expect(steps).to_have_count(5)
            expect(steps.first).to_contain_text(HOSTILE.replace("\u202e", "\\u202e"))
            shot(page, f"explain-{size}-synced")

            page.fill("#q", "chloe")
            page.click("#explain-go")
            collided = page.locator('li.explain-step[data-step="match"]')
            expect(collided).to_have_class("explain-step step-failed")
            expect(collided).to_contain_text("already belongs to a local user")
            expect(collided).to_contain_text("local user chloe (directory user 1)")
            shot(page, f"explain-{size}-collision")

            page.fill("#q", "usr7")
            page.click("#explain-go")
            expect(page.locator("#explain-verdict")).to_contain_text("Nobody matches")
            page.locator("#near-matches a", has_text="user7").click()
            expect(page.locator("#explain-verdict")).to_contain_text("every step passed")
            assert dialogs == []  # the IdP's markup never ran
            width_used = page.evaluate("document.documentElement.scrollWidth")
            assert width_used <= width, f"{size}: the page scrolls sideways ({width_used}px)"
            page.close()
    finally:
        server.stop()
    assert store.runs(limit=100) == runs
    store.close()
