"""Incremental Google reads from the admin activity log (``incremental = "reports"``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from idpsync.app.runner import RunResult, run_sync
from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.sources.google.incremental import Unsure, changed
from idpsync.store import Store
from idpsync.store import schema as tables
from tests.sources.google_support import connector, rendered_members, sa_settings, source
from tests.sources.test_google_e2e import assert_matches_tenant

NAME = "gws"
GROUPS = "/admin/directory/v1/groups/"
REPORTS = "/admin/reports/v1/activity/users/all/applications/admin"


pytestmark = pytest.mark.usefixtures("no_sleep")


def emulator(**options: object) -> GoogleEmulator:
    return GoogleEmulator.generate(users=300, groups=30, seed=7, medium_every=3, **options)


async def sync(store: Store, emu: GoogleEmulator, mode: str = "auto", **extra: object) -> RunResult:
    settings = sa_settings(emu, incremental="reports", **extra)
    src = source(emu, settings)
    try:
        return await run_sync(store, NAME, connector(settings), src, mode=mode, allow_deletes=True)
    finally:
        await src.aclose()


def change_one_percent(emu: GoogleEmulator) -> None:
    t = emu.tenant
    users, groups = t.user_ids, t.group_ids
    t.update_user(users[10], display_name="Renamed Person", given_name="Renamed")
    t.update_user(users[11], enabled=False)
    t.update_user(users[12], alias="moved.person")
    t.delete_user(users[13])
    t.add_user(TenantUser("new-user-1", "new.person", "New Person", "New", "Person", None))
    t.set_archived(users[14])
    t.set_manager(users[15], users[16])
    first = next(m for m in t.groups[groups[1]].members if m in t.users)
    t.remove_member(groups[1], first)
    t.add_member(groups[2], "new-user-1")
    t.rename_group(groups[3], "Renamed group")
    t.add_group(TenantGroup("new-group-1", "New group", members={users[20]: None}))


def named(emu: GoogleEmulator) -> tuple[set[str], set[str]]:
    """User and group addresses the activity log names (what an incremental read fetches)."""
    users, groups = set(), set()
    for activity in emu.tenant.activity.items:
        params = dict(activity.parameters)
        if activity.kind == "USER_SETTINGS":
            users.add(params["USER_EMAIL"].lower())
            if activity.name == "RENAME_USER":
                users.add(params["NEW_VALUE"].lower())
        else:
            groups.add(params["GROUP_EMAIL"].lower())
    return users, groups


def touched(emu: GoogleEmulator) -> set[str]:
    """Group addresses the log names with an event other than a member event (their records
    are read); the others are resolved from the mirror's staged addresses."""
    return {
        dict(a.parameters)["GROUP_EMAIL"].lower()
        for a in emu.tenant.activity.items
        if a.kind == "GROUP_SETTINGS" and a.name not in ("ADD_GROUP_MEMBER", "REMOVE_GROUP_MEMBER")
    }


def forget_group_addresses(store: Store) -> None:
    """Stage the groups as the versions before the mirror kept their addresses did."""
    c = tables.source_groups.c
    with store.transaction() as conn:
        for key, data in conn.execute(sa.select(c.source_id, c.data)).all():
            plain = {k: v for k, v in data.items() if k != "attributes"}
            conn.execute(tables.source_groups.update().where(c.source_id == key).values(data=plain))


def directory_view(store: Store) -> tuple[object, ...]:
    with store.transaction() as conn:
        state = store.load_directory(conn, NAME)
    users = {k: (u.login, u.display_name, u.active, u.manager_id) for k, u in state.users.items()}
    groups = {k: grp.name for k, grp in state.groups.items()}
    edges = {(m.group_id, m.member_id, m.member_kind) for m in state.memberships}
    return users, groups, edges


async def assert_full_read_agrees(db: Store, emu: GoogleEmulator, tmp_path: Path) -> None:
    """A full read of the tenant as it is now, into an empty store, gives ``db``'s directory."""
    other = Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        assert (await sync(other, emu, mode="full")).stats["read"] == "full"
        assert directory_view(other) == directory_view(db)
    finally:
        other.close()


async def test_one_percent_change_reads_only_what_changed(db: Store, tmp_path: Path) -> None:
    emu = emulator()
    full = await sync(db, emu)
    assert full.status == "succeeded" and full.stats["read"] == "full", full.message
    deleted_user = emu.tenant.user_ids[13]
    change_one_percent(emu)
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded", result.message
    assert result.stats["read"] == "delta"
    assert_matches_tenant(db, emu)
    assert emu.requests.count(REPORTS) == 1
    # users named by user events (the renamed one twice: old and new address), each once:
    # never a listing of all users; no groups listing (the mirror holds every group's address)
    assert emu.requests.count("/admin/directory/v1/users", method="GET") == 0
    assert emu.requests.count("/admin/directory/v1/groups", method="GET") == 0
    assert result.stats["groups_listed"] == 0
    users, groups = named(emu)
    t = emu.tenant
    # the named users are read in a batch (fewer than 100); of the named groups only the
    # renamed and the new one (the others have member events only: ids from the mirror)
    read = touched(emu)
    assert read == {t.group_email(t.group_ids[3]), t.group_email("new-group-1")}
    assert emu.batched.count("/admin/directory/v1/users/*") == len(users)
    assert emu.batched.count("/admin/directory/v1/groups/{g}") == len(read)
    assert result.stats["groups_from_mirror"] == len(groups - read) > 0
    # membership events of known groups and users are applied to the mirror's edges, and the
    # renamed group's new name comes with its record: only the new group's listing is read
    reread = ["new-group-1"]
    assert result.stats["groups_reread"] == len(reread)
    assert result.stats["reread_reasons"] == {"group event CREATE_GROUP": 1}
    rounds = max(max(1, math.ceil(rendered_members(t, g) / 200)) for g in reread)
    assert emu.batched.count("/admin/directory/v1/groups/*/members") == sum(
        max(1, math.ceil(rendered_members(t, g) / 200)) for g in reread
    )
    assert emu.requests.count("/batch/admin/directory_v1") == 2 + rounds
    assert len(emu.requests) == 1 + 1 + 2 + rounds  # + token
    # a replay of the same events (the overlap) changes nothing
    again = await sync(db, emu)
    assert again.status == "succeeded" and again.stats["read"] == "delta"
    assert_matches_tenant(db, emu)
    # the same directory as a full sync of the same state into an empty store
    other = Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        full_again = await sync(other, emu, mode="full")
        assert full_again.stats["read"] == "full"
        (f_users, f_groups, f_edges), (k_users, k_groups, k_edges) = (
            directory_view(other),
            directory_view(db),
        )
        # the store synced all along keeps the deleted user as an inactive leaver (with its
        # edges, policy.remove_memberships is off); otherwise it holds what a full read holds
        leavers = set(k_users) - set(f_users)
        assert leavers == {emu.tenant.gid(deleted_user)}
        assert all(not k_users[k][2] for k in leavers)
        assert {k: v for k, v in k_users.items() if k not in leavers} == f_users
        assert k_groups == f_groups
        assert {e for e in k_edges if e[1] not in leavers} == f_edges
    finally:
        other.close()


async def test_late_events_are_read_within_the_overlap(db: Store) -> None:
    emu = emulator(report_lag=120.0)
    offset = [0.0]
    emu.tenant.activity.clock = lambda: time.time() + offset[0]
    assert (await sync(db, emu)).status == "succeeded"
    emu.tenant.update_user(emu.tenant.user_ids[5], display_name="Late Change")
    early = await sync(db, emu)  # the event is not reported yet
    assert early.stats["read"] == "delta"
    with db.transaction() as conn:
        state = db.load_directory(conn, NAME)
    assert "Late Change" not in {u.display_name for u in state.users.values()}
    offset[0] = 200.0  # two minutes later Google reports it, with its original time
    late = await sync(db, emu)
    assert late.status == "succeeded" and late.stats["read"] == "delta"
    assert_matches_tenant(db, emu)


async def test_deleted_group_means_a_full_read(db: Store) -> None:
    emu = emulator()
    assert (await sync(db, emu)).status == "succeeded"
    emu.tenant.delete_group(emu.tenant.group_ids[4])
    result = await sync(db, emu)
    assert result.status == "succeeded"
    assert result.stats["read"].startswith("full")
    assert_matches_tenant(db, emu)


async def test_unfinished_events_listing_means_a_full_read(db: Store) -> None:
    emu = emulator()
    assert (await sync(db, emu)).status == "succeeded"
    emu.tenant.update_user(emu.tenant.user_ids[3], display_name="Someone Else")
    emu.inject(Fault("status", REPORTS, status=503, times=0))
    result = await sync(db, emu)
    assert result.status == "succeeded", result.message
    assert result.stats["read"].startswith("full")
    assert_matches_tenant(db, emu)


async def test_mark_older_than_retention_means_a_full_read(db: Store) -> None:
    emu = emulator()
    assert (await sync(db, emu)).status == "succeeded"
    with db.transaction() as conn:
        state = db.connector_state(conn, NAME)
        db.set_connector_state(conn, NAME, {**state, "reports_since": "2020-01-01T00:00:00.000Z"})
    emu.requests.clear()
    result = await sync(db, emu, mode="incremental")
    assert result.status == "succeeded" and result.stats["read"].startswith("full")
    assert emu.requests.count(REPORTS) == 0


async def test_incremental_off_never_reads_the_log(db: Store) -> None:
    emu = emulator()
    settings = sa_settings(emu)
    for _ in range(2):
        src = source(emu, settings)
        try:
            result = await run_sync(db, NAME, connector(settings), src)
        finally:
            await src.aclose()
        assert result.stats["read"] == "full"
    assert emu.requests.count(REPORTS) == 0


def test_settings_refuse_nested_with_reports_and_oversized_batches() -> None:
    emu = emulator()
    with pytest.raises(ValueError, match="cannot be combined with nested"):
        sa_settings(emu, incremental="reports", nested=True)
    with pytest.raises(ValueError, match="batch_size"):
        sa_settings(emu, batch_size=1001)
    with pytest.raises(ValueError, match="incremental"):
        sa_settings(emu, incremental="audit")


async def test_reports_scope_is_asked_for_only_when_incremental() -> None:
    emu = emulator()
    for mode, wanted in (("off", False), ("reports", True)):
        src = source(emu, sa_settings(emu, incremental=mode))
        try:
            await src.auth.token()
        finally:
            await src.aclose()
        grants = list(emu.oauth.tokens.values())
        assert any(s.endswith("admin.reports.audit.readonly") for s in grants[-1].scopes) is wanted


async def test_address_reused_after_a_delete_removes_the_old_user(db: Store) -> None:
    emu = emulator()
    assert (await sync(db, emu)).status == "succeeded"
    t = emu.tenant
    old = t.users[t.user_ids[7]]
    t.delete_user(old.id, permanent=True)
    t.add_user(TenantUser("reused-1", old.alias, "Someone New", "Someone", "New", None))
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    with db.transaction() as conn:
        state = db.load_directory(conn, NAME)
    assert state.users[t.gid(old.id)].active is False  # the leaver is seen, not kept active
    assert result.summary()["users_deactivated"] == 1
    # the new holder of the address waits as a full read would make it (policy.relink_recreated)
    assert [s["source_id"] for s in result.details["skipped"]] == [t.gid("reused-1")]


def test_a_changed_group_address_means_a_full_read() -> None:
    params = [{"name": "GROUP_EMAIL", "value": "a@x"}, {"name": "NEW_VALUE", "value": "b@x"}]
    event = {"type": "GROUP_SETTINGS", "name": "CHANGE_GROUP_EMAIL", "parameters": params}
    with pytest.raises(Unsure, match="CHANGE_GROUP_EMAIL for a@x"):
        changed([{"id": {"time": "2026-01-01T00:00:00.000Z"}, "events": [event]}])
