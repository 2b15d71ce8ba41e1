"""The comparison page and its CSV export (in process), with a shadow connector (issue #24)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from idpsync.app.runner import run_sync
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.filedata import write
from tests.service.support import Harness, harness, login, wait_idle

HOSTILE = '<img src=x onerror="alert(1)">Chloé'


def shadow_config(tmp_path: Path) -> str:
    """``[connectors.next]`` shadowing the harness's ``hr`` (inserted into its file)."""
    return (
        '\n[connectors.next]\nshadow_of = "hr"\n[connectors.next.source]\ntype = "file"\n'
        f'path = "{tmp_path / "next.json"}"\n'
    )


def documents(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``n`` people in ``hr``; in ``next`` the same people with new ids, a few changed."""
    olds = [
        {
            "id": f"o{i}",
            "login": f"user{i}",
            "email": f"user{i}@corp.example",
            "attributes": {"employeeId": f"E{i}"},
        }
        for i in range(n)
    ]
    news = [
        {
            "id": f"n{i}",
            "login": f"user{i}",
            "email": f"user{i}@corp.example",
            "attributes": {"employeeId": f"E{i}"},
        }
        for i in range(n)
    ]
    news[1]["email"] = "renamed1@corp.example"
    news[2]["display_name"] = HOSTILE
    news[3]["email"] = news[4]["email"] = "shared@corp.example"
    olds[3]["email"] = "shared@corp.example"
    news.pop(5)
    news.append({"id": "n-new", "login": "newcomer", "email": "newcomer@corp.example"})
    return {"users": olds, "groups": []}, {"users": news, "groups": []}


async def synced(tmp_path: Path, store: Store, n: int = 8) -> Harness:
    h = harness(tmp_path, store, extra=shadow_config(tmp_path))
    old_doc, new_doc = documents(n)
    write(h.data, old_doc)
    write(tmp_path / "next.json", new_doc)
    for name, path in (("hr", h.data), ("next", tmp_path / "next.json")):
        result = await run_sync(store, name, h.loaded.connector(name), FileSource(path))
        assert result.status == "succeeded", result.message
    return h


async def test_compare_page_tabs_paging_and_export(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = await synced(tmp_path, store, n=60)
    runs = store.runs(limit=200)
    async with h.client() as client:
        assert (await client.get("/connectors/hr/compare/next")).status_code == 303
        await login(client)
        home = (await client.get("/")).text
        assert "shadow of hr: stages only" in home
        assert 'href="/connectors/hr/compare/next"' in home
        confirm = (await client.get("/connectors/next/sync")).text
        assert "it changes nothing in the directory and sends nothing to targets" in confirm
        page = await client.get("/connectors/hr/compare/next")
        assert page.status_code == 200
        text = page.text
        assert 'id="tab-matched"' in text and "Only in next" in text
        # 60 old: user3 ambiguous (n3 and n4 share its e-mail), so user4 finds nobody (n4 is
        # set aside), user5 is gone, user1 (new e-mail) matched by login: 57
        assert "1–50 of 57 rows" in text
        assert "&lt;img src=x" in text and "<img src=x" not in text
        second = await client.get("/connectors/hr/compare/next", params={"offset": 50})
        assert "51–57 of 57 rows" in second.text
        keyed = await client.get(
            "/connectors/hr/compare/next",
            params={"keys": "email,attributes.employeeId", "tab": "matched"},
        )
        assert "57 rows" in keyed.text  # user1 found by employeeId now
        assert "<code>attributes.employeeId</code>" in keyed.text
        amb = await client.get("/connectors/hr/compare/next", params={"tab": "ambiguous"})
        assert "one old to many new" in amb.text and "shared@corp.example" in amb.text
        only = await client.get("/connectors/hr/compare/next", params={"tab": "only_old"})
        assert "user4" in only.text and "user5" in only.text
        export = await client.get(
            "/connectors/hr/compare/next/export.csv", params={"keys": "email,attributes.employeeId"}
        )
        assert export.status_code == 200
        assert export.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert len([r for r in rows if r["category"] == "matched"]) == 57
        only_old = [r["old_login"] for r in rows if r["category"] == "only_old"]
        assert only_old == ["user4", "user5"]
        bad = await client.get("/connectors/hr/compare/nope")
        assert bad.status_code == 404 and "no connector named" in bad.text
        key = await client.get("/connectors/hr/compare/next", params={"keys": "mail"})
        assert key.status_code == 400 and "unknown match key" in key.text
        never = await client.get("/connectors/next/compare/hr")
        assert never.status_code == 200  # hr staged too: a comparison the other way round
    async with h.api() as api:
        listed = {c["name"]: c for c in (await api.get("/api/connectors")).json()}
        assert (listed["next"]["shadow_of"], listed["hr"]["shadow_of"]) == ("hr", None)
    assert store.runs(limit=200) == runs  # comparing recorded no run
    store.close()


async def test_the_service_runs_a_shadow_connector_as_a_shadow(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    h = harness(tmp_path, store, extra=shadow_config(tmp_path))
    old_doc, new_doc = documents(6)
    write(h.data, old_doc)
    write(tmp_path / "next.json", new_doc)
    async with h.api() as api:
        assert (await api.post("/api/connectors/hr/sync", json={})).status_code == 202
        assert (await wait_idle(api, "hr"))["last_status"] == "succeeded"
        users = (await api.get("/api/users")).json()
        assert (await api.post("/api/connectors/next/sync", json={})).status_code == 202
        state = await wait_idle(api, "next")
        assert state["last_status"] == "succeeded"
        run = (await api.get(f"/api/runs/{state['last_run_id']}")).json()["run"]
        assert run["mode"] == "shadow"
        assert run["message"] == "shadow of hr: staged 6 users, 0 groups; directory unchanged"
        assert (await api.get("/api/users")).json() == users
    store.close()
