"""OneLogin: v2 pages read by number in parallel (``parallel_pages``), proven whole or read again.

Request counts come from the emulator's request log; the account changes in the middle of a
read through a transport that acts on the n-th users request (as another admin would).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.model import Snapshot
from tests.sources.onelogin_support import Clock, connector, full_requests, pages, source

USERS, GROUPS, ROLES = 430, 7, 5  # nine pages of users


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> OneLoginEmulator:
    return OneLoginEmulator.generate(users=USERS, groups=GROUPS, roles=ROLES, seed=3, clock=clock)


class Meddler(httpx.AsyncBaseTransport):
    """Calls ``act(n)`` before the n-th ``/api/2/users`` request reaches the emulator."""

    def __init__(self, emu: OneLoginEmulator, act: Callable[[int], None]) -> None:
        self.inner, self.act, self.seen = emu.transport(), act, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/2/users":
            self.seen += 1
            self.act(self.seen)
        return await self.inner.handle_async_request(request)


async def read(
    emu: OneLoginEmulator, transport: httpx.AsyncBaseTransport | None = None, **options: Any
) -> Snapshot:
    cfg = connector(emu, groups_from="both", **options)
    src = source(emu, cfg, transport)
    try:
        return await src.snapshot()
    finally:
        await src.aclose()


def users_calls(emu: OneLoginEmulator) -> list[str]:
    return [e.query for e in emu.requests.entries() if e.path == "/api/2/users"]


def same(a: Snapshot, b: Snapshot) -> bool:
    return (
        sorted(a.users, key=lambda u: u.source_id) == sorted(b.users, key=lambda u: u.source_id)
        and sorted(a.groups, key=lambda g: g.source_id)
        == sorted(b.groups, key=lambda g: g.source_id)
        and sorted(a.memberships) == sorted(b.memberships)
    )


@pytest.mark.parametrize("concurrency", [2, 8])
async def test_pages_by_number_cost_what_the_chain_costs_and_read_the_same(
    emu: OneLoginEmulator, concurrency: int
) -> None:
    fast = await read(emu, http={"concurrency": concurrency})
    assert fast.complete, fast.incomplete_reasons
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "both")
    calls = users_calls(emu)
    assert "page=" not in calls[0] and "cursor=" not in calls[0]
    numbers = sorted(int(q.split("page=")[1].split("&")[0]) for q in calls[1:])
    assert numbers == list(range(2, pages(USERS) + 1))  # each page once, no cursor
    assert not any("cursor=" in q for q in calls)
    emu.requests.clear()
    chain = await read(emu, parallel_pages=False, http={"concurrency": concurrency})
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "both")
    assert sum("cursor=" in q for q in users_calls(emu)) == pages(USERS) - 1
    assert same(fast, chain) and len(fast.users) == USERS
    assert emu.requests.count("*", status=429) == 0


async def test_concurrency_one_keeps_the_chain(emu: OneLoginEmulator) -> None:
    snap = await read(emu, http={"concurrency": 1})
    assert snap.complete and len(snap.users) == USERS
    assert sum("cursor=" in q for q in users_calls(emu)) == pages(USERS) - 1


async def test_a_user_created_during_the_read_reads_the_pages_again(
    emu: OneLoginEmulator, clock: Clock
) -> None:
    made: list[int] = []

    def create(n: int) -> None:
        if n == 2:  # after page 1 answered: Total-Count moves for the pages after it
            clock.now += 3
            made.append(emu.account.add_user("late.comer", "late@example.com").id)

    snap = await read(emu, Meddler(emu, create), http={"concurrency": 2})
    assert snap.complete, snap.incomplete_reasons
    assert {u.source_id for u in snap.users} == {str(i) for i in emu.account.user_ids}
    assert str(made[0]) in {u.source_id for u in snap.users}
    # A first try of at most P calls (cut short once the count moved), then P again.
    calls = users_calls(emu)
    assert pages(USERS) + 2 <= len(calls) <= 2 * pages(USERS) + 1
    assert not any("cursor=" in q for q in calls)


async def test_a_deletion_hidden_by_a_creation_is_caught_and_nobody_is_missed(
    emu: OneLoginEmulator, clock: Clock
) -> None:
    """Delete a user of page 1 and create one after page 1 answered: the count does not move,
    but every later page shifts by one, so the first user of page 2 would be missed."""
    account = emu.account
    shifted = account.user_ids[50]  # first of page 2 before the change, last of page 1 after

    def churn(n: int) -> None:
        if n == 2:
            clock.now += 3
            account.delete_user(account.user_ids[0])
            account.add_user("stand.in", "stand.in@example.com")

    snap = await read(emu, Meddler(emu, churn), http={"concurrency": 2})
    assert snap.complete, snap.incomplete_reasons
    listed = {u.source_id for u in snap.users}
    assert str(shifted) in listed
    assert listed == {str(i) for i in account.user_ids}


async def test_pages_that_ignore_the_number_fall_back_to_the_cursor_chain(
    emu: OneLoginEmulator,
) -> None:
    class IgnoresPage(httpx.AsyncBaseTransport):
        """A server that answers ``page=N`` (without a cursor) with page 1."""

        def __init__(self) -> None:
            self.inner = emu.transport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            params = request.url.params
            if request.url.path == "/api/2/users" and "page" in params:
                request.url = request.url.copy_remove_param("page")
            return await self.inner.handle_async_request(request)

    snap = await read(emu, IgnoresPage(), http={"concurrency": 2})
    assert snap.complete, snap.incomplete_reasons
    assert len(snap.users) == USERS
    calls = users_calls(emu)
    chain = [q for q in calls if "cursor=" in q]
    assert len(chain) == pages(USERS) - 1  # the chain, after page 1 read again
    # page 1, at most two pages tried by number (two in flight), then the whole chain
    assert len(calls) <= 1 + 2 + pages(USERS)


async def test_an_account_that_keeps_changing_marks_the_listing_incomplete(
    emu: OneLoginEmulator, clock: Clock
) -> None:
    def create(n: int) -> None:
        if n % 3 == 2:
            clock.now += 3
            emu.account.add_user(f"busy.{n}", f"busy.{n}@example.com")

    snap = await read(emu, Meddler(emu, create), http={"concurrency": 2})
    assert not snap.complete
    assert any("could not prove GET /api/2/users read whole" in r for r in snap.incomplete_reasons)
    assert snap.users == []  # nothing of an unproven listing is used
    # two tries by number, then the chain: bounded, never a loop
    assert len(users_calls(emu)) <= 3 * pages(USERS) + 1


async def test_the_budget_covers_the_pages_or_none_is_asked_for(emu: OneLoginEmulator) -> None:
    floor = 20
    charged = 1 + 1 + pages(USERS)  # groups, roles, users; token and rate limit are free
    emu.budget.exhaust(leave=floor + charged)
    snap = await read(emu, min_remaining_calls=floor, http={"concurrency": 8})
    assert snap.complete, snap.incomplete_reasons
    assert emu.budget.peek().remaining == floor
    emu.requests.clear()
    emu.budget.exhaust(leave=floor + 5)  # users page 1 tells 8 more pages: they do not fit
    short = await read(emu, min_remaining_calls=floor, http={"concurrency": 8})
    assert not short.complete
    needs = f"GET /api/2/users needs {pages(USERS) - 1} more calls"
    assert any(needs in r for r in short.incomplete_reasons), short.incomplete_reasons
    assert users_calls(emu) == [users_calls(emu)[0]]  # no page by number was spent
    assert len(emu.requests) == 2 + 3  # token, rate limit, users page 1, groups, roles
    assert emu.requests.count("*", status=429) == 0
    assert emu.budget.peek().remaining == floor + 2


async def test_a_first_page_without_totals_goes_on_as_the_chain(emu: OneLoginEmulator) -> None:
    class NoTotals(httpx.AsyncBaseTransport):
        """A server (or proxy) that drops the paging totals but keeps ``After-Cursor``."""

        def __init__(self) -> None:
            self.inner = emu.transport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            for name in ("Total-Count", "Total-Pages", "Current-Page"):
                response.headers.pop(name, None)
            return response

    snap = await read(emu, NoTotals(), http={"concurrency": 8})
    assert snap.complete and len(snap.users) == USERS
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "both")  # nothing read twice
    assert sum("cursor=" in q for q in users_calls(emu)) == pages(USERS) - 1


async def test_an_incremental_read_of_many_changed_users_reads_their_pages_by_number(
    emu: OneLoginEmulator, clock: Clock
) -> None:
    since = datetime.fromtimestamp(clock.now, UTC)
    clock.now += 60
    changed = emu.account.user_ids[:120]  # three pages of changed users
    for user_id in changed:
        emu.account.update_user(user_id, title="Moved")
    clock.now += 60  # the read starts a minute after the changes
    cfg = connector(emu, groups_from="both", http={"concurrency": 8})
    src = source(emu, cfg)
    snap = await src.snapshot_since(since)
    await src.aclose()
    assert sorted(u.source_id for u in snap.users) == sorted(str(i) for i in changed)
    assert not any("could not" in r for r in snap.incomplete_reasons)
    calls = users_calls(emu)
    assert len(emu.requests) == 2 + pages(GROUPS) + pages(ROLES) + pages(len(changed))
    assert sum("page=" in q for q in calls) == pages(len(changed)) - 1
    assert all("updated_since=" in q for q in calls)


async def test_role_members_listed_per_role_are_read_by_number_too(
    emu: OneLoginEmulator,
) -> None:
    emu.account.v2_role_ids = False  # user records without role_ids: members listed per role
    snap = await read(emu, http={"concurrency": 8})
    assert snap.complete, snap.incomplete_reasons
    truth = emu.account.truth()
    edges = {(e.group_id, e.member_id) for e in snap.memberships if e.group_id.startswith("role:")}
    assert edges == {(f"role:{r}", str(u)) for r, u in truth.role_members()}
    per_role = [e for e in emu.requests.entries() if e.path.startswith("/api/2/roles/")]
    sizes = Counter(role for role, _ in truth.role_members())
    assert len(per_role) == sum(pages(sizes[role]) for role in truth.roles)  # as the chain
    assert any("page=" in e.query for e in per_role)
