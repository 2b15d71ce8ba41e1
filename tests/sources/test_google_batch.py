"""Batched member listings: every page in rounds of batches; the snapshot of single requests."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.framework import Charge, Reply
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.google.tenant import GoogleTenant
from idpsync.http import set_testing
from idpsync.http.settings import HttpSettings
from idpsync.model import Snapshot
from idpsync.sources.base import Event
from tests.sources.google_support import (
    batched_requests,
    expected_requests,
    rendered_members,
    sa_settings,
    source,
)

BATCH = "/batch/admin/directory_v1"
MEMBERS = "/admin/directory/v1/groups/*/members"


@pytest.fixture(autouse=True)
def no_sleep() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def emulator() -> GoogleEmulator:
    """900 users, 30 groups; four of them made 2, 3, 4 and 5 pages long."""
    emu = GoogleEmulator.generate(users=900, groups=30, seed=7, medium_every=3)
    t = emu.tenant
    for group, size in zip(t.group_ids[1:5], (250, 450, 650, 850), strict=True):
        for uid in t.user_ids[:size]:
            t.add_member(group, uid)
    return emu


def pages(t: GoogleTenant) -> dict[str, int]:
    """Member listing pages of each group (Google id)."""
    return {t.gid(g): max(1, math.ceil(rendered_members(t, g) / 200)) for g in t.groups}


async def read(
    emu: GoogleEmulator, http: HttpSettings | None = None, **extra: object
) -> tuple[Snapshot, dict[str, Any]]:
    """The snapshot and the run's counters (``batch_rounds``, ``batch_fallbacks``…)."""
    src = source(emu, sa_settings(emu, **extra), http=http)
    try:
        return await src.snapshot(), dict(src.stats.extra)
    finally:
        await src.aclose()


def same(one: tuple[Snapshot, dict[str, Any]], other: tuple[Snapshot, dict[str, Any]]) -> None:
    (a, a_stats), (b, b_stats) = one, other
    assert a.complete and b.complete, (a.incomplete_reasons, b.incomplete_reasons)
    assert {u.source_id: u for u in a.users} == {u.source_id: u for u in b.users}
    assert {x.source_id: x for x in a.groups} == {x.source_id: x for x in b.groups}
    assert sorted(a.memberships) == sorted(b.memberships)
    # the assembly drops repeated edges as skipped: equal counts mean no page was read twice
    assert a_stats["members_skipped"] == b_stats["members_skipped"]


def test_default_is_100_and_0_turns_batches_off() -> None:
    emu = GoogleEmulator.generate(users=5, groups=1, seed=1)
    assert sa_settings(emu).batch_size == 100
    assert sa_settings(emu, batch_size=0).batch_size == 0


@pytest.mark.parametrize("size", [3, 100, 1000])
async def test_every_page_goes_in_rounds_of_batches(size: int) -> None:
    plain, batched = emulator(), emulator()
    off = await read(plain, batch_size=0)
    on = await read(batched, batch_size=size)
    same(off, on)
    t = batched.tenant
    depth = pages(t)
    assert max(depth.values()) == 5 and sum(p > 1 for p in depth.values()) == 7
    assert len(plain.requests) == expected_requests(plain.tenant)  # unbatched: Σ_g P_g
    assert len(batched.requests) == expected_requests(t, batch=size)
    batches = batched_requests(list(depth.values()), size)
    assert batched.requests.count(BATCH, method="POST") == batches
    assert batched.requests.count(MEMBERS, method="GET") == 0  # no single follow-up page
    assert len(batched.batched) == sum(depth.values())  # each page once, as an inner call
    assert on[1]["batch_rounds"] == 5
    # round k asks for the k-th page: the page token of round k - 1
    tokens = [r for r in batched.batched if "pageToken=" in r.query]
    assert len(tokens) == sum(p - 1 for p in depth.values())
    if size == 1000:
        assert batches == 5  # one batch a round: the longest listing's chain of pages


async def test_rate_limit_on_a_follow_up_page_rereads_that_group_alone() -> None:
    plain, batched = emulator(), emulator()
    off = await read(plain, batch_size=0)
    t = batched.tenant
    victim = t.gid(t.group_ids[2])  # 3 pages: refused on its second, in round 2
    real, refused = batched.charge, []

    def charge(method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        if victim in path and "pageToken=" in query and not refused:
            refused.append(query)
            batched.storm(1, 429, "rateLimitExceeded")
        return real(method, path, query, headers)

    batched.charge = charge  # type: ignore[method-assign]
    on = await read(batched, batch_size=1000)
    same(off, on)
    assert refused and sum(1 for r in batched.batched if r.status == 429) == 1
    assert on[1]["batch_fallbacks"] == 1
    alone = [r for r in batched.requests.entries() if r.method == "GET" and "/members" in r.path]
    assert [victim in r.path for r in alone] == [True] * 3  # from its first page, all 3 pages
    assert "pageToken" not in alone[0].query
    depth = pages(t)
    # the rounds are unchanged (longer groups go on); the victim's third page is not batched
    assert batched.requests.count(BATCH, method="POST") == 5
    assert len(batched.batched) == sum(depth.values()) - 1
    assert len(batched.requests) == expected_requests(t, batch=1000) + 3


async def test_batch_failing_as_a_whole_sends_its_groups_alone() -> None:
    plain, batched = emulator(), emulator()
    off = await read(plain, batch_size=0)
    # round 2's only batch answers 503 twice: the client gives up, its seven groups go alone
    batched.inject(Fault("status", BATCH, method="POST", nth=2, times=2, status=503))
    on = await read(batched, HttpSettings(max_attempts=2), batch_size=1000)
    same(off, on)
    depth = pages(batched.tenant)
    longer = [p for p in depth.values() if p > 1]
    assert on[1]["batch_fallbacks"] == len(longer) == 7
    assert batched.requests.count(BATCH, method="POST") == 1 + 2  # round 1; round 2 twice
    assert len(batched.batched) == len(depth)  # only round 1's first pages were answered
    assert batched.requests.count(MEMBERS, method="GET") == sum(longer)  # whole listings


async def test_a_bad_request_on_the_batch_falls_back_to_single_requests() -> None:
    plain, batched = emulator(), emulator()
    off = await read(plain, batch_size=0)
    batched.inject(Fault("status", BATCH, method="POST", times=0, status=400))
    on = await read(batched, batch_size=100)
    same(off, on)
    assert batched.requests.count(MEMBERS, method="GET") == sum(pages(batched.tenant).values())


async def test_a_repeated_token_in_a_batch_reads_the_group_alone() -> None:
    emu = emulator()
    t = emu.tenant
    victim = t.gid(t.group_ids[3])  # 4 pages: its second page names its own token as the next
    real = emu.answer

    def answer(raw_path: str, params: dict[str, str], auth: str | None) -> Reply:
        reply = real(raw_path, params, auth)
        if victim in raw_path and "pageToken" in params:
            body = json.loads(reply.body)
            body["nextPageToken"] = params["pageToken"]
            return Reply(reply.status, json.dumps(body).encode(), reply.headers)
        return reply

    emu.answer = answer  # type: ignore[method-assign]
    snap, stats = await read(emu, batch_size=100)
    assert not snap.complete  # read alone, the listing meets the repeated token too and says so
    assert "same nextPageToken" in " ".join(snap.incomplete_reasons)
    assert stats["batch_fallbacks"] == 1
    assert emu.requests.count(MEMBERS, method="GET") == 2  # alone: its first page, then 2nd


async def test_group_deleted_inside_a_batch_is_gone_not_unknown() -> None:
    emu = emulator()
    victim = emu.tenant.group_ids[0]
    real = emu.answer

    def answer(raw_path: str, params: dict[str, str], auth: str | None):  # type: ignore[no-untyped-def]
        if emu.tenant.gid(victim) in raw_path and victim in emu.tenant.groups:
            emu.tenant.delete_group(victim)  # deleted between the groups listing and members
        return real(raw_path, params, auth)

    emu.answer = answer  # type: ignore[method-assign]
    snap, _ = await read(emu, batch_size=100)
    assert snap.complete, snap.incomplete_reasons
    assert emu.tenant.gid(victim) not in {grp.source_id for grp in snap.groups}


async def test_progress_after_each_round() -> None:
    emu = emulator()
    src = source(emu, sa_settings(emu))
    events: list[Event] = []
    try:
        snap = await src.snapshot(events.append)
    finally:
        await src.aclose()
    assert snap.complete
    rounds = [ev for ev in events if ev.message.startswith("reading group members (round")]
    assert len(rounds) == 5 and rounds[-1].done == rounds[-1].total == 30
    assert [ev.done for ev in rounds] == sorted(ev.done or 0 for ev in rounds)
