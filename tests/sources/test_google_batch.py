"""Batched member listings: every page in rolling batches; the snapshot of single requests."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.framework import Charge, Reply
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.google.tenant import GoogleTenant
from idpsync.http.settings import HttpSettings
from idpsync.model import Snapshot
from idpsync.sources.base import Event
from idpsync.sources.google import api as g
from tests.sources.google_support import (
    batched_requests,
    expected_requests,
    paged_emulator,
    rendered_members,
    sa_settings,
    source,
)

BATCH = "/batch/admin/directory_v1"
MEMBERS = "/admin/directory/v1/groups/*/members"


pytestmark = pytest.mark.usefixtures("no_sleep")


CHAINS = 3
"""The users and groups listings' pages (900 users at 500, 30 groups at 200): calls in the
batches too."""


def member_calls(emu: GoogleEmulator) -> list[Any]:
    """The inner calls of the batches that asked for member pages."""
    return [r for r in emu.batched.entries() if r.path.endswith("/members")]


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
    assert list(a.memberships) == list(b.memberships)  # the same edges in the same order
    # the assembly drops repeated edges as skipped: equal counts mean no page was read twice
    assert a_stats["members_skipped"] == b_stats["members_skipped"]


def test_default_is_the_documented_1000_and_0_turns_batches_off() -> None:
    emu = GoogleEmulator.generate(users=5, groups=1, seed=1)
    assert sa_settings(emu).batch_size == 1000
    assert sa_settings(emu, batch_size=0).batch_size == 0
    with pytest.raises(ValueError):
        sa_settings(emu, batch_size=1001)


FREE = {"quota": 1_000_000}
"""A quota that never binds, so a batch carries every ready listing up to ``batch_size``."""


@pytest.mark.parametrize("size", [3, 100, 1000])
async def test_every_page_goes_once_in_a_batch(size: int) -> None:
    plain, batched = paged_emulator(), paged_emulator()
    off = await read(plain, batch_size=0)
    on = await read(batched, batch_size=size, **FREE)
    same(off, on)
    t = batched.tenant
    depth = pages(t)
    assert max(depth.values()) == 5 and sum(p > 1 for p in depth.values()) == 7
    assert len(plain.requests) == expected_requests(plain.tenant)  # unbatched: Σ_g P_g
    posts = batched.requests.count(BATCH, method="POST")
    assert max(1 + 5, math.ceil(sum(depth.values()) / size)) <= posts
    assert posts <= sum(depth.values()) + CHAINS and posts == on[1]["batches"]
    assert batched.requests.count(MEMBERS, method="GET") == 0  # no single follow-up page
    assert len(member_calls(batched)) == sum(depth.values())  # each page once, as a call
    assert len(batched.batched) == sum(depth.values()) + CHAINS
    tokens = [r for r in member_calls(batched) if "pageToken=" in r.query]
    assert len(tokens) == sum(p - 1 for p in depth.values())
    # longest first: the first call of the first batch is the largest group's listing
    first = member_calls(batched)[0].path.split("/")[5]
    assert depth[first] == 5


@pytest.mark.usefixtures("short_trips")  # counts batches (see the fixture)
@pytest.mark.parametrize("size", [3, 1000])
async def test_one_lane_sends_the_ready_listings_together(size: int) -> None:
    """With one request in flight, a batch takes every ready listing, up to ``size``: never
    more batches than rounds would send, and exactly the rounds when they fit in one batch."""
    emu = paged_emulator()
    on = await read(emu, HttpSettings(concurrency=1), batch_size=size, **FREE)
    assert on[0].complete
    depth = list(pages(emu.tenant).values())
    posts = emu.requests.count(BATCH, method="POST")
    assert math.ceil(sum(depth) / size) <= posts <= batched_requests(depth, size) + CHAINS
    if size == 1000:  # the token, the first users and groups pages, the longest chain's 5
        assert len(emu.requests) == 1 + 1 + 5 == on[1]["batches"] + 1


async def test_a_slow_page_does_not_hold_back_the_other_listings() -> None:
    """One listing's second page is held until every other listing has ended."""
    plain, emu = paged_emulator(), paged_emulator()
    off = await read(plain, batch_size=0)
    t = emu.tenant
    depth = pages(t)
    victim = t.gid(t.group_ids[2])  # 3 pages
    others = sum(p for gid, p in depth.items() if gid != victim)
    real, held = emu._batch, []

    async def slow(request: Any) -> Any:
        body = await request.body()
        if f"groups/{victim}/members".encode() in body and b"pageToken=" in body and not held:
            held.append(len(member_calls(emu)))
            for _ in range(1000):  # until the others are done (10 s at most, then it fails)
                if len(member_calls(emu)) >= others + 1:
                    break
                await asyncio.sleep(0.01)
        return await real(request)

    emu._batch = slow  # type: ignore[method-assign]
    on = await read(emu, HttpSettings(concurrency=4), batch_size=1, **FREE)
    same(off, on)
    calls = member_calls(emu)
    mine = [i for i, r in enumerate(calls) if victim in r.path]
    assert held and len(mine) == 3
    rest = [i for i, r in enumerate(calls) if victim not in r.path]
    assert len(rest) == others and max(rest) < mine[1]  # all of them in before its 2nd page


async def test_rate_limit_on_a_follow_up_page_asks_that_page_again() -> None:
    plain, batched = paged_emulator(), paged_emulator()
    off = await read(plain, batch_size=0)
    t = batched.tenant
    victim = t.gid(t.group_ids[2])  # 3 pages: refused once on its second
    real, refused = batched.charge, []

    def charge(method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        if victim in path and "pageToken=" in query and not refused:
            refused.append(query)
            batched.storm(1, 429, "rateLimitExceeded")
        return real(method, path, query, headers)

    batched.charge = charge  # type: ignore[method-assign]
    src = source(batched, sa_settings(batched, batch_size=1000))
    try:
        snap = await src.snapshot()
    finally:
        await src.aclose()
    same(off, (snap, dict(src.stats.extra)))
    assert sum(1 for r in batched.batched if r.status == 429) == 1
    assert "batch_fallbacks" not in src.stats.extra  # the page, not the whole listing, again
    assert src.stats.throttled == 1 and src.stats.retries == 1
    mine = [r.query for r in batched.batched if victim in r.path]
    assert len(mine) == 4 and mine[1] == mine[2] == refused[0]  # the same page token twice
    assert batched.requests.count(MEMBERS, method="GET") == 0
    assert len(member_calls(batched)) == sum(pages(t).values()) + 1


async def test_a_page_failing_every_time_makes_the_read_incomplete() -> None:
    emu = paged_emulator()
    t = emu.tenant
    victim = t.gid(t.group_ids[3])  # 4 pages: its third page always answers 503
    real = emu.answer
    first: list[str] = []

    def answer_once(raw_path: str, params: dict[str, str], auth: str | None) -> Reply:
        if victim in raw_path and "pageToken" in params:
            if not first:
                first.append(params["pageToken"])
            if params["pageToken"] != first[0]:
                return emu.error_reply(503, "backendError", "Backend Error")
        return real(raw_path, params, auth)

    emu.answer = answer_once  # type: ignore[method-assign]
    snap, stats = await read(emu, HttpSettings(max_attempts=3), batch_size=1000)
    assert not snap.complete  # nothing the engine could remove on this read
    assert any(victim in reason for reason in snap.incomplete_reasons)
    assert stats["batch_fallbacks"] == 1  # asked 3 times in batches, then read alone
    third = [r for r in emu.batched if victim in r.path and r.status == 503]
    assert len(third) == 3
    alone = [r for r in emu.requests.entries() if r.method == "GET" and victim in r.path]
    assert len(alone) == 3 + 2  # alone: pages 1 and 2, then page 3 three times
    assert not [m for m in snap.memberships if m.group_id == victim]  # its pages 1-2 let go


async def test_a_listing_read_again_alone_reports_its_pages_once() -> None:
    emu = paged_emulator()
    t = emu.tenant
    victim = t.gid(t.group_ids[3])  # 4 pages, each with a member without id; page 3: 404 once
    real = emu.answer
    fail: dict[str, str] = {}

    def answer(raw_path: str, params: dict[str, str], auth: str | None) -> Reply:
        if victim in raw_path and params.get("pageToken") == fail.get("token"):
            fail["token"] = "answered"
            return emu.error_reply(404, "notFound", "Resource Not Found: groupKey")
        reply = real(raw_path, params, auth)
        if victim not in raw_path:
            return reply
        body = json.loads(reply.body)
        if "pageToken" in params and not fail:  # page 2 (in a batch): page 3 will fail once
            fail["token"] = body["nextPageToken"]
        body["members"] = [*body.get("members", []), {"type": "USER", "email": "x@example.com"}]
        return Reply(reply.status, json.dumps(body).encode(), reply.headers)

    emu.answer = answer  # type: ignore[method-assign]
    snap, stats = await read(emu, batch_size=100)
    assert stats["batch_fallbacks"] == 1  # the 404 in a batch: read again alone, from page 1
    bad = [r for r in snap.incomplete_reasons if victim in r]
    assert len(bad) == 1 and bad[0].endswith(": 4 item(s) are not objects with a usable id")
    expected = {t.gid(m) for m in t.member_list(t.group_ids[3]) if m in t.users or m in t.groups}
    assert {m.member_id for m in snap.memberships if m.group_id == victim} == expected


@pytest.mark.usefixtures("short_trips")  # counts batches (see the fixture)
async def test_batch_failing_as_a_whole_sends_its_groups_alone() -> None:
    plain, batched = paged_emulator(), paged_emulator()
    off = await read(plain, batch_size=0)
    # the third batch (users and groups, every group's first page, then the seven longer
    # groups' second pages) answers 503 twice: the client gives up, its seven groups go alone
    batched.inject(Fault("status", BATCH, method="POST", nth=3, times=2, status=503))
    on = await read(batched, HttpSettings(max_attempts=2, concurrency=1), batch_size=1000, **FREE)
    same(off, on)
    depth = pages(batched.tenant)
    longer = [p for p in depth.values() if p > 1]
    assert on[1]["batch_fallbacks"] == len(longer) == 7
    assert batched.requests.count(BATCH, method="POST") == 2 + 2  # the third one twice
    assert len(member_calls(batched)) == len(depth)  # only the first pages were answered
    assert batched.requests.count(MEMBERS, method="GET") == sum(longer)  # whole listings


async def test_a_bad_request_on_the_batch_falls_back_to_single_requests() -> None:
    plain, batched = paged_emulator(), paged_emulator()
    off = await read(plain, batch_size=0)
    batched.inject(Fault("status", BATCH, method="POST", times=0, status=400))
    on = await read(batched, batch_size=100)
    same(off, on)
    assert batched.requests.count(MEMBERS, method="GET") == sum(pages(batched.tenant).values())


async def test_a_repeated_token_in_a_batch_reads_the_group_alone() -> None:
    emu = paged_emulator()
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
    emu = paged_emulator()
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


async def test_progress_as_listings_end() -> None:
    emu = paged_emulator()
    src = source(emu, sa_settings(emu))
    events: list[Event] = []
    try:
        snap = await src.snapshot(events.append)
    finally:
        await src.aclose()
    assert snap.complete
    ended = [ev for ev in events if ev.message.startswith("reading group members (")]
    assert ended and ended[-1].done == ended[-1].total == 30
    assert [ev.done for ev in ended] == sorted(ev.done or 0 for ev in ended)


def test_member_counts_are_only_a_hint_and_skip_what_is_not_a_group_object() -> None:
    items: list[Any] = [
        None,
        "a string",
        {"id": "g1", "directMembersCount": "12"},
        {"id": "g2", "directMembersCount": "-3"},
        {"id": "g3", "directMembersCount": 4},
        {"id": "g4"},
    ]
    assert g.member_counts(items) == {"g1": 12, "g3": 4}


async def test_an_injected_503_on_a_batched_page_is_asked_again_in_a_batch() -> None:
    """A fault injected on a member listing acts on its call inside the batch (the emulator
    answers that part alone 503): the page goes again in a later batch, nothing read alone."""
    plain, emu = paged_emulator(), paged_emulator()
    off = await read(plain, batch_size=0)
    t = emu.tenant
    victim = t.gid(t.group_ids[2])  # 3 pages: its 2nd page's call is refused once
    fault = emu.inject(Fault("status", f"/admin/directory/v1/groups/{victim}/members", nth=2))
    on = await read(emu, batch_size=1000, **FREE)
    same(off, on)
    assert fault.fired == 1 and "batch_fallbacks" not in on[1]
    mine = [r for r in emu.batched if victim in r.path]
    assert [r.status for r in mine] == [200, 503, 200, 200]  # page 2 twice, in batches
    assert mine[1].query == mine[2].query
    assert emu.requests.count(MEMBERS, method="GET") == 0
    assert len(member_calls(emu)) == sum(pages(t).values()) + 1
