"""Batched member listings: the same snapshot as single requests, fewer round trips."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from idpsync.emulators.framework import Charge
from idpsync.emulators.google import GoogleEmulator
from idpsync.http import set_testing
from idpsync.model import Snapshot
from tests.sources.google_support import rendered_members, sa_settings, source


@pytest.fixture(autouse=True)
def no_sleep() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def emulator() -> GoogleEmulator:
    return GoogleEmulator.generate(users=400, groups=30, seed=7, medium_every=3)


async def read(emu: GoogleEmulator, **extra: object) -> Snapshot:
    src = source(emu, sa_settings(emu, **extra))
    try:
        return await src.snapshot()
    finally:
        await src.aclose()


def same(a: Snapshot, b: Snapshot) -> None:
    assert a.complete and b.complete, (a.incomplete_reasons, b.incomplete_reasons)
    assert {u.source_id: u for u in a.users} == {u.source_id: u for u in b.users}
    assert {x.source_id: x for x in a.groups} == {x.source_id: x for x in b.groups}
    assert sorted(a.memberships) == sorted(b.memberships)


@pytest.mark.parametrize("size", [7, 1000])
async def test_batch_on_matches_off_with_fewer_requests(size: int) -> None:
    plain, batched = emulator(), emulator()
    off = await read(plain)
    on = await read(batched, batch_size=size)
    same(off, on)
    t = batched.tenant
    groups = len(t.groups)
    follow = sum(max(0, math.ceil(rendered_members(t, g) / 200) - 1) for g in t.groups)
    users_and_groups = 1 + math.ceil(len(t.users) / 500) + math.ceil(groups / 200)
    assert len(batched.requests) == users_and_groups + math.ceil(groups / size) + follow
    assert batched.requests.count("/batch/admin/directory_v1", method="POST") == math.ceil(
        groups / size
    )
    assert len(batched.batched) == groups  # every first page was an inner call
    assert follow > 0  # the tenant has groups of more than one page


async def test_rate_limit_inside_a_batch_is_retried_alone() -> None:
    plain, batched = emulator(), emulator()
    off = await read(plain)
    real, refused = batched.charge, []

    def charge(method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        if path.endswith("/members") and len(refused) < 3:  # the first three: inside the batch
            refused.append(path)
            batched.storm(1, 429, "rateLimitExceeded")
        return real(method, path, query, headers)

    batched.charge = charge  # type: ignore[method-assign]
    on = await read(batched, batch_size=50)
    same(off, on)
    assert sum(1 for r in batched.batched if r.status == 429) == 3
    members = batched.requests.count("/admin/directory/v1/groups/*/members", method="GET")
    t = batched.tenant
    follow = sum(max(0, math.ceil(rendered_members(t, g) / 200) - 1) for g in t.groups)
    assert members == follow + 3  # the three refused groups were read again on their own


async def test_group_deleted_inside_a_batch_is_gone_not_unknown() -> None:
    emu = emulator()
    victim = emu.tenant.group_ids[0]
    real = emu.answer

    def answer(raw_path: str, params: dict[str, str], auth: str | None):  # type: ignore[no-untyped-def]
        if emu.tenant.gid(victim) in raw_path and victim in emu.tenant.groups:
            emu.tenant.delete_group(victim)  # deleted between the groups listing and members
        return real(raw_path, params, auth)

    emu.answer = answer  # type: ignore[method-assign]
    snap = await read(emu, batch_size=100)
    assert snap.complete, snap.incomplete_reasons
    assert emu.tenant.gid(victim) not in {grp.source_id for grp in snap.groups}
