"""File source → sync → delivery → a real scim2-server process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from idpsync.targets.state import TargetState, pending_count
from tests.targets.scim_support import TOKEN, Directory, ScimServer, read_scim, target_settings

pytestmark = pytest.mark.slow


async def deliver(store: Store, url: str, **kwargs: Any) -> Any:
    settings = target_settings(url)
    async with http_client(settings) as client:
        return await run_delivery(store, "scim", settings, client, **kwargs)


def seed(directory: Directory) -> None:
    for n, login in enumerate(["ada", "grace", "linus", "barbara", "ken"]):
        directory.user(f"u{n}", login)
    directory.group("g-eng", "Engineering", ["u0", "u1", "u2"])
    directory.group("g-ops", "Operations", ["u2", "u3"])
    directory.group("g-all", "Everyone", ["u0", "u1", "u2", "u3", "u4"])


async def test_full_sync_then_changes_arrive_exactly(
    store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    seed(directory)
    await directory.sync(store)
    result = await deliver(store, scim_server.url)
    assert result.status == "ok", result.message
    held = read_scim(scim_server.url)
    assert {k: held[k] for k in ("users", "groups")} == directory.expected()

    directory.users["u1"]["email"] = "grace.hopper@example.org"
    directory.users["u3"]["active"] = False
    directory.user("u9", "margaret")
    directory.groups["g-eng"]["members"] = ["u0", "u9"]
    directory.groups["g-ops"]["name"] = "Platform"
    del directory.groups["g-all"]
    directory.group("g-new", "Research", ["u9", "u4"])
    await directory.sync(store)
    result = await deliver(store, scim_server.url)
    assert result.status == "ok", result.message
    held = read_scim(scim_server.url)
    assert {k: held[k] for k in ("users", "groups")} == directory.expected()
    assert pending_count(store, result.cursor) == 0

    again = await deliver(store, scim_server.url)
    assert (again.status, again.delivered) == ("ok", 0)


class FlakyTransport(httpx.AsyncBaseTransport):
    """Forwards to the real server; after ``fail_after`` writes, the target "goes away".

    With ``lose_response`` the failing write reaches the server but its answer is lost, the
    case where a naive retry would create a duplicate.
    """

    def __init__(self, fail_after: int, lose_response: bool = False) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fail_after = fail_after
        self.lose_response = lose_response
        self.writes = 0
        self.broken = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes += 1
            if self.writes > self.fail_after:
                self.broken = True
        if self.broken:
            if self.lose_response and self.writes == self.fail_after + 1:
                response = await self.inner.handle_async_request(request)
                await response.aread()
            raise httpx.ConnectError("connection refused (injected)", request=request)
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("lose_response", [False, True])
async def test_target_down_mid_delivery_catches_up_without_duplicates(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer, lose_response: bool
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    settings = target_settings(scim_server.url)
    flaky = FlakyTransport(fail_after=4, lose_response=lose_response)
    async with http_client(settings, transport=flaky) as c:
        first = await run_delivery(sqlite_store, "scim", settings, c)
    assert first.status == "down"
    assert "cannot reach the target" in first.message
    row = TargetState(sqlite_store, "scim").row()
    assert row["status"] == "down" and row["cursor"] == first.cursor
    assert pending_count(sqlite_store, first.cursor) > 0

    second = await deliver(sqlite_store, scim_server.url)
    assert second.status == "ok", second.message
    held = read_scim(scim_server.url)
    assert {k: held[k] for k in ("users", "groups")} == directory.expected()
    assert (held["user_count"], held["group_count"]) == (5, 3)  # nothing twice
    assert TargetState(sqlite_store, "scim").row()["status"] == "ok"


async def test_killed_server_restarted_is_rebuilt_by_reconcile(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    """scim2-server keeps its state in memory only (no load option), so a restart loses
    what it held: delivery stops with the cursor kept, and a reconcile rebuilds the target."""
    seed(directory)
    await directory.sync(sqlite_store)
    settings = target_settings(scim_server.url)

    class KillAfter(FlakyTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method != "GET":
                self.writes += 1
                if self.writes > self.fail_after:
                    scim_server.kill()
            return await self.inner.handle_async_request(request)

    async with http_client(settings, transport=KillAfter(3)) as c:
        first = await run_delivery(sqlite_store, "scim", settings, c)
    assert first.status == "down"
    assert TargetState(sqlite_store, "scim").row()["cursor"] == first.cursor

    scim_server.start()
    rebuilt = await deliver(sqlite_store, scim_server.url, reconcile=True)
    assert rebuilt.status == "ok", rebuilt.message
    held = read_scim(scim_server.url)
    assert {k: held[k] for k in ("users", "groups")} == directory.expected()
    assert (held["user_count"], held["group_count"]) == (5, 3)
    assert pending_count(sqlite_store, rebuilt.cursor) == 0


async def test_reconcile_adopts_existing_users_without_duplicates(
    store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    headers = {
        "Authorization": "Bearer scim-test-token-5f1c",
        "Content-Type": "application/scim+json",
    }
    core = "urn:ietf:params:scim:schemas:core:2.0:User"
    existing = [
        {"schemas": [core], "userName": "ADA", "active": True},  # same login, other case
        {
            "schemas": [core],
            "userName": "g.hopper",  # same e-mail, other login
            "emails": [{"value": "GRACE@example.org", "primary": True}],
        },
        {"schemas": [core], "userName": "outsider", "active": True},  # not ours
    ]
    ids = {}
    with httpx.Client(base_url=scim_server.url + "/", headers=headers) as client:
        for body in existing:
            ids[body["userName"]] = client.post("Users", json=body).json()["id"]
        client.post(
            "Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "engineering",
                "members": [{"value": ids["outsider"]}],
            },
        )
    directory.user("u0", "ada")
    directory.user("u1", "grace")
    directory.group("g-eng", "Engineering", ["u0", "u1"])
    await directory.sync(store)

    result = await deliver(store, scim_server.url, reconcile=True)
    assert result.status == "ok", result.message
    assert result.counts.get("adopted") == 3  # two users and the group
    held = read_scim(scim_server.url)
    assert held["user_count"] == 3 and held["group_count"] == 1
    by_id = {u["id"]: u for u in held["raw_users"]}
    assert by_id[ids["ADA"]]["externalId"] == "u0"
    assert by_id[ids["g.hopper"]]["userName"] == "grace"
    assert by_id[ids["outsider"]]["active"] is True  # left alone
    members = held["groups"]["Engineering"]
    # the login differs only in case: not drift (userName is caseExact=false), so it stays
    assert members == ["ADA", "grace", "outsider"]  # the unmanaged member is kept

    directory.users["u0"]["display_name"] = "Countess"
    await directory.sync(store)
    later = await deliver(store, scim_server.url)
    assert later.status == "ok"
    assert read_scim(scim_server.url)["user_count"] == 3


async def test_dry_run_sends_no_write(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, scim_server.url, dry_run=True)
    assert result.status == "dry_run"
    assert result.would_send and all(w.startswith("POST ") for w in result.would_send)
    assert read_scim(scim_server.url)["user_count"] == 0
    assert TargetState(sqlite_store, "scim").row()["cursor"] == 0


def test_cli_sync_deliver_and_status(
    tmp_path: Path,
    directory: Directory,
    scim_server: ScimServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(directory)
    monkeypatch.setenv("SCIM_TOKEN", TOKEN)
    config = directory.cli_config(
        tmp_path,
        f"""
[targets.app]
type = "scim"
url = "{scim_server.url}"
token = "env:SCIM_TOKEN"
connectors = ["hr"]
[targets.app.options]
max_attempts = 1
""",
    )
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "-c", str(config)]).exit_code == 0
    status = runner.invoke(app, ["targets", "-c", str(config), "--json"])
    (row,) = json.loads(status.output)
    assert (row["name"], row["cursor"], row["status"]) == ("app", 0, "ok")
    assert row["lag"] > 0

    dry = runner.invoke(app, ["deliver", "app", "-c", str(config), "--dry-run"])
    assert dry.exit_code == 0 and "would send POST" in dry.output
    assert read_scim(scim_server.url)["user_count"] == 0

    done = runner.invoke(app, ["deliver", "-c", str(config)])
    assert done.exit_code == 0, done.output
    assert "app: ok" in done.output and TOKEN not in done.output
    (row,) = json.loads(runner.invoke(app, ["targets", "-c", str(config), "--json"]).output)
    assert row["lag"] == 0 and row["cursor"] > 0 and row["last_delivery_at"]
    assert {k: read_scim(scim_server.url)[k] for k in ("users", "groups")} == directory.expected()

    scim_server.kill()
    monkeypatch.setenv("SCIM_TOKEN", "wrong-" + TOKEN)
    down = runner.invoke(app, ["deliver", "app", "-c", str(config), "--reconcile"])
    assert down.exit_code == 1 and "cannot reach the target" in down.output
    assert TOKEN not in down.output
    table = runner.invoke(app, ["targets", "-c", str(config)])
    assert "down" in table.output
