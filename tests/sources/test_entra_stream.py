"""Entra's full read streamed into the stage (:mod:`idpsync.store.stream`), end to end against the
emulator on SQLite and PostgreSQL, batched and one listing at a time: each group's members go to
the stream as its listing (or its whole ``$expand``) is read, so the runs are the same as
reading in memory (statuses, plans, stage) through changes and an incomplete read that removes
nothing; failed or cancelled reads leave nothing; a scoped read (``required_groups``) reads in
memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from idpsync.app.runner import RunResult
from idpsync.config_policy import PolicySettings
from idpsync.emulators import Fault
from idpsync.emulators.entra import EntraEmulator
from idpsync.http import set_testing
from idpsync.sources.entra.reader import EntraSource
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld
from tests.sources.stream_support import (
    CancelsAt,
    Recorded,
    Twins,
    assert_stage_kept,
    first_changes,
    left_behind,
    nothing_staged,
)
from tests.store.test_stage_sql import stage_of

MEMBERS = "/v1.0/groups/{id}/members"
WAYS = [{"batch": True, "expand_members": True}, {"batch": False, "expand_members": False}]


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture
def emu() -> EntraEmulator:
    return EntraEmulator.generate(users=200, groups=30, seed=9, medium_every=3)


def _world(
    emu: EntraEmulator, store: Store, transport: httpx.AsyncBaseTransport | None = None, **kw: Any
) -> EntraWorld:
    return EntraWorld(emu, store, options={"fetch_managers": False, **kw}, transport=transport)


def _biggest(emu: EntraEmulator) -> str:
    """The group with the most members (listed whatever the expansion gives)."""
    return max(emu.tenant.group_ids, key=lambda g: len(emu.tenant.member_list(g)))


def _steps(emu: EntraEmulator) -> Iterator[str]:
    """Change the tenant between runs; yields what changed."""
    t = emu.tenant
    yield "first load"
    first_changes(t)
    yield "changes"
    victim = _biggest(emu)
    t.remove_member(victim, t.member_list(victim)[0])  # would be removed, were it read
    emu.inject(Fault("status", f"/v1.0/groups/{victim}/members", status=503, times=0))
    yield "incomplete"


@pytest.mark.parametrize("way", WAYS, ids=["batched", "one by one"])
async def test_a_streamed_full_sync_runs_exactly_as_one_read_in_memory(
    store: Store,
    twin: Store,
    streams: list[Recorded],
    monkeypatch: pytest.MonkeyPatch,
    emu: EntraEmulator,
    way: dict[str, Any],
) -> None:
    twins = Twins((store, twin), streams, monkeypatch, EntraSource, "entra")

    async def sync(st: Store) -> RunResult:
        return await _world(emu, st, **way).sync(mode="full")

    for step in _steps(emu):
        got = await twins.run(step, sync)
    assert got.status == "partial" and got.summary()["memberships_removed"] == 0
    assert left_behind(streams, store.dialect) == []


async def test_a_scoped_read_reads_in_memory(
    store: Store, streams: list[Recorded], emu: EntraEmulator
) -> None:
    world = _world(emu, store)
    world.policy = PolicySettings.model_validate({"required_groups": [_biggest(emu)]})
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert streams == []  # no stream: a scoped read keeps the edges of the users it lists


@pytest.mark.parametrize("way", WAYS, ids=["batched", "one by one"])
async def test_a_failed_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded], emu: EntraEmulator, way: dict[str, Any]
) -> None:
    world = _world(emu, store, **way)
    assert (await world.sync(mode="full")).status == "succeeded"
    before = stage_of(store, "entra")
    group = emu.tenant.group_ids[0]
    emu.tenant.add_member(
        group, next(u for u in emu.tenant.user_ids if u not in emu.tenant.member_list(group))
    )
    emu.inject(Fault("status", MEMBERS, nth=6, times=0, status=403))  # fatal, after others
    result = await world.sync(mode="full")
    assert result.status == "failed" and "GroupMember.Read.All" in result.message
    assert_stage_kept(streams, store, "entra", before)


async def test_a_cancelled_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded], emu: EntraEmulator
) -> None:
    world = _world(emu, store, CancelsAt(emu.transport(), 20), batch=False, expand_members=False)
    with pytest.raises(asyncio.CancelledError):
        await world.sync(mode="full")
    assert streams[-1].peak > 0  # a few listings were written before
    assert nothing_staged(store, "entra")
    assert left_behind(streams, store.dialect) == []
