"""The admin pages in headless Chromium (Debian's chromium, driven by Playwright's Python API).

Screenshots go to ``test-artifacts/service/``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from idpsync.app.runner import RunResult, run_sync
from idpsync.store import Store
from tests.browser import launched, shot
from tests.engine.test_runner import PartialSource
from tests.filedata import people, write
from tests.service.support import PASSWORD, harness, serve_in_thread

pytestmark = pytest.mark.slow

AMBER = "rgb(138, 90, 0)"
AMBER_BAR = "rgb(217, 142, 0)"


@pytest.fixture
def page() -> Iterator[Page]:
    with launched() as browser:
        yield browser.new_page()


def sync_now(row: Locator) -> None:
    """Press "Sync now" and confirm in its dialog (which states the counts first)."""
    row.locator("a.sync").click()
    dialog = row.locator("dialog[open]")
    expect(dialog).to_contain_text("users of hr")
    dialog.locator("button.confirm-sync").click()


def test_admin_walkthrough(tmp_path: Path, page: Page) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store)
    doc = people(40)
    doc["users"][7]["display_name"] = "<script>alert(1)</script>"
    write(h.data, doc)
    server, url = serve_in_thread(h.app)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(f"{url}/")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        expect(page.locator("h1")).to_have_text("Connectors")
        shot(page, "01-dashboard")

        row = page.locator('tr.connector[data-connector="hr"]')
        h.data.unlink()
        os.mkfifo(h.data)  # the read waits for the test: the run is seen running
        sync_now(row)
        expect(row.locator(".progress-text")).to_contain_text("reading", timeout=90_000)
        shot(page, "02-sync-running")
        feed = threading.Thread(target=lambda: write(h.data, doc), daemon=True)
        feed.start()
        expect(row.locator(".status-succeeded")).to_be_visible(timeout=90_000)
        expect(row.locator("progress")).to_have_attribute("value", "100.0")
        shot(page, "03-sync-finished")
        feed.join(5)
        h.data.unlink()
        write(h.data, doc)

        page.click("text=Runs")
        page.locator("a.run-link").first.click()
        expect(page.locator("h1")).to_contain_text("succeeded")
        expect(page.locator("tr.op-user-create").first).to_be_visible()
        shot(page, "04-run-diff")

        page.click("text=Users")
        page.fill("#q", "user7")
        page.click("#search")
        expect(page.locator("td.display-name").first).to_have_text("<script>alert(1)</script>")
        page.locator("a.user-link", has_text="user7").first.click()
        expect(page.locator("#user-title")).to_have_text("<script>alert(1)</script>")
        expect(page.locator("#source")).to_contain_text('"login": "user7"')
        shot(page, "05-user")
        assert dialogs == []  # the IdP's markup never ran

        page.goto(f"{url}/connectors/hr/check")
        page.click("#run-check")
        expect(page.locator("#check-verdict")).to_have_text("all steps passed")
        expect(page.locator("#check-steps tr.step-ok").first).to_be_visible()
        shot(page, "06-check")

        write(h.data, people(40, inactive=tuple(range(10))))
        page.goto(f"{url}/")
        sync_now(row)
        expect(row.locator(".status-guarded")).to_be_visible(timeout=90_000)
        waiting = page.locator('#approvals .awaiting[data-awaiting="hr"]')  # pinned at the top
        expect(waiting).to_contain_text("Awaiting approval")
        expect(waiting).to_contain_text("10 to deactivate")
        shot(page, "07-guarded")
        waiting.locator("a.approve").click()
        page.click("#recheck")
        expect(page.locator("#check-result")).to_contain_text("10 users to deactivate")
        shot(page, "08-approval-rechecked")
        page.click("#confirm")
        expect(row.locator(".status-succeeded")).to_be_visible(timeout=90_000)
        expect(waiting).to_have_count(0)
        shot(page, "09-approved")
        assert sum(not u["active"] for u in store.search_users(limit=1000)) == 10
    finally:
        server.stop()
        store.close()


def test_partial_runs_show_amber(tmp_path: Path, page: Page) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store)
    write(h.data, people(12))
    settings = h.loaded.connector("hr")
    done: list[RunResult] = []  # Playwright's loop runs in this thread: sync in another
    worker = threading.Thread(
        target=lambda: done.append(
            asyncio.run(run_sync(store, "hr", settings, PartialSource(h.data)))
        )
    )
    worker.start()
    worker.join(60)
    result = done[0]
    assert result.status == "partial"
    server, url = serve_in_thread(h.app)
    try:
        page.goto(f"{url}/")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        row = page.locator('tr.connector[data-connector="hr"]')
        status = row.locator(".status-partial")
        expect(status).to_have_text("partial")
        expect(status).to_have_css("color", AMBER)
        expect(row.locator("progress.bar-partial")).to_have_css("accent-color", AMBER_BAR)
        expect(row.locator(".partial-note")).to_contain_text("nobody was removed")
        shot(page, "10-partial-dashboard")
        page.goto(f"{url}/runs/{result.run_id}")
        expect(page.locator("h1 .status-partial")).to_have_css("color", AMBER)
        shot(page, "11-partial-run")
    finally:
        server.stop()
        store.close()
