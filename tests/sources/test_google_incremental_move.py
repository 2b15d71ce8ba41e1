"""The benchmark's kind of change (1 % of users renamed, 1 % of memberships moved to another
group) read from the admin activity log: which requests, and the same directory as a full read.
"""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from typing import Any

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.sources.google import incremental
from idpsync.sources.google.endpoints import USER
from idpsync.sources.google.fetch import fetch_many
from idpsync.sources.google.named import LIST_PER_PAGE
from idpsync.store import Store
from tests.sources.google_support import sa_settings, source
from tests.sources.test_google_e2e import assert_matches_tenant
from tests.sources.test_google_incremental import (
    REPORTS,
    assert_full_read_agrees,
    emulator,
    forget_group_addresses,
    named,
    sync,
)
from tests.sources.test_google_memberlog import LISTINGS, ticking

GROUP_READS = "/admin/directory/v1/groups/{g}"
GROUPS_LISTING = "/admin/directory/v1/groups"


pytestmark = pytest.mark.usefixtures("no_sleep")


def move_one_percent(emu: GoogleEmulator, seed: int = 13) -> None:
    """What ``benchmarks.process.change_one_percent`` does through the control routes."""
    t, rng = emu.tenant, random.Random(seed)
    users = sorted(t.user_ids)
    edges = sorted((g, m) for g in t.group_ids for m in t.groups[g].members if m in t.users)
    for uid in rng.sample(users, max(1, len(users) // 100)):
        t.update_user(uid, display_name=f"Renamed {uid}")
    groups = sorted({g for g, _ in edges})
    for gid, member in rng.sample(edges, max(1, len(edges) // 100)):
        t.remove_member(gid, member)
        t.add_member(rng.choice(groups), member)


@pytest.mark.parametrize(("seed", "addresses"), [(13, True), (14, True), (13, False)])
async def test_one_percent_move_reads_no_group_and_no_member_listing(
    db: Store, tmp_path: Path, seed: int, addresses: bool
) -> None:
    """With the groups' addresses in the mirror, the moves need no group read at all; with a
    stage written before the mirror kept them, the groups are listed once instead."""
    emu = GoogleEmulator.generate(users=1500, groups=50, seed=7, medium_every=3)
    assert (await sync(db, emu)).stats["read"] == "full"
    if not addresses:
        forget_group_addresses(db)
    ticking(emu)  # every event its own millisecond (a tie would be read again: another test)
    move_one_percent(emu, seed)
    users, groups = named(emu)
    assert len(groups) >= LIST_PER_PAGE  # most groups are named: one listing page costs less
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert result.stats["groups_reread"] == 0 and "reread_reasons" not in result.stats
    # token, the activities, one batch of the renamed users (and without the addresses one
    # page of the groups listing); no group read one by one and no member listing
    pages, listed = math.ceil(len(emu.tenant.activity.items) / 1000), int(not addresses)
    assert emu.requests.count(REPORTS) == pages
    assert emu.batched.count("/admin/directory/v1/users/*") == len(users)
    assert emu.requests.count(GROUPS_LISTING, method="GET") == listed
    assert emu.batched.count(GROUP_READS) == 0 and emu.requests.count(GROUP_READS) == 0
    assert emu.batched.count(LISTINGS) == 0 and emu.requests.count(LISTINGS) == 0
    assert len(emu.requests) == 1 + pages + 1 + listed
    assert result.stats["groups_listed"] == (0 if addresses else len(groups))
    assert result.stats["groups_from_mirror"] == (len(groups) if addresses else 0)
    assert_matches_tenant(db, emu)
    # the same directory as a full read of the final tenant into an empty store
    await assert_full_read_agrees(db, emu, tmp_path)


@pytest.mark.parametrize("addresses", [True, False])
async def test_few_named_groups_are_read_one_by_one(db: Store, addresses: bool) -> None:
    emu = emulator()
    assert (await sync(db, emu)).stats["read"] == "full"
    if not addresses:
        forget_group_addresses(db)
    ticking(emu)
    t = emu.tenant
    for gid in t.group_ids[:3]:
        t.remove_member(gid, next(m for m in t.groups[gid].members if m in t.users))
    t.rename_group(t.group_ids[4], "Renamed group")  # its record is read, not its members
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.stats["read"] == "delta" and result.stats["groups_reread"] == 0
    assert result.stats["groups_listed"] == 0
    if addresses:  # the member events' groups from the mirror: only the renamed one is read
        assert emu.batched.count(GROUP_READS) + emu.requests.count(GROUP_READS) == 1
        assert emu.requests.count(GROUPS_LISTING, method="GET") == 0  # none started
        assert result.stats["groups_from_mirror"] == 3
    else:  # the listing started beside the log is cancelled (at most its one page was asked)
        assert emu.requests.count(GROUPS_LISTING, method="GET") <= 1
        assert emu.batched.count(GROUP_READS) == 4
    assert emu.batched.count(LISTINGS) == 0
    assert_matches_tenant(db, emu)


async def test_a_failed_groups_listing_falls_back_to_reading_each_group(db: Store) -> None:
    emu = GoogleEmulator.generate(users=1500, groups=50, seed=7, medium_every=3)
    assert (await sync(db, emu)).stats["read"] == "full"
    forget_group_addresses(db)  # a stage from before the mirror kept them: the listing is used
    ticking(emu)
    move_one_percent(emu)
    _, groups = named(emu)
    emu.inject(Fault("status", GROUPS_LISTING, status=503, times=0))
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert "503" in result.stats["groups_listing_failed"]
    assert result.stats["groups_listed"] == 0
    assert emu.batched.count(GROUP_READS) == len(groups)
    assert_matches_tenant(db, emu)


async def test_batches_of_single_reads_take_their_quota_one_after_the_other() -> None:
    """Each batch goes once its own calls are paid for (not all at once at the end)."""
    emu = emulator()
    src = source(emu, sa_settings(emu, batch_size=10))
    timeline: list[str] = []
    budget, request = src.http.budget, src.http.request
    take = budget._take

    async def counted_take() -> None:
        timeline.append("token")
        await take()
        await asyncio.sleep(0)  # let any other batch take its turn

    async def sending(*args: Any, **kwargs: Any) -> Any:
        timeline.append("send")
        return await request(*args, **kwargs)

    budget._take = counted_take  # type: ignore[method-assign]
    src.http.request = sending  # type: ignore[method-assign]
    emails = [emu.tenant.login(emu.tenant.users[u]) for u in emu.tenant.user_ids[:40]]
    try:
        bodies = await fetch_many(src, USER, "userKey", emails)
    finally:
        await src.aclose()
    assert all(b is not None for b in bodies)
    assert emu.requests.count("/batch/admin/directory_v1") == 4
    # the first batch goes after its own 9 tokens (+ the token request's), not after all 36
    first = timeline.index("send")
    assert timeline[:first].count("token") <= 10, timeline


async def test_a_named_group_without_an_id_means_a_full_read(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator()
    assert (await sync(db, emu)).stats["read"] == "full"
    ticking(emu)
    t = emu.tenant
    t.rename_group(t.group_ids[2], "Renamed")  # a group event: the group is read

    async def without_ids(
        _source: object, names: list[str], _total: int, _listing: object = None
    ) -> list[Any]:
        return [{"kind": "admin#directory#group", "email": name} for name in names]

    monkeypatch.setattr(incremental, "named_groups", without_ids)
    result = await sync(db, emu)
    assert result.status == "succeeded", result.message
    assert result.stats["read"].startswith("full")
    assert "usable id" in result.stats["incremental_fallback"]
    assert_matches_tenant(db, emu)


async def test_calls_refused_inside_a_batch_are_sent_again_alone_and_counted() -> None:
    emu = emulator()
    src = source(emu, sa_settings(emu, batch_size=10))
    emails = [emu.tenant.login(emu.tenant.users[u]) for u in emu.tenant.user_ids[:20]]
    await src.auth.token()
    emu.storm(3)  # the first three calls of the first batch answer 403 userRateLimitExceeded
    try:
        bodies = await fetch_many(src, USER, "userKey", emails)
    finally:
        await src.aclose()
    assert [b["primaryEmail"] for b in bodies if b] == emails
    assert src.stats.extra["batch_calls_resent"] == 3
    assert emu.requests.count("/batch/admin/directory_v1") == 2
    assert emu.requests.count("/admin/directory/v1/users/{u}") == 3
