"""Membership events applied to the mirror's edges (``incremental = "reports"``, .memberlog)."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any

import pytest

from idpsync.emulators.google import GoogleEmulator
from idpsync.model import Membership
from idpsync.sources.google.memberlog import apply, read_log
from idpsync.store import Store
from tests.sources.google_support import rendered_members
from tests.sources.test_google_e2e import assert_matches_tenant
from tests.sources.test_google_incremental import (
    REPORTS,
    assert_full_read_agrees,
    emulator,
    sync,
)

BATCH = "/batch/admin/directory_v1"
LISTINGS = "/admin/directory/v1/groups/*/members"


pytestmark = pytest.mark.usefixtures("no_sleep")


def ticking(emu: GoogleEmulator, step: float = 0.01) -> None:
    """Give every activity its own time (``step`` seconds apart; 0: all at the same time)."""
    start, count = time.time(), itertools.count()
    emu.tenant.activity.clock = lambda: start + step * next(count)


def outsider(emu: GoogleEmulator, group: str) -> str:
    """A user of the tenant not in ``group``."""
    t = emu.tenant
    return next(u for u in t.user_ids if u not in t.groups[group].members)


def first_user(emu: GoogleEmulator, group: str) -> str:
    t = emu.tenant
    return next(m for m in t.groups[group].members if m in t.users)


def nest(emu: GoogleEmulator, parent: str, child: str) -> None:
    """Add the group ``child`` to ``parent`` (an event whose member is a group's address)."""
    if child in emu.tenant.groups[parent].members:
        emu.tenant.remove_member(parent, child)
    emu.tenant.add_member(parent, child)


async def full_then_changes(db: Store, emu: GoogleEmulator) -> None:
    first = await sync(db, emu)
    assert first.status == "succeeded" and first.stats["read"] == "full", first.message
    ticking(emu)


async def test_membership_moves_in_many_groups_cost_a_few_requests(
    db: Store, tmp_path: Path
) -> None:
    emu = emulator()
    await full_then_changes(db, emu)
    t = emu.tenant
    moved = [g for g in t.group_ids if len(t.groups[g].members) < len(t.users)][:20]
    for group in moved:
        t.add_member(group, outsider(emu, group))
        t.remove_member(group, first_user(emu, group))
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert_matches_tenant(db, emu)
    # token + one activities page: the 20 groups' ids come from the mirror's staged addresses
    # (no groups listing, no group read), and no member listing
    assert emu.requests.count(REPORTS) == 1
    assert emu.requests.count("/admin/directory/v1/groups", method="GET") == 0
    assert emu.requests.count(BATCH) == 0 and len(emu.batched) == 0
    assert emu.requests.count(LISTINGS) == 0
    assert len(emu.requests) == 2
    assert result.stats["groups_from_mirror"] == 20
    assert result.stats["members_applied"] == 40 and result.stats["groups_reread"] == 0
    assert result.stats["groups_listed"] == 0
    # the same directory as a full read of the same state into an empty store
    await assert_full_read_agrees(db, emu, tmp_path)
    # the overlap reads the same events again: nothing changes
    again = await sync(db, emu)
    assert again.stats["read"] == "delta" and again.summary()["memberships_added"] == 0
    assert_matches_tenant(db, emu)


async def test_without_batches_each_named_group_is_one_request(db: Store) -> None:
    emu = emulator()
    first = await sync(db, emu, batch_size=0)
    assert first.stats["read"] == "full", first.message
    ticking(emu)
    t = emu.tenant
    moved = [g for g in t.group_ids if len(t.groups[g].members) < len(t.users)][:5]
    for group in moved:
        t.add_member(group, outsider(emu, group))
    nest(emu, t.group_ids[3], t.group_ids[8])  # a member address no user holds
    emu.requests.clear()
    result = await sync(db, emu, batch_size=0)
    assert result.stats["read"] == "delta", result.message
    assert emu.requests.count(BATCH) == 0
    # the groups' ids come from the mirror; the one whose listing is read again is read too
    # (its current record), and is still the staged group at that address
    assert emu.requests.count("/admin/directory/v1/groups/{g}") == 1
    assert result.stats["groups_from_mirror"] == len(set(moved) | {t.group_ids[3]})
    assert emu.requests.count(LISTINGS) == max(
        1, math.ceil(rendered_members(t, t.group_ids[3]) / 200)
    )
    assert_matches_tenant(db, emu)


async def test_latest_event_of_a_pair_wins(db: Store) -> None:
    emu = emulator()
    await full_then_changes(db, emu)
    t = emu.tenant
    group, other = t.group_ids[2], t.group_ids[5]
    user = outsider(emu, group)
    t.add_member(group, user)
    t.remove_member(group, user)
    t.add_member(group, user)  # in at the end
    leaver = first_user(emu, other)
    t.remove_member(other, leaver)
    t.add_member(other, leaver)
    t.remove_member(other, leaver)  # out at the end
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.stats["read"] == "delta" and result.stats["groups_reread"] == 0
    assert emu.batched.count(LISTINGS) == 0
    assert_matches_tenant(db, emu)


async def test_events_at_the_same_time_that_disagree_ask_the_member(db: Store) -> None:
    """Without batches too: the one tied pair is one ``members.get`` (more: test_google_ties)."""
    emu = emulator()
    await full_then_changes(db, emu)
    ticking(emu, step=0.0)
    t = emu.tenant
    group, plain = t.group_ids[2], t.group_ids[6]
    user = outsider(emu, group)
    t.add_member(group, user)
    t.remove_member(group, user)  # the same millisecond: which came last is not known
    t.add_member(plain, outsider(emu, plain))
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu, batch_size=0)
    assert result.stats["read"] == "delta" and result.stats["groups_reread"] == 0
    assert result.stats["ties_settled"] == 1 and "reread_reasons" not in result.stats
    assert (
        emu.requests.count(f"/admin/directory/v1/groups/{t.gid(group)}/members/{t.gid(user)}") == 1
    )
    assert emu.requests.count(LISTINGS) == 0 and emu.requests.count(BATCH) == 0
    assert_matches_tenant(db, emu)


async def test_member_the_mirror_does_not_know_reads_the_group_again(db: Store) -> None:
    emu = emulator()
    await full_then_changes(db, emu)
    t = emu.tenant
    parent, child, plain = t.group_ids[7], t.group_ids[8], t.group_ids[9]
    nest(emu, parent, child)  # a nested group: its address is no user's
    t.add_member(plain, outsider(emu, plain))
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.stats["read"] == "delta" and result.stats["groups_reread"] == 1
    assert result.stats["reread_reasons"] == {"a member address that is not one known user": 1}
    assert emu.batched.count(f"/admin/directory/v1/groups/{t.gid(parent)}/members") >= 1
    assert emu.batched.count(f"/admin/directory/v1/groups/{t.gid(plain)}/members") == 0
    assert_matches_tenant(db, emu)


async def test_too_many_groups_to_read_again_switch_to_a_full_read(db: Store) -> None:
    emu = emulator()
    await full_then_changes(db, emu)
    t = emu.tenant
    # membership events alone need no listing: a share of 0 keeps the delta
    t.add_member(t.group_ids[5], outsider(emu, t.group_ids[5]))
    result = await sync(db, emu, report_reread_share=0.0)
    assert result.stats["read"] == "delta" and "cost_switch" not in result.stats
    assert_matches_tenant(db, emu)
    t.rename_group(t.group_ids[4], "Renamed")  # its record is read, its listing is not
    nest(emu, t.group_ids[3], t.group_ids[8])  # a nested group: this listing is read again
    t.add_member(t.group_ids[6], outsider(emu, t.group_ids[6]))
    result = await sync(db, emu, report_reread_share=0.0)
    assert result.status == "succeeded", result.message
    assert result.stats["read"].startswith("full")
    assert result.stats["cost_switch"] == "1 of 30 groups to read again"
    assert_matches_tenant(db, emu)


def activity(when: str, name: str, group: str, member: str) -> dict[str, Any]:
    params = [{"name": "GROUP_EMAIL", "value": group}, {"name": "USER_EMAIL", "value": member}]
    event = {"type": "GROUP_SETTINGS", "name": name, "parameters": params}
    return {"id": {"time": when}, "events": [event]}


def test_read_log_and_apply_without_the_emulator() -> None:
    t1, t2 = "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z"
    items = [  # newest first, as the Reports API lists
        activity(t2, "REMOVE_GROUP_MEMBER", "a@x", "U@x"),
        activity(t1, "ADD_GROUP_MEMBER", "a@x", "u@x"),
        activity(t1, "ADD_GROUP_MEMBER", "b@x", "u@x"),
        activity(t1, "REMOVE_GROUP_MEMBER", "b@x", "u@x"),
        activity(t2, "ADD_GROUP_MEMBER", "c@x", "v@x"),
        activity(t2, "ADD_GROUP_MEMBER", "d@x", "stranger@y"),
        activity("not a time", "ADD_GROUP_MEMBER", "e@x", "u@x"),
        activity(t1, "CHANGE_GROUP_SETTING", "f@x", ""),
    ]
    log = read_log(items)
    assert log.latest[("a@x", "u@x")] == (log.latest[("a@x", "u@x")][0], False)
    assert log.reread == {
        "b@x": "events of one member at the same time disagree",
        "e@x": "an event without a time",
        "f@x": "group event CHANGE_GROUP_SETTING",
    }
    ids = {f"{n}@x": n.upper() for n in "abcdef"}
    edges = {Membership("A", "u1"), Membership("C", "v1")}
    users = {"u@x": "u1", "v@x": "v1"}
    added, removed, reread = apply(log, ids, {"A", "B", "C", "D"}, users, edges)
    assert removed == {Membership("A", "u1")}
    assert added == set()  # c/v is already there (a replay)
    assert reread == {**log.reread, "d@x": "a member address that is not one known user"}
    # a group the mirror does not know yet is read again
    _, _, reread = apply(log, ids, {"A", "B", "D"}, users, edges)
    assert reread["c@x"] == "a group the mirror does not hold"
    # a user deleted in the window: its removals apply, an addition of it is read again
    _, removed, reread = apply(log, ids, {"A", "B", "C", "D"}, users, edges, {"u@x", "v@x"})
    assert removed == {Membership("A", "u1")}
    assert reread["c@x"] == "the addition of a user deleted in the window"
