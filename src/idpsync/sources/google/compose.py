"""What goes in each batch of a read (:class:`.rolling.Roller`'s policy; module doc there).

A *main* batch leaves each time the one before it is in: every ready chain (the users and
groups listings of a full read), the listing with the most pages expected to be left, the
listings that would become longer than it riding every other trip (:func:`needed`), and
others while the quota has room now, at most what the budget refills in a round trip
(:func:`ride`). The read's burst (the quota, whole at the start) goes in *side* batches of
up to :data:`SIDE_MAX` calls, half a round trip after the main batch, so that the server,
which answers a batch's calls one after the other, has answered them before the next main
batch comes; a side batch also goes when the main batch is late (:data:`LATE`).
"""

from __future__ import annotations

import asyncio
import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.google.chains import PageChain
    from idpsync.sources.google.rolling import Roller

SIDE_MIN = 100
"""Calls a side batch waits for (room in the quota and ready listings) while a main batch is
in flight."""
SIDE_MAX = 200
"""Calls at most in a side batch of a full read (the server answers a batch's calls one after
the other); an incremental read's member listings fill side batches up to ``batch_size``
(:attr:`.rolling.Roller.side_max`)."""
SIDES = 2
"""Side batches in flight at most (the next main batch must find a lane)."""
LATE = 2.0
"""Round trips after which a main batch is late: the ready listings go in a side batch."""
DEFER_TRIP = 0.2
"""Round trips (seconds) from which a main batch's answers that can wait are parsed after the
next main batch left, not before: a shorter trip would be over before they are."""
SETTLE = 0.005
"""Seconds the answers of a main batch that can wait leave the event loop to the next main
batch (its body sent) before they are parsed (a users page takes about 25 ms)."""


def free(r: Roller) -> bool:
    """Whether a call can be paid now without waiting (the burst, or a budget token)."""
    return r.source.credit > 0 or r.source.http.budget.available() >= 1


async def pay(r: Roller) -> None:
    """One call's quota: from the burst (``GoogleSource.credit``), else the budget."""
    if r.source.credit > 0:
        r.source.credit -= 1
    else:
        await r.source.http.budget.take(1)


async def fill_main(r: Roller) -> tuple[list[PageChain], list[int]]:
    """The next main batch: every ready chain, the longest listing, and then some.

    After those, the listings that must not fall behind it (:func:`needed`) and others
    while the quota has room now, at most :func:`ride` of them. The request itself pays
    its first call.
    """
    size, most = r.source.settings.batch_size, ride(r)
    chains, r.chains = r.chains[:size], r.chains[size:]
    calls: list[int] = []
    for _ in range(len(chains) - 1):
        await pay(r)  # a chain is never held back by the quota
    while r.ready and len(chains) + len(calls) < size:
        if calls and (len(calls) > most or not (needed(r, r.ready[0][1]) or free(r))):
            break
        if chains or calls:
            await pay(r)  # may wait: a retried or deferred page can join ``ready`` meanwhile
        if not r.ready:
            break  # (the groups listing failed meanwhile: :meth:`.rolling.Roller.stop`)
        calls.append(heapq.heappop(r.ready)[1])  # what is first now, not what was before
    return chains, calls


def needed(r: Roller, index: int) -> bool:
    """Whether a listing would become the longest chain riding every other main batch.

    Its page is taken before the next main batch leaves, and it may wait for its call's
    quota.
    """
    left = r.left[index]
    return left >= 3 and left * 2 >= r.longest


def ride(r: Roller) -> int:
    """Member calls in a main batch beyond the longest's (the burst goes in side batches).

    What the budget refills in a round trip: about what the quota lets through per trip.
    """
    rate, size = r.source.http.budget.rate, r.source.settings.batch_size
    trip = 1.0 if r.trip < DEFER_TRIP else min(1.0, r.trip)  # short: the budget's second
    return max(1, int(rate * trip)) if rate else size


def side_due(r: Roller) -> float | None:
    """Seconds until a side batch may go (0: now; ``None``: not before something changes).

    Only while a main batch is in flight: when both the quota's room now and the ready
    listings reach :data:`SIDE_MIN`, half a round trip after the main batch left (the
    server answers a batch's calls one after the other, so a side batch that arrived with
    the main batch would hold up the answer to the next one); and with any ready listing
    once the main batch is late (:data:`LATE` round trips: a slow answer holds back
    the chain, not the others).
    """
    if not r.main or r.sides >= min(SIDES, r.lanes.others_limit - 1):
        return None  # (the next main batch must find a lane)
    if not r.ready:
        return None
    now = asyncio.get_running_loop().time()
    room = r.source.credit + min(r.source.http.budget.available(), SIDE_MAX)
    if len(r.ready) >= SIDE_MIN and room >= SIDE_MIN:
        return max(0.0, r.sent + r.trip / 2 - now)
    return max(0.0, r.sent + LATE * max(r.trip, DEFER_TRIP) - now)


async def fill_side(r: Roller) -> list[int]:
    """A side batch: ready listings, longest first, as many as the quota has room for now."""
    size = min(r.source.settings.batch_size, r.side_max)
    calls: list[int] = []
    while r.ready and len(calls) < size and (not calls or free(r)):
        if calls:
            await pay(r)  # no wait for the quota, but the budget's lock may be held
        if not r.ready:
            break
        calls.append(heapq.heappop(r.ready)[1])
    return calls
