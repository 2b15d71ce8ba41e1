"""A full read in one scheduler: the users and groups listings ride in the member batches.

The Directory API's minimum for a full read is one round trip per page of its longest chain
(:mod:`benchmarks.floors`): the largest group's member pages, or the users pages where they
are more. Sent as requests of their own, the users pages (200 at 100,000 users) and the
groups pages (25 at 5,000 groups) each cost a round trip beside the batches; here each is a
call in the batches instead (:class:`PageChain`), so a read sends about as many requests as
its longest chain has pages. Which batch carries which page, and when, is
:class:`~idpsync.sources.google.rolling.Roller`'s work: every batch that carries the longest
listing's next page (the *main* batch, one a round trip) also carries the next page of every
chain that is ready, paid for before the member pages (the quota never holds a chain back).

A chain's page that fails in a batch is asked again in a later batch (a rate limit or a 5xx,
after the client's backoff, up to ``http.max_attempts`` times); after that, or at once for
anything else (a 4xx, a page of the wrong shape, a token seen before), the rest of the listing
is read alone from that page, as single requests with the client's retries
(:meth:`PageChain.rest_alone`). If that fails too, the owner's ``fail`` marks the read
incomplete (:meth:`GoogleSource._users`' and :func:`.rolling.groups_and_members`' rules: no
user, or no group, is taken from a listing that did not reach its end).

Once the users and groups listings have ended, each member listing that ends is kept to its
edges to listed users and groups at once (:func:`settle`), while the read still waits for its
quota and its longest chain, so that little of that work is left after the last page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from idpsync.errors import SourceError
from idpsync.http import Endpoint
from idpsync.model import EdgeList, Snapshot, SourceGroup
from idpsync.sources.base import Event, Progress
from idpsync.sources.google import api as g
from idpsync.sources.google import batch as b
from idpsync.sources.google.endpoints import (
    GROUP_PAGE,
    GROUPS,
    USER_PAGE,
    USERS,
    projection,
    scope_params,
)
from idpsync.sources.google.users import UserPages
from idpsync.sources.lanes import Lanes

if TYPE_CHECKING:
    from idpsync.sources.google.handover import Handover
    from idpsync.sources.google.reader import GoogleSource
    from idpsync.sources.google.rolling import Roller


class PageChain:
    """A customer-wide listing read one page per batch (module docstring)."""

    def __init__(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        take: Callable[[list[Any]], None],
        fail: Callable[[SourceError], None],
        *,
        urgent: bool,
    ) -> None:
        self.endpoint, self.params, self.take, self.fail = endpoint, params, take, fail
        self.urgent = urgent
        """Its pages are taken before the next main batch leaves (else right after): the
        groups listing (its pages start member listings), not the users listing (a page is
        500 users to parse) until it may be the longest chain (:meth:`due`)."""
        self.token: str | None = None
        self.seen: set[str] = set()
        self.pages = 0
        """Pages taken so far."""
        self.tries = 0
        self.ended = False
        """Its last page is taken: the listing is read to its end."""

    def path(self, nested: bool) -> str:
        """The inner call for the next page."""
        params = dict(self.params)
        if self.token is not None:
            params["pageToken"] = self.token
        return f"{self.endpoint.template_path}?{urlencode(params)}"

    def due(self, longest: int) -> bool:
        """Whether its page is taken before the next main batch leaves.

        Always for an urgent chain; for the others once they have read as many pages as the
        longest member listing is expected to have left (from then on they may be the longest).
        """
        return self.urgent or self.pages >= longest

    def advance(self, answer: tuple[int, bytes] | None) -> b.Step:
        """Take one inner answer (see :func:`.batch.page_of`)."""
        step, items, token = b.page_of(answer, self.endpoint.records or "", self.seen)
        if items is not None:
            self.take(items)
            self.pages += 1
            self.token = token
        self.ended = step is b.Step.END
        return step

    async def rest_alone(self, source: GoogleSource, lanes: Lanes) -> None:
        """The rest of the listing as single requests, from the page that failed in a batch.

        A failure that ends the read is raised; any other goes to ``fail``.
        """
        params = dict(self.params)
        if self.token is not None:
            params["pageToken"] = self.token
        b.count(source, "batch_fallbacks", 1)
        try:
            async with lanes.other():
                async for page in source.http.pages(self.endpoint, params=params):
                    self.take(page.records)
                    self.pages += 1
            self.ended = True
        except SourceError as exc:
            if b.fatal(exc):
                raise
            self.fail(exc)


def edges_of(
    source: GoogleSource,
    snap: Snapshot,
    members: dict[str, EdgeList],
    kept: dict[str, int],
    *,
    again: bool = False,
    handover: Handover | None = None,
) -> EdgeList:
    """Edges to the snapshot's users and groups (external members are counted as skipped).

    Each group's part moves into the snapshot's own list (whose table its ids are in), each
    distinct edge once, and is let go. ``kept``: the groups whose parts hold only such edges
    already (:func:`settle`), with how many it left out; ``again``: check those too (a group
    was found gone after they were kept). A streamed read (``handover``) hands them all
    over and takes back the edges handed to a group found gone: the snapshot keeps none.
    """
    users = {u.source_id for u in snap.users}
    groups = {grp.source_id for grp in snap.groups}
    found = snap.memberships
    for group in snap.groups:
        part, early = members.pop(group.source_id), kept.get(group.source_id)
        if early is not None and not again:
            found.extend_part(part)
            source._skipped(early)
        else:
            source._skipped((early or 0) + found.extend_kept(part, g.listed(users, groups)))
    if handover is None:
        return found
    found, withdrawn = handover.finish(found, groups)
    source._skipped(withdrawn)
    return found


async def settle(
    roller: Roller, chains: tuple[PageChain, PageChain], users: UserPages,
    groups: list[SourceGroup], early: dict[int, int], handover: Handover | None = None,
) -> None:  # fmt: skip
    """Keep of each ended member listing only its edges to listed users and groups, as it ends.

    Once both the users and the groups listings are read to their end (``chains``), a
    listing's edges are final but for a group found gone later (:func:`edges_of` then
    checks them again), so each listing ended in the batches is filtered while the read
    still waits for its quota and its longest chain, not all of them after the last page:
    ``roller.found[index]`` becomes the kept part and ``early[index]`` how many edges were
    left out (refused or repeated), one listing a turn of the event loop. A streamed read
    hands the kept edges over at once (``handover``, :mod:`.handover`): the part is then
    empty. It wakes when the roller says a listing or a chain ended
    (:attr:`.rolling.Roller.ending`), never on a timer. Runs until cancelled.
    """
    ending = roller.ending
    while not all(chain.ended for chain in chains):
        ending.clear()  # (no turn of the event loop since the look: no end is missed)
        await ending.wait()
    keep = g.listed({u.source_id for u in users.users}, {grp.source_id for grp in groups})
    done = 0
    while True:
        ending.clear()  # an end from here on wakes the wait below at once
        while done < len(roller.ended):
            index, done = roller.ended[done], done + 1
            edges = roller.found.get(index)
            if edges is None:
                continue
            kept = roller.snap.memberships.part()
            early[index] = kept.extend_kept(edges, keep)
            roller.found[index] = kept if handover is None else handover.hand(kept)
            await asyncio.sleep(0)
        await ending.wait()


async def full_read(
    source: GoogleSource,
    snap: Snapshot,
    lanes: Lanes,
    progress: Progress,
    convert: Callable[[list[Any]], list[SourceGroup]],
    handover: Handover | None = None,
) -> tuple[UserPages, list[SourceGroup], dict[str, EdgeList], dict[str, int]]:
    """Users, groups and each group's edges, every page a call in the batches (module doc).

    A listing that cannot be read to its end leaves ``snap`` incomplete and gives no user (the
    users listing) or no group (the groups listing); a failure that ends the read is raised.
    The last item: the groups whose edges :func:`settle` already kept (by group id: how many it
    left out); with ``handover`` (a streamed read) those went to its sink.
    """
    from idpsync.sources.google.rolling import Roller

    scope = scope_params(source.settings.customer, source.settings.domain)
    roller = Roller(source, snap, lanes, progress)
    users = UserPages(source.settings.fetch_photos)
    groups: list[SourceGroup] = []
    failed: list[str] = []

    def users_failed(exc: SourceError) -> None:
        nonlocal users
        snap.mark_incomplete(f"the users listing could not be read to its end: {exc}")
        users = UserPages(source.settings.fetch_photos)

    def groups_page(items: list[Any]) -> None:
        found = convert(items)
        groups.extend(found)
        sizes = g.member_counts(items)  # which member listings go first
        source.sizes.update(sizes)
        roller.add(found, sizes)

    def groups_failed(exc: SourceError) -> None:
        snap.mark_incomplete(f"the groups listing could not be read to its end: {exc}")
        failed.append(str(exc))
        roller.stop()

    user_params = {**scope, "maxResults": str(USER_PAGE), **projection(source.settings)}
    users_chain = PageChain(USERS, user_params, users.take, users_failed, urgent=False)
    roller.chain(users_chain)
    group_params = {**scope, "maxResults": str(GROUP_PAGE)}
    groups_chain = PageChain(GROUPS, group_params, groups_page, groups_failed, urgent=True)
    roller.chain(groups_chain, closes=True)
    lanes.chain_done()  # the users listing holds no lane of its own: all go to the batches
    progress(Event("fetch", "listing users and groups, then every group's members"))
    early: dict[int, int] = {}
    settling = asyncio.ensure_future(
        settle(roller, (users_chain, groups_chain), users, groups, early, handover)
    )
    try:
        found = await roller.run()
    finally:  # cancelled between two listings: each is kept whole or not at all
        settling.cancel()
        await asyncio.gather(settling, return_exceptions=True)
    if failed:
        return users, [], {}, {}
    kept = {groups[index].source_id: left for index, left in early.items()}
    return users, groups, {grp.source_id: edges for grp, edges in zip(groups, found, strict=True)
                           if edges is not None}, kept  # fmt: skip
