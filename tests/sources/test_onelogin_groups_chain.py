"""The groups' v1 chain in OneLogin reads: beside the roles, and left out of a ``named`` delta.

``/api/1/groups`` pages only by ``after_cursor`` (no page numbers, no total), so its pages
are read one after the other; at 5,000 groups that chain was the whole of an incremental
read's 40 s. These tests count and order the requests in the emulator's log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.store import Store
from tests.sources.onelogin_support import Clock, connector, directory, open_store, pages, source

USERS, GROUPS, ROLES = 130, 120, 60  # three pages of groups, two of roles
BOTH = {"groups_from": "both", "role_prefix": "role: "}


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> OneLoginEmulator:
    return OneLoginEmulator.generate(users=USERS, groups=GROUPS, roles=ROLES, seed=5, clock=clock)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path / "named.db")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path / "fresh.db")


async def sync(
    store: Store,
    emu: OneLoginEmulator,
    mode: str,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: object,
) -> RunResult:
    cfg = connector(emu, **{**BOTH, **options})
    src = source(emu, cfg, transport)
    try:
        return await run_sync(store, "ol", cfg, src, mode=mode, allow_deletes=True)
    finally:
        await src.aclose()


def paths(emu: OneLoginEmulator) -> list[str]:
    return [entry.path for entry in emu.requests.entries()]


class HeldChain(httpx.AsyncBaseTransport):
    """Holds the groups' second page until the roles listing has been asked for (at most
    :data:`HOLD_S`: a read that lists roles only after the groups would wait forever)."""

    def __init__(self, emu: OneLoginEmulator) -> None:
        self.inner = emu.transport()
        self.roles_asked = asyncio.Event()
        self.roles_before_groups_page_2: bool | None = None

    @property
    def first_hold(self) -> bool:
        return self.roles_before_groups_page_2 is None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/2/roles":
            self.roles_asked.set()
        later_page = "after_cursor" in request.url.params
        if request.url.path == "/api/1/groups" and later_page and self.first_hold:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.roles_asked.wait(), HOLD_S)
            self.roles_before_groups_page_2 = self.roles_asked.is_set()
        return await self.inner.handle_async_request(request)


HOLD_S = 5.0


async def test_roles_are_listed_beside_the_groups_chain(
    store: Store, emu: OneLoginEmulator
) -> None:
    held = HeldChain(emu)
    result = await sync(store, emu, "full", held, http={"concurrency": 4})
    assert result.status == "succeeded", result.message
    assert held.roles_before_groups_page_2 is True
    seen = paths(emu)
    assert seen.count("/api/1/groups") == pages(GROUPS) == 3
    assert seen.count("/api/2/roles") == pages(ROLES) == 2


async def test_one_at_a_time_the_roles_wait_for_the_groups(
    store: Store, emu: OneLoginEmulator
) -> None:
    result = await sync(store, emu, "full", http={"concurrency": 1})
    assert result.status == "succeeded", result.message
    seen = paths(emu)
    groups = [i for i, path in enumerate(seen) if path == "/api/1/groups"]
    roles = [i for i, path in enumerate(seen) if path == "/api/2/roles"]
    assert len(groups) == 3 and len(roles) == 2 and max(groups) < min(roles)


def change(emu: OneLoginEmulator, clock: Clock) -> dict[str, int]:
    """Move a user to another group, one into a new group, rename a group, delete a user."""
    account = emu.account
    ids = list(account.user_ids)
    clock.now += 120
    moved_to = next(g for g in account.groups if g != account.users[ids[1]].group_id)
    account.update_user(ids[1], group_id=moved_to)
    new = account.add_group("Created after the full read")
    account.update_user(ids[2], group_id=new.id)
    account.update_user(ids[3], lastname="Changed")
    renamed = next(g for g in account.groups if g not in (moved_to, new.id))
    account.rename_group(renamed, "Renamed group")
    account.delete_user(ids[4])
    return {"moved": ids[1], "to": moved_to, "new": new.id, "renamed": renamed, "changed": 3}


async def test_a_named_delta_lists_no_groups_and_reads_only_the_new_one(
    store: Store, fresh: Store, emu: OneLoginEmulator, clock: Clock
) -> None:
    assert (await sync(store, emu, "full")).status == "succeeded"
    before = directory(store)
    changes = change(emu, clock)
    emu.requests.clear()
    result = await sync(store, emu, "incremental", incremental_groups="named")
    assert result.status == "succeeded", result.message
    assert result.stats["read"] == "delta"
    seen = paths(emu)
    assert "/api/1/groups" not in seen  # no groups chain
    assert seen.count(f"/api/1/groups/{changes['new']}") == 1  # the new group, by id
    # token, rate limit, roles (listed whole), the changed users, the one new group
    assert len(seen) == 1 + 1 + pages(ROLES) + pages(changes["changed"]) + 1
    got = directory(store)
    new, moved = f"group:{changes['new']}", str(changes["moved"])
    assert got.groups[new].name == "Created after the full read"
    edges = {(m.group_id, m.member_id) for m in got.memberships}
    assert (f"group:{changes['to']}", moved) in edges  # an edge to a staged group, not read
    assert sum(1 for g, u in edges if u == moved and g.startswith("group:")) == 1
    assert set(got.groups) == set(before.groups) | {new}  # no staged group removed
    renamed = f"group:{changes['renamed']}"
    assert got.groups[renamed].name == before.groups[renamed].name  # waits for a full read
    truth = await sync(fresh, emu, "full")
    assert truth.status == "succeeded", truth.message
    want = directory(fresh)
    assert {k: u for k, u in got.users.items() if k in want.users} == want.users
    assert {m for m in got.memberships if m.member_id in want.users} == want.memberships
    full = await sync(store, emu, "full")
    assert full.status == "succeeded", full.message
    assert directory(store).groups[renamed].name == "Renamed group"


async def test_a_named_delta_that_cannot_read_a_new_group_is_incomplete(
    store: Store, emu: OneLoginEmulator, clock: Clock
) -> None:
    assert (await sync(store, emu, "full")).status == "succeeded"
    account = emu.account
    clock.now += 120
    new = account.add_group("Gone again")
    user = account.user_ids[0]
    account.update_user(user, group_id=new.id)
    del account.groups[new.id]  # deleted before the read asks for it
    result = await sync(store, emu, "incremental", incremental_groups="named")
    assert result.status == "partial" and not result.complete
    assert f"{new.id} was not found" in result.message
    assert f"group:{new.id}" not in directory(store).groups


class InFlight(httpx.AsyncBaseTransport):
    """Counts the ``/api/2/users`` requests in flight at once (each lingers a few loop turns,
    so that requests sent together overlap), and the most seen."""

    def __init__(self, emu: OneLoginEmulator) -> None:
        self.inner, self.now, self.most = emu.transport(), 0, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/2/users":
            return await self.inner.handle_async_request(request)
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            for _ in range(20):
                await asyncio.sleep(0)
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1


@pytest.mark.parametrize(("groups_from", "users_at_once"), [("both", 3), ("roles", 4)])
async def test_the_users_pages_leave_a_slot_to_the_groups_chain(
    store: Store, clock: Clock, groups_from: str, users_at_once: int
) -> None:
    """At 4 in flight the users' pages by number take 3 slots while the groups' chain is read
    (its next page never queues behind them), all 4 when no group is listed."""
    emu = OneLoginEmulator.generate(users=430, groups=GROUPS, roles=ROLES, seed=5, clock=clock)
    seen = InFlight(emu)
    result = await sync(store, emu, "full", seen, http={"concurrency": 4}, groups_from=groups_from)
    assert result.status == "succeeded", result.message
    assert seen.most == users_at_once
    assert paths(emu).count("/api/2/users") == pages(430) == 9
