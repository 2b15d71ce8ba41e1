"""Partitioned user listings (proof of completeness, fallback) and managers through the delta."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import TenantUser
from idpsync.http import set_testing
from idpsync.sources.entra.partitions import FIRST, Partitioned, check_partition, partition_filter
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld, full_snapshot_requests
from tests.sources.test_entra_sync import assert_matches_tenant

MEMBERS = "/v1.0/groups/{id}/members"
ODD = ["7seven", "0zero", "_under", "'quote", "!bang", "#hash", "^caret", "~tilde", "-dash"]
ODD += [".dot", "Zed", "QUINN", "a", "b'c"]
"""Local parts with every kind of documented first character (and upper case)."""


def make(tmp_path: Path, users: int = 700, extra: list[str] | None = None) -> EntraWorld:
    emu = EntraEmulator.generate(users=users, groups=12, seed=3)
    for n, alias in enumerate(ODD if extra is None else extra):
        boss = emu.tenant.user_ids[0]
        emu.tenant.add_user(
            TenantUser(
                id=f"00000000-0000-4000-8000-{n:012d}",
                alias=alias,
                display_name=f"Odd {n}",
                given_name=None,
                surname=f"Odd{n}",
                mail=None,
                manager_id=boss,
            )
        )
    world = EntraWorld(emu, Store.open(f"sqlite:///{tmp_path / 'd.db'}"))
    world.options = {"partition_min_pages": 2, "memberships": "groups"}  # users' reads counted
    return world


def user_reads(world: EntraWorld) -> tuple[list[str], int, int]:
    """(the filters of partition requests, plain chain requests, count requests) to /users,
    each one on its own or inside a batch."""
    filters, chain, counts = [], 0, 0
    for entry in [*world.emu.requests.entries(), *world.emu.batched.entries()]:
        if entry.path != "/v1.0/users":
            continue
        query = parse_qs(entry.query)
        if "$count" in query:
            counts += 1
        elif "$filter" in query:  # next links keep the partition's $filter
            filters.append(query["$filter"][0])
        else:
            chain += 1
    return filters, chain, counts


def partition_requests(world: EntraWorld, size: int = 100) -> int:
    """Σ over FIRST of the pages of each partition, from the tenant's own logins."""
    logins = [world.emu.tenant.login(u).casefold() for u in world.emu.tenant.users.values()]
    return sum(max(1, math.ceil(sum(x.startswith(c) for x in logins) / size)) for c in FIRST)


async def test_partitions_read_the_same_users_as_one_chain(tmp_path: Path) -> None:
    world = make(tmp_path)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)
    filters, chain, counts = user_reads(world)
    assert counts == 2 and chain == 0  # before and after; no fallback
    assert {partition_filter(c) for c in FIRST} <= set(filters)
    # Each partition's first page is a request with $filter; next pages carry it in the link.
    assert len(filters) == partition_requests(world)
    assert world.emu.requests.count("/v1.0/users/{id}/manager") == 0
    # The same tenant read as one chain gives the same directory.
    off = EntraWorld(world.emu, Store.open(f"sqlite:///{tmp_path / 'off.db'}"))
    off.options = {"partition_users": "off"}
    world.emu.requests.clear()
    world.emu.batched.clear()
    assert (await off.sync(mode="full")).status == "succeeded"
    assert {k: (u.login, u.manager_id) for k, u in off.directory().users.items()} == {
        k: (u.login, u.manager_id) for k, u in world.directory().users.items()
    }
    assert user_reads(off) == ([], math.ceil(len(world.emu.tenant.users) / 100), 0)


async def test_a_small_tenant_is_one_chain(tmp_path: Path) -> None:
    world = make(tmp_path, users=150, extra=[])
    world.options = {}  # default threshold: 20 pages
    assert (await world.sync(mode="full")).status == "succeeded"
    assert user_reads(world) == ([], 2, 1)


async def test_a_user_outside_the_rule_makes_the_count_differ(tmp_path: Path) -> None:
    world = make(tmp_path, extra=["éloise", "zed"])  # é: no partition holds it
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)  # the fallback chain read her
    filters, chain, counts = user_reads(world)
    assert counts == 2 and len(filters) >= len(FIRST)
    assert chain == math.ceil(len(world.emu.tenant.users) / 100)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", "/v1.0/users", nth=5, status=400),  # one partition fails
        Fault("status", "/v1.0/users", nth=1, status=400),  # the count is refused
    ],
    ids=["partition-fails", "count-refused"],
)
async def test_any_doubt_falls_back_to_one_chain(tmp_path: Path, fault: Fault) -> None:
    world = make(tmp_path)
    assert (await world.sync(mode="full")).status == "succeeded"
    world.emu.requests.clear()
    world.emu.batched.clear()
    world.emu.inject(fault)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message  # complete: the chain was read
    assert_matches_tenant(world)
    assert fault.fired == 1
    filters, chain, taken = user_reads(world)
    assert taken == 1  # no count after a doubt (a refused count is logged too)
    assert chain == math.ceil(len(world.emu.tenant.users) / 100)
    assert (len(filters) > 0) is (fault.nth > 1)


def test_the_proof_doubts_duplicates_and_strangers() -> None:
    out = Partitioned()
    seen: set[str] = set()
    check_partition("a", [{"id": "1", "userPrincipalName": "Ann@x"}], seen, out)
    assert out.doubt is None and len(out.users) == 1
    check_partition("b", [{"id": "1", "userPrincipalName": "bob@x"}], seen, out)
    assert out.doubt is not None and "twice" in out.doubt
    for item in (
        {"id": "2", "userPrincipalName": "carl@x"},  # not this partition's prefix
        {"id": "3", "userPrincipalName": "éva@x"},  # outside the documented rule
        {"id": "4"},  # no UPN
        {"id": "5", "userPrincipalName": "\u212aate@x"},  # Kelvin sign: folds to k, not ASCII
    ):
        other = Partitioned()
        check_partition("k" if item["id"] == "5" else "e", [item], set(), other)
        assert other.doubt is not None


async def test_delta_managers_need_no_request_per_user(tmp_path: Path) -> None:
    world = make(tmp_path, users=300, extra=[])
    assert (await world.sync(mode="full")).status == "succeeded"
    tenant = world.emu.tenant
    staff = [u for u in tenant.users.values() if u.manager_id is not None]
    tenant.set_manager(staff[0].id, staff[5].id)  # a new manager
    tenant.set_manager(staff[1].id, None)  # no manager any more
    tenant.update_user(staff[2].id, display_name="Renamed")  # manager unchanged
    boss = staff[3].manager_id
    assert boss is not None
    tenant.delete_user(boss)  # the boss's reports lose their manager
    world.emu.requests.clear()
    world.emu.batched.clear()
    result = await world.sync(mode="incremental")
    assert result.stats["read"] == "delta" and result.status == "succeeded", result.message
    assert_matches_tenant(world)
    assert world.emu.requests.count("/v1.0/users/{id}/manager") == 0
    assert len(world.emu.requests) == 1 + 1 + 1  # token, users delta, groups delta


def partition_pages(world: EntraWorld, size: int = 100) -> list[int]:
    """The pages of each partition of FIRST, from the tenant's own logins."""
    logins = [world.emu.tenant.login(u).casefold() for u in world.emu.tenant.users.values()]
    return [max(1, math.ceil(sum(x.startswith(c) for x in logins) / size)) for c in FIRST]


async def test_partition_pages_ride_in_the_batches_at_the_formula(tmp_path: Path) -> None:
    world = make(tmp_path, users=2000)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)
    emu = world.emu
    # On its own: the token; the delta links, the two counts and every page are batch items.
    assert len(emu.requests) == 1 + emu.requests.count("/v1.0/$batch", method="POST")
    assert emu.requests.count("/v1.0/users") == emu.requests.count(MEMBERS) == 0
    parts = partition_pages(world)
    assert max(parts) > 1  # partitions of several pages: next pages in later rounds
    filters, chain, counts = user_reads(world)
    assert (len(filters), chain, counts) == (sum(parts), 0, 2)
    expected = full_snapshot_requests(emu, managers=True, photos=False, user_parts=parts)
    assert len(emu.requests) == expected
    assert expected - 5 < sum(parts) / 2  # far fewer round trips than partition pages
    # (the emulator refuses a batch of more than 20 with 400, which would have failed the read)


async def test_without_batch_each_partition_page_is_a_request(tmp_path: Path) -> None:
    world = make(tmp_path, users=2000)
    world.options |= {"batch": False}
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)
    parts = partition_pages(world)
    assert world.emu.requests.count("/v1.0/users") == sum(parts) + 2  # and the two counts
    expected = full_snapshot_requests(
        world.emu, managers=True, photos=False, batch=False, user_parts=parts
    )
    assert len(world.emu.requests) == expected and len(world.emu.batched) == 0


@pytest.fixture
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.mark.usefixtures("no_waits")
@pytest.mark.parametrize("status", [503, 429])
async def test_a_partition_item_that_fails_once_is_retried_in_a_later_round(
    tmp_path: Path, status: int
) -> None:
    world = make(tmp_path)
    fault = Fault("status", "/v1.0/users", nth=4, status=status)  # 1: the count
    world.emu.inject(fault)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)
    assert fault.fired == 1 and world.emu.batched.count("/v1.0/users", status=status) == 1
    filters, chain, counts = user_reads(world)
    assert (chain, counts) == (0, 2)  # retried inside the batches: no doubt, no fallback
    assert len(filters) == partition_requests(world) + 1
    assert result.stats["retries"] >= 1


async def test_a_403_partition_item_fails_the_run_naming_the_permission(tmp_path: Path) -> None:
    world = make(tmp_path)
    world.emu.inject(Fault("status", "/v1.0/users", nth=6, status=403))
    result = await world.sync(mode="full")
    assert result.status == "failed"
    assert "User.Read.All" in result.message
    assert result.summary()["users_deactivated"] == 0
