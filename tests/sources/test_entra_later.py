"""A round's page work done while the next round is in flight (:mod:`idpsync.sources.entra.later`).

Entra's members' side makes each users page's edges after the next ``$batch`` round was sent,
in the order the pages came, and every edge before the read ends: the directory is the tenant's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from idpsync.sources.entra.later import Later
from idpsync.sources.entra.members_side import MembersSide
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld
from tests.sources.test_entra_members_side import tenant
from tests.sources.test_entra_sync import assert_matches_tenant


async def test_work_is_done_while_the_step_waits_in_order() -> None:
    done: list[int] = []
    later = Later()
    for n in range(3):
        later.add(lambda n=n: done.append(n))
    gate = asyncio.Event()

    async def step() -> str:
        await gate.wait()  # waits until every piece of work ran beside it
        return "answered"

    async def open_gate() -> None:
        while len(done) < 3:
            await asyncio.sleep(0)
        gate.set()

    result, _ = await asyncio.gather(later.during(step()), open_gate())
    assert result == "answered" and done == [0, 1, 2] and len(later) == 0


async def test_work_left_when_the_step_ends_waits_for_the_next_or_the_drain() -> None:
    done: list[int] = []
    later = Later()

    async def quick() -> int:
        return 7

    later.add(lambda: done.append(1))
    assert await later.during(quick()) == 7  # answered before any work was due
    assert done == [] and len(later) == 1
    later.add(lambda: done.append(2))
    later.drain()
    assert done == [1, 2] and len(later) == 0


async def test_a_failing_piece_of_work_cancels_the_step_and_raises() -> None:
    cancelled = asyncio.Event()

    async def step() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def fails() -> None:
        raise ValueError("a page of the wrong shape")

    later = Later()
    later.add(fails)
    with pytest.raises(ValueError, match="wrong shape"):
        await later.during(step())
    assert cancelled.is_set()


class Calls(httpx.AsyncBaseTransport):
    """Notes each ``$batch`` call when sent and when answered, in ``events`` shared with the
    edges; each call is held a moment on the way, as the network would (no time is asserted)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, events: list[str]) -> None:
        self.inner, self.events, self.sent = inner, events, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/$batch"):
            return await self.inner.handle_async_request(request)
        self.sent += 1
        n = self.sent
        self.events.append(f"call {n}")
        await asyncio.sleep(0.02)
        response = await self.inner.handle_async_request(request)
        self.events.append(f"answer {n}")
        return response


async def test_a_rounds_edges_are_made_after_the_next_round_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = tenant()  # 25 users pages of 100 from the members' side, partitioned
    events: list[str] = []
    made = MembersSide._edges

    def noted(self: MembersSide, member_id: str, *args: Any) -> None:
        events.append(f"edges {member_id}")
        made(self, member_id, *args)

    monkeypatch.setattr(MembersSide, "_edges", noted)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    world = EntraWorld(emu, store, transport=Calls(emu.transport(), events))
    assert (await world.sync(mode="full")).status == "succeeded"
    assert_matches_tenant(world)  # every edge, the users with 20 groups or more too
    edges = next(n for n, e in enumerate(events) if e.startswith("edges"))
    answered = max(n for n, e in enumerate(events[:edges]) if e.startswith("answer"))
    # The first edges come from a page of the round answered last before them, and are made
    # once the next round's calls went out (before, as that answer was taken).
    sent_between = [e for e in events[answered:edges] if e.startswith("call")]
    assert sent_between, events[: edges + 1]
