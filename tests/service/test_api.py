"""The REST API and the pages, in process (file source, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from idpsync import __version__
from idpsync.store import Store
from tests.filedata import people, write
from tests.service.support import TOKEN, harness, login, wait_idle


async def test_sync_runs_users_groups_and_run_detail(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.api() as api:
        started = await api.post("/api/connectors/hr/sync", json={"mode": "full"})
        assert started.status_code == 202
        state = await wait_idle(api)
        assert state["last_status"] == "succeeded"
        runs = (await api.get("/api/runs")).json()
        assert [r["id"] for r in runs] == [state["last_run_id"]]
        detail = (await api.get(f"/api/runs/{state['last_run_id']}")).json()
        assert {e["key"] for e in detail["users"]} == {f"user{i}" for i in range(8)}
        assert all(e["op"] == "user.create" for e in detail["users"])
        page1 = (await api.get("/api/users", params={"limit": 5})).json()
        page2 = (await api.get("/api/users", params={"limit": 5, "offset": 5})).json()
        assert len(page1) == 5 and len(page2) == 3
        assert not {u["id"] for u in page1} & {u["id"] for u in page2}
        found = (await api.get("/api/users", params={"q": "USER3"})).json()
        assert [u["login"] for u in found] == ["user3"]
        user = (await api.get(f"/api/users/{found[0]['id']}")).json()
        assert user["source"]["login"] == "user3"
        assert [h["op"] for h in user["history"]] == ["user.create"]
        assert {g["name"] for g in user["groups"]} == {"Group 0"}
        groups = (await api.get("/api/groups", params={"q": "group 1"})).json()
        assert [g["name"] for g in groups] == ["Group 1"]
        assert (await api.get("/api/runs/999999")).status_code == 404
        assert (await api.get("/api/users/999999")).status_code == 404
        connectors = (await api.get("/api/connectors")).json()
        assert connectors[0]["last_run"]["id"] == state["last_run_id"]


async def test_dry_run_changes_nothing(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.api() as api:
        answer = await api.post(
            "/api/connectors/hr/sync", json={"dry_run": True, "mode": "incremental"}
        )
        assert answer.json()["mode"] == "full"  # the file source has no incremental read
        state = await wait_idle(api)
        assert state["last_status"] == "dry_run"
        assert (await api.get("/api/users")).json() == []


async def test_guarded_run_is_approved_and_applies(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        await wait_idle(api)
        write(h.data, people(8, inactive=(0, 1, 2, 3)))
        await api.post("/api/connectors/hr/sync", json={})
        state = await wait_idle(api)
        assert state["last_status"] == "guarded"
        guarded = state["last_run_id"]
        approved = await api.post(f"/api/runs/{guarded}/approve")
        assert approved.status_code == 202, approved.text
        state = await wait_idle(api)
        assert state["last_status"] == "succeeded" and state["last_run_id"] != guarded
        users = (await api.get("/api/users")).json()
        assert sum(not u["active"] for u in users) == 4
        again = await api.post(f"/api/runs/{guarded}/approve")
        assert again.status_code == 409


async def test_single_user_sync_for_a_login_hook(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.api() as api:
        answer = await api.post("/api/connectors/hr/sync-user", json={"key": "id-2"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "succeeded"
        assert [u["login"] for u in (await api.get("/api/users")).json()] == ["user2"]
        missing = await api.post("/api/connectors/hr/sync-user", json={"key": "nobody"})
        assert missing.json()["status"] == "failed"


async def test_check_and_targets_and_health(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.api() as api:
        check = (await api.post("/api/connectors/hr/check")).json()
        assert check["ok"] and check["steps"]
        assert (await api.get("/api/targets")).json() == []
        assert (await api.get("/healthz")).json() == {"status": "ok", "version": __version__}
        await api.post("/api/connectors/hr/sync", json={})
        await wait_idle(api)
        metrics = (await api.get("/metrics")).text
        assert 'idpsync_runs_total{connector="hr",status="succeeded"} 1.0' in metrics
        assert 'idpsync_changes_total{connector="hr"}' in metrics
        assert "idpsync_http_requests_total" in metrics
        unknown = await api.post("/api/connectors/nope/sync", json={})
        assert unknown.status_code == 404


async def test_pages_escape_idp_values_and_show_the_diff(tmp_path: Path, store: Store) -> None:
    doc = people(3)
    doc["users"][1]["display_name"] = "<script>alert(1)</script>"
    h = harness(tmp_path, store)
    write(h.data, doc)
    async with h.client() as web:
        csrf = await login(web)
        started = await web.post("/connectors/hr/sync", data={"csrf": csrf})
        assert started.status_code == 303
        state = await wait_idle(web)
        users = await web.get("/users", params={"q": "user1"})
        assert "<script>alert(1)</script>" not in users.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in users.text
        uid = (await web.get("/api/users", params={"q": "user1"})).json()[0]["id"]
        page = await web.get(f"/users/{uid}")
        assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
        run = await web.get(f"/runs/{state['last_run_id']}")
        assert "user.create" in run.text and "<script>alert" not in run.text
        check = await web.post("/connectors/hr/check", data={"csrf": csrf})
        assert "all steps passed" in check.text


async def test_login_cookie_flags_and_wrong_password(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.client() as web:
        assert (await web.get("/")).status_code == 303
        await web.get("/login")
        csrf = web.cookies.get("idpsync_session")
        assert csrf is not None
        page = await web.get("/login")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        bad = await web.post(
            "/login", data={"csrf": token, "username": "admin", "password": "wrong"}
        )
        assert bad.status_code == 401
        good = await web.post(
            "/login",
            data={"csrf": token, "username": "admin", "password": "correct horse battery staple"},
        )
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    async with h.client(base_url="https://testserver") as tls:
        page = await tls.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()


async def test_api_token_is_checked_and_never_echoed(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.client(headers={"Authorization": "Bearer wrong"}) as bad:
        answer = await bad.get("/api/runs")
        assert answer.status_code == 401
        assert "wrong" not in answer.text
    async with h.api() as api:
        answer = await api.get("/api/runs")
        assert answer.status_code == 200
        assert TOKEN not in json.dumps(answer.json())


async def test_progress_is_live_while_a_run_reads(tmp_path: Path, store: Store) -> None:
    import asyncio
    import os
    import threading

    h = harness(tmp_path, store)
    h.data.unlink()
    os.mkfifo(h.data)  # the read blocks until the test writes: a run that is visibly running
    async with h.api() as api:
        assert (await api.post("/api/connectors/hr/sync", json={})).status_code == 202
        for _ in range(200):
            state = (await api.get("/api/connectors/hr/progress")).json()
            if state["phase"] == "fetch":
                break
            await asyncio.sleep(0.02)
        assert state["running"] and state["message"].startswith("reading ")
        busy = await api.post("/api/connectors/hr/sync", json={})
        assert busy.status_code == 409
        doc = json.dumps(people(5)).encode()
        threading.Thread(target=lambda: h.data.write_bytes(doc), daemon=True).start()
        done = await wait_idle(api)
        assert done["last_status"] == "succeeded" and done["percent"] == 100.0
