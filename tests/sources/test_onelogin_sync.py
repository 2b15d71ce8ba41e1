"""End to end: the OneLogin connector against the emulator, into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.app.single import run_sync_user
from idpsync.emulators import Fault
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.store import Store
from tests.sources.onelogin_support import (
    Clock,
    Incremental,
    OtherIntegration,
    connector,
    directory,
    full_requests,
    pages,
    source,
)

USERS, GROUPS, ROLES = 130, 7, 5


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> OneLoginEmulator:
    return OneLoginEmulator.generate(users=USERS, groups=GROUPS, roles=ROLES, seed=5, clock=clock)


async def sync(store: Store, emu: OneLoginEmulator, **options: object) -> RunResult:
    """A full run (incremental runs are in ``test_onelogin_incremental.py``)."""
    cfg = connector(emu, **options)
    src = source(emu, cfg)
    try:
        return await run_sync(store, "ol", cfg, src, mode="full")
    finally:
        await src.aclose()


def active_expected(status: int, state: int) -> bool:
    return status in (1, 3, 4, 5, 7, 8) and state == 1


async def test_full_sync_matches_the_account_in_the_formula_s_requests(
    store: Store, emu: OneLoginEmulator
) -> None:
    result = await sync(store, emu)
    assert result.status == "succeeded", result.message
    truth = emu.account.truth()
    state = directory(store)
    assert set(state.users) == {str(i) for i in truth.users}
    for uid, user in truth.users.items():
        got = state.users[str(uid)]
        assert got.login == user.username and got.email == user.email
        assert got.active is active_expected(user.status, user.state)
        manager = str(user.manager_user_id) if user.manager_user_id else None
        assert got.manager_id == manager
    assert {g.name for g in state.groups.values()} == {g.name for g in truth.groups.values()}
    edges = {(m.group_id, m.member_id) for m in state.memberships}
    assert edges == {(f"group:{g}", str(u)) for g, u in truth.group_members()}
    expected = full_requests(USERS, GROUPS, ROLES, "groups")
    assert len(emu.requests) == expected == result.stats["requests"] == 6
    assert emu.requests.count("/api/2/roles*") == 0  # memberships came with the users
    second = await sync(store, emu)
    assert second.status == "succeeded" and len(second.plan) == 0


async def test_roles_as_groups_and_both_with_a_prefix(store: Store, emu: OneLoginEmulator) -> None:
    result = await sync(store, emu, groups_from="roles")
    assert result.status == "succeeded", result.message
    truth = emu.account.truth()
    state = directory(store)
    assert {g.name for g in state.groups.values()} == {r.name for r in truth.roles.values()}
    edges = {(m.group_id, m.member_id) for m in state.memberships}
    assert edges == {(f"role:{r}", str(u)) for r, u in truth.role_members()}
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "roles")
    emu.requests.clear()
    both = await sync(store, emu, groups_from="both", role_prefix="role: ")
    assert both.status == "succeeded", both.message
    names = sorted(g.name for g in directory(store).groups.values())
    assert "Engineering" in names and "role: Engineering" in names
    assert len(names) == GROUPS + ROLES
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "both")


async def test_role_and_group_of_one_name_are_not_merged(
    store: Store, emu: OneLoginEmulator
) -> None:
    result = await sync(store, emu, groups_from="both")
    assert result.status == "succeeded", result.message
    skipped = {(s["source_id"], s["key"]) for s in result.details["skipped"]}
    assert {sid for sid, _ in skipped} >= {"group:400001", "role:200001"}
    state = directory(store)
    assert not any(g.name == "Engineering" for g in state.groups.values())


async def test_changes_in_the_account_reach_the_directory(
    store: Store, emu: OneLoginEmulator, clock: Clock
) -> None:
    await sync(store, emu, groups_from="both", role_prefix="role: ")
    account = emu.account
    ids = list(account.user_ids)
    clock.now += 120
    account.update_user(ids[1], firstname="Renamed", username="renamed.person")
    account.update_user(ids[2], status=2)  # suspended
    moved_to = next(g for g in account.groups if g != account.users[ids[3]].group_id)
    account.update_user(ids[3], group_id=moved_to)
    role = next(r for r in account.roles if r not in account.users[ids[4]].role_ids)
    account.assign_role(ids[4], role)
    account.delete_user(ids[5])
    new = account.add_user(
        "new.person", "new.person@example.com", firstname="New", group_id=moved_to
    )
    account.rename_group(moved_to, "Renamed group")
    result = await sync(store, emu, groups_from="both", role_prefix="role: ")
    assert result.status == "succeeded", result.message
    summary = result.summary()
    assert summary["users_created"] == 1 and summary["users_deactivated"] == 2
    state = directory(store)
    assert state.users[str(ids[1])].login == "renamed.person"
    assert state.users[str(ids[2])].active is False
    assert state.users[str(ids[5])].active is False
    assert state.users[str(new.id)].active is True
    edges = {(m.group_id, m.member_id) for m in state.memberships}
    assert (f"group:{moved_to}", str(ids[3])) in edges
    assert (f"role:{role}", str(ids[4])) in edges
    assert state.groups[f"group:{moved_to}"].name == "Renamed group"


async def test_incremental_reads_only_changed_users_and_removes_nobody(
    store: Store, emu: OneLoginEmulator, clock: Clock
) -> None:
    await sync(store, emu)
    account = emu.account
    since = datetime.fromtimestamp(clock.now, UTC)
    clock.now += 60
    account.update_user(account.user_ids[10], lastname="Changed")
    account.delete_user(account.user_ids[11])  # not visible to an incremental read
    added = account.add_user("late.joiner", "late@example.com", group_id=400001)
    emu.requests.clear()
    cfg = connector(emu)
    inner = source(emu, cfg)
    result = await run_sync(store, "ol", cfg, Incremental(inner, since))
    await inner.aclose()
    # Not seeing deletions is what this kind of read is, not a failure: it succeeds, incomplete.
    assert result.status == "succeeded" and not result.complete
    assert "incremental read" in result.message
    summary = result.summary()
    assert summary["users_created"] == 1 and summary["users_updated"] == 1
    assert summary["users_deactivated"] == 0
    state = directory(store)
    assert state.users[str(account.user_ids[10])].family_name == "Changed"
    assert state.users[str(added.id)].login == "late.joiner"
    assert len(state.users) == USERS + 1  # the deleted user waits for the next full read
    assert len(emu.requests) == 1 + 1 + 1 + 1  # token, rate limit, groups, one users page
    users_call = [e for e in emu.requests.entries() if e.path == "/api/2/users"]
    assert "updated_since=" in users_call[0].query


async def test_single_user_by_id_and_by_username(store: Store, emu: OneLoginEmulator) -> None:
    cfg = connector(emu, groups_from="both", role_prefix="role: ")
    account = emu.account
    user = next(u for u in account.users.values() if u.group_id and len(u.role_ids) >= 2)
    src = source(emu, cfg)
    result = await run_sync_user(store, "ol", cfg, src, str(user.id))
    await src.aclose()
    assert result.status == "succeeded", result.message
    state = directory(store)
    assert set(state.users) == {str(user.id)}
    edges = {(m.group_id, m.member_id) for m in state.memberships}
    expected = {(f"group:{user.group_id}", str(user.id))}
    expected |= {(f"role:{r}", str(user.id)) for r in user.role_ids}
    assert edges == expected
    assert len(emu.requests) == 1 + 1 + 1 + len(user.role_ids)
    emu.requests.clear()
    src = source(emu, cfg)
    other = account.users[account.user_ids[20]]
    by_name = await run_sync_user(store, "ol", cfg, src, other.username)
    await src.aclose()
    assert by_name.status == "succeeded", by_name.message
    assert directory(store).users[str(other.id)].login == other.username
    missing = source(emu, cfg)
    assert await missing.fetch_user("999") is None
    await missing.aclose()


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_budget_floor_reached_mid_listing_stops_cleanly(
    store: Store, clock: Clock, concurrency: int
) -> None:
    emu = OneLoginEmulator.generate(users=300, groups=3, roles=2, seed=1, clock=clock)
    http = {"concurrency": concurrency}
    first = await sync(store, emu, min_remaining_calls=10, http=http)
    assert first.status == "succeeded", first.message
    before = {sid: u.active for sid, u in directory(store).users.items()}
    emu.account.delete_user(emu.account.user_ids[-1])
    emu.budget.exhaust(leave=14)  # other integrations spent the rest of the hour
    emu.requests.clear()
    result = await sync(store, emu, min_remaining_calls=10, http=http)
    # Either way the groups are read before the floor (partial): one at a time before the users;
    # side by side they go alongside, while the users' pages 2…6 are never started (the five
    # calls they need are not left above the floor: ``paged.reserve``).
    assert result.status == "partial"
    assert not result.complete
    assert "min_remaining_calls = 10" in result.message
    assert "resets at" in result.message and "(in 50 min)" in result.message
    assert "Nothing was removed" in result.message
    assert result.summary()["users_deactivated"] == 0
    assert {sid: u.active for sid, u in directory(store).users.items()} == before
    # One at a time: token, rate limit, groups (13 left), users pages while above the floor:
    # 12, 11, 10. Side by side: users page 1 (13 left), groups alongside, and no page by number.
    assert len(emu.requests) == (1 + 1 + 1 + 3 if concurrency == 1 else 1 + 1 + 1 + 1)
    assert emu.requests.count("*", status=429) == 0


async def test_budget_already_low_reads_nothing(store: Store, emu: OneLoginEmulator) -> None:
    emu.budget.exhaust(leave=100)
    result = await sync(store, emu, min_remaining_calls=500)
    assert result.status == "failed"  # nothing was read
    assert "only 100 of 5000 calls left" in result.message
    assert len(emu.requests) == 2  # token and the rate-limit preflight
    assert directory(store).users == {}


async def test_budget_exhausted_by_a_429_stops_cleanly(store: Store, emu: OneLoginEmulator) -> None:
    await sync(store, emu, min_remaining_calls=0)
    emu.requests.clear()
    cfg = connector(emu, min_remaining_calls=0)
    # token, rate limit, users page 1, groups alongside — then another app empties the budget
    # before users page 2 (read by number).
    src = source(emu, cfg, OtherIntegration(emu, nth=5))
    result = await run_sync(store, "ol", cfg, src, mode="full")
    await src.aclose()
    assert result.status == "partial"  # the groups were read; the users listing was not
    assert "OneLogin answered 429" in result.message and "resets at" in result.message
    assert result.summary()["users_deactivated"] == 0
    assert emu.requests.count("*", status=429) == 1  # no retry burst into an empty budget
    assert len(emu.requests) == 5


async def test_faults_mid_listing_mark_the_run_incomplete(
    store: Store, emu: OneLoginEmulator
) -> None:
    await sync(store, emu)
    gone = emu.account.user_ids[0]
    emu.account.delete_user(gone)
    emu.inject(Fault("status", "/api/2/users", nth=2, times=0, status=500))
    result = await sync(store, emu)
    assert result.status == "partial"
    assert "could not read GET /api/2/users to the end" in result.message
    assert result.summary()["users_deactivated"] == 0
    assert directory(store).users[str(gone)].active is True
    assert len(directory(store).users) == USERS


async def test_a_reset_once_is_retried_and_the_run_completes(
    store: Store, emu: OneLoginEmulator
) -> None:
    emu.inject(Fault("reset", "/api/2/users", nth=2))
    result = await sync(store, emu)
    assert result.status == "succeeded", result.message
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "groups") + 1
    assert len(directory(store).users) == USERS


async def test_without_role_ids_in_user_records_roles_are_listed_per_role(
    store: Store, emu: OneLoginEmulator
) -> None:
    emu.account.v2_role_ids = False
    result = await sync(store, emu, groups_from="roles")
    assert result.status == "succeeded", result.message
    truth = emu.account.truth()
    edges = {(m.group_id, m.member_id) for m in directory(store).memberships}
    assert edges == {(f"role:{r}", str(u)) for r, u in truth.role_members()}
    per_role = sum(pages(len(emu.account.role_users(r))) for r in truth.roles)
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "roles") + per_role
    assert emu.requests.count("/api/2/roles/{id}/users") == per_role


async def test_an_unreadable_rate_limit_endpoint_does_not_stop_the_read(
    store: Store, emu: OneLoginEmulator
) -> None:
    emu.inject(Fault("status", "/auth/rate_limit", status=404))
    result = await sync(store, emu, min_remaining_calls=10)
    assert result.status == "succeeded", result.message
    assert len(directory(store).users) == USERS
