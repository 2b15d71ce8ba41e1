"""The admin activity log's ranges sized from the first page (``.activitylog``): the log
requests, counted in the emulator's log, stay near one a page however the activities are
spread over the window (a burst at its end, even, bursts elsewhere), and every activity is
read once."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from itertools import pairwise

import pytest

from idpsync.emulators.google import GoogleEmulator
from idpsync.sources.google import activitylog
from idpsync.sources.google.activitylog import FILL, LINEAR, cuts
from tests.sources.google_support import sa_settings, source
from tests.sources.test_google_incremental import REPORTS

PAGE = 20
"""Activities a page here (the Reports API's 1,000 scaled down: 400 activities, 20 pages)."""
WINDOW = 1200.0
"""Seconds of the read's window: 20 minutes, as the benchmark's incremental read at L has."""
N = 400

pytestmark = pytest.mark.usefixtures("no_sleep")

Spread = Callable[[float, float], list[float]]
"""(window start, now) → the activities' times."""


def burst(seconds: float, n: int = N) -> Spread:
    """``n`` activities evenly in the last ``seconds`` of the window."""
    return lambda _, now: [now - seconds + seconds * i / n for i in range(n)]


def even(start: float, now: float) -> list[float]:
    return [start + (now - start) * i / N for i in range(N)]


def middle(start: float, now: float) -> list[float]:
    """A burst in the middle of the window, a few activities spread around it."""
    rng = random.Random(3)
    trickle = [start + rng.random() * (now - start) for _ in range(10)]
    return [start + WINDOW / 2 + 30 * i / N for i in range(N)] + trickle


def both_ends(start: float, now: float) -> list[float]:
    half = N // 2
    return [start + 1 + 20 * i / half for i in range(half)] + burst(20, half)(start, now)


def filled(times: list[float]) -> GoogleEmulator:
    """An emulator whose admin log holds one member event at each of ``times``."""
    emu = GoogleEmulator.generate(users=10, groups=2, seed=7)
    log = emu.tenant.activity
    for i, when in enumerate(sorted(times)):
        log.clock = lambda when=when: when  # type: ignore[misc]
        log.group("ADD_GROUP_MEMBER", f"g{i % 5}@example.com", USER_EMAIL=f"u{i}@example.com")
    log.clock = time.time
    return emu


async def read(spread: Spread) -> tuple[int, int, int]:
    """(pages the activities fill, log requests sent, activities read) for one spread."""
    now = time.time() - 1.0
    times = spread(now - WINDOW, now)
    emu = filled(times)
    src = source(emu, sa_settings(emu, incremental="reports"))
    try:
        await src.auth.token()
        found = await activitylog.read_log(src, int((now - WINDOW) * 1000), PAGE)
    finally:
        await src.aclose()
    keys = {(item["id"]["time"], item["id"]["uniqueQualifier"]) for item in found}
    assert len(keys) == len(found) == len(times)  # every activity, each once
    sent = sum(1 for entry in emu.requests.entries() if entry.path == REPORTS)
    return math.ceil(len(times) / PAGE), sent, len(found)


@pytest.mark.parametrize(
    "spread",
    [burst(30), burst(3), burst(300), burst(3, 50), even, middle, both_ends],
    ids=["burst-30s", "burst-3s", "burst-300s", "small-burst", "even", "middle", "both-ends"],
)
async def test_log_requests_stay_near_one_a_page_whatever_the_spread(spread: Spread) -> None:
    pages, sent, _ = await read(spread)
    # about pages / FILL ranges where the activities are, one probe and one re-read per
    # range cut, and a few widening ranges over the empty time (the cut in 8 equal parts
    # before: 73 requests for the even log, 121-177 for the bursts, 33 for the small one)
    assert sent <= 2 * pages + 8, (pages, sent)


async def test_the_count_does_not_depend_on_how_long_the_burst_lasted() -> None:
    counts = [(await read(burst(seconds)))[1] for seconds in (2, 10, 30, 60, 120)]
    assert max(counts) - min(counts) <= 6, counts  # before: 49 to 137


def test_ranges_below_the_first_page_hold_a_page_at_its_density_then_widen() -> None:
    # a page of 10 activities over 91 ms (100,000 to 100,090), the range from 0, open
    times: list[int | None] = [100_000 + 10 * i for i in range(10)]
    ranges = cuts(0, None, times, 10)
    assert ranges is not None
    *below, top = ranges
    assert top == (100_001, None)  # the page's own span read again, open like the range
    width = int(FILL * 10 * 91 / 10)  # FILL × a page at the page's density (10 in 91 ms)
    spans = [high - 1 - low for low, high in below]
    assert spans[:LINEAR] == [width] * LINEAR
    assert all(b > a for a, b in pairwise(spans[LINEAR - 1 : -1]))
    # the ranges cover [0, 100_001] with a millisecond of overlap each: nothing left out
    edges = sorted(below)
    assert edges[0][0] == 0 and edges[-1][1] == 100_002
    assert all(nxt[0] == cur[1] - 1 for cur, nxt in pairwise(edges))


def test_a_range_no_cut_makes_smaller_goes_on_as_a_chain() -> None:
    assert cuts(500, None, [500] * 10, 10) is None  # the page's oldest at the range's start
    assert cuts(0, 502, [500] * 10, 10) is None  # the ranges below would be the range
    assert cuts(0, None, [500, None], 10) is None  # a time not read
