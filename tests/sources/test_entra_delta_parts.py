"""The Entra groups delta split by group ids (``sources/entra/delta_parts.py``), end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.entra.odata import decode_token, encode_token
from idpsync.emulators.tenant import TenantGroup
from idpsync.http import set_testing
from idpsync.sources.entra import delta_parts
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld
from tests.sources.test_entra_sync import _comparable, assert_matches_tenant


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def world_of(store: Store, users: int = 300, groups: int = 120) -> EntraWorld:
    return EntraWorld(EntraEmulator.generate(users=users, groups=groups, seed=5), store)


def move_members(world: EntraWorld, count: int, seed: int = 1) -> None:
    """``count`` user memberships moved into random other groups (as the benchmark's change)."""
    t = world.emu.tenant
    rng = random.Random(seed)
    groups = t.group_ids
    for _ in range(count):
        user = rng.choice(t.user_ids)
        into = rng.choice(groups)
        if user in t.groups[into].members:
            continue
        was = [g for g in t.direct_groups(user) if g != into]
        if was:
            t.remove_member(rng.choice(was), user)
        t.add_member(into, user)


async def agrees_with_a_full_read(world: EntraWorld, tmp_path: Path) -> None:
    """The incremental result equals a fresh full read of the same final tenant."""
    fresh = EntraWorld(world.emu, Store.open(f"sqlite:///{tmp_path / 'full.db'}"))
    try:
        assert (await fresh.sync(mode="full")).status == "succeeded"
        assert _comparable(world.directory()) == _comparable(fresh.directory())
    finally:
        fresh.store.close()
    assert_matches_tenant(world)


async def test_partitions_replace_the_groups_chain_and_agree_with_a_full_read(
    tmp_path: Path,
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = world_of(store)
    world.emu.delta.page_links = 20  # the single chain would be ≈ 2 × 150 / 20 = 15 pages
    assert (await world.sync()).status == "succeeded"
    state = world.state()
    parts = state[delta_parts.PARTS]
    assert [len(ids) for ids, _ in parts] == [50, 50, 20]
    assert "groups_delta" not in state and delta_parts.UNTRACKED not in state
    move_members(world, 150)  # under the guard's 10 % of edges removed
    world.emu.requests.clear()
    world.emu.batched.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert world.emu.requests.count("/v1.0/groups/delta") == 0  # no single chain
    # 3 partitions + the groups' own round in one batch call, then each partition's next
    # pages: ≈ 300 links / 3 partitions / 20 a page ≈ 5 pages in a chain, not 15
    assert world.emu.batched.count("/v1.0/groups/delta") >= 4
    calls = world.emu.requests.count("/v1.0/$batch")
    assert 3 <= calls <= 8, calls
    assert len(world.emu.requests) == 1 + 1 + calls  # token, users delta page, batch calls
    await agrees_with_a_full_read(world, tmp_path)
    assert world.state()[delta_parts.PARTS] != parts  # every partition's link moved on
    store.close()


async def test_a_new_group_is_read_whole_then_tracked_by_a_partition(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = world_of(store, users=80, groups=12)
    assert (await world.sync()).status == "succeeded"
    t = world.emu.tenant
    members = {u: None for u in t.user_ids[:30]}
    new = t.add_group(TenantGroup("new-group", "New group", members=members))
    world.emu.batched.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    # the partition and the own round, then the new group's first round (no token)
    assert world.emu.batched.count("/v1.0/groups/delta") == 3
    await agrees_with_a_full_read(world, tmp_path)
    parts = world.state()[delta_parts.PARTS]
    assert [ids for ids, _ in parts][-1] == [new.id]
    t.remove_member(new.id, t.user_ids[0])
    t.add_member(new.id, t.user_ids[40])
    world.emu.batched.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert world.emu.batched.count("/v1.0/groups/delta") == 3  # two partitions and own
    assert set(t.groups[new.id].members) == {
        e.member_id for e in world.directory().memberships if e.group_id == new.id
    }
    store.close()


class ChangeBeforeTheLinks(httpx.AsyncBaseTransport):
    """Adds a member to a group already listed just before the partitions' links are taken:
    the change is in neither the listing nor the partitions' rounds."""

    def __init__(self, emu: EntraEmulator, group_id: str, user_id: str) -> None:
        self.emu, self.inner = emu, emu.transport()
        self.group_id, self.user_id = group_id, user_id
        self.done = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.done and request.url.path.endswith("/$batch"):
            body = json.loads(request.content or b"{}")
            urls = [r.get("url", "") for r in body.get("requests", [])]
            if any("deltatoken=latest" in u and "filter" in u for u in urls):
                self.done = True
                self.emu.tenant.add_member(self.group_id, self.user_id)
        return await self.inner.handle_async_request(request)


async def test_a_change_during_the_full_read_is_read_whole_next_time(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = world_of(store, users=80, groups=12)
    t = world.emu.tenant
    group = t.group_ids[3]
    user = next(u for u in t.user_ids if u not in t.groups[group].members)
    world.transport = ChangeBeforeTheLinks(world.emu, group, user)
    assert (await world.sync()).status == "succeeded"
    assert world.transport.done
    assert world.state().get(delta_parts.UNTRACKED) == [group]
    world.transport = None
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert delta_parts.UNTRACKED not in world.state()
    assert any(e.group_id == group and e.member_id == user for e in world.directory().memberships)
    await agrees_with_a_full_read(world, tmp_path)
    store.close()


async def test_a_rejected_partition_link_makes_the_run_a_full_read(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = world_of(store, users=80, groups=12)
    assert (await world.sync()).status == "succeeded"
    state = world.state()
    ids, link = state[delta_parts.PARTS][0]
    base, token = link.split("$deltatoken=")
    old = {**decode_token(token), "g": -1}  # a sync state Graph no longer knows
    gone = f"{base}$deltatoken={encode_token(old)}"
    with store.transaction() as conn:
        store.set_connector_state(conn, world.name, {**state, delta_parts.PARTS: [[ids, gone]]})
    move_members(world, 20)
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded", result.message
    assert result.stats["read"].startswith("full"), result.stats["read"]
    assert_matches_tenant(world)
    store.close()


async def test_state_of_an_older_version_follows_the_single_chain(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = world_of(store, users=80, groups=12)
    world.options = {"batch": False}  # links as an older version saved them: no partitions
    assert (await world.sync()).status == "succeeded"
    assert "groups_delta" in world.state() and delta_parts.PARTS not in world.state()
    world.options = {}
    move_members(world, 20)
    world.emu.requests.clear()
    result = await world.sync(mode="incremental")
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert world.emu.requests.count("/v1.0/groups/delta") == 1
    await agrees_with_a_full_read(world, tmp_path)
    store.close()


def test_partitions_hold_at_most_fifty_ids() -> None:
    ids = [f"g{n}" for n in range(101)]
    assert [len(c) for c in delta_parts.chunks(ids)] == [50, 50, 1]
    assert delta_parts.id_filter(ids[:2]) == "id eq 'g0' or id eq 'g1'"
    assert delta_parts.id_filter(["o'k"]) == "id eq 'o''k'"


async def test_partitions_of_another_shape_make_the_run_a_full_read(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'inc.db'}")
    world = world_of(store, users=80, groups=12)
    assert (await world.sync()).status == "succeeded"
    state = world.state()
    [[ids, link]] = state[delta_parts.PARTS]
    with store.transaction() as conn:  # ids joined in one string: not this version's shape
        bad = {**state, delta_parts.PARTS: [[",".join(ids), link]]}
        store.set_connector_state(conn, world.name, bad)
    result = await world.sync()
    assert result.status == "succeeded", result.message
    assert result.stats["read"] == "full"
    assert world.state()[delta_parts.PARTS][0][0] == ids
    store.close()


async def test_a_full_read_takes_the_partitions_links_during_the_listing_then_checks(
    tmp_path: Path,
) -> None:
    """Order of a full read's groups delta requests: the three unfiltered links and the count
    in one batch call before any listing, the partitions' ``latest`` links in the listing's
    rounds (not calls of their own after it), then one round from the read's own groups delta
    link (the check)."""
    store = Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    world = world_of(store, users=300, groups=120)
    assert (await world.sync()).status == "succeeded"
    assert world.emu.requests.count("/v1.0/groups/delta") == 0
    assert world.emu.requests.count("/v1.0/users") == 0
    batched = world.emu.batched.entries()
    first = batched[:3]  # the first batch call (the emulator logs a call's items in order)
    assert all(e.path == "/v1.0/groups/delta" or e.path == "/v1.0/users/delta" for e in first)
    assert all("latest" in e.query and "filter" not in e.query for e in first)
    assert batched[3].path == "/v1.0/users" and "count" in batched[3].query
    deltas = [n for n, e in enumerate(batched) if e.path == "/v1.0/groups/delta" and n > 3]
    latest = [n for n in deltas if "latest" in batched[n].query]
    check = [n for n in deltas if n not in latest]
    listing = [n for n, e in enumerate(batched) if e.path.endswith("/members")]
    assert len(latest) == 3 and len(check) == 1 and len(listing) > 10
    assert all("filter" in batched[n].query for n in latest)
    assert min(latest) < max(listing) and max(latest) < check[0]
    partitioned = sorted(i for ids, _ in world.state()[delta_parts.PARTS] for i in ids)
    assert partitioned == sorted(world.emu.tenant.group_ids)
    store.close()
