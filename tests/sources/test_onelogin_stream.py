"""OneLogin's full read streamed into the stage (:mod:`idpsync.store.stream`), end to end against
the emulator on SQLite and PostgreSQL: each users page's edges go to the stream as the page is
accepted, and what the finished read does not keep is taken back, so the runs are the same as
reading in memory (statuses, plans, stage) through changes, a skipped user, a group no listing
names, a listing read again after the account changed, roles listed per role and an incomplete
read that removes nothing; failed or cancelled reads leave nothing."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.emulators import Fault
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.sources.onelogin.reader import OneLoginSource
from idpsync.store import Store
from tests.sources.onelogin_support import Clock, connector, source
from tests.sources.stream_support import (
    Recorded,
    Twins,
    assert_stage_kept,
    cancel_at,
    left_behind,
    nothing_staged,
)
from tests.store.test_stage_sql import stage_of

pytestmark = pytest.mark.usefixtures("no_sleep")

OPTIONS: dict[str, Any] = {"groups_from": "both", "http": {"concurrency": 4}}
"""Groups and roles, users pages read by number four at a time."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> OneLoginEmulator:
    return OneLoginEmulator.generate(users=260, groups=6, roles=5, seed=11, clock=clock)


class Meddler(httpx.AsyncBaseTransport):
    """Calls ``act`` once, before the second ``/api/2/users`` request reaches the emulator."""

    def __init__(self, emu: OneLoginEmulator, act: Callable[[], None]) -> None:
        self.inner, self.act, self.seen = emu.transport(), act, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/2/users":
            self.seen += 1
            if self.seen == 2:
                self.act()
        return await self.inner.handle_async_request(request)


class RoleIdsAmiss(httpx.AsyncBaseTransport):
    """Answers ``/api/2/users`` with one user's record lacking ``role_ids`` (the others keep
    theirs: the roles' members are then listed per role) and another's naming a role whose
    member listing does not name it (the listing is what counts)."""

    def __init__(self, emu: OneLoginEmulator, user_id: int, other: int, role: int) -> None:
        self.inner, self.user_id, self.other, self.role = emu.transport(), user_id, other, role

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/api/2/users" or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        for item in body:
            if item.get("id") == self.user_id:
                item.pop("role_ids", None)
            elif item.get("id") == self.other:
                item["role_ids"] = [*item["role_ids"], self.role]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(200, headers=headers, content=json.dumps(body).encode())


async def _sync(
    store: Store,
    emu: OneLoginEmulator,
    transport: httpx.AsyncBaseTransport | None = None,
    **kwargs: Any,
) -> RunResult:
    cfg = connector(emu, **OPTIONS)
    src = source(emu, cfg, transport)
    try:
        return await run_sync(store, "ol", cfg, src, mode="full", allow_deletes=True, **kwargs)
    finally:
        await src.aclose()


Transport = httpx.AsyncBaseTransport | None


def _steps(emu: OneLoginEmulator, clock: Clock) -> Iterator[tuple[str, Transport, Transport]]:
    """Change the account between runs; yields what changed and the streamed and the in-memory
    reads' transports (``None``: the emulator's own)."""
    account = emu.account
    ids = list(account.user_ids)
    groups = list(account.groups)
    yield "first load", None, None
    clock.now += 120
    moved_to = next(g for g in groups if g != account.users[ids[3]].group_id)
    account.update_user(ids[3], group_id=moved_to)
    account.assign_role(
        ids[4], next(r for r in account.roles if r not in account.users[ids[4]].role_ids)
    )
    account.delete_user(ids[5])
    account.add_user("new.person", "new.person@example.com", group_id=moved_to)
    account.rename_group(moved_to, "Renamed group")
    # a user the read skips (no username, no e-mail): none of its edges are staged
    elsewhere = next(g for g in groups if g != account.users[ids[6]].group_id)
    account.update_user(ids[6], username="", email=None, group_id=elsewhere)
    yield "changes, a skipped user", None, None
    clock.now += 120
    account.update_user(ids[7], group_id=987_654)  # a group no listing names: the edge goes
    yield "a group that is not read", None, None
    clock.now += 120
    first_page = ids[1]  # on page 1, handed over before the account changes

    def churn() -> None:  # the count moves: the pages are read again, the first ones taken back
        clock.now += 3
        account.add_user("late.comer", "late.comer@example.com")
        account.update_user(first_page, group_id=moved_to)

    yield "a listing read again", Meddler(emu, churn), None
    clock.now += 120
    # roles' members listed per role: the role edges the other users carried are taken back
    account.remove_role(ids[8], account.users[ids[8]].role_ids[0])
    role = next(r for r in account.roles if r not in account.users[ids[11]].role_ids)
    amiss = RoleIdsAmiss(emu, ids[10], ids[11], role)
    yield "roles listed per role", amiss, amiss
    clock.now += 120
    account.update_user(ids[9], group_id=None)  # would be removed, were the read complete
    emu.inject(Fault("status", "/api/1/groups", times=0, status=500))
    yield "incomplete", None, None


async def test_a_streamed_full_sync_runs_exactly_as_one_read_in_memory(
    store: Store,
    twin: Store,
    streams: list[Recorded],
    monkeypatch: pytest.MonkeyPatch,
    emu: OneLoginEmulator,
    clock: Clock,
) -> None:
    twins = Twins((store, twin), streams, monkeypatch, OneLoginSource, "ol")
    for step, transport, memory in _steps(emu, clock):
        got = await twins.run(
            step,
            functools.partial(_sync, emu=emu, transport=transport),
            functools.partial(_sync, emu=emu, transport=memory),
        )
    assert got.status == "partial" and got.summary()["memberships_removed"] == 0
    assert left_behind(streams, store.dialect) == []


async def test_a_failed_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded], emu: OneLoginEmulator
) -> None:
    first = await _sync(store, emu)
    assert first.status == "succeeded", first.message
    before = stage_of(store, "ol")
    emu.account.update_user(emu.account.user_ids[0], group_id=None)  # would be staged
    # the fourth users page is refused (401: fatal), after others were streamed
    emu.inject(Fault("status", "/api/2/users", nth=4, times=0, status=401))
    result = await _sync(store, emu)
    assert result.status == "failed" and "401" in result.message
    assert_stage_kept(streams, store, "ol", before)


async def test_a_cancelled_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded], emu: OneLoginEmulator
) -> None:
    # cancelled once a few users pages were streamed
    cancel = cancel_at(4, lambda event: "list_users" in event.message and bool(event.done))
    with pytest.raises(asyncio.CancelledError):
        await _sync(store, emu, progress=cancel)
    assert streams[-1].peak > 0  # a few batches were written before
    assert nothing_staged(store, "ol")
    assert left_behind(streams, store.dialect) == []
