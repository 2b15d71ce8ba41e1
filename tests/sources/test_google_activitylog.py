"""The admin activity log read in time ranges side by side (``.activitylog``): every activity
once, whatever their times, and fewer pages one after the other than one chain."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.sources.google import incremental
from idpsync.store import Store
from tests.sources.test_google_e2e import assert_matches_tenant
from tests.sources.test_google_incremental import (
    REPORTS,
    assert_full_read_agrees,
    sync,
)
from tests.sources.test_google_incremental_move import move_one_percent
from tests.sources.test_google_memberlog import ticking

PAGE = 5
"""Activities a page in these tests (the log in many pages)."""

pytestmark = pytest.mark.usefixtures("no_sleep")


def longest_chain(emu: GoogleEmulator) -> int:
    """The most log pages asked for one time range (pages of a range follow one another)."""
    ranges: Counter[tuple[str, str]] = Counter()
    for entry in emu.requests.entries():
        if entry.path == REPORTS:
            query = parse_qs(entry.query)
            ranges[(query["startTime"][0], query.get("endTime", [""])[0])] += 1
    return max(ranges.values())


@pytest.mark.parametrize("step", [0.01, 0.0007, 0.0])
async def test_every_activity_is_read_once_whatever_their_times(
    db: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, step: float
) -> None:
    emu = GoogleEmulator.generate(users=1500, groups=50, seed=7, medium_every=3)
    assert (await sync(db, emu)).stats["read"] == "full"
    ticking(emu, step)  # 0: every activity at the same millisecond (a tie is read again)
    move_one_percent(emu)
    monkeypatch.setattr(incremental, "ACTIVITY_PAGE", PAGE)
    emu.requests.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert result.stats["activities"] == len(emu.tenant.activity.items)  # each once
    assert_matches_tenant(db, emu)
    pages = math.ceil(len(emu.tenant.activity.items) / PAGE)
    if step:  # spread over time: cut into ranges, far fewer pages one after the other
        assert longest_chain(emu) <= pages // 4, (longest_chain(emu), pages)
    else:  # one millisecond cannot be cut: the range holding it goes on as a chain
        assert longest_chain(emu) >= pages - 1
    # the same directory as a full read of the final tenant into an empty store
    await assert_full_read_agrees(db, emu, tmp_path)


async def test_a_range_that_cannot_be_read_means_a_full_read(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = GoogleEmulator.generate(users=1500, groups=50, seed=7, medium_every=3)
    assert (await sync(db, emu)).stats["read"] == "full"
    ticking(emu)
    move_one_percent(emu)
    t = emu.tenant
    t.delete_user(t.user_ids[3])  # a leaver: removed only by a complete read
    monkeypatch.setattr(incremental, "ACTIVITY_PAGE", PAGE)
    emu.requests.clear()
    # the first page and the first ranges answer; every log request from the fifth on fails
    emu.inject(Fault("status", REPORTS, nth=5, times=0, status=503))
    result = await sync(db, emu)
    assert result.status == "succeeded", result.message
    assert result.stats["read"].startswith("full")  # the delta was given up, not trusted
    assert "503" in result.stats["incremental_fallback"]
    failed = [e for e in emu.requests.entries() if e.path == REPORTS and e.status == 503]
    assert failed and any("endTime" in parse_qs(e.query) for e in failed)  # inside ranges
    assert_matches_tenant(db, emu)
