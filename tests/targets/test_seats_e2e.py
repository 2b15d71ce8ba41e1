"""The seat budget end to end: file source → sync → delivery over real ports into the Crowd
emulator (with a licence seat count) and into a real scim2-server (``max_active_users``).

Each holds the excess, raises the ``target_seats`` alert condition, and delivers the held user
(with their memberships) after a deactivation frees a seat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.service.conditions import target_conditions
from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from idpsync.targets.seats import held_users
from idpsync.targets.state import TargetState
from tests.targets.crowd_support import RunningCrowd, crowd_settings
from tests.targets.scim_support import (
    TOKEN,
    Directory,
    ScimServer,
    read_scim,
    target_settings,
)

pytestmark = pytest.mark.slow


def seed(directory: Directory) -> None:
    for n, login in enumerate(["ada", "grace", "linus", "barbara"]):
        directory.user(f"u{n}", login)
    directory.group("g-jira", "jira-users", ["u0", "u3"])


def alerts(store: Store, name: str) -> dict[str, Any]:
    return target_conditions(name, TargetState(store, name).row(), held_users(store, name))


async def test_crowd_with_a_licence_seat_count(
    store: Store, directory: Directory, running_crowd: RunningCrowd
) -> None:
    crowd = running_crowd.emulator
    crowd.seats = 2
    settings = crowd_settings(
        running_crowd.url, max_active_users=2, seat_priority=["group:jira-users"]
    )

    async def deliver() -> Any:
        async with http_client(settings) as client:
            result = await run_delivery(store, "jira", settings, client)
        assert result.status == "ok", result.message
        return result

    seed(directory)
    directory.group("g-all", "Everyone", ["u0", "u1", "u2", "u3"])
    await directory.sync(store)
    first = await deliver()
    users = crowd.state.snapshot()["users"]
    # four to create for two seats: the jira-users members get them
    assert sorted(n for n, u in users.items() if u["active"]) == ["ada", "barbara"]
    assert first.held == 2 and "grace" not in users and "linus" not in users
    groups = crowd.state.snapshot()["groups"]
    assert groups["jira-users"] == ["ada", "barbara"] and groups["Everyone"] == ["ada", "barbara"]
    assert "2 users wait for a seat (grace, linus)" in alerts(store, "jira")["target_seats"].message

    directory.users["u0"]["active"] = False  # ada leaves: one seat frees up
    await directory.sync(store)
    freed = await deliver()
    assert (freed.released, freed.held) == (1, 1)
    users = crowd.state.snapshot()["users"]
    assert sorted(n for n, u in users.items() if u["active"]) == ["barbara", "grace"]
    assert crowd.state.snapshot()["groups"]["Everyone"] == ["ada", "barbara", "grace"]
    assert [h.login for h in held_users(store, "jira")] == ["linus"]
    assert crowd.peak_active == 2 and not crowd.licence_exceeded


async def test_scim2_server_with_max_active_users(
    store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    settings = target_settings(scim_server.url, max_active_users=3)

    async def deliver() -> Any:
        async with http_client(settings) as client:
            result = await run_delivery(store, "scim", settings, client)
        assert result.status == "ok", result.message
        return result

    seed(directory)
    directory.user("u4", "ken")
    await directory.sync(store)
    first = await deliver()
    held = read_scim(scim_server.url)
    assert sorted(held["users"]) == ["ada", "grace", "linus"] and first.held == 2
    assert held["groups"] == {"jira-users": ["ada"]}
    assert [h.login for h in held_users(store, "scim")] == ["barbara", "ken"]
    assert "target_seats" in alerts(store, "scim")

    directory.users["u0"]["active"] = False  # ada leaves: barbara (created first) comes in
    await directory.sync(store)
    freed = await deliver()
    held = read_scim(scim_server.url)
    assert freed.released == 1
    assert {n for n, (_, active) in held["users"].items() if active} == {
        "grace",
        "linus",
        "barbara",
    }
    assert held["groups"] == {"jira-users": ["ada", "barbara"]}  # ada: deactivated, kept
    assert [h.login for h in held_users(store, "scim")] == ["ken"]


def test_cli_shows_the_held_queue(
    tmp_path: Path, directory: Directory, scim_server: ScimServer, monkeypatch: pytest.MonkeyPatch
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
[targets.app.options]
max_active_users = 3
seat_priority = ["group:jira-users"]
""",
    )
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "-c", str(config)]).exit_code == 0
    done = runner.invoke(app, ["deliver", "-c", str(config)])
    assert done.exit_code == 0, done.output
    assert "1 held for want of a seat" in done.output
    (row,) = json.loads(runner.invoke(app, ["targets", "-c", str(config), "--json"]).output)
    assert (row["max_active_users"], row["active_users"]) == (3, 3)
    assert [(h["login"], h["op"]) for h in row["held"]] == [("linus", "user.create")]
    table = runner.invoke(app, ["targets", "-c", str(config)], env={"COLUMNS": "200"}).output
    assert "1 (3/3 seats)" in table
    assert "app: held linus (user.create, change" in table and "free seats of 3" in table


async def test_a_manager_held_for_want_of_a_seat_is_reported_as_such(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    settings = target_settings(scim_server.url, max_active_users=1)
    directory.user("u0", "ada", manager_id="u1")
    directory.user("u1", "boss")
    await directory.sync(sqlite_store)
    async with http_client(settings) as client:
        result = await run_delivery(sqlite_store, "scim", settings, client)
    assert result.status == "ok" and result.held == 1, result.message
    assert sorted(read_scim(scim_server.url)["users"]) == ["ada"]
    assert result.warnings == [
        "manager 'boss' (u1) of user 'ada' (u0, hr) is held for want of a seat "
        "(max_active_users); the manager reference is left empty"
    ]
