"""A full read in batches never leaves a group out of a complete snapshot.

A group missing from a snapshot that says it is complete looks deleted to the engine: a later
full sync would remove it. Every way a member listing can go wrong in the batches (a page
asked again, a part missing or unreadable, a batch that times out, a listing the scheduler
never ends) gives either every group with all its members, or an incomplete read.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from idpsync.app.runner import run_sync
from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.http.budget import RequestBudget
from idpsync.http.settings import HttpSettings
from idpsync.model import Snapshot
from idpsync.sources.google import compose, rolling
from idpsync.sources.google.reader import GoogleSource
from idpsync.store import Store
from tests.sources.google_support import (
    connector,
    paged_emulator,
    sa_settings,
    source,
    truth_edges,
)

MEMBERS = "/admin/directory/v1/groups/{}/members"

pytestmark = pytest.mark.usefixtures("no_sleep")


def largest(emu: GoogleEmulator) -> str:
    """The Google id of the group with the most member pages (5)."""
    return emu.tenant.gid(emu.tenant.group_ids[4])


def whole(emu: GoogleEmulator, snap: Snapshot) -> None:
    """Every group, with all its members, and the snapshot complete."""
    assert snap.complete, snap.incomplete_reasons
    t = emu.tenant
    assert {grp.source_id for grp in snap.groups} == {t.gid(g) for g in t.groups}
    assert {(m.group_id, m.member_id) for m in snap.memberships} == truth_edges(t)


async def read(src: GoogleSource) -> Snapshot:
    try:
        return await src.snapshot()
    finally:
        await src.aclose()


@pytest.fixture
def quota_wait(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A page asked again comes back while the next main batch waits for the quota.

    Paying a call's quota (``RequestBudget.take``) lets the event loop run a few turns, as a
    wait for the budget does; a retried page's backoff (``rolling.pause``) ends during such a
    wait (or, if none comes, after as many turns), so it joins the ready listings while a
    main batch is being filled.
    """
    paying = asyncio.Event()
    real = RequestBudget.take

    async def take(self: RequestBudget, units: int) -> None:
        paying.set()
        for _ in range(5):
            await asyncio.sleep(0)
        await real(self, units)

    async def backoff(seconds: float) -> None:
        paying.clear()
        for _ in range(10_000):
            if paying.is_set():
                return
            await asyncio.sleep(0)

    monkeypatch.setattr(RequestBudget, "take", take)
    monkeypatch.setattr(rolling, "pause", backoff)
    yield


QUOTA_BOUND = {"quota": 1_000_000, "quota_burst": 0}
"""Every call beyond a batch's first paid from the budget (no burst): a main batch pays."""


@pytest.mark.usefixtures("quota_wait")
@pytest.mark.parametrize("nth", [2, 3])
async def test_a_page_asked_again_while_a_batch_waits_for_the_quota_is_not_lost(nth: int) -> None:
    """The largest group's page ``nth`` answers 503 once; its retry joins the ready listings
    while the next main batch pays for its calls. The batch takes the listing first in line
    then, not the one that was first before it paid (which left the largest group's listing
    out of every batch: its group missing from a snapshot marked complete)."""
    emu = paged_emulator()
    victim = largest(emu)
    fault = emu.inject(Fault("status", MEMBERS.format(victim), nth=nth, status=503))
    src = source(emu, sa_settings(emu, **QUOTA_BOUND), http=HttpSettings(concurrency=4))
    snap = await read(src)
    assert fault.fired == 1 and src.stats.retries == 1
    whole(emu, snap)
    assert "batch_fallbacks" not in src.stats.extra  # no listing was sent twice at once
    mine = [r for r in emu.batched if victim in r.path]
    assert [r.status for r in mine].count(200) == 5  # each of its 5 pages once


async def test_pages_taken_while_a_batch_waits_for_the_quota_are_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Round trips as long as Google's (:data:`~idpsync.sources.google.compose.DEFER_TRIP`):
    a main batch's answers that can wait are taken while the next main batch pays for its
    calls (one turn of the event loop a call here). No page fails, and before the fix a
    group was left out of the complete snapshot all the same."""
    monkeypatch.setattr(compose, "DEFER_TRIP", 0.0)  # every trip counts as long
    real = RequestBudget.take

    async def take(self: RequestBudget, units: int) -> None:
        await asyncio.sleep(0)
        await real(self, units)

    monkeypatch.setattr(RequestBudget, "take", take)
    emu = paged_emulator()
    src = source(emu, sa_settings(emu, **QUOTA_BOUND), http=HttpSettings(concurrency=4))
    whole(emu, await read(src))
    assert src.stats.retries == 0 and "batch_fallbacks" not in src.stats.extra


@pytest.mark.usefixtures("quota_wait")
async def test_a_sync_after_a_retried_page_removes_no_group(store: Store) -> None:
    """The same retry in a second full sync: no group is deleted (it was, before the fix)."""
    emu = paged_emulator()
    settings = sa_settings(emu, **QUOTA_BOUND)

    async def sync() -> Any:
        src = source(emu, settings, http=HttpSettings(concurrency=4))
        try:
            return await run_sync(store, "gws", connector(settings), src)
        finally:
            await src.aclose()

    assert (await sync()).status == "succeeded"
    emu.inject(Fault("status", MEMBERS.format(largest(emu)), nth=2, status=503))
    second = await sync()
    summary = second.summary()
    assert second.status == "succeeded", second.message
    assert summary["groups_deleted"] == 0 and summary["memberships_removed"] == 0
    assert len(second.plan) == 0


async def test_a_listing_the_scheduler_never_ends_is_unknown_not_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If an answer were lost inside the scheduler (its listing neither ended nor read alone),
    the group is kept with its members unknown and the read incomplete: never gone."""
    emu = paged_emulator()
    victim = largest(emu)
    real = rolling.Roller._take
    lost: list[int] = []

    def take(self: rolling.Roller, index: int, answer: tuple[int, bytes] | None) -> None:
        listing = self.listings[index]
        if listing.group.source_id == victim and listing.token is not None and not lost:
            lost.append(index)  # its second page's answer: dropped on the floor
            return
        real(self, index, answer)

    monkeypatch.setattr(rolling.Roller, "_take", take)
    snap = await read(source(emu, sa_settings(emu)))
    assert lost
    assert not snap.complete
    assert [r for r in snap.incomplete_reasons if victim in r] == [
        f"members of group {emu.tenant.groups[emu.tenant.group_ids[4]].name!r} "
        f"({victim}): the listing did not reach its end"
    ]
    assert victim in {grp.source_id for grp in snap.groups}
    t = emu.tenant
    others = {e for e in truth_edges(t) if e[0] != victim}
    assert {(m.group_id, m.member_id) for m in snap.memberships} == others


# ---- parts and batches that fail: each listing read again alone -----------------------------


def drop_part(part: bytes) -> bytes:
    return b""


def cut_body(part: bytes) -> bytes:
    return part[: len(part) - 42] + b"\r\n"  # the JSON page cut short (not its line break)


def bad_status(part: bytes) -> bytes:
    return part.replace(b"HTTP/1.1 200 OK", b"HTTP/1.1 two-hundred", 1)


@pytest.mark.parametrize("mangle", [drop_part, cut_body, bad_status])
async def test_a_missing_or_unreadable_part_reads_its_group_alone(
    mangle: Callable[[bytes], bytes],
) -> None:
    """The largest group's second page comes back missing from the batch's answer, cut
    short, or with a status line that cannot be read: its listing is read again alone."""
    emu = paged_emulator()
    victim = largest(emu)
    real, mangled = emu._batch, []

    async def batch(request: Any) -> Any:
        body: bytes = await request.body()
        calls = [line.split()[1] for line in body.decode().splitlines() if line[:4] == "GET "]
        response = await real(request)
        mine = [k for k, p in enumerate(calls) if victim in p and "pageToken" in p]
        if not mine or mangled:
            return response
        mangled.append(mine[0])
        parts = re.split(rb"(?=--batch_)", response.body)
        tag = f"Content-ID: <response-item-{mine[0]}>".encode()
        parts = [mangle(p) if tag in p else p for p in parts]
        media = response.headers["content-type"]
        return Response(b"".join(parts), status_code=200, media_type=media)

    emu._batch = batch  # type: ignore[method-assign]
    src = source(emu, sa_settings(emu))
    snap = await read(src)
    assert mangled
    whole(emu, snap)
    assert src.stats.extra["batch_fallbacks"] == 1
    assert emu.requests.count(MEMBERS.format(victim), method="GET") == 5  # alone, from page 1


class TimingOut(httpx.AsyncBaseTransport):
    """Batch requests ``first`` … ``last`` time out; every other request goes through."""

    def __init__(self, inner: httpx.AsyncBaseTransport, first: int, last: int) -> None:
        self.inner, self.first, self.last, self.batches = inner, first, last, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.startswith("/batch/"):
            self.batches += 1
            if self.first <= self.batches <= self.last:
                raise httpx.ReadTimeout("timed out", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_batch_that_times_out_reads_its_listings_alone() -> None:
    """The third batch times out at both attempts: its listings (and chains) go alone."""
    emu = paged_emulator()
    timing_out = TimingOut(emu.transport(), 3, 4)
    http = HttpSettings(max_attempts=2, concurrency=1)
    src = source(emu, sa_settings(emu), http=http, transport=timing_out)
    snap = await read(src)
    assert timing_out.batches > 3
    whole(emu, snap)
    assert src.stats.extra["batch_fallbacks"] >= 1
