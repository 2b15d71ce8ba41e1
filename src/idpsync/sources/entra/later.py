"""Work on a round's pages done while the next round is in flight, not between the rounds.

A full read in ``$batch`` rounds (:mod:`~idpsync.sources.entra.batch`) is a chain: each round
starts once every call of the one before is answered and its pages taken. What a page asks for
next (its next link, a listing it names) must be known before the next round is chosen; what
it only gives (the edges of a users page's expansions, handed to the stage) need not be. That
second kind of work goes into a :class:`Later`: a queue done, in the order it was added, while
the next round's calls wait on the network, a piece at a time with the event loop turning in
between (the calls go out first, their answers are read as they come). Whatever is left when
the read has nothing in flight is done at once, and :meth:`Later.drain` before the read ends,
so the read hands over exactly what it did before, in the same order.

An error raised by a piece of work ends the read as it would have where the page was taken:
the round in flight is cancelled (no request outlives it) and the error raised.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

SEND_FIRST_S = 0.005
"""How long the round's calls get to go out before any work is done beside them."""


class Later:
    """Work kept for while a round is in flight (module doc), done first in, first out."""

    def __init__(self) -> None:
        self._todo: deque[Callable[[], None]] = deque()

    def __len__(self) -> int:
        return len(self._todo)

    def add(self, work: Callable[[], None]) -> None:
        """Keep ``work`` for later (after the work added before it)."""
        self._todo.append(work)

    def drain(self) -> None:
        """Do every piece of work kept, now."""
        while self._todo:
            self._todo.popleft()()

    async def during(self, step: Awaitable[T]) -> T:
        """``step``'s result, with kept work done while it waits (module doc)."""
        task = asyncio.ensure_future(step)
        try:
            if self._todo:
                await asyncio.wait({task}, timeout=SEND_FIRST_S)
            while self._todo and not task.done():
                self._todo.popleft()()
                await asyncio.sleep(0)
        except BaseException:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return await task
