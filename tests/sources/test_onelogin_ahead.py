"""OneLogin's streamed full read makes and cleans its users while the groups' chain is read.

The v1 groups listing is a cursor chain, the read's longest wait; the users' pages by number
end well before it. Each users page's records are made users (and cleaned as the run's
``normalise`` would) as the page comes, so nothing of them is left for after the chain's last
page. These tests count and order, they time nothing; the stream twins
(``test_onelogin_stream.py``) hold the runs to the in-memory read's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from idpsync.app.runner import run_sync
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.model import Membership
from idpsync.sources.base import Event
from idpsync.sources.clean import normalise
from idpsync.sources.onelogin.reader import OneLoginSource
from idpsync.store import Store
from tests.sources.onelogin_support import Clock, connector, pages, source

USERS, GROUPS, ROLES = 260, 120, 5  # six users pages, three groups pages (the chain)
OPTIONS: dict[str, Any] = {"groups_from": "both", "http": {"concurrency": 4}}
HOLD_S = 5.0

pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def emu() -> OneLoginEmulator:
    return OneLoginEmulator.generate(users=USERS, groups=GROUPS, roles=ROLES, seed=3, clock=Clock())


class HeldLastPage(httpx.AsyncBaseTransport):
    """Holds the groups chain's last page until the users listing has been read (at most
    :data:`HOLD_S`), then notes ``count()`` before the page is answered."""

    def __init__(self, emu: OneLoginEmulator, count: Any) -> None:
        self.inner, self.count = emu.transport(), count
        self.users_read = asyncio.Event()
        self.groups_pages = 0
        self.at_last_page: int | None = None

    def progress(self, event: Event) -> None:
        if "list_users" in event.message and event.done is not None and event.done == event.total:
            self.users_read.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/1/groups":
            self.groups_pages += 1
            if self.groups_pages == pages(GROUPS):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.users_read.wait(), HOLD_S)
                self.at_last_page = self.count()
        return await self.inner.handle_async_request(request)


async def test_the_users_are_made_before_the_groups_chain_ends(
    store: Store, emu: OneLoginEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = 0
    plain = OneLoginSource._user

    def counted(self: OneLoginSource, item: dict[str, Any]) -> Any:
        nonlocal made
        made += 1
        return plain(self, item)

    monkeypatch.setattr(OneLoginSource, "_user", counted)
    held = HeldLastPage(emu, lambda: made)
    cfg = connector(emu, **OPTIONS)
    src = source(emu, cfg, held)
    try:
        result = await run_sync(
            store, "ol", cfg, src, mode="full", allow_deletes=True, progress=held.progress
        )
    finally:
        await src.aclose()
    assert result.status == "succeeded", result.message
    assert held.users_read.is_set() and held.groups_pages == pages(GROUPS) == 3
    assert held.at_last_page == USERS  # every user made while the chain still waited
    assert made == USERS  # and none made again after it


class Edges:
    """A sink that holds the edges handed over, copies counted."""

    def __init__(self) -> None:
        self.held: Counter[Membership] = Counter()

    def edges(self, batch: Iterable[Membership]) -> None:
        self.held.update(batch)

    def withdraw(self, batch: Iterable[Membership]) -> None:
        for edge in batch:  # each copy listed
            assert self.held[edge] > 0
            self.held[edge] -= 1

    def discard(self) -> None:
        self.held.clear()


async def test_the_users_cleaned_ahead_are_what_normalise_makes_of_a_read_in_memory(
    emu: OneLoginEmulator,
) -> None:
    account = emu.account
    ids = list(account.user_ids)
    account.update_user(ids[2], firstname="Tab\there", lastname="Bell\x07")  # cleaned
    account.update_user(ids[4], username="bad\x01login")  # cannot be stored: skipped
    account.update_user(ids[6], username="", email=None)  # makes no user: skipped
    account.update_user(ids[8], group_id=987_654)  # a group no listing names
    cfg = connector(emu, **OPTIONS)
    src = source(emu, cfg)
    sink = Edges()
    try:
        streamed = await src.snapshot_to(sink)
        in_memory = normalise(await src.snapshot())
    finally:
        await src.aclose()
    assert streamed.cleaned_users == len(streamed.users) == USERS - 2  # cleaned by the read
    normalise(streamed)  # the run's step: nothing left to do for the users
    assert streamed.users == in_memory.users
    assert streamed.groups == in_memory.groups
    assert streamed.skipped == in_memory.skipped
    assert streamed.incomplete_reasons == in_memory.incomplete_reasons
    assert +sink.held == Counter(in_memory.memberships)
