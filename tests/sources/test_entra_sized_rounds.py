"""Entra's batch rounds when the users partitions are counted (``packing.Rounds``).

A partition whose length is known may wait for room while it has slack, so the calls of a full
read come near ``ceil(items / 20)`` without adding a round; the counts only plan the rounds,
they are never part of the partitions' proof.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from idpsync.sources.entra import members_side, partitions
from idpsync.sources.entra.packing import Rounds, pack
from tests.sources.test_entra_members_side import Rewrite, tenant, world_on
from tests.sources.test_entra_sync import assert_matches_tenant


@dataclass(eq=False)
class Page:
    """A listing in a replay of rounds: ``left`` pages, of which ``told`` are announced."""

    left: int
    told: int | None = None
    spare: bool = False
    held: bool = False
    pages: int = 0
    total: Callable[[], int | None] | None = None
    waited: int = 0


def replay(listings: list[Page], choose: Callable[[list[Page], int], Any]) -> tuple[int, int]:
    """(batch calls, rounds) to read ``listings`` to their end, 20 items a call."""
    for x in listings:
        if x.told is not None:
            x.total = lambda told=x.told: told
    todo, calls, rounds = list(listings), 0, 0
    while todo:
        rounds += 1
        send, held = choose(todo, 20)
        assert len(send) + len(held) == len(todo)
        calls += math.ceil(len(send) / 20)
        for x in held:
            x.waited += 1
        for x in send:
            x.left, x.pages, x.spare = x.left - 1, x.pages + 1, False
        todo = held + [x for x in send if x.left > 0]
    return calls, rounds


def long_and_short(told: bool = True) -> list[Page]:
    """One listing of 10 pages and 30 of 2 (70 pages): 10 rounds whatever one does."""
    pages = [10] + [2] * 30
    return [Page(n, n if told else None) for n in pages]


def test_sized_listings_fill_the_rounds_without_adding_one() -> None:
    assert replay(long_and_short(told=False), Rounds().choose) == (12, 10)  # as pack does
    assert replay(long_and_short(told=False), pack) == (12, 10)
    assert replay(long_and_short(), Rounds().choose) == (10, 10)  # one call a round


def test_a_spare_unsized_page_still_waits_one_round_at_most() -> None:
    def items() -> list[Page]:
        return long_and_short() + [Page(1, spare=True) for _ in range(45)]

    assert replay(items(), pack) == (14, 10)
    sized = items()
    assert replay(sized, Rounds().choose) == (11, 10)  # 26 of the 45 wait round 1 out
    assert max(x.waited for x in sized if x.told is None) == 1


def test_a_listing_longer_than_its_count_is_read_to_its_end() -> None:
    """A low count costs rounds at most, never a page: the horizon moves with it."""
    items = long_and_short()
    items[5].left = 14  # told 2
    _, rounds = replay(items, Rounds().choose)
    assert all(x.left == 0 for x in items) and items[5].pages == 14
    assert rounds <= 10 + 14 - 2


def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users pages of 10, so that the 2,500 users make 250 pages (sized: over 150)."""
    monkeypatch.setattr(members_side, "EXPAND_PAGE", "10")
    monkeypatch.setitem(members_side.MANAGERS, "$top", "10")


def counts_asked(emu: Any) -> list[str]:
    entries = emu.batched.entries()
    return [e.query for e in entries if "startswith" in e.query and "count=true" in e.query]


async def test_counted_partitions_leave_no_call_part_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read's batch calls are within one of ``ceil(items / 20)`` (before: 43 requests for
    572 items, now 34 for 616 with the 44 counts, shared by both users passes)."""
    small_pages(monkeypatch)
    emu = tenant()
    world = world_on(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    assert_matches_tenant(world)
    assert len(counts_asked(emu)) == len(partitions.FIRST)
    items = len(emu.batched.entries())
    assert len(emu.requests) <= 1 + 1 + math.ceil(items / 20) + 1  # token, links and count


async def test_wrong_or_failed_counts_never_change_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counts plan the rounds only: wrong ones (too low, too high) and failed ones give
    the same complete read, and the partitions' proof stays the tenant's count."""
    small_pages(monkeypatch)
    emu = tenant()
    seen: list[str] = []

    def lie(url: str, answer: dict[str, Any]) -> None:
        body = answer.get("body")
        if "startswith" not in url or "$count=true" not in url or not isinstance(body, dict):
            return
        seen.append(url)
        if len(seen) % 3 == 0:
            answer.update(status=400, body={"error": {"code": "Request_BadRequest"}})
        else:
            body["@odata.count"] = 0 if len(seen) % 3 == 1 else 10 * body["@odata.count"] + 99

    world = world_on(tmp_path, emu)
    world.transport = Rewrite(emu.transport(), lie)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world)
    assert len(seen) == len(partitions.FIRST)
