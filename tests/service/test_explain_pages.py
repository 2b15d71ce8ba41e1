"""The Explain page, the user page's Explain button and the explain API (in process)."""

from __future__ import annotations

import re
from pathlib import Path

from idpsync.app.runner import run_sync
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.filedata import people, write
from tests.service.support import Harness, harness, login

HOSTILE = '<img src=x onerror="alert(1)">Chloé'


async def synced(tmp_path: Path, store: Store) -> Harness:
    h = harness(tmp_path, store)
    doc = people(6)
    doc["users"][2]["display_name"] = HOSTILE
    write(h.data, doc)
    result = await run_sync(store, "hr", h.loaded.connector("hr"), FileSource(h.data))
    assert result.status == "succeeded"
    return h


async def test_explain_page_button_and_api(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = await synced(tmp_path, store)
    runs = store.runs(limit=100)
    async with h.client() as client:
        assert (await client.get("/explain")).status_code == 303  # to the login page
        await login(client)
        user_id = store.search_users("user2")[0]["id"]
        page = (await client.get(f"/users/{user_id}")).text
        link = re.search(r'id="explain" href="([^"]+)"', page)
        assert link is not None and link.group(1) == "/explain?connector=hr&amp;q=id-2"
        shown = await client.get("/explain", params={"connector": "hr", "q": "id-2"})
        assert shown.status_code == 200
        assert "&lt;img src=x" in shown.text and "<img src=x" not in shown.text
        assert shown.text.count('class="explain-step step-ok"') == 4
        assert "found by IdP id" in shown.text
        near = await client.get("/explain", params={"connector": "hr", "q": "usr3"})
        assert "Nobody matches" in near.text and "q=id-3" in near.text
        form = await client.get("/explain", params={"q": "x"})
        assert form.status_code == 200 and 'id="explain-form"' in form.text
        unknown = await client.get("/explain", params={"connector": "nope", "q": "x"})
        assert unknown.status_code == 404 and "no connector named" in unknown.text
    async with h.api() as api:
        answer = (await api.get("/api/connectors/hr/explain", params={"q": "USER2"})).json()
        assert answer["found"] and answer["matched_by"] == "login"
        assert [s["ok"] for s in answer["steps"]] == [True, True, True, True, None]
        assert (await api.get("/api/connectors/nope/explain", params={"q": "x"})).status_code == 404
    assert store.runs(limit=100) == runs  # explaining recorded no run
    store.close()
