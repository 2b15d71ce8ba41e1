"""Which of a round's ready pages go in its batch calls, so that the calls are whole.

Cutting every ready page of a round into calls of ``size`` (20) leaves the last call of most
rounds part-empty: at 100k users that was a third of the calls of a full read. So the pages of
a round are of two kinds:

* **due**: the next page of a listing already under way (a chain: each link comes from the page
  before, so holding it back would lengthen the read), a listing that started the read (the
  users, the groups), a retried item, and any page that already waited once;
* **spare**: a listing's first page added during the read (a group's members named by a groups
  page) and a one-off request (the user count after the partitions, the groups delta
  partitions' ``latest`` links and the check that follows them: ``full_links.py``).

The due pages go in ``ceil(due / size)`` calls; the spare ones fill the room those leave, and
make more calls only as long as the calls are whole (``⌊(due + spare) / size⌋``); a spare page
that did not fit waits one round and is then due. So a listing starts at most one round late,
never twice, and its later pages are never held; when no page is due, every spare one is sent.

**Sized listings** (:class:`Rounds`). A listing whose length is known (a users partition whose
``$count`` came in: ``partitions.py``) need not move every round: the read lasts at least
until the *horizon*, the round its longest sized listing ends when it moves every round, and
a sized listing with ``k`` pages left in round ``r`` may wait while ``r + k - 1`` stays before
it (its *slack*). With some listings sized, each round sends every page without slack (a due
unsized page, a sized one at the horizon) and as many whole calls more as spread the work left
(each sized listing's pages, one for any other page) evenly over the rounds left to the
horizon, the pages with the least slack first; a spare unsized page still waits at most one
round. The read's rounds stay the horizon (a count that is low by ``k`` pages can cost up to
``k`` rounds more, never a page); the calls come near ``ceil(pages / size)``: at 100k users,
two passes of 44 partitions, the long ones ending late, left one or two part-empty calls a
round (``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, TypeVar


class Item(Protocol):
    """A listing's page waiting for a round (``batch._Listing``)."""

    spare: bool
    held: bool


class Sized(Item, Protocol):
    """An item that may know its listing's length (``batch._Listing``)."""

    @property
    def pages(self) -> int:
        """Pages read so far."""
        ...

    @property
    def total(self) -> Callable[[], int | None] | None:
        """The listing's pages, when known (``None``: not, or not yet)."""
        ...


T = TypeVar("T", bound=Item)
S = TypeVar("S", bound=Sized)


def pack(todo: list[T], size: int) -> tuple[list[T], list[T]]:
    """Split ``todo`` into this round's items (due first) and the spare ones that wait."""
    due = [x for x in todo if x.held or not x.spare]
    spare = [x for x in todo if x.spare and not x.held]
    if not due:
        return spare, []
    calls = max(-(-len(due) // size), len(todo) // size)
    room = calls * size - len(due)
    for item in spare[room:]:
        item.held = True
    return due + spare[:room], spare[room:]


def pages_left(item: Sized) -> int | None:
    """Pages the item's listing has left, this one included (``None``: not known)."""
    total = item.total() if item.total is not None else None
    return None if total is None else max(1, total - item.pages)


class Rounds:
    """Each round's items: :func:`pack`, or by slack while some listing is sized (module doc)."""

    def __init__(self) -> None:
        self.round = 0
        self.horizon = 0
        """The last round of the longest sized listing, as far as known."""

    def choose(self, todo: list[S], size: int) -> tuple[list[S], list[S]]:
        """Split ``todo`` into this round's items and those that wait."""
        self.round += 1
        left = [pages_left(x) for x in todo]
        known = [n for n in left if n is not None]
        if not known:
            return pack(todo, size)
        now = self.round
        self.horizon = max(self.horizon, now + max(known) - 1)

        def slack(x: S, n: int | None) -> int:
            if n is not None:
                return self.horizon - (now + n - 1)
            return 1 if x.spare and not x.held else 0

        ranked = sorted((slack(x, n), i) for i, (x, n) in enumerate(zip(todo, left, strict=True)))
        must = [i for s, i in ranked if s <= 0]
        free = [i for s, i in ranked if s > 0]
        work = sum(n if n is not None else 1 for n in left)
        spread = math.ceil(work / (size * max(1, self.horizon - now + 1)))
        calls = max(-(-len(must) // size), min(spread, -(-len(todo) // size)), 1)
        room = calls * size - len(must)
        for i in free[room:]:
            if left[i] is None:  # a spare unsized page: due next round
                todo[i].held = True
        return [todo[i] for i in must + free[:room]], [todo[i] for i in free[room:]]
