"""Running a source's listings side by side: a gather that cancels, and a lane kept for a chain.

A full snapshot is one sequential chain of user pages (each page's cursor or offset comes from
the page before) next to many independent listings (groups, every group's members, photos).
All of them share the HTTP client's budget of ``concurrency`` requests in flight, whose slots
are handed out first come, first served. Started naively, thousands of member listings queue
ahead of every next user page and the chain only moves once they are all done, which is no
faster than reading users first. :class:`Lanes` keeps one slot for the chain: until
:meth:`Lanes.chain_done`, the other listings hold at most ``concurrency - 1`` slots between
them; then the kept slot joins theirs.

>>> lanes = Lanes(8); lanes.others_limit
7
>>> lanes.chain_done(); lanes.others_limit
8
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


async def gather(*coros: Awaitable[T]) -> list[T]:
    """Run concurrently; on the first error cancel the rest (no request outlives it), re-raise."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two branches side by side, as :func:`gather`, each result keeping its own type."""
    a, b = await gather(cast(Awaitable[object], first), cast(Awaitable[object], second))
    return cast(A, a), cast(B, b)


class Lanes:
    """``concurrency`` slots: one kept for the chain until it ends, the rest for the others."""

    def __init__(self, concurrency: int) -> None:
        self.others_limit = max(1, concurrency - 1)
        """Listings other than the chain that may run at once (one more after the chain)."""
        self._kept = concurrency > 1
        self._others = asyncio.Semaphore(self.others_limit)

    @asynccontextmanager
    async def other(self) -> AsyncIterator[None]:
        """Hold one of the others' lanes (for one listing, all its pages)."""
        async with self._others:
            yield

    def chain_done(self) -> None:
        """The chain has ended (read, failed or cancelled): its slot goes to the others."""
        if self._kept:
            self._kept = False
            self.others_limit += 1
            self._others.release()  # one more permit than the semaphore started with
