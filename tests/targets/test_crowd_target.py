"""File source → sync → delivery → the Crowd emulator (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from idpsync.config import parse_config
from idpsync.emulators.crowd import CrowdEmulator
from idpsync.store import Store
from idpsync.targets import run_delivery
from idpsync.targets.crowd_protocol import parse_memberships, read_error
from idpsync.targets.state import TargetState, pending_count
from tests.targets.crowd_support import (
    PASSWORD,
    asgi_client,
    crowd_settings,
    deliver_to,
    expected,
    held,
)
from tests.targets.scim_support import Directory


def seed(directory: Directory) -> None:
    for n, login in enumerate(["ada", "grace", "linus", "barbara", "ken"]):
        directory.user(f"u{n}", login, given_name=login.title(), family_name="Doe")
    directory.group("g-eng", "Engineering", ["u0", "u1", "u2"])
    directory.group("g-ops", "Operations", ["u2", "u3"])
    directory.group("g-all", "Everyone", ["u0", "u1", "u2", "u3", "u4"])


async def test_full_sync_changes_rename_and_deactivation(
    store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    await directory.sync(store)
    result = await deliver_to(store, crowd)
    assert result.status == "ok", result.message
    assert held(crowd) == expected(directory)
    attrs = crowd.state.snapshot()["users"]["ada"]["attributes"]
    assert attrs == {"idpsync-source-id": ["u0"]}

    directory.users["u1"]["email"] = "grace.hopper@example.org"
    directory.users["u0"]["login"] = "ada.lovelace"  # rename: memberships follow
    directory.users["u3"]["active"] = False  # deactivation keeps every other field
    directory.user("u9", "margaret")
    directory.groups["g-eng"]["members"] = ["u0", "u9"]
    directory.groups["g-ops"]["name"] = "Platform"  # Crowd cannot rename: re-created
    del directory.groups["g-all"]
    await directory.sync(store)
    result = await deliver_to(store, crowd)
    assert result.status == "ok", result.message
    assert held(crowd) == expected(directory)
    barbara = crowd.state.snapshot()["users"]["barbara"]
    assert (barbara["active"], barbara["email"], barbara["last-name"]) == (
        False,
        "barbara@example.org",
        "Doe",
    )
    assert any(r.startswith("POST /rest/usermanagement/1/user/rename") for r in crowd.requests)
    assert TargetState(store, "crowd").remote_id("user", "hr", "u0") == "ada.lovelace"
    assert pending_count(store, result.cursor) == 0

    again = await deliver_to(store, crowd)
    assert (again.status, again.delivered) == ("ok", 0)


async def test_target_down_then_back_resumes_from_cursor(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    crowd.down = True
    down = await deliver_to(sqlite_store, crowd)
    assert down.status == "down" and "HTTP 503" in down.message
    assert TargetState(sqlite_store, "crowd").row()["cursor"] == 0
    assert crowd.state.users == {}

    crowd.down = False
    back = await deliver_to(sqlite_store, crowd)
    assert back.status == "ok", back.message
    assert held(crowd) == expected(directory)
    assert len(crowd.state.users) == 5 and len(crowd.state.groups) == 3


async def test_wrong_password_and_missing_permission_are_clear(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    settings = crowd_settings()
    wrong = settings.model_copy(update={"password": SecretStr("not-the-password")})
    async with asgi_client(crowd, wrong) as bad:
        result = await run_delivery(sqlite_store, "crowd", wrong, bad)
    assert result.status == "down" and "HTTP 401" in result.message
    assert "application and password" in result.message and PASSWORD not in result.message

    crowd.read_only = True
    async with asgi_client(crowd, settings) as client:
        denied = await run_delivery(sqlite_store, "crowd", settings, client)
    assert denied.status == "down"
    assert "APPLICATION_PERMISSION_DENIED" in denied.message
    assert "directory mapping" in denied.message


async def test_reconcile_adopts_and_reads_membership_graph(
    store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    state = crowd.state
    state.add_user({"name": "ADA", "password": {"value": "x"}, "active": True})
    state.add_user({"name": "outsider", "password": {"value": "x"}, "active": True})
    state.add_group({"name": "engineering"})
    state.add_member("engineering", "outsider", child=False, body_is_member=True)
    directory.user("u0", "ada")
    directory.user("u1", "grace")
    directory.group("g-eng", "Engineering", ["u0", "u1"])
    await directory.sync(store)

    result = await deliver_to(store, crowd, reconcile=True)
    assert result.status == "ok", result.message
    assert result.counts.get("adopted") == 2  # ADA and the group
    snap = state.snapshot()
    assert set(snap["users"]) == {"ADA", "grace", "outsider"}
    assert snap["users"]["ADA"]["email"] == "ada@example.org"  # drift fixed
    assert snap["users"]["ADA"]["attributes"] == {"idpsync-source-id": ["u0"]}
    assert snap["users"]["outsider"]["active"] is True  # not ours: left alone
    assert snap["groups"] == {"engineering": ["ADA", "grace", "outsider"]}
    assert any(r.endswith("/group/membership") for r in crowd.requests)


async def test_reconcile_falls_back_to_per_group_reads(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    crowd.membership_xml = False
    seed(directory)
    await directory.sync(sqlite_store)
    assert (await deliver_to(sqlite_store, crowd)).status == "ok"
    directory.groups["g-eng"]["members"] = ["u0"]
    await directory.sync(sqlite_store)
    crowd.requests.clear()
    result = await deliver_to(sqlite_store, crowd, reconcile=True)
    assert result.status == "ok", result.message
    assert held(crowd) == expected(directory)
    assert any("/group/user/direct?groupname=Engineering" in r for r in crowd.requests)


async def test_duplicate_membership_409_and_removed_user_are_handled(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    assert (await deliver_to(sqlite_store, crowd)).status == "ok"
    # someone adds a membership by hand that the directory is about to add too
    directory.groups["g-ops"]["members"].append("u4")
    crowd.state.add_member("Operations", "ken", child=False, body_is_member=True)
    await directory.sync(sqlite_store)
    result = await deliver_to(sqlite_store, crowd)
    assert (result.status, result.rejected) == ("ok", 0)
    assert held(crowd) == expected(directory)


async def test_dry_run_reads_but_writes_nothing(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    result = await deliver_to(sqlite_store, crowd, dry_run=True)
    assert result.status == "dry_run"
    assert result.would_send and all(w.startswith("POST ") for w in result.would_send)
    assert crowd.state.users == {} and TargetState(sqlite_store, "crowd").row()["cursor"] == 0


def test_error_bodies_and_membership_xml_parsing() -> None:
    json_error = httpx.Response(
        403,
        json={"reason": "APPLICATION_PERMISSION_DENIED", "message": "nope"},
    )
    text, reason = read_error(json_error)
    assert reason == "APPLICATION_PERMISSION_DENIED" and text.startswith(
        "APPLICATION_PERMISSION_DENIED: nope ("
    )
    xml_error = httpx.Response(
        500,
        content=b"<error><reason>OPERATION_FAILED</reason><message>User x exists</message></error>",
        headers={"Content-Type": "application/xml"},
    )
    assert read_error(xml_error)[1] == "OPERATION_FAILED"
    plain = httpx.Response(401, text="Application failed to authenticate")
    assert read_error(plain) == ("Application failed to authenticate", None)
    graph = parse_memberships(
        b'<memberships><membership group="a"><users><user name="x"/></users>'
        b'<groups><group name="b"/></groups></membership></memberships>'
    )
    assert graph == {"a": {("x", "user"), ("b", "group")}}
    with pytest.raises(ValueError, match="not the expected XML"):
        parse_memberships(b"<html>")


def test_config_of_a_crowd_target(monkeypatch: Any) -> None:
    monkeypatch.setenv("CROWD_PW", PASSWORD)
    settings = parse_config(
        """
[targets.crowd]
type = "crowd"
url = "https://crowd.example/crowd/"
application = "idpsync"
password = "env:CROWD_PW"
[targets.crowd.crowd]
source_id_attribute = "entra-id"
membership_xml = false
"""
    ).targets["crowd"]
    assert settings.url == "https://crowd.example/crowd"
    assert settings.crowd.source_id_attribute == "entra-id"
    with pytest.raises(Exception, match="needs: application, password"):
        parse_config('[targets.c]\ntype = "crowd"\nurl = "https://c.example"\n')
    with pytest.raises(Exception, match="inline"):
        parse_config(
            '[targets.c]\ntype = "crowd"\nurl = "https://c"\napplication = "a"\npassword = "x"\n'
        )


async def test_nested_groups(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    directory.groups["g-all"]["subgroups"] = ["g-eng", "g-ops"]
    await directory.sync(sqlite_store)
    assert (await deliver_to(sqlite_store, crowd)).status == "ok"
    assert held(crowd) == expected(directory)
    directory.groups["g-all"]["subgroups"] = ["g-ops"]
    await directory.sync(sqlite_store)
    result = await deliver_to(sqlite_store, crowd)
    assert result.status == "ok", result.message
    assert held(crowd) == expected(directory)
    reconciled = await deliver_to(sqlite_store, crowd, reconcile=True)
    assert reconciled.status == "ok" and held(crowd) == expected(directory)
