"""The Keycloak emulator's server-cost model and admin events (also read with python-keycloak)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError

from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.keycloak.auth import DEFAULT_ROLES
from idpsync.emulators.keycloak.cost import (
    DEFAULT_OFFSET_US,
    DEFAULT_ROW_US,
    Charged,
    ServerCost,
    chain_seconds,
)
from idpsync.emulators.tenant import TenantGroup, TenantUser

BASE = "http://kc.test"
ADMIN = "/admin/realms/acme"
ROLES = DEFAULT_ROLES | {"view-events"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # 2027-01-15T08:00:00Z

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> KeycloakEmulator:
    return KeycloakEmulator.generate(users=30, groups=8, seed=5, admin_events=True, clock=clock)


@pytest.fixture
async def http(emu: KeycloakEmulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {emu.realms.issue(emu.realm, ROLES)}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        yield c


# ---- the cost model --------------------------------------------------------------------------


def test_cost_arithmetic() -> None:
    cost = ServerCost(row_us=25, offset_us=10)
    assert cost.delay(1000, 0) == pytest.approx(0.025)
    assert cost.delay(1000, 5000) == pytest.approx(0.025 + 0.05)
    assert cost.delay(0, 0) == 0 and ServerCost().delay(10**6, 10**6) == 0
    with pytest.raises(ValueError):
        ServerCost(row_us=-1)
    # 100,000 brief users in one answer take 2.5 s (the issue the default comes from)
    assert ServerCost(DEFAULT_ROW_US, DEFAULT_OFFSET_US).delay(100_000, 0) == pytest.approx(2.5)


def test_one_large_page_beats_a_chain_of_small_ones() -> None:
    cost = ServerCost(DEFAULT_ROW_US, DEFAULT_OFFSET_US)
    # 100k users at 1,000 a page: 101 requests, offsets 0..100k: 2.5 s rendering + 50.5 s skipping
    small = chain_seconds(100_000, 1000, cost, latency_s=0.05)
    assert small == pytest.approx(101 * 0.05 + 2.5 + 10e-6 * 1000 * 101 * 100 / 2)
    large = chain_seconds(100_000, 100_000, cost, latency_s=0.05)
    assert large == pytest.approx(2 * 0.05 + 2.5 + 10e-6 * 100_000)
    assert large < chain_seconds(100_000, 10_000, cost, latency_s=0.05) < small


async def test_each_answer_records_its_modelled_cost(clock: Clock) -> None:
    emu = KeycloakEmulator.generate(users=30, groups=8, seed=5, cost=ServerCost(2, 1))
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        await c.get(f"{ADMIN}/users", params={"first": "10", "max": "15"})
        await c.get(f"{ADMIN}/users/count")
        await c.get(f"{ADMIN}/users/{emu.tenant.user_ids[0]}")
        await c.get(f"{ADMIN}/users", params={"first": "25", "max": "15"})
    assert emu.costs == [
        Charged("users", 15, 10, (15 * 2 + 10 * 1) / 1e6),
        Charged("users/count", 0, 0, 0.0),
        Charged("users/{id}", 1, 0, 2 / 1e6),
        Charged("users", 5, 25, (5 * 2 + 25) / 1e6),
    ]


# ---- admin events ---------------------------------------------------------------------------


async def test_changes_become_events_newest_first(
    emu: KeycloakEmulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    t = emu.tenant
    uid, gid = t.user_ids[0], t.group_ids[0]
    t.update_user(uid, given_name="Changed")
    emu.events.sync()  # stamped when the emulator looks: before an answer, or now
    clock.now += 1
    t.add_user(TenantUser(id="u-new", alias="new", display_name="N", given_name=None,
                          surname=None, mail=None))  # fmt: skip
    t.add_member(gid, "u-new")
    emu.events.sync()
    clock.now += 1
    t.rename_group(gid, "Renamed")
    t.delete_user(uid)
    events = (await http.get(f"{ADMIN}/admin-events")).json()
    seen = [(e["operationType"], e["resourceType"], e["resourcePath"]) for e in events]
    assert seen == [
        ("DELETE", "USER", f"users/{uid}"),  # its memberships go without events
        ("UPDATE", "GROUP", f"groups/{gid}"),
        ("CREATE", "GROUP_MEMBERSHIP", f"users/u-new/groups/{gid}"),
        ("CREATE", "USER", "users/u-new"),
        ("UPDATE", "USER", f"users/{uid}"),
    ]
    times = [e["time"] for e in events]
    assert times == sorted(times, reverse=True) and times[-1] == 1_800_000_000_000
    assert {"realmId", "authDetails"} <= set(events[0])


class Ticking(Clock):
    """A clock that moves on by a millisecond every time it is read."""

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


async def test_the_changes_of_one_look_share_its_stamp() -> None:
    """Every change found in one look carries one stamp, however often the clock moves meanwhile
    (a user added to a group and removed again between two answers: events of one millisecond,
    which a reader cannot order; ``test_keycloak_events`` in the sources relies on it)."""
    emu = KeycloakEmulator.generate(users=30, groups=8, seed=5, admin_events=True, clock=Ticking())
    t = emu.tenant
    uid, gid = t.user_ids[0], t.group_ids[0]
    t.update_user(uid, given_name="Changed")
    t.add_member(gid, t.user_ids[1])
    t.remove_member(gid, t.user_ids[1])
    emu.events.sync()
    changes = [e for e in emu.events.events if e["resourceType"] != "REALM"]
    assert len(changes) == 3 and len({e["time"] for e in changes}) == 1


async def test_filters_paging_and_dates(
    emu: KeycloakEmulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    t = emu.tenant
    for uid in t.user_ids[:5]:
        t.update_user(uid, surname="X")
    emu.events.sync()
    clock.now += 86_400
    t.add_member(t.group_ids[1], t.user_ids[6])
    http.headers["authorization"] = f"Bearer {emu.realms.issue(emu.realm, ROLES)}"
    both = [("resourceTypes", "USER"), ("resourceTypes", "GROUP_MEMBERSHIP")]
    assert len((await http.get(f"{ADMIN}/admin-events", params=both)).json()) == 6
    only = (await http.get(f"{ADMIN}/admin-events", params={"resourceTypes": "USER"})).json()
    assert len(only) == 5 and {e["resourceType"] for e in only} == {"USER"}
    today = datetime.fromtimestamp(clock.now, UTC).strftime("%Y-%m-%d")
    recent = (await http.get(f"{ADMIN}/admin-events", params={"dateFrom": today})).json()
    assert [e["resourceType"] for e in recent] == ["GROUP_MEMBERSHIP"]
    page = (await http.get(f"{ADMIN}/admin-events", params={"first": "2", "max": "3"})).json()
    assert len(page) == 3
    path = {"resourcePath": f"users/{t.user_ids[6]}/*"}
    assert len((await http.get(f"{ADMIN}/admin-events", params=path)).json()) == 1
    millis = await http.get(f"{ADMIN}/admin-events", params={"dateFrom": "1800000000000"})
    assert millis.status_code == 400 and "yyyy-MM-dd" in millis.json()["error"]
    bad = await http.get(f"{ADMIN}/admin-events", params={"resourceTypes": "USER,GROUP"})
    assert bad.status_code == 500


async def test_nothing_saved_while_off_and_turning_on_is_an_event(
    emu: KeycloakEmulator, http: httpx.AsyncClient
) -> None:
    emu.set_admin_events(False)
    emu.tenant.update_user(emu.tenant.user_ids[0], surname="Unseen")
    config = (await http.get(f"{ADMIN}/events/config")).json()
    assert config["adminEventsEnabled"] is False
    assert (await http.get(f"{ADMIN}/admin-events")).json() == []
    emu.set_admin_events(True)
    events = (await http.get(f"{ADMIN}/admin-events")).json()
    assert [(e["resourceType"], e["resourcePath"]) for e in events] == [("REALM", "events/config")]
    assert (await http.get(f"{ADMIN}/events/config")).json()["adminEventsEnabled"] is True


async def test_events_need_view_events(emu: KeycloakEmulator) -> None:
    headers = {"authorization": f"Bearer {emu.issue_token()}"}  # view-users only
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        assert (await c.get(f"{ADMIN}/admin-events")).status_code == 403
        assert (await c.get(f"{ADMIN}/events/config")).status_code == 403


def test_python_keycloak_reads_the_admin_events() -> None:
    emu = KeycloakEmulator.generate(users=20, groups=5, seed=9, admin_events=True)
    emu.set_roles(ROLES)
    t = emu.tenant
    t.add_group(TenantGroup(id="g-new", name="New group"))
    t.add_member("g-new", t.user_ids[0])
    t.update_user(t.user_ids[1], surname="Else")
    with emu.serve() as server:
        admin = KeycloakAdmin(
            server_url=server.url + "/",
            realm_name=emu.realm,
            client_id=emu.client_id,
            client_secret_key=emu.client_secret,
        )
        query = {"resourceTypes": ["GROUP_MEMBERSHIP", "GROUP"], "max": 10}
        events = admin.get_admin_events(query)
        assert [(e["resourceType"], e["resourcePath"]) for e in events] == [
            ("GROUP_MEMBERSHIP", f"users/{t.user_ids[0]}/groups/g-new"),
            ("GROUP", "groups/g-new"),
        ]
        assert len(admin.get_admin_events({"resourceTypes": "USER"})) == 1
        with pytest.raises(KeycloakGetError) as refused:
            admin.get_admin_events({"dateFrom": "yesterday"})
        assert refused.value.response_code == 400


@pytest.mark.slow
def test_emulate_keycloak_admin_events_flag() -> None:
    command = [
        sys.executable, "-m", "idpsync.cli", "emulate", "keycloak", "--port", "0",
        "--users", "20", "--groups", "4", "--seed", "3", "--admin-events",
        "--row-cost-us", "0", "--offset-cost-us", "0", "--print-config",
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("admin_events"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
        secret = lines[0].split("=", 1)[1].strip("'")
        source = tomllib.loads("\n".join(lines[1:]))["connectors"]["keycloak-emulated"]["source"]
        assert source["admin_events"] is True
        form = {"grant_type": "client_credentials", "client_id": source["client_id"]}
        token_url = f"{source['base_url']}/realms/acme/protocol/openid-connect/token"
        token = httpx.post(token_url, data={**form, "client_secret": secret}).json()
        headers = {"authorization": f"Bearer {token['access_token']}"}
        config = httpx.get(f"{source['base_url']}{ADMIN}/events/config", headers=headers)
        assert config.json()["adminEventsEnabled"] is True  # and the client may read it
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
