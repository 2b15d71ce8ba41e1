"""The audit page and a viewer's dashboard in headless Chromium, at desktop and phone sizes.

Screenshots go to ``test-artifacts/service/`` (``access-*.png``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from idpsync.store import Store
from idpsync.store import audit as trail
from tests.service.access_support import access_harness
from tests.service.support import PASSWORD, serve_in_thread
from tests.service.test_browser import page, shot  # noqa: F401  (the page fixture)

pytestmark = pytest.mark.slow

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def _sign_in(page: Page, url: str, user: str) -> None:  # noqa: F811
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login")
    expect(page.locator("h1")).to_have_text("Connectors")


def test_audit_page_and_viewer_dashboard(tmp_path: Path, page: Page) -> None:  # noqa: F811
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = access_harness(tmp_path, store)
    for n in range(55):
        trail.append(store, "cli:ops", "deliver", f"scim-{n}", detail={"dry_run": False})
    trail.append(store, "token:<img src=x onerror=alert(1)>", "token_use", "/api/runs")
    server, url = serve_in_thread(h.app)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.context.clear_cookies()
            _sign_in(page, url, "vera")
            row = page.locator('tr.connector[data-connector="hr"]')
            expect(row).to_be_visible()
            expect(row.locator("button")).to_have_count(0)
            expect(page.locator("header button")).to_contain_text("(viewer)")
            shot(page, f"access-viewer-dashboard-{size}")

            page.click("text=Audit")
            expect(page.locator("h1")).to_have_text("Audit trail")
            expect(page.locator("tr.audit-row")).to_have_count(50)
            expect(page.locator("tr.action-login").first).to_contain_text("user:vera")
            shot(page, f"access-audit-{size}")

            page.select_option("select[name=action]", "deliver")
            page.click(".audit-filter button")
            expect(page.locator("tr.audit-row")).to_have_count(50)
            page.click("#older")
            expect(page.locator("tr.audit-row")).to_have_count(5)
            expect(page.locator("tr.audit-row").last).to_contain_text("scim-0")
            shot(page, f"access-audit-filtered-{size}")
            href = page.locator("#export-csv").get_attribute("href")
            assert href is not None and "format=csv" in href and "action=deliver" in href
        assert dialogs == []
        expect(page.locator("text=<img src=x onerror=alert(1)>").first).to_be_attached()
    finally:
        server.stop()
        store.close()
