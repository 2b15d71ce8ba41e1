"""End-to-end: the Keycloak connector syncing the emulator into the store (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

from idpsync.app.runner import RunResult, run_sync
from idpsync.app.single import run_sync_user
from idpsync.config import ConnectorSettings
from idpsync.emulators import Fault
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.model import DirectoryState, MemberKind
from idpsync.store import Store
from tests.sources.keycloak_support import (
    expected_requests,
    no_waits,
    settings_for,
    source_over,
    truth,
)

__all__ = ["no_waits"]
NAME = "kc"


def connector(
    emu: KeycloakEmulator, policy: dict[str, Any] | None = None, **source: Any
) -> ConnectorSettings:
    return ConnectorSettings(source=settings_for(emu, **source), policy=policy or {})  # type: ignore[arg-type]


async def sync(store: Store, emu: KeycloakEmulator, **source: Any) -> RunResult:
    settings = connector(emu, **source)
    src = source_over(settings.source, emu.transport())  # type: ignore[arg-type]
    try:
        return await run_sync(store, NAME, settings, src)
    finally:
        await src.aclose()


def state(store: Store) -> DirectoryState:
    with store.transaction() as conn:
        return store.load_directory(conn, NAME)


def assert_matches(store: Store, emu: KeycloakEmulator) -> None:
    want, current = truth(emu), state(store)
    assert {k: u.login for k, u in current.users.items() if u.active} == {
        k: v for k, v in want.users.items() if emu.tenant.users[k].enabled
    }
    assert {k: g.name for k, g in current.groups.items()} == want.paths
    # (a deleted user is deactivated; what happens to their memberships is the policy's business)
    assert {
        (m.group_id, m.member_id)
        for m in current.memberships
        if m.member_kind is MemberKind.USER and m.member_id in emu.tenant.users
    } == want.user_edges
    assert {
        (m.group_id, m.member_id) for m in current.memberships if m.member_kind is MemberKind.GROUP
    } == want.group_edges


async def test_full_sync_then_nothing_to_do(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=80, groups=18, seed=21)
    first = await sync(store, emu, page_size=25, members_page_size=10)
    assert first.status == "succeeded", first.message
    assert first.summary()["users_created"] == 80
    assert first.summary()["groups_created"] == 18
    assert len(emu.requests) == expected_requests(emu, detection=1, page=25, mpage=10)
    assert first.stats["requests"] == len(emu.requests)
    assert_matches(store, emu)
    second = await sync(store, emu)
    assert second.status == "succeeded" and len(second.plan) == 0


async def test_every_kind_of_change_then_sync(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=60, groups=15, seed=22)
    await sync(store, emu)
    t, tree = emu.tenant, emu.tree()
    ids = t.user_ids
    t.add_user(
        TenantUser(
            id="new-1",
            alias="new.person",
            display_name="New Person",
            given_name="New",
            surname="Person",
            mail="new.person@contoso.example",
        )
    )
    t.update_user(ids[0], given_name="Renamed")
    t.update_user(ids[1], alias="changed.login")
    t.update_user(ids[2], enabled=False)
    t.delete_user(ids[3])
    nested = next(g for g, p in tree.parent.items() if p)
    t.rename_group(tree.parent[nested] or "", "Renamed parent")
    t.add_group(TenantGroup(id="grp-new", name="Fresh", members={"new-1": None}))
    t.add_member(nested, ids[4])
    some = next(g for g in tree.parent if any(m in t.users for m in t.groups[g].members))
    t.remove_member(some, next(m for m in t.groups[some].members if m in t.users))
    result = await sync(store, emu)
    assert result.ok, result.message
    s = result.summary()
    assert s["users_created"] == 1 and s["users_updated"] >= 2
    assert s["users_deactivated"] == 2  # disabled and deleted
    assert s["groups_created"] == 1 and s["groups_updated"] >= 2  # parent and child paths
    assert s["memberships_added"] >= 2 and s["memberships_removed"] >= 1
    assert_matches(store, emu)
    current = state(store)
    assert current.users[ids[1]].login == "changed.login"
    assert current.users[ids[0]].given_name == "Renamed"
    assert current.groups[nested].name.startswith(
        current.groups[tree.parent[nested] or ""].name + "/"
    )


async def test_single_user_sync(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=40, groups=12, seed=23)
    await sync(store, emu)
    t = emu.tenant
    uid = t.user_ids[5]
    t.update_user(uid, surname="Newname")
    t.update_user(t.user_ids[6], surname="Other")  # not synced by a single-user run
    nested = next(g for g, p in emu.tree().parent.items() if p)
    t.add_member(nested, uid)
    settings = connector(emu)
    src = source_over(settings.source, emu.transport())  # type: ignore[arg-type]
    emu.requests.clear()
    result = await run_sync_user(store, NAME, settings, src, t.users[uid].alias.lower())
    assert result.ok, result.message
    current = state(store)
    assert current.users[uid].family_name == "Newname"
    assert current.users[t.user_ids[6]].family_name != "Other"
    assert any(m.group_id == nested and m.member_id == uid for m in current.memberships)
    assert len(emu.requests) < 12
    await src.aclose()


async def test_same_named_subgroups_by_path_and_by_name(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=20, groups=4, seed=24)
    uid = emu.tenant.user_ids[0]
    for parent in ("eng", "sales"):
        emu.tenant.add_group(TenantGroup(id=parent, name=parent))
        emu.tenant.add_group(TenantGroup(id=f"{parent}-b", name="backend", members={uid: None}))
        emu.tenant.add_member(parent, f"{parent}-b")
    by_path = await sync(store, emu)
    assert by_path.status == "succeeded"
    names = {g.name for g in state(store).groups.values()}
    assert {"/eng/backend", "/sales/backend"} <= names
    # With bare names the two "backend" groups collide: both are reported, neither merged.
    settings = connector(emu, group_name="name")
    src = source_over(settings.source, emu.transport())  # type: ignore[arg-type]
    by_name = await run_sync(store, NAME, settings, src)
    current = state(store)
    assert current.groups["eng-b"].name == "/eng/backend"  # unchanged, not renamed onto one
    assert current.groups["sales-b"].name == "/sales/backend"
    skipped = {(x["source_id"], x["key"]) for x in by_name.details["skipped"]}
    assert skipped == {("eng-b", "backend"), ("sales-b", "backend")}
    await src.aclose()


async def test_fault_mid_listing_is_partial_and_removes_nobody(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=90, groups=10, seed=25)
    await sync(store, emu, page_size=30)
    before = state(store)
    for uid in emu.tenant.user_ids[:5]:
        emu.tenant.delete_user(uid)
    emu.inject(Fault("status", "/admin/realms/acme/users", nth=2, times=0, status=503))
    emu.inject(Fault("reset", "*/groups/{id}/members", nth=2, times=0))
    result = await sync(store, emu, page_size=30)
    assert result.status == "partial" and not result.complete
    s = result.summary()
    assert s["users_deactivated"] == s["users_deleted"] == s["memberships_removed"] == 0
    assert s["groups_deleted"] == 0
    after = state(store)
    assert {k: u.active for k, u in after.users.items()} == {
        k: u.active for k, u in before.users.items()
    }
    assert after.memberships >= before.memberships
    assert "could not be read to the end" in result.message


async def test_keycloak_22_shape_syncs_the_same(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=50, groups=15, seed=26, shape=22)
    result = await sync(store, emu, auth_prefix=False)
    assert result.status == "succeeded"
    assert len(emu.requests) == expected_requests(emu, detection=0)
    assert emu.requests.count("*/children") == 0
    assert_matches(store, emu)
