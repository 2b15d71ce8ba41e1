"""An incremental Google read: the groups listing beside the activity log, and only the parts
of the staged mirror the change needs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from idpsync.app.runner import run_sync
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.injection import Latency, compile_pattern
from idpsync.model import Snapshot
from idpsync.sources.google import incremental
from idpsync.store import Store
from idpsync.store.staged_mirror import StagedMirror
from tests.sources.google_support import sa_settings, source
from tests.sources.test_google_e2e import assert_matches_tenant
from tests.sources.test_google_incremental import (
    NAME,
    REPORTS,
    change_one_percent,
    connector,
    forget_group_addresses,
    named,
    sync,
)
from tests.sources.test_google_incremental_move import GROUPS_LISTING, move_one_percent
from tests.sources.test_google_memberlog import ticking

TOKEN = "/token"


pytestmark = pytest.mark.usefixtures("no_sleep")


def where(emu: GoogleEmulator, pattern: str, method: str = "GET") -> list[int]:
    """Positions in the emulator's log (answered order) of the requests matching ``pattern``."""
    regex: re.Pattern[str] = compile_pattern(pattern)
    return [
        i
        for i, entry in enumerate(emu.requests.entries())
        if regex.fullmatch(entry.path) and entry.method == method
    ]


async def test_the_groups_listing_runs_beside_the_activity_log(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = GoogleEmulator.generate(
        users=1500, groups=50, seed=7, medium_every=3, latency=Latency(fixed_ms=5)
    )
    assert (await sync(db, emu)).stats["read"] == "full"
    forget_group_addresses(db)  # a stage from before the mirror kept them: the listing is used
    ticking(emu)
    move_one_percent(emu)
    _, groups = named(emu)
    monkeypatch.setattr(incremental, "ACTIVITY_PAGE", 20)  # the log in several pages
    emu.requests.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    log, listing = where(emu, REPORTS), where(emu, GROUPS_LISTING)
    assert len(log) >= 3 and len(listing) == 1
    # the listing was answered while the log was still being read, not after its last page
    assert listing[0] < log[-1], [e.path for e in emu.requests.entries()]
    assert emu.requests.count(TOKEN, method="POST") == 1  # one token for both chains
    assert result.stats["groups_listed"] == len(groups)
    assert_matches_tenant(db, emu)


async def test_a_delta_reads_no_whole_part_of_the_staged_mirror(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = GoogleEmulator.generate(users=300, groups=30, seed=7, medium_every=3)
    t = emu.tenant
    report = t.user_ids[30]
    t.set_manager(report, t.user_ids[13])  # the user change_one_percent deletes
    assert (await sync(db, emu)).stats["read"] == "full"
    ticking(emu)
    change_one_percent(emu)
    seen: list[Snapshot] = []
    real = incremental.delta

    async def watched(source: Any, state: Any, staged: Snapshot, progress: Any) -> Any:
        result = await real(source, state, staged, progress)
        assert isinstance(staged, StagedMirror)
        assert not staged.users_loaded, "every staged user was read"
        assert not staged.groups_loaded, "every staged group was read"
        assert not staged.edges_loaded, "every staged edge was read"
        seen.append(staged)
        return result

    monkeypatch.setattr(incremental, "delta", watched)
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert len(seen) == 1
    assert result.stats["members_applied"] >= 2  # a removal and an addition from the log
    assert_matches_tenant(db, emu)  # the deleted manager's report has no manager now
    state = {u.source_id: u for u in (await full_users(db))}
    assert state[t.gid(report)].manager_id is None


async def full_users(store: Store) -> list[Any]:
    """The directory's users (through the test helper of the e2e tests)."""
    from tests.sources.test_google_e2e import directory

    return list(directory(store).users.values())


def test_the_burst_is_what_the_quota_has_refilled_since_the_last_read() -> None:
    emu = GoogleEmulator.generate(users=10, groups=2, seed=7)
    settings = sa_settings(emu, incremental="reports")  # quota 2,400 a minute: 40 a second
    ended = {incremental.ENDED: 1000.0}
    assert incremental.burst({}, settings, 2000.0) == 0  # no time saved: no burst
    assert incremental.burst(ended, settings, 1000.5) == 0  # less than the budget's second
    assert incremental.burst(ended, settings, 1030.0) == 1200 - 40  # half a minute refilled
    assert incremental.burst(ended, settings, 1120.0) == 2400 - 40  # the whole minute
    half = sa_settings(emu, incremental="reports", quota_burst=0.5)
    assert incremental.burst(ended, half, 1120.0) == 1200 - 40
    assert incremental.burst(ended, sa_settings(emu, quota_burst=0), 1120.0) == 0
    slower = sa_settings(emu, incremental="reports", http={"requests_per_second": 10})
    assert incremental.burst(ended, slower, 1120.0) == 600 - 10  # a minute at the set rate
    photos = sa_settings(emu, incremental="reports", fetch_photos=True)
    assert incremental.burst(ended, photos, 1120.0) == 0  # photo downloads follow the read


async def test_the_named_users_go_at_once_once_the_quota_has_refilled(db: Store) -> None:
    emu = GoogleEmulator.generate(users=1500, groups=50, seed=7, medium_every=3)
    assert (await sync(db, emu)).stats["read"] == "full"
    t = emu.tenant
    renamed = t.user_ids[:400]
    for uid in renamed:
        t.update_user(uid, display_name=f"Renamed {uid}")
    with db.transaction() as conn:  # the full read ended two minutes ago
        state = db.connector_state(conn, NAME)
        state[incremental.ENDED] -= 120
        db.set_connector_state(conn, NAME, state)
    emu.requests.clear()
    emu.batched.clear()
    settings = sa_settings(emu, incremental="reports")
    src = source(emu, settings)
    try:
        result = await run_sync(db, NAME, connector(settings), src, allow_deletes=True)
    finally:
        await src.aclose()
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert emu.batched.count("/admin/directory/v1/users/*") == len(renamed)
    # 400 calls against a budget of 40 a second: paid from the burst, none waited for the
    # budget, and the emulator's quota (2,400 a minute) refused none
    assert src.http.budget.waited == 0
    assert emu.requests.count(status=403) == 0 and emu.batched.count(status=403) == 0
    assert_matches_tenant(db, emu)
