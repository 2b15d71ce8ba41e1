"""The run browser: the run page's filters, paging and field diffs, its exports and the API.

The browser test drives Debian's Chromium and saves screenshots at 1366×900 and 390×844 into
``test-artifacts/service/``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from idpsync.app.runner import run_sync
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.browser import SHOTS, launched
from tests.filedata import people, write
from tests.service.support import PASSWORD, Harness, harness, login, serve_in_thread

POLICY = """
[connectors.hr.policy]
user_filters = [{ action = "exclude", field = "login", op = "equals", value = "user7" }]
"""


LONG = "Ünïcode " * 30


def _sync(h: Harness, doc: dict[str, Any], **kw: Any) -> int:
    write(h.data, doc)
    settings = h.loaded.connector("hr")
    result = asyncio.run(run_sync(h.store, "hr", settings, FileSource(h.data), **kw))
    assert result.status in ("succeeded", "dry_run"), result.message
    return result.run_id


def two_runs(h: Harness) -> tuple[int, int]:
    """A first run creating 120 users, then one renaming three and deactivating two."""
    doc = people(120, groups=2)
    doc["users"][3]["display_name"] = "Ciaran OBrien"
    first = _sync(h, doc)
    doc["users"][3]["display_name"] = "Ciarán O'Brien"
    doc["users"][5]["display_name"] = "<script>alert(1)</script>"
    doc["users"][6]["display_name"] = LONG
    doc["users"][9]["active"] = False
    doc["users"][10]["active"] = False
    return first, _sync(h, doc)


async def test_run_page_filters_exports_and_api(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    first, second = await asyncio.to_thread(two_runs, h)
    async with h.client() as web:
        await login(web)
        page = (await web.get(f"/runs/{first}")).text
        assert "1–50 of 243" in page and page.count('<tr class="op ') == 50
        assert f'href="/runs/{first}?offset=50"' in page
        last = (await web.get(f"/runs/{first}", params={"offset": 200})).text
        assert "201–243 of 243" in last and 'id="page-next"' not in last

        changed = (await web.get(f"/runs/{second}")).text
        assert "Ciarán O&#39;Brien" in changed and "\\u00e1" not in changed
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in changed and "<script>alert" not in changed
        assert '<details class="fold">' in changed
        off = await web.get(f"/runs/{second}", params={"op": "user.deactivate"})
        assert off.text.count('<tr class="op op-user-deactivate">') == 2
        assert "op-user-update" not in off.text
        found = await web.get(f"/runs/{second}", params={"q": "ciarán"})
        assert found.text.count('<tr class="op ') == 1 and "1–1 of 1" in found.text
        bad = await web.get(f"/runs/{second}", params={"op": "user.explode"})
        assert bad.status_code == 400 and "unknown operation" in bad.text

        exported = await web.get(f"/runs/{second}/export.csv", params={"op": "user.update"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["key"] for r in rows] == ["user3", "user5", "user6"]
        assert rows[0]["fields"] == "display_name"
        assert json.loads(rows[0]["after"]) == {"display_name": "Ciarán O'Brien"}
        whole = (await web.get(f"/runs/{first}/export.json")).json()
        assert whole["run"]["id"] == first and len(whole["entries"]) == 243
    async with h.client() as anonymous:
        assert (await anonymous.get(f"/runs/{first}/export.csv")).status_code == 303
    async with h.api() as api:
        answer = (
            await api.get(f"/api/runs/{second}/entries", params={"q": "user5", "limit": 5})
        ).json()
        assert answer["total"] == 1 and answer["ops"] == {"user.update": 1}
        assert answer["entries"][0]["after"] == {"display_name": "<script>alert(1)</script>"}
        streamed = await api.get(
            f"/api/runs/{second}/export.json", params=[("op", "user.deactivate")]
        )
        assert [e["key"] for e in streamed.json()["entries"]] == ["user10", "user9"]
        refused = await api.get(f"/api/runs/{second}/entries", params={"outcome": "gone"})
        assert refused.status_code == 422


@pytest.fixture
def browser_page() -> Iterator[Page]:
    with launched() as browser:
        yield browser.new_page(viewport={"width": 1366, "height": 900})


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.slow
def test_run_page_in_a_browser(tmp_path: Path, browser_page: Page) -> None:
    page = browser_page
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store, extra=POLICY)  # user7 is out of scope
    done: list[tuple[int, int]] = []  # Playwright's loop runs in this thread: sync in another
    worker = threading.Thread(target=lambda: done.append(two_runs(h)))
    worker.start()
    worker.join(120)
    first, second = done[0]
    server, url = serve_in_thread(h.app)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(f"{url}/login")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.goto(f"{url}/runs/{first}")
        expect(page.locator("#range")).to_contain_text("1–50 of 241")
        page.click("#page-next")
        expect(page.locator("#range")).to_contain_text("51–100 of 241")
        _shot(page, "19-run-browser-page-2-1366")
        page.click("#page-last")
        expect(page.locator("#range")).to_contain_text("201–241 of 241")

        page.goto(f"{url}/runs/{second}")
        expect(page.locator("tr.op-user-update")).to_have_count(3)
        _shot(page, "20-run-browser-1366")
        page.fill("#q", "Ciarán")
        page.click("#filter")
        row = page.locator("tr.op-user-update")
        expect(row).to_have_count(1)
        expect(row.locator(".before .val")).to_have_text("Ciaran OBrien")
        expect(row.locator(".after .val")).to_have_text("Ciarán O'Brien")
        page.fill("#q", "user5")
        page.click("#filter")
        expect(page.locator("tr.op-user-update .after .val")).to_have_text(
            "<script>alert(1)</script>"
        )
        page.click("a.clear")
        expect(page.locator("#q")).to_have_value("")
        page.check('input[name=op][value="user.deactivate"]')
        page.click("#filter")
        expect(page.locator("tr.op")).to_have_count(2)
        expect(page.locator("tr.op-user-deactivate")).to_have_count(2)
        page.uncheck('input[name=op][value="user.deactivate"]')
        page.check('input[name=op][value="user.update"]')
        page.click("#filter")
        fold = page.locator("details.fold").first
        expect(fold.locator(".val")).not_to_be_visible()
        fold.locator("summary").click()
        expect(fold.locator(".val")).to_have_text(LONG.strip())
        _shot(page, "21-run-browser-filtered-1366")
        page.click("#tab-out_of_scope")
        expect(page.locator("tr.op")).to_have_count(1)
        expect(page.locator("tr.op .reason")).to_have_text(
            "excluded by user filter #1 (login equals)"
        )
        _shot(page, "23-run-browser-out-of-scope-1366")
        page.set_viewport_size({"width": 390, "height": 844})
        _shot(page, "22-run-browser-390")
        assert dialogs == []
    finally:
        server.stop()
        store.close()


async def test_left_out_objects_are_listed_with_their_rule(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store, extra=POLICY)
    doc = people(12, groups=2)
    doc["users"][2]["login"] = "USER1"  # two IdP users claim the login user1
    doc["users"][9]["login"] = "bad\u200blogin"
    run_id = await asyncio.to_thread(_sync, h, doc)
    async with h.client() as web:
        await login(web)
        page = (await web.get(f"/runs/{run_id}")).text
        assert 'id="tab-out_of_scope"' in page and 'id="tab-collided"' in page
        out = (await web.get(f"/runs/{run_id}", params={"outcome": "out_of_scope"})).text
        assert "user7" in out and "excluded by user filter #1 (login equals)" in out
        assert out.count('<tr class="op ') == 1
    async with h.api() as api:
        answer = (
            await api.get(f"/api/runs/{run_id}/entries", params={"outcome": "collided"})
        ).json()
        assert {e["source_id"] for e in answer["entries"]} == {"id-1", "id-2"}
        assert answer["outcomes"]["out_of_scope"] == 1
        skipped = (
            await api.get(f"/api/runs/{run_id}/entries", params={"outcome": "skipped"})
        ).json()
        assert [e["source_id"] for e in skipped["entries"]] == ["id-9"]
