"""Member listings in batches that roll: each listing's next page joins the next batch.

A group's member listing is a chain (each page needs the token of the page before), so a
full read takes at least as many round trips as the largest group has pages. Sent in
*rounds* (round ``k`` = the ``k``-th page of every listing, the next round once the whole
round is in), every round waits for its slowest batch, and at 500 rounds the latency tail
lands in most of them: the rounds added up to 2.5 × the largest group's chain at L. Here there
is no round: one dispatcher sends a batch whenever a lane (:class:`~idpsync.sources.lanes.Lanes`)
is free and some listing is ready, and a listing is ready again as soon as the batch that
carried its page is in.

What goes in a batch, in this order:

1. **Longest first, from the first groups page.** Ready listings are taken by the pages they
   are expected to have left, from ``directMembersCount`` in the groups listing (a hint only:
   a listing always goes on until Google gives no next page token, or the read is marked
   incomplete). Each groups page's listings are ready as soon as that page is in
   (:func:`groups_and_members`), so the largest group's chain starts one groups page after
   the token, not after the whole groups listing (25 pages, 10 s at L).
2. **Within the quota.** Every inner call takes one token of the request budget (Google
   counts each call against its per-minute quota), or one call of the read's *burst*: the
   budget sends ``quota / 60`` a second, but a quota that had a minute to refill takes a
   whole minute's worth at once (:func:`full_burst`; the first call Google refuses ends it).
   While there are tokens, a batch takes every ready listing up to ``batch_size``; once it
   must wait for tokens, it keeps taking listings as tokens come, and leaves as soon as it
   carries the *critical* listing (the one with the most pages expected to be left) and the
   next token would mean waiting. So under a binding quota about one batch goes per round
   trip of the longest chain, carrying that chain's next page and the calls the quota allowed
   since the last one, and the chain never waits for the quota's backlog.
3. **The chain's batches stay small.** A batch that carries the critical listing takes at most
   the budget's one second of calls (40 at the default quota): every call in it is rendered,
   sent and parsed before the chain's next page can go (about 3 ms a call against the
   emulator; 200 calls made a 0.4 s round trip take 1.6 s). The burst's other calls go in
   batches of their own on the other lanes. When a batch comes back, the critical listing's
   page is taken first, and while the dispatcher waits for tokens the batch's other pages are
   taken one per turn of the event loop, so its next batch does not wait for their parsing.

Retries: an inner rate limit or 5xx asks the same page again in a later batch after the
client's backoff (``http.max_attempts`` attempts a page; then the listing is read alone, with
the client's own retries, and fails into an incomplete read if that fails too). Request count:
at least ``max(max P_g, ceil(Σ P_g / batch_size))`` batches and at most ``Σ P_g``; which one
in between depends on timing (tests pin it with one lane). The users and groups listings are
single requests beside the batches (:mod:`.reader`).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.http.policy import backoff, pause
from idpsync.model import EdgeList, Snapshot, SourceGroup
from idpsync.sources.base import Event, Progress, no_progress
from idpsync.sources.google import api as g
from idpsync.sources.google import batch as b
from idpsync.sources.google.endpoints import GROUPS, MEMBER_PAGE
from idpsync.sources.lanes import Lanes

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource
    from idpsync.sources.google.settings import GoogleSourceSettings

REPORT_EVERY = 50
"""A progress event every this many ended listings (and at the last)."""


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


async def groups_and_members(
    source: GoogleSource,
    snap: Snapshot,
    lanes: Lanes,
    progress: Progress,
    params: dict[str, str],
    convert: Callable[[list[Any]], list[SourceGroup]],
) -> tuple[list[SourceGroup], dict[str, EdgeList]]:
    """The groups, and their edges by group id: each page's member listings roll at once.

    The groups listing is read page by page (``convert``: a page's items as groups). A groups
    listing that fails stops the member listings: no group, and ``snap`` incomplete (nothing
    is removed); a failure that ends the read is raised.
    """
    roller = Roller(source, snap, lanes, progress)
    members = asyncio.ensure_future(roller.run())
    groups: list[SourceGroup] = []
    try:
        async with lanes.other():
            async for page in source.http.pages(GROUPS, params=params):
                found = convert(page.records)
                groups.extend(found)
                sizes = g.member_counts(page.records)  # which member listings go first
                source.sizes.update(sizes)
                roller.add(found, sizes)
    except BaseException as exc:
        members.cancel()
        await asyncio.gather(members, return_exceptions=True)
        if not isinstance(exc, SourceError) or b.fatal(exc):
            raise
        snap.mark_incomplete(f"the groups listing could not be read to its end: {exc}")
        return [], {}
    roller.close()
    progress(Event("fetch", f"reading members of {len(groups)} groups", 0, len(groups)))
    found_edges = await members
    return groups, {grp.source_id: edges for grp, edges in zip(groups, found_edges, strict=True)
                    if edges is not None}  # fmt: skip


class Roller:
    """The dispatcher's state (module docstring).

    Listings are added while it runs (:meth:`add`: each page of the groups listing as it
    comes), so the largest group's chain starts as soon as the page naming it is in;
    :meth:`run` ends once :meth:`close` says no more will come and every listing has ended.
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
        self.open = True
        """More listings may still be added (:meth:`close`)."""
        self.paying = False
        """The dispatcher is waiting for the budget while it fills a batch."""
        self.found: dict[int, b.Edges] = {}
        self.alone: dict[int, asyncio.Task[b.Edges]] = {}
        self.busy: set[asyncio.Task[None]] = set()
        """Batches in flight and pages waiting to be asked again."""
        self.wake = asyncio.Event()

    def add(self, groups: list[SourceGroup], sizes: Mapping[str, int]) -> None:
        """More listings, ready at once (``sizes``: ``directMembersCount`` by group id)."""
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

    def close(self) -> None:
        """No more listings will be added: :meth:`run` ends when these have."""
        self.open = False
        self.wake.set()

    async def run(self) -> list[b.Edges]:
        """Every listing's edges, in the order they were added (``None``: the group is gone)."""
        try:
            while self.ready or self.busy or self.open:
                self._reap()
                if not self.ready:
                    if not self.busy and not self.open:
                        break
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                lane = self.lanes.other()
                await lane.__aenter__()
                try:
                    calls = await self._fill()
                except BaseException:
                    await lane.__aexit__(None, None, None)
                    raise
                self._start(self._send(calls, lane))
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
        return [self.found[index] for index in range(len(self.listings))]

    async def _fill(self) -> list[int]:
        """The listings of the next batch, longest first, within the budget (module docstring).

        The batch request itself takes the first call's token; the others are taken here.
        """
        source, budget = self.source, self.source.http.budget
        calls: list[int] = []
        critical = False
        ride = max(1, int(budget.rate)) if budget.rate else source.settings.batch_size
        while self.ready and len(calls) < source.settings.batch_size:
            waits = source.credit < 1 and budget.available() < 1
            if critical and (len(calls) >= ride or waits):
                break
            if calls and source.credit > 0:
                source.credit -= 1  # the quota's burst (``GoogleSource.credit``)
            elif calls:
                self.paying = True
                try:
                    await budget.take(1)
                finally:
                    self.paying = False
            _, index = heapq.heappop(self.ready)
            critical = critical or self.left[index] >= self.longest
            calls.append(index)
        return calls

    async def _send(self, calls: list[int], lane: AbstractAsyncContextManager[None]) -> None:
        try:
            answers = await b.send(self.source, self.listings, calls)
        finally:
            await lane.__aexit__(None, None, None)
        first = [i for i in calls if self.left[i] >= self.longest]
        for index in first:  # the longest listing's page first (its next batch waits for it)
            self._take(index, answers.get(index))
        for index in calls:
            if index not in first:
                self._take(index, answers.get(index))
                if self.paying:  # the dispatcher is filling a batch: let it go between pages
                    await asyncio.sleep(0)

    def _take(self, index: int, answer: tuple[int, bytes] | None) -> None:
        """One inner answer: the listing goes on, ends, asks again or is read alone."""
        step = b.advance(self.listings[index], answer)
        if step is b.Step.AGAIN:
            self.tries[index] += 1
            if self.tries[index] < self.source.http.settings.max_attempts:
                self._again(index, answer)
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
        else:
            b.count(self.source, "batch_fallbacks", 1)
            job = b.alone(self.source, self.snap, self.listings[index].group, self.lanes)
            self.alone[index] = asyncio.ensure_future(job)
        self._report()

    def _again(self, index: int, answer: tuple[int, bytes] | None) -> None:
        """Ask the same page again after the client's backoff (counted as a retry)."""
        stats = self.source.stats
        stats.retries += 1
        if b.rate_limited(answer):
            stats.throttled += 1
            self.source.credit = 0  # the quota was not as free as assumed: the budget's pace
        wait = backoff(self.tries[index])
        stats.extra["retry_wait_seconds"] = round(
            float(stats.extra.get("retry_wait_seconds", 0.0)) + wait, 3
        )

        async def later() -> None:
            await pause(wait)
            heapq.heappush(self.ready, (-self.left[index], index))

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
