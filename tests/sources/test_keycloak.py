"""The Keycloak connector against the emulator: reads, shapes, counts, errors, single users."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from idpsync.emulators import Fault, Latency
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup
from idpsync.http import HttpError
from idpsync.http.settings import HttpSettings
from idpsync.model import MemberKind, Snapshot
from tests.sources.keycloak_support import (
    expected_requests,
    no_waits,
    settings_for,
    source_for,
    source_over,
    truth,
)
from tests.sources.overlap_support import MembersWaitForUsers, members_before_last_users_page

__all__ = ["no_waits"]
USERS = "/admin/realms/acme/users"


def edges(snap: Snapshot, kind: MemberKind) -> set[tuple[str, str]]:
    return {(m.group_id, m.member_id) for m in snap.memberships if m.member_kind is kind}


@pytest.mark.parametrize("shape", [23, 22])
async def test_full_read_matches_ground_truth_and_formula(shape: int) -> None:
    emu = KeycloakEmulator.generate(users=120, groups=25, seed=4, shape=shape)
    source = source_for(emu, page_size=50, members_page_size=20)
    snap = await source.snapshot()
    await source.aclose()
    want = truth(emu)
    assert snap.complete, snap.incomplete_reasons
    assert {u.source_id: u.login for u in snap.users} == want.users
    assert {g.source_id: g.name for g in snap.groups} == want.paths
    assert edges(snap, MemberKind.USER) == want.user_edges
    assert edges(snap, MemberKind.GROUP) == want.group_edges and want.group_edges
    assert len(emu.requests) == expected_requests(emu, detection=1, page=50, mpage=20)
    assert source.stats.requests == len(emu.requests)
    assert source.stats.extra["group_shape"] == ("23+" if shape == 23 else "22-")
    if shape == 23:
        assert emu.requests.count("*/groups/{id}/children") > 0
    else:
        assert emu.requests.count("*/groups/{id}/children") == 0


async def test_formula_counts_exact_multiples_and_many_children() -> None:
    emu = KeycloakEmulator.generate(users=40, groups=10, seed=1)
    parent = emu.tenant.group_ids[0]
    for i in range(7):
        emu.tenant.add_group(TenantGroup(id=f"kid-{i}", name=f"kid {i}"))
        emu.tenant.add_member(parent, f"kid-{i}")
    source = source_for(emu, page_size=4, members_page_size=5, auth_prefix=False)
    snap = await source.snapshot()
    assert snap.complete
    assert len(emu.requests) == expected_requests(emu, detection=0, page=4, mpage=5)
    assert {g.source_id for g in snap.groups} >= {f"kid-{i}" for i in range(7)}


@pytest.mark.parametrize(("configured", "detection"), [(None, 2), (True, 0)])
async def test_auth_prefix_detected_or_configured(configured: bool | None, detection: int) -> None:
    emu = KeycloakEmulator.generate(users=30, groups=8, seed=2, auth_prefix=True)
    source = source_for(emu, auth_prefix=configured)
    snap = await source.snapshot()
    assert snap.complete and len(snap.users) == 30
    assert len(emu.requests) == expected_requests(emu, detection=detection)
    assert all(r.path.startswith("/auth/") for r in emu.requests if r.status == 200)
    assert (
        source.endpoints()[0].url == "http://kc.test/auth/realms/acme/protocol/openid-connect/token"
    )


async def test_wrong_realm_is_reported_clearly() -> None:
    emu = KeycloakEmulator.generate(users=5, groups=2, seed=2)
    with pytest.raises(Exception, match="realm 'nope' not found"):
        await source_for(emu, realm="nope").snapshot()


async def test_flatten_subgroups_copies_members_upwards() -> None:
    emu = KeycloakEmulator.generate(users=60, groups=15, seed=5)
    snap = await source_for(emu, flatten_subgroups=True).snapshot()
    want = truth(emu)
    parents = emu.tree().parent
    assert edges(snap, MemberKind.GROUP) == set()
    assert edges(snap, MemberKind.USER) == want.flattened(parents)
    assert want.flattened(parents) > want.user_edges


async def test_group_name_setting_and_same_named_subgroups() -> None:
    emu = KeycloakEmulator.generate(users=20, groups=5, seed=6)
    uid = emu.tenant.user_ids[0]
    for parent in ("eng", "sales"):
        emu.tenant.add_group(TenantGroup(id=parent, name=parent))
        emu.tenant.add_group(
            TenantGroup(id=f"{parent}-backend", name="backend", members={uid: None})
        )
        emu.tenant.add_member(parent, f"{parent}-backend")
    by_path = await source_for(emu).snapshot()
    names = {g.source_id: g.name for g in by_path.groups}
    assert names["eng-backend"] == "/eng/backend" and names["sales-backend"] == "/sales/backend"
    by_name = await source_for(emu, group_name="name").snapshot()
    names = {g.source_id: g.name for g in by_name.groups}
    assert names["eng-backend"] == names["sales-backend"] == "backend"  # two ids, never merged


async def test_fault_mid_listing_marks_incomplete_and_keeps_what_was_read() -> None:
    emu = KeycloakEmulator.generate(users=90, groups=10, seed=7)
    emu.inject(Fault("status", "/admin/realms/acme/users", nth=2, times=0, status=503))
    source = source_for(emu, page_size=30)
    snap = await source.snapshot()
    assert not snap.complete
    assert any("user list" in r and "503" in r for r in snap.incomplete_reasons)
    # page 1 read, page 2 tried twice (max_attempts=2), nothing after it
    assert emu.requests.count("/admin/realms/acme/users") == 3


async def test_member_listing_fault_marks_incomplete(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu = KeycloakEmulator.generate(users=50, groups=10, seed=7)
    emu.inject(Fault("reset", "*/groups/{id}/members", nth=3, times=0))
    snap = await source_for(emu).snapshot()
    assert not snap.complete
    assert any("members of group" in r for r in snap.incomplete_reasons)
    assert "retrying GET /admin/realms/{realm}/groups/{id}/members" in caplog.text
    assert emu.client_secret not in caplog.text + " ".join(snap.incomplete_reasons)


def overlap_emulator() -> KeycloakEmulator:
    """500 users (21 pages of 25, one after the other), a 20-group tree, 10 ms a request."""
    return KeycloakEmulator.generate(users=500, groups=20, seed=5, latency=Latency(fixed_ms=10))


async def test_member_lists_start_while_users_are_still_listed() -> None:
    emu = overlap_emulator()
    source = source_for(emu, page_size=25, auth_prefix=False)
    snap = await source.snapshot()
    await source.aclose()
    assert snap.complete and len(snap.users) == 500
    log = emu.requests.entries()
    assert [r.path for r in log].count(USERS) == 21
    # the tree is read in a handful of round trips, the users in 21; read users first, no
    # member request could come before the last users page
    assert members_before_last_users_page(log, USERS) > 0
    assert len(log) == expected_requests(emu, detection=0, page=25)
    assert edges(snap, MemberKind.USER) == truth(emu).user_edges


async def test_users_pages_keep_a_slot_while_members_are_listed() -> None:
    emu = overlap_emulator()
    gate = MembersWaitForUsers(emu, USERS, user_pages=21)
    settings = settings_for(emu, page_size=25, auth_prefix=False)
    source = source_over(settings, httpx.ASGITransport(app=gate))
    # a deadlock guard, not a timing check: member lists holding every slot would stall the
    # users chain, and the gate releases them only after the last users page
    snap = await asyncio.wait_for(source.snapshot(), timeout=60)
    await source.aclose()
    assert snap.complete
    assert 0 < gate.peak <= source.http.budget.concurrency - 1
    assert len(emu.requests) == expected_requests(emu, detection=0, page=25)


def test_settings_need_one_kind_of_credentials() -> None:
    emu = KeycloakEmulator.generate(users=1, groups=1, seed=1)
    with pytest.raises(ValueError, match="either client_id"):
        settings_for(emu, username="admin", password=SecretStr("x"))
    with pytest.raises(ValueError, match="base_url is required"):
        settings_for(emu, base_url="")
    with pytest.raises(ValueError, match="go together"):
        settings_for(emu, client_secret=None)


async def test_missing_role_names_it_and_hides_the_secret() -> None:
    emu = KeycloakEmulator.generate(users=10, groups=3, seed=8)
    emu.set_roles(frozenset({"query-users", "query-groups"}))
    with pytest.raises(HttpError) as info:
        await source_for(emu).snapshot()
    text = str(info.value)
    assert "realm-management role 'view-users'" in text and "Service account roles" in text
    assert "/groups/{id}/members" in text
    assert emu.client_secret not in text


async def test_wrong_secret_is_a_token_error_without_the_secret() -> None:
    emu = KeycloakEmulator.generate(users=10, groups=3, seed=8)
    with pytest.raises(HttpError) as info:
        await source_for(emu, client_secret=SecretStr("wrong-secret-123")).snapshot()
    text = str(info.value)
    assert "Token request failed" in text and "Invalid client" in text
    assert "wrong-secret-123" not in text


async def test_expired_token_mid_run_is_renewed() -> None:
    emu = KeycloakEmulator.generate(users=60, groups=6, seed=9)
    emu.inject(Fault("expired_token", "*/groups/{id}/members", nth=2))
    snap = await source_for(emu, auth_prefix=False).snapshot()
    assert snap.complete
    token_calls = emu.requests.count("/realms/acme/protocol/openid-connect/token", method="POST")
    assert token_calls == 2


async def test_admin_password_grant() -> None:
    emu = KeycloakEmulator.generate(users=25, groups=5, seed=3)
    source = source_for(
        emu,
        client_id=None,
        client_secret=None,
        username=emu.admin_user,
        password=SecretStr(emu.admin_password),
    )
    snap = await source.snapshot()
    assert snap.complete and len(snap.users) == 25
    assert emu.requests.count("/realms/master/protocol/openid-connect/token", method="POST") == 1
    wrong = source_for(
        emu, client_id=None, client_secret=None, username="admin", password=SecretStr("pw-wrong-1")
    )
    with pytest.raises(HttpError) as info:
        await wrong.snapshot()
    assert "invalid_grant" in str(info.value) and "pw-wrong-1" not in str(info.value)


@pytest.mark.parametrize("shape", [23, 22])
async def test_fetch_user_with_groups_and_parents(shape: int) -> None:
    emu = KeycloakEmulator.generate(users=60, groups=15, seed=4, shape=shape)
    tree = emu.tree()
    deep = max(tree.parent, key=lambda g: tree.paths[g].count("/"))
    assert tree.paths[deep].count("/") >= 3
    uid = next(iter(m for m in emu.tenant.groups[deep].members if m in emu.tenant.users), None)
    if uid is None:
        uid = emu.tenant.user_ids[0]
        emu.tenant.add_member(deep, uid)
    user = emu.tenant.users[uid]
    source = source_for(emu)
    for key in (uid, user.alias.lower(), user.mail):
        assert key is not None
        snap = await source.fetch_user(key)
        assert snap is not None and snap.complete
        assert [u.source_id for u in snap.users] == [uid]
        direct = {g for g in emu.tenant.direct_groups(uid) if g in emu.tenant.groups}
        assert {(g, uid) for g in direct} == edges(snap, MemberKind.USER)
        above = {a for g in direct for a in _ancestors(tree.parent, g)}
        assert {g.source_id for g in snap.groups} == direct | above
        assert {g.source_id: g.name for g in snap.groups}[deep] == tree.paths[deep]
        assert edges(snap, MemberKind.GROUP) == {
            (tree.parent[c], c) for c in direct | above if tree.parent[c] is not None
        }
    assert await source.fetch_user("00000000-0000-4000-8000-000000000000") is None
    assert await source.fetch_user("nobody.here") is None


def _ancestors(parents: dict[str, str | None], gid: str) -> list[str]:
    out = []
    node = parents[gid]
    while node is not None:
        out.append(node)
        node = parents[node]
    return out


class InFlight:
    """An ASGI wrapper counting the emulator's concurrent requests."""

    def __init__(self, app: KeycloakEmulator) -> None:
        self.app, self.now, self.peak = app, 0, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_concurrency_setting_bounds_requests_in_flight(concurrency: int) -> None:
    emu = KeycloakEmulator.generate(users=30, groups=20, seed=3, latency=Latency(fixed_ms=3))
    counter = InFlight(emu)
    settings = settings_for(emu, http=HttpSettings(concurrency=concurrency, max_attempts=2))
    source = source_over(settings, httpx.ASGITransport(app=counter))
    snap = await source.snapshot()
    assert snap.complete
    assert counter.peak == concurrency  # member lists overlap up to the setting, never beyond
