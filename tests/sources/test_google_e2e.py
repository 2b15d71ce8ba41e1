"""End-to-end syncs from the Google emulator into the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.app.single import run_sync_user
from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.model import DirectoryState, MemberKind
from idpsync.store import Store
from tests.sources.google_support import (
    connector,
    expected_requests,
    rolling_range,
    sa_settings,
    source,
)

NAME = "gws"


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def emu() -> GoogleEmulator:
    return GoogleEmulator.generate(users=260, groups=40, seed=21, medium_every=10)


async def sync(
    store: Store, emu: GoogleEmulator, batch_size: int = 1000, **policy: object
) -> RunResult:
    settings = sa_settings(emu, batch_size=batch_size)
    src = source(emu, settings)
    try:
        return await run_sync(store, NAME, connector(settings, **policy), src)
    finally:
        await src.aclose()


def directory(store: Store) -> DirectoryState:
    with store.transaction() as conn:
        return store.load_directory(conn, NAME)


def assert_matches_tenant(store: Store, emu: GoogleEmulator) -> None:
    t, state = emu.tenant, directory(store)
    live = {t.gid(u) for u in t.users}
    assert {sid for sid, u in state.users.items() if sid in live} == live
    for uid, user in t.users.items():
        got = state.users[t.gid(uid)]
        assert got.active is (user.enabled and uid not in t.archived), user
        assert got.display_name == user.display_name
        assert got.login == t.login(user)
        assert got.manager_id == (t.gid(user.manager_id) if user.manager_id else None)
    assert {g.name for g in state.groups.values()} == {g.name for g in t.groups.values()}
    expected = set()
    for gid, group in t.groups.items():
        for member in group.members:
            if member in t.users:
                expected.add((t.gid(gid), t.gid(member), MemberKind.USER))
            elif member in t.groups:
                expected.add((t.gid(gid), t.gid(member), MemberKind.GROUP))
    # a deactivated leaver keeps their memberships (policy.remove_memberships is off)
    got_edges = {
        (m.group_id, m.member_id, m.member_kind)
        for m in state.memberships
        if m.member_kind is MemberKind.GROUP or m.member_id in live
    }
    assert got_edges == expected


async def test_full_sync_changes_and_resync(store: Store, emu: GoogleEmulator) -> None:
    first = await sync(store, emu)
    assert first.status == "succeeded", first.message
    assert first.summary()["users_created"] == 260
    assert len(emu.requests) in rolling_range(emu.tenant)  # batches by default
    assert_matches_tenant(store, emu)
    assert len((await sync(store, emu)).plan) == 0

    t = emu.tenant
    ids = t.user_ids
    t.add_user(
        TenantUser(
            id="new-1",
            alias="new.person",
            display_name="New Person",
            given_name="New",
            surname="Person",
            mail=None,
            manager_id=ids[0],
        )
    )
    t.update_user(ids[10], display_name="Renamed Person")
    t.update_user(ids[11], enabled=False)
    t.set_archived(ids[12])
    t.update_user(ids[13], alias="moved.login")
    t.set_manager(ids[14], ids[20])
    gone = ids[15]
    t.delete_user(gone)
    group = t.group_ids[5]
    t.rename_group(group, "Renamed group")
    t.add_member(group, ids[16])
    t.remove_member(t.group_ids[0], ids[17])
    t.delete_group(t.group_ids[6])
    t.add_group(
        TenantGroup(
            id="new-group",
            name="Brand new",
            mail_nickname="brand-new",
            members={ids[18]: None, "new-1": None},
        )
    )
    t.add_alias(ids[19], "alias19@example.com")
    emu.requests.clear()
    second = await sync(store, emu)
    assert second.status == "succeeded", second.message
    summary = second.summary()
    assert summary["users_created"] == 1 and summary["groups_created"] == 1
    assert summary["groups_deleted"] == 1 and summary["users_deactivated"] >= 1
    assert len(emu.requests) in rolling_range(t)
    assert_matches_tenant(store, emu)
    assert directory(store).users[t.gid(gone)].active is False
    assert len((await sync(store, emu)).plan) == 0


async def test_single_user_sync(store: Store, emu: GoogleEmulator) -> None:
    assert (await sync(store, emu)).status == "succeeded"
    t = emu.tenant
    uid = next(u for u in t.user_ids[1:] if t.users[u].manager_id and t.direct_groups(u))
    t.update_user(uid, display_name="Only Me Changed")
    t.add_member(t.group_ids[7], uid)
    other = t.user_ids[30]
    t.update_user(other, display_name="Not Synced Yet")
    emu.requests.clear()
    settings = sa_settings(emu)
    src = source(emu, settings)
    result = await run_sync_user(store, NAME, connector(settings), src, t.login(t.users[uid]))
    await src.aclose()
    assert result.status == "succeeded", result.message
    state = directory(store)
    assert state.users[t.gid(uid)].display_name == "Only Me Changed"
    assert state.users[t.gid(other)].display_name != "Not Synced Yet"
    mine = {m.group_id for m in state.memberships if m.member_id == t.gid(uid)}
    assert mine == {t.gid(g) for g in t.direct_groups(uid)}
    visited = 1 + len(t.transitive_groups(uid))
    assert len(emu.requests) == 1 + 1 + visited + 1  # token, user, groups?userKey=…, manager
    assert emu.requests.count("/admin/directory/v1/groups") == visited
    missing = await source(emu, settings).fetch_user("nobody@example.com")
    assert missing is None


async def test_deleted_user_single_sync_is_not_found(store: Store, emu: GoogleEmulator) -> None:
    t = emu.tenant
    gone = t.user_ids[3]
    email = t.login(t.users[gone])
    t.delete_user(gone)
    src = source(emu)
    assert await src.fetch_user(email) is None
    await src.aclose()
    assert emu.requests.entries()[-1].status == 412


async def test_quota_storm_run_completes(store: Store, emu: GoogleEmulator) -> None:
    assert (await sync(store, emu)).status == "succeeded"
    emu.storm(3, 403, "userRateLimitExceeded")
    emu.storm(1, 429, "rateLimitExceeded")
    emu.requests.clear()
    result = await sync(store, emu, batch_size=0)  # the unbatched formula, plus the retries
    assert result.status == "succeeded" and result.complete
    assert result.stats["throttled"] == 4
    assert len(emu.requests) == expected_requests(emu.tenant) + 4


async def test_fault_mid_listing_is_partial_and_removes_nobody(
    store: Store, emu: GoogleEmulator
) -> None:
    assert (await sync(store, emu)).status == "succeeded"
    t = emu.tenant
    leaver = t.user_ids[40]
    t.delete_user(leaver)
    t.remove_member(t.group_ids[0], t.user_ids[41])
    emu.inject(Fault("status", "/admin/directory/v1/users", nth=1, status=500, times=0))
    result = await sync(store, emu)
    assert result.status == "partial" and not result.complete
    state = directory(store)
    assert state.users[t.gid(leaver)].active is True
    assert result.summary()["users_deactivated"] == 0
    assert result.summary()["memberships_removed"] == 0
    emu.faults.clear()
    emu.inject(Fault("truncate", "/admin/directory/v1/groups/{key}/members", nth=2))
    partial = await sync(store, emu, batch_size=0)  # faults are injected into single requests
    assert partial.status == "partial"
    assert directory(store).users[t.gid(leaver)].active is True
    emu.faults.clear()
    healed = await sync(store, emu)
    assert healed.status == "succeeded"
    assert directory(store).users[t.gid(leaver)].active is False
    assert_matches_tenant(store, emu)


async def test_required_groups_scope_the_sync(store: Store, emu: GoogleEmulator) -> None:
    t = emu.tenant
    top = next(g for g in t.groups if t.groups[g].name == "Diamond top")
    result = await sync(store, emu, 0, required_groups=["diamond TOP"], transitive=True)
    assert result.status == "succeeded", result.message
    wanted = {t.gid(m) for m in t.transitive_members(top) if m in t.users}
    state = directory(store)
    assert set(state.users) == wanted
    assert len(emu.requests) == expected_requests(t)
