"""The dashboard, users, groups, group and user pages in headless Chromium, wide and on a phone.

Screenshots at 1366×900 and 390×844 go to ``test-artifacts/service/pages/``; no page scrolls
sideways on the phone, every status has its colour, hostile IdP names stay text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from idpsync.store import Store
from tests.browser import launched
from tests.service.pages_data import HOSTILE_GROUP, HOSTILE_USER, STATUSES, status_harness
from tests.service.support import PASSWORD, serve_in_thread

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "service" / "pages"
SIZES = {"wide": (1366, 900), "phone": (390, 844)}
COLOURS = {
    "succeeded": "rgb(23, 107, 44)",
    "partial": "rgb(138, 90, 0)",
    "failed": "rgb(170, 17, 17)",
    "interrupted": "rgb(170, 17, 17)",
    "guarded": "rgb(91, 42, 145)",
    "dry_run": "rgb(85, 85, 85)",
}
BARS = {
    "succeeded": "rgb(46, 139, 74)",
    "partial": "rgb(217, 142, 0)",
    "failed": "rgb(179, 38, 30)",
    "interrupted": "rgb(179, 38, 30)",
    "guarded": "rgb(123, 63, 191)",
    "dry_run": "rgb(138, 138, 138)",
}


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


def _page(browser: Browser, size: str, url: str, dialogs: list[str]) -> Page:
    width, height = SIZES[size]
    page = browser.new_page(
        viewport={"width": width, "height": height}, timezone_id="Europe/Berlin"
    )
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{url}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login")
    expect(page.locator("h1")).to_have_text("Connectors")
    return page


def _shot(page: Page, name: str, size: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert sideways <= 0, f"{name} at {size} scrolls {sideways} px sideways"


@pytest.mark.parametrize("size", list(SIZES))
def test_pages_wide_and_on_a_phone(tmp_path: Path, browser: Browser, size: str) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = status_harness(tmp_path, store)
    server, url = serve_in_thread(h.app)
    dialogs: list[str] = []
    try:
        page = _page(browser, size, url, dialogs)
        for status in STATUSES:
            row = page.locator(f'tr.connector[data-connector="{status.replace("_", "")}"]')
            expect(row.locator(f".status-{status}")).to_have_css("color", COLOURS[status])
            expect(row.locator("progress")).to_have_css("accent-color", BARS[status])
        pinned = page.locator('#approvals .awaiting[data-awaiting="guarded"]')
        expect(pinned).to_contain_text("42 to deactivate")
        above = (
            "document.querySelector('#approvals')"
            ".compareDocumentPosition(document.querySelector('table.connectors'))"
        )
        assert page.evaluate(above) & 4, "the approval is not pinned above the connectors"
        expect(page.locator("time").first).to_contain_text("GMT+1")  # the viewer's zone
        expect(page.locator('tr.connector[data-connector="hr"] svg.chart').first).to_be_visible()
        down = page.locator('tr.target[data-target="wiki"]')
        expect(down.locator(".status-down")).to_have_css("color", COLOURS["failed"])
        expect(down.locator(".last-error")).to_have_text("connection refused <b>x</b>")
        expect(page.locator('tr.target[data-target="crm"] svg.chart-lag')).to_be_visible()
        _shot(page, "dashboard", size)
        page.locator('tr.connector[data-connector="hr"] a.sync').click()
        dialog = page.locator("dialog[open]")
        expect(dialog).to_contain_text("120 users of hr (118 active)")
        _shot(page, "dashboard-confirm", size)
        dialog.locator("button.cancel").click()
        expect(page.locator("dialog[open]")).to_have_count(0)

        live = h.app.state.service.executor.state("succeeded")
        live.running, live.phase, live.message = True, "fetch", "reading users"
        live.done, live.total, live.phase_started = 250, 1000, time.time() - 10
        cell = page.locator('[data-progress-text="succeeded"]')
        expect(cell).to_contain_text("reading users · 250 / 1000 (25 %) · about 3")
        expect(cell).to_contain_text("s left")
        _shot(page, "dashboard-progress", size)
        page.goto(f"{url}/users?active=yes&sort=login&desc=true")
        live.running = False
        expect(page.locator("#users-total")).to_have_text("118")
        expect(page.locator(".pager .count").first).to_have_text("1–50 of 118 users")
        expect(page.locator("a.user-link").first).to_have_text("user99")
        page.goto(f"{url}/users?q=user7")
        expect(page.locator("td.display-name", has_text="onerror")).to_have_text(HOSTILE_USER)
        page.goto(f"{url}/users")
        _shot(page, "users", size)

        page.goto(f"{url}/groups")
        expect(page.locator("#groups-total")).to_have_text("4")
        expect(page.locator("a.group-link", has_text="script")).to_have_text(HOSTILE_GROUP)
        _shot(page, "groups", size)
        page.locator("a.group-link", has_text="script").click()
        expect(page.locator("#group-title")).to_have_text(HOSTILE_GROUP)
        expect(page.locator("#member-total")).to_have_text("30")
        _shot(page, "group", size)

        page.locator("a.user-link", has_text="user10").first.click()
        expect(page.locator("#source-attributes")).to_contain_text("user10@example.org")
        page.click("#disable")
        expect(page.locator("#user-state")).to_contain_text("disabled here")
        _shot(page, "user", size)
        page.click("#enable")
        expect(page.locator("#disable")).to_be_visible()
        page.goto(f"{url}/users?q=user7")
        page.locator("a.user-link", has_text="user7").first.click()
        expect(page.locator("#user-title")).to_have_text(HOSTILE_USER)
        assert dialogs == []  # no IdP-supplied markup ran
        page.close()
    finally:
        server.stop()
        store.close()
