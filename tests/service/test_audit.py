"""The audit trail: a row for every event, append-only, browsable, exportable; runs.actor."""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.cli import app as cli
from idpsync.store import Store
from idpsync.store import audit as trail
from idpsync.store import schema as t
from idpsync.web.audit import settle
from idpsync.web.roles import Role
from tests.service.access_support import TOKENS, access_harness, sign_in
from tests.service.support import PASSWORD, Harness, wait_idle

runner = CliRunner()


def actions(store: Store, action: str) -> list[dict[str, object]]:
    return trail.entries(store, trail.Filter(action=action, limit=1000))


def run_actor(store: Store, run_id: int) -> object:
    row = store.run(run_id)
    assert row is not None
    return row["actor"]


async def _guard(h: Harness, inactive: tuple[int, ...]) -> int:
    """A run refused by the guard (these users left); its id."""
    from tests.filedata import people, write

    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        await wait_idle(api)
        write(h.data, people(8, inactive=inactive))
        await api.post("/api/connectors/hr/sync", json={})
        state = await wait_idle(api)
    assert state["last_status"] == "guarded"
    return int(state["last_run_id"])


async def test_sign_ins_sign_outs_and_refusals_are_written(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    async with h.client() as web:
        page = await web.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        wrong = {"csrf": csrf.group(1), "username": "admin", "password": "not " + PASSWORD}
        assert (await web.post("/login", data=wrong)).status_code == 401
        token = await sign_in(web, "vera")
        assert (await web.post("/connectors/hr/sync", data={"csrf": token})).status_code == 403
        assert (await web.post("/logout", data={"csrf": token})).status_code == 303
    failed = actions(store, "login_failed")
    assert [r["actor"] for r in failed] == ["anonymous"]
    assert PASSWORD not in json.dumps(failed)
    [login] = actions(store, "login")
    assert login["actor"] == "user:vera"
    assert login["detail"] == {"role": "viewer", "how": "password"}
    [refused] = actions(store, "refused")
    assert refused["actor"] == "user:vera" and refused["subject"] == "/connectors/hr/sync"
    assert [r["actor"] for r in actions(store, "logout")] == ["user:vera"]


async def test_manual_syncs_record_their_actor(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[Role.OPERATOR]}"}) as api:
        await api.post("/api/connectors/hr/sync", json={"dry_run": True})
        by_token = await wait_idle(api)
    async with h.client() as web:
        csrf = await sign_in(web, "otto")
        await web.post("/connectors/hr/sync", data={"csrf": csrf})
        by_user = await wait_idle(web)
        run_page = (await web.get(f"/runs/{by_user['last_run_id']}")).text
        assert "started by user:otto" in run_page
    assert run_actor(store, by_token["last_run_id"]) == "token:ci-operator"
    assert run_actor(store, by_user["last_run_id"]) == "user:otto"
    syncs = actions(store, "sync")
    assert [(r["actor"], r["subject"]) for r in syncs] == [
        ("user:otto", "hr"),
        ("token:ci-operator", "hr"),
    ]
    result = await h.app.state.service.executor.run("hr", dry_run=True)
    assert result is not None and run_actor(store, result.run_id) == "scheduler"


async def test_approvals_and_dismissals_are_written(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    guarded = await _guard(h, (0, 1, 2, 3))
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[Role.ADMIN]}"}) as api:
        assert (await api.post(f"/api/runs/{guarded}/approve")).status_code == 202
        state = await wait_idle(api)
    assert run_actor(store, state["last_run_id"]) == "token:ci-admin"
    [approved] = actions(store, "approve")
    assert approved["actor"] == "token:ci-admin" and approved["detail"] == {"run_id": guarded}
    await _guard(h, (0, 1, 2, 3, 4, 5, 6, 7))
    async with h.client() as web:
        csrf = await sign_in(web, "admin")
        answer = await web.post("/connectors/hr/approval/dismiss", data={"csrf": csrf})
        assert answer.status_code == 303
    [dismissed] = actions(store, "dismiss")
    assert dismissed["actor"] == "user:admin" and dismissed["subject"] == "hr"


async def test_token_use_is_written_once_an_hour(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    clock = h.app.state.service.scheduler
    start = clock.clock()
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[Role.VIEWER]}"}) as api:
        for _ in range(3):
            assert (await api.get("/api/connectors")).status_code == 200
            settle(h.app)
        assert len(actions(store, "token_use")) == 1
        clock.clock = lambda: start + timedelta(minutes=61)
        assert (await api.get("/api/runs")).status_code == 200
        settle(h.app)
    uses = actions(store, "token_use")
    assert [(r["actor"], r["subject"]) for r in uses] == [
        ("token:ci-viewer", "/api/runs"),
        ("token:ci-viewer", "/api/connectors"),
    ]


async def test_the_service_waits_for_token_uses_being_written_before_it_stops(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = access_harness(tmp_path, store)
    slow = trail.append

    def append(*args: Any, **kw: Any) -> None:
        time.sleep(0.5)  # a store busy with another writer
        slow(*args, **kw)

    monkeypatch.setattr(trail, "append", append)
    viewer = {"Authorization": f"Bearer {TOKENS[Role.VIEWER]}"}
    async with h.app.router.lifespan_context(h.app), h.client(headers=viewer) as api:
        assert (await api.get("/api/connectors")).status_code == 200
    # the app has stopped: the use is in the store, and no writer is left to outlive it
    assert [r["subject"] for r in actions(store, "token_use")] == ["/api/connectors"]


def test_the_store_api_has_no_way_to_change_or_remove_a_row() -> None:
    names = {
        n
        for n, f in inspect.getmembers(trail, inspect.isfunction)
        if f.__module__ == trail.__name__
    }
    assert names == {
        "append",
        "entries",
        "export_rows",
        "actors",
        "last_at",
        "_where",
        "_row",
        "_now",
    }
    source = inspect.getsource(trail)
    assert ".update(" not in source and ".delete(" not in source


def test_the_database_refuses_updates_and_deletes(store: Store) -> None:
    trail.append(store, "cli:root", "sync", "hr")
    for statement in (
        t.audit.update().values(actor="someone else"),
        t.audit.delete(),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(statement)
    assert [r["actor"] for r in trail.entries(store)] == ["cli:root"]


async def test_the_audit_page_filters_pages_and_exports(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    for n in range(60):
        trail.append(store, "cli:ops", "deliver", f"target-{n}")
    trail.append(store, "cli:ops", "sync", '=HYPERLINK("http://x")')
    trail.append(store, "token:<b>x</b>", "token_use", "/api/runs")
    async with h.client() as web:
        await sign_in(web, "vera")
        first = (await web.get("/audit?action=deliver")).text
        assert first.count('class="audit-row') == 50 and 'id="older"' in first
        second = (await web.get("/audit?action=deliver&offset=50")).text
        assert second.count('class="audit-row') == 10 and 'id="newer"' in second
        hostile = (await web.get("/audit?actor=token:<b>x</b>")).text
        assert "token:&lt;b&gt;x&lt;/b&gt;" in hostile and "<b>x</b>" not in hostile
        exported = await web.get("/api/audit/export?format=csv&action=sync")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["subject"] for r in rows] == ['\'=HYPERLINK("http://x")']
        as_json = (await web.get("/api/audit/export?format=json&actor=cli:ops")).json()
        assert len(as_json) == 61 and as_json[0]["subject"] == "target-0"
        listed = (await web.get("/api/audit?limit=2")).json()
        assert [r["action"] for r in listed] == ["login", "token_use"]


def test_the_cli_makes_and_revokes_tokens_and_shows_the_trail(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    config = str(h.loaded.path)
    made = runner.invoke(cli, ["tokens", "create", "deploy", "--role", "operator", "-c", config])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert len(token) >= 40
    bad = runner.invoke(cli, ["tokens", "create", "x", "--role", "root", "-c", config])
    assert bad.exit_code == 2 and "unknown role" in bad.output
    listed = runner.invoke(cli, ["tokens", "list", "--json", "-c", config])
    roles = {r["name"]: r["role"] for r in json.loads(listed.output)}
    assert roles["deploy"] == "operator" and roles["tests"] == "admin"
    assert token not in listed.output
    assert runner.invoke(cli, ["tokens", "revoke", "deploy", "-c", config]).exit_code == 0
    shown = runner.invoke(cli, ["audit", "--json", "-c", config])
    trail_rows = json.loads(shown.output)
    assert [r["action"] for r in trail_rows] == ["token_revoke", "token_create"]
    assert all(r["actor"].startswith("cli:") for r in trail_rows)
    assert trail_rows[1]["detail"] == {"role": "operator"}
    exported = runner.invoke(cli, ["audit", "--export", "csv", "-c", config])
    assert exported.output.splitlines()[0] == "id,at,actor,action,subject,address,detail"


def test_a_sync_from_the_command_line_names_its_user(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    done = runner.invoke(cli, ["sync", "hr", "--dry-run", "--json", "-c", str(h.loaded.path)])
    assert done.exit_code == 0, done.output
    [row] = actions(store, "sync")
    assert str(row["actor"]).startswith("cli:") and row["subject"] == "hr"
    with store.read() as conn:
        actor = conn.execute(sa.select(t.runs.c.actor)).scalar_one()
    assert actor == row["actor"]


async def test_a_locked_out_sign_in_is_written_as_a_failure(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    async with h.client() as web:
        page = await web.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        wrong = {"csrf": csrf.group(1), "username": "admin", "password": "wrong"}
        statuses = [(await web.post("/login", data=wrong)).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    failed = actions(store, "login_failed")
    assert len(failed) == 6 and "locked_out" in failed[0]["detail"]
