"""Listings in batches that roll: each listing's next page joins the next batch.

A group's member listing is a chain (each page needs the token of the page before), so a
full read takes at least as many round trips as its longest chain has pages: the largest
group's member pages, or the users pages (:mod:`.chains`: in a full read the users and groups
listings are chains in these batches too). Sent in *rounds* (round ``k`` = the ``k``-th page
of every listing), every round would wait for its slowest batch; here there is no round: a
listing is ready again as soon as the batch that carried its page is in.

One **main** batch is in flight at a time, and the next leaves as soon as it is in: it
carries every ready chain, the listing with the most pages expected to be left (from
``directMembersCount`` in the groups listing: a hint only, a listing always goes on until
Google gives no next page token, or the read is marked incomplete) and as many other ready
listings as the quota allows now (:mod:`.compose`: what goes in each batch). So a read sends
about one request per page of its longest chain, and that chain never waits for the quota's
backlog. The calls the main batches cannot carry (the read's *burst*: the budget sends
``quota / 60`` a second, but a quota that had a minute to refill takes a whole minute's
worth at once, :func:`full_burst`; the first call Google refuses ends it) go in **side**
batches between two main batches.

When a main batch comes back, the pages that decide when the read ends are taken first (the
longest listing's, the groups listing's, and those of listings that would fall behind); the
next main batch leaves; then the rest are taken, one per turn of the event loop (a users page
is about 25 ms of parsing: taken before, it would hold up the chain every round trip).

Retries: an inner rate limit or 5xx asks the same page again in a later batch after the
client's backoff (``http.max_attempts`` attempts a page; then the listing is read alone, with
the client's own retries, and fails into an incomplete read if that fails too). Request count:
at least ``max(max P_g, ceil(Σ P_g / batch_size))`` batches and at most ``Σ P_g`` (with the
chains' pages added in a full read); which one in between depends on timing (tests pin it
with one lane).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from idpsync.http.policy import backoff, pause
from idpsync.model import Snapshot, SourceGroup
from idpsync.sources.base import Event, Progress, no_progress
from idpsync.sources.google import batch as b
from idpsync.sources.google import compose
from idpsync.sources.google.chains import PageChain
from idpsync.sources.google.endpoints import MEMBER_PAGE
from idpsync.sources.lanes import Lanes

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource
    from idpsync.sources.google.settings import GoogleSourceSettings

REPORT_EVERY = 50
"""A progress event every this many ended listings (and at the last)."""
"""Side batches in flight at most (the main batch always finds a lane)."""


async def all_members(
    source: GoogleSource,
    snap: Snapshot,
    groups: list[SourceGroup],
    lanes: Lanes,
    progress: Progress = no_progress,
    sizes: Mapping[str, int] | None = None,
) -> list[b.Edges]:
    """Every group's edges (in ``groups`` order), every page sent in rolling batches.

    ``sizes`` (group id → ``directMembersCount``) orders the listings, longest first.
    """
    roller = Roller(source, snap, lanes, progress)
    roller.side_max = source.settings.batch_size  # no chain to keep short but the listings'
    roller.add(groups, sizes or {})
    roller.close()
    return await roller.run()


def full_burst(settings: GoogleSourceSettings) -> int:
    """Quota calls a full read's member batches may send beyond the request budget.

    A full read assumes the per-minute quota is whole when it starts (a minute without calls
    refills it): ``quota × quota_burst`` at once, less the budget's own second, as
    :func:`.incremental.burst` after a minute. The first call Google refuses ends the burst
    (:meth:`Roller._again`); the refused page is asked again, so a wrong guess costs a retry,
    never a page. None with ``quota_burst = 0``.
    """
    rate = settings.http.requests_per_second or settings.quota / 60.0  # the budget's rate
    return max(0, int(rate * 60.0 * settings.quota_burst - max(1.0, rate)))


class Roller:
    """The dispatcher's state (module docstring).

    Listings are added while it runs (:meth:`add`: each page of the groups listing as it
    comes), so the largest group's chain starts as soon as the page naming it is in;
    :meth:`run` ends once :meth:`close` says no more will come and every listing has ended.
    Chains (:meth:`chain`: the users and groups listings of a full read) ride in the main
    batches.
    """

    def __init__(
        self, source: GoogleSource, snap: Snapshot, lanes: Lanes, progress: Progress
    ) -> None:
        self.source, self.snap, self.lanes, self.progress = source, snap, lanes, progress
        self.listings: list[b.Listing] = []
        self.left: list[int] = []
        self.counts: Counter[int] = Counter()
        """Unfinished listings by pages expected to be left (for :attr:`longest`)."""
        self.longest = 0
        self.ready: list[tuple[int, int]] = []
        self.tries: list[int] = []
        self.chains: list[PageChain] = []
        """Chains whose next page is ready (it goes in the next main batch)."""
        self.closing: PageChain | None = None
        """The chain whose end means no more listings (:meth:`close`)."""
        self.open = True
        """More listings may still be added (:meth:`close`)."""
        self.stopped = False
        """The listings' results are not wanted any more (:meth:`stop`)."""
        self.main = False
        """A main batch (module docstring) is in flight."""
        self.sent = 0.0
        """When the last main batch left (the event loop's clock)."""
        self.trip = 1.0
        """The shortest of the last three main batches' round trips, seconds."""
        self.trips: deque[float] = deque(maxlen=3)
        self.sides = 0
        """Side batches in flight."""
        self.side_max = compose.SIDE_MAX
        """Calls at most in a side batch."""
        self.found: dict[int, b.Edges] = {}
        self.ended: list[int] = []
        """The listings read to their end in batches, in the order they ended."""
        self.alone: dict[int, asyncio.Task[b.Edges]] = {}
        self.busy: set[asyncio.Task[None]] = set()
        """Batches in flight, pages waiting to be asked again and chains read alone."""
        self.wake = asyncio.Event()
        self.ending = asyncio.Event()
        """Set when a listing ends in the batches or a chain is read to its end (who waits for
        that, :func:`.chains.settle`, clears it)."""

    def add(self, groups: list[SourceGroup], sizes: Mapping[str, int]) -> None:
        """More listings, ready at once (``sizes``: ``directMembersCount`` by group id)."""
        if self.stopped:
            return
        for grp in groups:
            left = max(1, math.ceil(sizes.get(grp.source_id, 0) / MEMBER_PAGE))
            index = len(self.listings)
            self.listings.append(b.Listing.of(self.snap, grp))
            self.left.append(left)
            self.tries.append(0)
            self.counts[left] += 1
            self.longest = max(self.longest, left)
            heapq.heappush(self.ready, (-left, index))
        self.wake.set()

    def chain(self, chain: PageChain, closes: bool = False) -> None:
        r"""A listing read one page per main batch; ``closes``: its end :meth:`close`\ s."""
        self.chains.append(chain)
        if closes:
            self.closing = chain
        self.wake.set()

    def close(self) -> None:
        """No more listings will be added: :meth:`run` ends when these have."""
        self.open = False
        self.wake.set()

    def stop(self) -> None:
        """No more member pages are asked for (the groups listing failed: no group is kept)."""
        self.stopped = True
        self.ready.clear()
        self.close()

    async def run(self) -> list[b.Edges]:
        """Every listing's edges, in the order they were added (``None``: the group is gone)."""
        try:
            while self.ready or self.chains or self.busy or self.open:
                self._reap()
                main = not self.main and bool(self.ready or self.chains)
                side = None if main else compose.side_due(self)
                if not main and side != 0.0:
                    if not self.busy and not self.open and not self.ready and not self.chains:
                        break
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(side):
                            await self.wake.wait()
                    continue
                lane = self.lanes.other()
                await lane.__aenter__()
                try:
                    if main:
                        self.main, self.sent = True, asyncio.get_running_loop().time()
                        chains, calls = await compose.fill_main(self)
                    else:
                        self.sides += 1
                        chains, calls = [], await compose.fill_side(self)
                except BaseException:
                    await lane.__aexit__(None, None, None)
                    raise
                self._start(self._send(chains, calls, lane, main))
            self._reap()
            for index, edges in zip(
                self.alone, await asyncio.gather(*self.alone.values()), strict=True
            ):
                self.found[index] = edges
        except BaseException:
            tasks = [*self.busy, *self.alone.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [self._outcome(index) for index in range(len(self.listings))]

    def _outcome(self, index: int) -> b.Edges:
        """A listing's edges; ``None`` only for a group found gone (or all after :meth:`stop`).

        A listing that never ended (no last page, not read alone: a slip of the scheduler)
        leaves its group's members unknown, never its group gone: the read is incomplete.
        """
        if index in self.found or self.stopped:
            return self.found.get(index)
        group = self.listings[index].group
        self.snap.mark_incomplete(
            f"members of group {group.name!r} ({group.source_id}): the listing did not reach "
            "its end"
        )
        return self.snap.memberships.part()

    async def _send(
        self,
        chains: list[PageChain],
        calls: list[int],
        lane: AbstractAsyncContextManager[None],
        main: bool,
    ) -> None:
        entries: list[b.Paged] = [*chains, *(self.listings[i] for i in calls)]
        try:
            answers = await b.send(self.source, entries, list(range(len(entries))))
        finally:
            await lane.__aexit__(None, None, None)
        if main:
            self.trips.append(asyncio.get_running_loop().time() - self.sent)
            self.trip = min(self.trips)  # a latency tail in one trip does not count
        later: list[tuple[int, int]] = []
        now = main and self.trip < compose.DEFER_TRIP  # nothing to gain from deferring
        for k, chain in enumerate(chains):
            if now or chain.due(self.longest):
                self._chain_step(chain, answers.get(k))
            else:
                later.append((k, -1))
        for k, index in enumerate(calls, start=len(chains)):
            if now or (
                main and (k == len(chains) or compose.needed(self, index))
            ):  # before next main
                self._take(index, answers.get(k))
            else:
                later.append((k, index))
        if main:
            self.main = False
        else:
            self.sides -= 1
        self.wake.set()
        if main and later and (self.ready or self.chains):
            await asyncio.sleep(compose.SETTLE)  # the next main batch leaves before these
        for k, index in later:
            await asyncio.sleep(0)  # then one page a turn (a side batch's answer may come)
            if index < 0:
                self._chain_step(chains[k], answers.get(k))
            else:
                self._take(index, answers.get(k))

    def _chain_step(self, chain: PageChain, answer: tuple[int, bytes] | None) -> None:
        """One answer of a chain: its next page is ready, it ends, asks again or goes alone."""
        step = chain.advance(answer)
        if step is b.Step.AGAIN:
            chain.tries += 1
            if chain.tries < self.source.http.settings.max_attempts:
                self._retry(chain.tries, answer, lambda: self.chains.append(chain))
                return
            step = b.Step.ALONE
        chain.tries = 0
        if step is b.Step.MORE:
            self.chains.append(chain)
        elif step is b.Step.ALONE:
            self._start(self._alone_chain(chain))
        else:
            self.ending.set()
            if chain is self.closing:
                self.close()
        self.wake.set()

    async def _alone_chain(self, chain: PageChain) -> None:
        await chain.rest_alone(self.source, self.lanes)
        self.ending.set()
        if chain is self.closing:
            self.close()

    def _take(self, index: int, answer: tuple[int, bytes] | None) -> None:
        """One inner answer: the listing goes on, ends, asks again or is read alone."""
        if self.stopped:
            self._move(index, 0)
            return
        step = b.advance(self.listings[index], answer)
        if step is b.Step.AGAIN:
            self.tries[index] += 1
            if self.tries[index] < self.source.http.settings.max_attempts:
                left = self.left[index]
                self._retry(
                    self.tries[index],
                    answer,
                    lambda: heapq.heappush(self.ready, (-left, index)),
                )
                return
            step = b.Step.ALONE
        if step is b.Step.MORE:
            self.tries[index] = 0
            self._move(index, max(1, self.left[index] - 1))
            heapq.heappush(self.ready, (-self.left[index], index))
            return
        self._move(index, 0)
        if step is b.Step.END:
            self.found[index] = b.edges(self.source, self.snap, self.listings[index])
            self.ended.append(index)
            self.ending.set()
        else:
            b.count(self.source, "batch_fallbacks", 1)
            job = b.alone(self.source, self.snap, self.listings[index].group, self.lanes)
            self.alone[index] = asyncio.ensure_future(job)
        self._report()

    def _retry(
        self, tries: int, answer: tuple[int, bytes] | None, again: Callable[[], None]
    ) -> None:
        """Ask the same page again after the client's backoff (counted as a retry)."""
        stats = self.source.stats
        stats.retries += 1
        if b.rate_limited(answer):
            stats.throttled += 1
            self.source.credit = 0  # the quota was not as free as assumed: the budget's pace
        wait = backoff(tries)
        stats.extra["retry_wait_seconds"] = round(
            float(stats.extra.get("retry_wait_seconds", 0.0)) + wait, 3
        )

        async def later() -> None:
            await pause(wait)
            again()

        self._start(later())

    def _move(self, index: int, left: int) -> None:
        """The listing's pages expected to be left are now ``left`` (0: it has ended)."""
        self.counts[self.left[index]] -= 1
        self.left[index] = left
        if left:
            self.counts[left] += 1
        while self.longest > 0 and self.counts[self.longest] <= 0:
            self.longest -= 1

    def _report(self) -> None:
        done, total = len(self.found) + len(self.alone), len(self.listings)
        if done % REPORT_EVERY == 0 or done == total:
            batches = self.source.stats.extra.get("batches", 0)
            what = f"reading group members ({batches} batch requests so far)"
            self.progress(Event("fetch", what, done, total))

    def _start(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self.busy.add(task)
        task.add_done_callback(lambda _: self.wake.set())

    def _reap(self) -> None:
        """Forget finished tasks; a failure that ends the read is raised here."""
        for task in [t for t in self.busy if t.done()]:
            self.busy.discard(task)
            task.result()
