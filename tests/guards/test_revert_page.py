"""The run page's revert button: preview, then revert, shown as a new run."""

from __future__ import annotations

import re
from pathlib import Path

from idpsync.store import Store
from tests.filedata import people, write
from tests.service.support import harness, login, wait_idle


async def test_the_run_page_previews_and_reverts(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        h = harness(tmp_path, store)
        async with h.api() as api:
            assert (await api.post("/api/connectors/hr/sync", json={})).status_code == 202
            await wait_idle(api)
            doc = people(8)
            doc["users"][2]["display_name"] = "Someone Else"
            write(h.data, doc)
            assert (await api.post("/api/connectors/hr/sync", json={})).status_code == 202
            changed = (await wait_idle(api))["last_run_id"]
        async with h.client(follow_redirects=False) as web:
            csrf = await login(web)
            page = await web.get(f"/runs/{changed}")
            assert 'id="revert"' in page.text
            answer = await web.post(
                f"/runs/{changed}/revert", data={"csrf": csrf, "dry_run": "true"}
            )
            assert answer.status_code == 303
            preview = await web.get(answer.headers["location"])
            assert "dry_run" in preview.text and "user.update" in preview.text
            assert store.search_users("user2", "hr", 5, 0)[0]["display_name"] == "Someone Else"
            answer = await web.post(f"/runs/{changed}/revert", data={"csrf": csrf})
            done = await web.get(answer.headers["location"])
            assert re.search(r"Run \d+ of hr: <span[^>]*>succeeded", done.text)
            assert store.search_users("user2", "hr", 5, 0)[0]["display_name"] != "Someone Else"
            refused = await web.post(f"/runs/{changed}/revert", data={"csrf": "nope"})
            assert refused.status_code == 403
    finally:
        store.close()
