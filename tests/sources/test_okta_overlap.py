"""The Okta full read runs its listings side by side: checked from request logs, not timings."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from idpsync.emulators import Fault, Latency
from idpsync.emulators.framework import RecordedRequest
from idpsync.emulators.injection import compile_pattern
from idpsync.http import set_testing
from idpsync.http.errors import Forbidden
from tests.sources.okta_support import emulator, expected_requests, pages, source

MEMBERS = compile_pattern("/api/v1/groups/{id}/users")


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def kind(entry: RecordedRequest) -> str:
    """``users``, ``deprovisioned``, ``groups`` or ``members``."""
    if entry.path == "/api/v1/users":
        return "deprovisioned" if "DEPROVISIONED" in entry.query else "users"
    if entry.path == "/api/v1/groups":
        return "groups"
    return "members" if MEMBERS.fullmatch(entry.path) else entry.path


class InFlight(httpx.AsyncBaseTransport):
    """Counts requests in flight per kind (and in all) on their way to the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path, query = request.url.path, request.url.query.decode()
        what = kind(RecordedRequest(request.method, path, query, 0))
        for key in (what, "all"):
            self.now[key] += 1
            self.peak[key] = max(self.peak[key], self.now[key])
        try:
            return await self.inner.handle_async_request(request)
        finally:
            for key in (what, "all"):
                self.now[key] -= 1


async def test_members_and_deprovisioned_are_read_while_the_users_chain_runs() -> None:
    emu = emulator(users=1700, groups=12, latency=Latency(fixed_ms=20))
    src = source(emu)
    snap = await src.snapshot()
    assert snap.complete, snap.incomplete_reasons
    log = [kind(e) for e in emu.requests]
    assert len(log) == expected_requests(emu) == src.stats.requests  # no request more
    assert log.count("users") >= 8 and emu.requests.count(status=429) == 0
    last_users_page = max(i for i, k in enumerate(log) if k == "users")
    # The old order (users, deprovisioned, groups, members) logs every users page first.
    assert log.index("members") < last_users_page
    assert log.index("deprovisioned") < last_users_page
    assert log.index("groups") < last_users_page
    assert log[0] == "users"  # the others wait for the first users page (credentials proved)
    await src.aclose()


@pytest.mark.parametrize("deprovisioned", [True, False])
async def test_member_workers_leave_a_request_slot_to_each_chain(deprovisioned: bool) -> None:
    emu = emulator(users=1700, groups=20, latency=Latency(fixed_ms=20))
    counter = InFlight(emu.transport())
    src = source(emu, concurrency=6, transport=counter, include_deprovisioned=deprovisioned)
    assert (await src.snapshot()).complete
    # concurrency 6 − one slot per user chain; the deprovisioned chain's slot goes to one more
    # member worker once that chain has ended (issue #20; before: 4 with it to the end)
    assert counter.peak["members"] == 5
    assert counter.peak["all"] <= 6
    assert counter.peak["users"] == 1 and counter.peak["deprovisioned"] == int(deprovisioned)
    await src.aclose()


async def test_a_fatal_error_in_one_branch_cancels_the_others_and_is_raised() -> None:
    emu = emulator(users=1700, groups=20, latency=Latency(fixed_ms=20))
    emu.inject(Fault("status", "/api/v1/groups/{id}/users", nth=2, status=403))
    src = source(emu)
    with pytest.raises(Forbidden):
        await src.snapshot()
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert left == []  # every branch and member worker was cancelled and awaited
    t = emu.tenant
    active = sum(1 for uid in t.users if emu.status_of(uid) != "DEPROVISIONED")
    assert 0 < [kind(e) for e in emu.requests].count("users") < pages(active, 200)
    assert src.saved_state is None
    await src.aclose()
