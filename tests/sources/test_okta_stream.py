"""Okta's full read streamed into the stage (:mod:`idpsync.store.stream`), end to end against the
emulator on SQLite and PostgreSQL: the same runs as reading in memory (statuses, plans, stage),
an incomplete read that removes nothing, and failed or cancelled reads that leave nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.config import ConnectorSettings
from idpsync.emulators import Fault, TenantGroup, TenantUser
from idpsync.model import Membership
from idpsync.sources.base import Event
from idpsync.sources.okta.reader import OktaSource
from idpsync.store import Store
from tests.sources.okta_support import RecordingEmulator, emulator, source
from tests.sources.stream_support import (
    Recorded,
    Twins,
    cancel_at,
    left_behind,
    nothing_staged,
)
from tests.store.test_stage_sql import stage_of

pytestmark = pytest.mark.usefixtures("no_sleep")


async def _sync(store: Store, src: OktaSource, **kwargs: Any) -> RunResult:
    settings = ConnectorSettings(source=src.settings)
    return await run_sync(store, "okta", settings, src, mode="full", allow_deletes=True, **kwargs)


def _changes(emu: RecordingEmulator) -> Iterator[str]:
    """Change the org between runs; yields what changed."""
    t = emu.tenant
    active = [uid for uid in t.user_ids if emu.status_of(uid) == "ACTIVE"]
    plain = [gid for gid in t.group_ids if emu.group_type(gid) == "OKTA_GROUP"]
    yield "first load"
    t.add_user(TenantUser("00unew", "new.person", "New Person", "New", "Person", None))
    t.add_group(TenantGroup("00gnew", "New group", members={active[0]: None, "00unew": None}))
    t.add_member(plain[0], active[1])
    t.remove_member(plain[1], next(iter(t.groups[plain[1]].members)))
    t.delete_group(plain[2])
    emu.set_status(active[2], "SUSPENDED")
    yield "changes"
    # one group's member listing fails (a 404 is never fatal): incomplete, nothing removed
    t.remove_member(plain[3], next(iter(t.groups[plain[3]].members)))
    emu.inject(Fault("status", f"/api/v1/groups/{plain[4]}/users", times=0, status=404))
    yield "incomplete"


async def test_a_streamed_full_sync_runs_exactly_as_one_read_in_memory(
    store: Store, twin: Store, streams: list[Recorded], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator(users=220, groups=14)
    streamed, in_memory = source(emu), source(emu)
    twins = Twins((store, twin), streams, monkeypatch, OktaSource, "okta")
    for step in _changes(emu):
        got = await twins.run(step, lambda st: _sync(st, streamed), lambda st: _sync(st, in_memory))
    assert got.status == "partial" and got.summary()["memberships_removed"] == 0
    assert left_behind(streams, store.dialect) == []
    await streamed.aclose()
    await in_memory.aclose()


async def test_a_failed_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded]
) -> None:
    emu = emulator(users=150, groups=10)
    src = source(emu)
    first = await _sync(store, src)
    assert first.status == "succeeded"
    before = stage_of(store, "okta")
    gid = next(g for g in emu.tenant.group_ids if emu.tenant.groups[g].members)
    emu.tenant.add_user(TenantUser("00unew", "new.person", "New Person", "New", "Person", None))
    emu.tenant.add_member(gid, "00unew")  # would be staged, were the read to succeed
    # the fifth member listing is refused (401: fatal), after others were streamed
    emu.inject(Fault("status", "/api/v1/groups/{id}/users", nth=5, times=0, status=401))
    result = await _sync(store, src)
    assert result.status == "failed" and "401" in result.message
    assert streams[-1].count > 0  # edges had been written before the failure
    assert stage_of(store, "okta") == before
    assert left_behind(streams, store.dialect) == []
    await src.aclose()


async def test_a_cancelled_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded]
) -> None:
    emu = emulator(users=150, groups=10)
    src = source(emu)
    # cancelled once a few listings were streamed
    cancel = cancel_at(4, lambda event: event.message == "group members")
    with pytest.raises(asyncio.CancelledError):
        await _sync(store, src, progress=cancel)
    assert streams[-1].count > 0  # a few batches were written before
    assert nothing_staged(store, "okta")
    assert left_behind(streams, store.dialect) == []
    await src.aclose()


async def test_edges_with_unusable_ids_are_dropped_and_mark_the_read_incomplete(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As :func:`~idpsync.sources.clean.normalise` does for edges held in memory."""
    emu = emulator(users=60, groups=6)
    src = source(emu)
    real = OktaSource.snapshot_to

    async def with_a_bad_edge(self: OktaSource, sink: Any, progress: Any) -> Any:
        sink.edges([Membership("g\x00bad", "u1"), Membership("g1", "")])
        return await real(self, sink, progress)

    monkeypatch.setattr(OktaSource, "snapshot_to", with_a_bad_edge)
    result = await _sync(store, src)
    assert not result.complete
    assert "2 membership edge(s) name an unusable id" in result.message
    staged = stage_of(store, "okta")["source_memberships"]
    assert not any(g in ("g\x00bad", "g1") for g, _, _ in staged)
    await src.aclose()


async def test_another_run_writes_the_directory_while_a_read_streams(
    store: Store, streams: list[Recorded]
) -> None:
    """Between the stream's batches and across them, another run's write transaction (SQLite:
    ``BEGIN IMMEDIATE``) goes through at once: the read holds no lock on the directory."""
    emu = emulator(users=150, groups=10)
    src = source(emu)
    written: list[int] = []

    def another_run(event: Event) -> None:
        if event.message == "group members" and streams and streams[-1].count:
            with store.transaction() as conn:  # waits for any lock, up to 30 s, then fails
                store.ensure_connector(conn, f"other{len(written)}", "file")
            written.append(streams[-1].count)

    result = await _sync(store, src, progress=another_run)
    assert result.status == "succeeded", result.message
    assert len(written) >= 3 and written[0] < written[-1]  # while the stream went on filling
    with store.read() as conn:
        names = {row[0] for row in conn.exec_driver_sql("SELECT name FROM connectors")}
    assert {f"other{i}" for i in range(len(written))} <= names
    await src.aclose()
