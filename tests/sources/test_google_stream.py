"""Google's full read streamed into the stage (:mod:`idpsync.sources.google.handover`), end to
end against the emulator on SQLite and PostgreSQL: each member listing kept while the read goes
on is handed to the stream at once, the rest at the end, so the runs are the same as reading in
memory (statuses, plans, stage) through changes, a group found gone at the end after listings
naming it were handed over, a member listing that fails and the users listing failing (both
incomplete: nothing removed); a cancelled read leaves nothing; a read without batches reads in
memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.model import EdgeList, MemberKind, Membership
from idpsync.sources.google.reader import GoogleSource
from idpsync.store import Store
from tests.sources.google_support import connector, fail_users, sa_settings, source
from tests.sources.stream_support import Recorded, Twins, first_changes, left_behind, nothing_staged

pytestmark = pytest.mark.usefixtures("no_sleep")

NAME = "gws"
USERS = "/admin/directory/v1/users"
GROUPS = "/admin/directory/v1/groups"


def tenant() -> GoogleEmulator:
    """600 users (2 pages), 450 groups (3 pages); the last page's groups long (3 member pages),
    so listings of the first pages end, and are kept, while the read goes on."""
    emu = GoogleEmulator.generate(users=600, groups=450, seed=7, medium_every=3)
    emu.rate_limit = False  # two reads a step, no waits: the quota is not what is tested here
    t = emu.tenant
    for group in t.group_ids[400:]:
        for uid in t.user_ids[: 600 - len(t.member_list(group))]:
            t.add_member(group, uid)
    return emu


def steps(emu: GoogleEmulator) -> Iterator[str]:
    """Change the tenant between runs; yields what changed."""
    t = emu.tenant
    groups = list(t.group_ids)
    yield "first load"
    first_changes(t)
    yield "changes"
    gone = groups[300]  # its listing and the group answer 404: found gone at the read's end
    for parent in groups[5:10]:  # on the first groups page: kept (handed over) early
        t.add_member(parent, gone)
    path = f"{GROUPS}/{t.gid(gone)}"
    emu.inject(Fault("status", f"{path}/members", status=404, times=0))
    emu.inject(Fault("status", path, status=404, times=0))
    yield "a group found gone at the end"
    failing = groups[20]
    t.remove_member(failing, t.member_list(failing)[0])  # would be removed, were it read
    emu.inject(Fault("status", f"{GROUPS}/{t.gid(failing)}/members", status=503, times=0))
    yield "a member listing fails"
    fail_users(emu)
    yield "the users listing fails"


async def sync(store: Store, src: GoogleSource) -> RunResult:
    return await run_sync(
        store, NAME, connector(src.settings), src, mode="full", allow_deletes=True
    )


async def test_a_streamed_full_sync_runs_exactly_as_one_read_in_memory(
    store: Store, twin: Store, streams: list[Recorded], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = tenant()
    streamed, in_memory = source(emu), source(emu)
    handed: list[int] = []  # edges handed over when each batch request came in
    withdrawn: list[Membership] = []
    real_edges, real_withdraw, real_batch = Recorded.edges, Recorded.withdraw, emu._batch

    def edges(self: Recorded, batch: Iterable[Membership]) -> None:
        kept = EdgeList.of(batch)
        handed.append((handed or [0])[-1] + len(kept))
        real_edges(self, kept)

    def withdraw(self: Recorded, batch: Iterable[Membership]) -> None:
        withdrawn.extend(batch)
        real_withdraw(self, batch)

    at_batches: list[int] = []  # of the streamed run only

    async def noted(request: Any) -> Any:
        if streaming:
            at_batches.append((handed or [0])[-1])
        return await real_batch(request)

    streaming = False

    async def streamed_sync(st: Store) -> RunResult:
        nonlocal streaming
        streaming = True
        try:
            return await sync(st, streamed)
        finally:
            streaming = False

    monkeypatch.setattr(Recorded, "edges", edges)
    monkeypatch.setattr(Recorded, "withdraw", withdraw)
    emu._batch = noted  # type: ignore[method-assign]
    twins = Twins((store, twin), streams, monkeypatch, GoogleSource, NAME)
    t = emu.tenant
    order = list(t.group_ids)  # as steps() found them
    for step in steps(emu):
        handed.clear()
        at_batches.clear()
        got = await twins.run(step, streamed_sync, lambda st: sync(st, in_memory))
        if step == "first load":
            assert got.status == "succeeded", got.message
            assert 0 < at_batches[-1] < handed[-1]  # kept listings went before the last page
        if step == "a group found gone at the end":
            gone = t.gid(order[300])
            assert sorted(withdrawn) == sorted(
                Membership(t.gid(p), gone, MemberKind.GROUP) for p in order[5:10]
            )
            assert got.status == "succeeded", got.message
        if step == "a member listing fails":
            assert got.status == "partial" and at_batches[-1] > 0
        if step == "the users listing fails":
            assert handed and at_batches[-1] == 0  # nothing kept early: everything at the end
    assert got.status == "partial" and got.summary()["memberships_removed"] == 0
    assert "the users listing could not be read" in got.message
    assert left_behind(streams, store.dialect) == []
    await streamed.aclose()
    await in_memory.aclose()
    # without batches nothing is final before the users listing ends: no stream
    alone = source(emu, sa_settings(emu, batch_size=0))
    count = len(streams)
    assert (await sync(store, alone)).status == "partial"
    assert len(streams) == count
    await alone.aclose()


class CancelsOnceStreamed(httpx.AsyncBaseTransport):
    """Cancels the run's task at the first request after edges were written to the stream."""

    def __init__(self, inner: httpx.AsyncBaseTransport, streams: list[Recorded]) -> None:
        self.inner, self.streams = inner, streams

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.streams and self.streams[-1].count:
            raise asyncio.CancelledError
        return await self.inner.handle_async_request(request)


async def test_a_cancelled_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded]
) -> None:
    emu = tenant()
    src = source(emu, transport=CancelsOnceStreamed(emu.transport(), streams))
    with pytest.raises(asyncio.CancelledError):
        await sync(store, src)
    assert streams[-1].peak > 0  # kept listings were written before
    assert nothing_staged(store, NAME)
    assert left_behind(streams, store.dialect) == []
    await src.aclose()
