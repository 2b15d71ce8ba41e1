"""End-to-end: the Entra connector against the Graph emulator, into the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from idpsync.app.runner import run_sync
from idpsync.config_policy import PolicySettings
from idpsync.emulators import Fault
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.http import set_testing
from idpsync.model import DirectoryState, MemberKind, Snapshot
from idpsync.photos import DEFAULT_BUDGET
from idpsync.sources.base import DeltaResult, Progress, no_progress
from idpsync.store import Store
from idpsync.store.staged_mirror import StagedMirror
from idpsync.templating import entra_guest
from tests.sources.entra_support import EntraWorld, full_snapshot_requests


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def make(store: Store, users: int = 120, groups: int = 16, **kw: object) -> EntraWorld:
    emu = EntraEmulator.generate(users=users, groups=groups, seed=11)
    return EntraWorld(emu, store, **kw)  # type: ignore[arg-type]


def assert_matches_tenant(world: EntraWorld, managers: bool = True) -> None:
    """The directory holds exactly the tenant: logins (guests fixed), state, managers, edges."""
    truth = world.emu.tenant.ground_truth()
    state = world.directory()
    active = {k: u for k, u in state.users.items() if u.active}
    assert {k for k, u in truth.users.items() if u.enabled} == set(active)
    for user_id, user in truth.users.items():
        mine = state.users[user_id]
        upn = world.emu.tenant.login(user)
        assert mine.login == entra_guest(upn)
        assert "#EXT#" not in mine.login
        assert mine.display_name == user.display_name
        boss = user.manager_id if managers and user.manager_id in truth.users else None
        assert mine.manager_id == boss
    assert {k: g.name for k, g in state.groups.items()} == {
        k: g.name for k, g in truth.groups.items()
    }
    expected = {(g, m) for g, m in truth.memberships if m in truth.users or m in truth.groups}
    known = truth.users.keys() | truth.groups.keys()  # a deleted leaver keeps old edges
    assert {(e.group_id, e.member_id) for e in state.memberships if e.member_id in known} == (
        expected
    )


async def test_full_sync_matches_the_tenant(store: Store) -> None:
    world = make(store)
    result = await world.sync()
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)
    assert any(u.guest for u in world.emu.tenant.users.values())
    kinds = {e.member_kind for e in world.directory().memberships}
    assert kinds == {MemberKind.USER, MemberKind.GROUP}
    state = set(world.state())
    assert state == {"users_delta", "groups_parts", "groups_props", "users_delta_managers",
                     "users_delta_select", "full_at"}  # fmt: skip
    again = await world.sync(mode="full")
    assert again.status == "succeeded" and len(again.plan) == 0


@pytest.mark.parametrize(
    ("managers", "photos"), [(True, False), (False, False), (True, True), (False, True)]
)
async def test_request_count_equals_the_documented_formula(
    tmp_path: Path, managers: bool, photos: bool
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    world = make(store, users=1234, groups=40)
    world.options = {"fetch_managers": managers, "fetch_photos": photos}
    result = await world.sync()
    assert result.status == "succeeded", result.message
    with_photo = sum(1 for u in world.emu.tenant.users.values() if u.photo_version)
    downloads = min(with_photo, DEFAULT_BUDGET) if photos else 0  # the run's, new versions
    expected = full_snapshot_requests(world.emu, managers=managers, photos=photos) + downloads
    assert len(world.emu.requests) == expected
    assert result.stats["requests"] == expected
    assert world.emu.requests.count("/v1.0/users/{id}/photo/$value") == downloads
    if photos:
        assert result.stats["photos_pending"] == with_photo - downloads
        refs = {u.photo_ref for u in world.directory().users.values()}
        assert None in refs and len(refs) > 2  # users without and with photos
    store.close()


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_both_api_versions(tmp_path: Path, version: str) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    world = make(store, version=version)
    result = await world.sync()
    assert result.status == "succeeded"
    api = [r.path for r in world.emu.requests.entries() if "oauth2" not in r.path]
    assert api and all(p.startswith(f"/{version}/") for p in api)
    assert_matches_tenant(world)
    store.close()


def _first(world: EntraWorld, pick: Callable[[TenantUser], bool]) -> TenantUser:
    return next(u for u in world.emu.tenant.users.values() if pick(u))


def _group(world: EntraWorld, name: str) -> TenantGroup:
    return next(g for g in world.emu.tenant.groups.values() if g.name == name)


def rename(world: EntraWorld) -> None:
    user = _first(world, lambda u: not u.guest)
    world.emu.tenant.update_user(user.id, alias="renamed.person", display_name="Renamed Person")


def disable(world: EntraWorld) -> None:
    world.emu.tenant.update_user(_first(world, lambda u: u.enabled).id, enabled=False)


def leaver(world: EntraWorld) -> None:
    world.emu.tenant.delete_user(_first(world, lambda u: u.manager_id is not None).id)


def joiner(world: EntraWorld) -> None:
    t = world.emu.tenant
    user = TenantUser(
        id="0000aaaa-0000-0000-0000-00000000beef",
        alias="new.joiner",
        display_name="New Joiner",
        given_name="New",
        surname="Joiner",
        mail="new.joiner@contoso.example",
    )
    t.add_user(user)
    t.add_member(_group(world, "All Users").id, user.id)


def group_move(world: EntraWorld) -> None:
    t = world.emu.tenant
    small = [g for g in t.groups.values() if 0 < len(g.members) < 30]
    source, target = small[0], small[1]
    member = next(m for m in source.members if m in t.users and m not in target.members)
    t.move_member(member, source.id, target.id)


def manager_change(world: EntraWorld) -> None:
    t = world.emu.tenant
    user = _first(world, lambda u: u.manager_id is not None)
    boss = _first(world, lambda u: u.id not in (user.id, user.manager_id) and not u.guest)
    t.set_manager(user.id, boss.id)


def group_rename(world: EntraWorld) -> None:
    t = world.emu.tenant
    t.rename_group(next(iter(t.groups)), "Renamed group")


def group_delete(world: EntraWorld) -> None:
    t = world.emu.tenant
    t.delete_group(next(g.id for g in t.groups.values() if g.name.startswith("Support")))


CHANGES = [rename, disable, leaver, joiner, group_move, manager_change, group_rename, group_delete]


def _comparable(state: DirectoryState) -> tuple[object, ...]:
    """Active users, groups and their edges (a leaver stays deactivated in one store only)."""
    users = {
        k: (u.login, u.display_name, u.manager_id, u.photo_ref)
        for k, u in state.users.items()
        if u.active
    }
    groups = {k: g.name for k, g in state.groups.items()}
    edges = {
        (e.group_id, e.member_id)
        for e in state.memberships
        if e.member_id in users or e.member_id in groups
    }
    return users, groups, edges


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
async def test_incremental_sync_after_each_kind_of_change(
    tmp_path: Path, change: Callable[[EntraWorld], None]
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = make(store)
    assert (await world.sync()).status == "succeeded"
    before = world.state()
    change(world)
    world.emu.requests.clear()
    world.emu.batched.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded", result.message
    assert store.run(result.run_id)["mode"] == "incremental"  # type: ignore[index]
    assert result.stats["read"] == "delta"
    assert len(result.plan) > 0
    assert world.emu.requests.count("/v1.0/groups/{id}/members") == 0
    assert world.emu.batched.count("/v1.0/groups/{id}/members") == 0
    assert world.state()["users_delta"] != before["users_delta"]
    # The oracle: a fresh full sync of the changed tenant into another store.
    fresh = EntraWorld(world.emu, Store.open(f"sqlite:///{tmp_path / 'full.db'}"))
    assert (await fresh.sync(mode="full")).status == "succeeded"
    assert _comparable(world.directory()) == _comparable(fresh.directory())
    assert_matches_tenant(world)
    again = await world.sync(mode="incremental")
    assert again.status == "succeeded" and len(again.plan) == 0
    store.close()
    fresh.store.close()


async def test_expired_delta_token_falls_back_to_a_full_read(store: Store) -> None:
    world = make(store)
    await world.sync()
    rename(world)
    world.emu.expire_delta_tokens()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded"
    assert result.stats["read"].startswith("full (saved delta state no longer valid")
    assert world.emu.batched.count("/v1.0/groups/{id}/members") > 0  # batched by default
    assert_matches_tenant(world)
    assert (await world.sync()).stats["read"] == "delta"  # new links were saved


async def test_schedule_makes_an_automatic_run_full(store: Store) -> None:
    world = make(store, options={"full_sync_every_hours": 0})
    await world.sync()
    assert (await world.sync()).stats["read"] == "full"
    world.options = {"full_sync_every_hours": 24}
    assert (await world.sync()).stats["read"] == "delta"
    assert (await world.sync(mode="full")).stats["read"] == "full"


async def test_fault_in_a_delta_keeps_the_links_and_removes_nobody(store: Store) -> None:
    world = make(store)
    await world.sync()
    links = world.state()
    leaver(world)
    world.emu.inject(Fault("status", "/v1.0/groups/delta", status=503, times=0))
    result = await world.sync(mode="incremental")
    assert result.status == "partial"
    assert "/groups/delta" in result.message
    assert world.state() == links
    assert result.summary()["users_deactivated"] == 0
    world.emu.faults.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.summary()["users_deactivated"] == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", "/v1.0/groups/{id}/members", nth=5, status=503, times=0),
        Fault("reset", "/v1.0/users", nth=3, times=0),  # the batch of the 2nd users page
        Fault("repeat_page", "/v1.0/users", nth=3),  # 1: the user count, 2: the first page
        Fault("truncate", "/v1.0/groups/{id}/members", nth=3, times=0),
    ],
    ids=["5xx", "reset", "repeated-link", "truncated"],
)
async def test_fault_mid_listing_marks_the_run_incomplete(tmp_path: Path, fault: Fault) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    world = make(store, users=1100, groups=8)
    world.options = {"fetch_managers": False}
    assert (await world.sync()).status == "succeeded"
    leaver(world)
    world.emu.inject(fault)
    result = await world.sync(mode="full")
    assert result.status == "partial"
    assert "/users" in result.message or "/groups/{id}/members" in result.message
    assert result.summary()["users_deactivated"] == 0
    assert result.summary()["memberships_removed"] == 0
    assert store.run(result.run_id)["complete"] is False  # type: ignore[index]


async def test_missing_permission_is_named(store: Store) -> None:
    world = make(store)
    world.emu.inject(Fault("status", "/v1.0/groups/{id}/members", status=403, times=0))
    result = await world.sync()
    assert result.status == "failed"
    assert "GroupMember.Read.All" in result.message


async def test_empty_pages_are_followed(store: Store) -> None:
    world = make(store)
    world.options = {"fetch_managers": False}
    world.emu.inject(Fault("empty_page", "/v1.0/groups", times=2))
    result = await world.sync()
    assert result.status == "succeeded"
    assert_matches_tenant(world, managers=False)


async def test_required_groups_read_only_those_members(store: Store) -> None:
    world = make(store, users=300, groups=20)
    t = world.emu.tenant
    required = next(g for g in t.groups.values() if g.description == "Generated group 4")
    assert any(m in t.groups for m in required.members)  # the head of a nested chain
    world.policy = PolicySettings(required_groups=[required.name], transitive=True)
    result = await world.sync()
    assert result.status == "succeeded", result.message
    scoped = set(t.transitive_members(required.id)) & set(t.users)
    assert set(world.directory().users) == scoped
    assert world.emu.requests.count("/v1.0/users") == 0
    assert world.emu.requests.count("/v1.0/users/{id}/manager") == len(scoped)


async def test_delta_request_count_equals_the_documented_formula(store: Store) -> None:
    world = make(store)
    world.options = {"fetch_photos": True}
    await world.sync()
    rename(world)
    world.emu.requests.clear()
    result = await world.sync(mode="incremental")
    assert result.stats["read"] == "delta"
    # token + one users-delta page + one groups-delta page + a photo per changed user (the
    # manager comes with the delta: manager@delta, or unchanged)
    assert len(world.emu.requests) == 1 + 1 + 1 + 1 * 1
    assert world.emu.requests.count("/v1.0/users/{id}/manager") == 0


async def test_a_delta_with_tracked_managers_reads_only_the_staged_managers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make(store)
    assert (await world.sync()).status == "succeeded"
    assert world.state()["users_delta_managers"]
    moved = _first(world, lambda u: u.manager_id is not None).id  # the one manager_change moves
    manager_change(world)
    boss = world.emu.tenant.users[moved].manager_id
    source = world.source()
    mirrors: list[Snapshot] = []
    read_delta = source.delta

    async def delta(
        state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        mirrors.append(staged)
        return await read_delta(state, staged, progress)

    monkeypatch.setattr(source, "delta", delta)
    try:
        result = await run_sync(store, world.name, world.settings(), source, mode="incremental")
    finally:
        await source.aclose()
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    [mirror] = mirrors
    assert isinstance(mirror, StagedMirror)
    assert not (mirror.users_loaded or mirror.groups_loaded or mirror.edges_loaded)
    assert world.directory().users[moved].manager_id == boss
    assert_matches_tenant(world)


class HeldUsersDelta(httpx.AsyncBaseTransport):
    """Holds the users delta round's first page until the groups delta round has asked for
    one (at most 5 s: a read that follows the groups round only after the users round would
    wait forever)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.groups_asked = asyncio.Event()
        self.side_by_side: bool | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith(("/groups/delta", "/$batch")):  # the partitions ride in batch calls
            self.groups_asked.set()
        elif path.endswith("/users/delta") and self.side_by_side is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.groups_asked.wait(), 5.0)
            self.side_by_side = self.groups_asked.is_set()
        return await self.inner.handle_async_request(request)


async def test_the_users_and_groups_delta_rounds_run_side_by_side(store: Store) -> None:
    world = make(store)
    assert (await world.sync()).status == "succeeded"
    rename(world)
    held = HeldUsersDelta(world.emu.transport())
    world.transport = held
    world.emu.requests.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert held.side_by_side is True
    assert len(world.emu.requests) == 1 + 1 + 1  # token, one page of each round
