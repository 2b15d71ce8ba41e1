"""Many listings' pages through Graph's JSON batching (``POST /$batch``).

Graph answers up to 20 requests in one call (https://learn.microsoft.com/graph/json-batching),
each with its own ``id``, ``status``, ``headers`` and ``body``, in no promised order. Batching
saves round trips, not quota: each item is throttled as a request of its own (resource units),
so one item can be ``429`` while the batch is ``200``.

**How the listings are packed: in rounds.** Round 1 sends every listing's first page,
``batch_size`` to a call, the calls concurrently (each in a lane of
:class:`~idpsync.sources.lanes.Lanes`); a page that names an ``@odata.nextLink`` puts its
listing into the next round. A listing's pages are a chain whatever one does, so the read takes
as many rounds as its longest listing has pages. The calls of a round are whole where they can
be (:mod:`~idpsync.sources.entra.packing`): a listing's first page may wait one round, a
listing of known length (a users partition) as long as it still ends by the read's last round.

**Any listing, not only members.** In a full read one :class:`BatchedListings` carries every
listing (:mod:`idpsync.sources.entra.reader`): the users (:meth:`BatchedListings.listing`), the
groups listing (:meth:`BatchedListings.follow`), every member listing a groups page asks for
(:meth:`BatchedListings.add`) and, read from the members' side, each ``memberOf`` listing
(:mod:`~idpsync.sources.entra.members_side`). A listing added while a round is in flight joins
the next one, so each listing's next page rides in the round after its page came in (``n_r``
counts the listings started by round ``r`` and not yet ended). The run ends when every producer
has called :meth:`BatchedListings.close` and the last listing is read. Work on pages that asks
for nothing (:attr:`BatchedListings.later`) is done while the next round waits on the network.

**Failures, item by item, as the single-request path treats them** (same
:data:`~idpsync.sources.entra.endpoints.RULE`, same errors, built from the item's status,
headers and body as if the item had been a response of its own):

* ``429`` and ``5xx``: the item goes into the next round, which starts after the longest
  ``Retry-After`` asked (else the HTTP layer's backoff), within ``http.max_attempts`` and
  ``http.max_retry_seconds``.
* ``401``: the token is renewed and the item sent once more.
* ``403`` (the missing permission named), and any failure the rule calls fatal: the read fails.
* ``404`` and any other failure: that listing is incomplete (its snapshot names it, and the
  group), so nobody is removed; a users partition's snapshot is a scratch one, whose failure
  is a doubt that makes the reader fall back to the one chain.
* A next link on another origin or outside the API's base is not followed (the listing is
  incomplete); a repeated one too. A whole batch that fails after the HTTP layer's retries
  marks each of its listings incomplete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from idpsync.errors import ShapeError
from idpsync.http.body import json_body
from idpsync.http.errors import HttpError
from idpsync.http.origins import check_link
from idpsync.http.policy import Action, backoff, classify_response, pause, server_wait
from idpsync.http.shape import json_object, optional_text, page_items
from idpsync.http.translate_status import status_error
from idpsync.model import Snapshot
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra.endpoints import RULE
from idpsync.sources.entra.later import Later
from idpsync.sources.entra.packing import Rounds
from idpsync.sources.lanes import Lanes, gather

if TYPE_CHECKING:
    from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient

MAX_BATCH = 20  # Graph's limit of requests in one batch
Found = dict[str, list[dict[str, Any]] | None]
Items = list[dict[str, Any]]
Tap = Callable[[Items], None]


@dataclass
class _Listing:
    """One listing: where it is, what it has read, how its retries went, whom to tell."""

    name: str
    """Its endpoint's label (and the group), for the reasons of an incomplete read."""
    url: str
    """The next page, relative to the API's base (``/groups/…/members?…``)."""
    target: ConcreteEndpoint
    snap: Snapshot
    """Where a failure is marked (a users partition's is a scratch snapshot: a doubt)."""
    done: Callable[[Items | None], None]
    """Called once, with every item read (``None``: the listing failed)."""
    on_page: Callable[[Items], None] | None = None
    """When set, each page's items go here instead of being kept for :attr:`done`."""
    on_body: Callable[[dict[str, Any]], None] | None = None  # a one-off request's answer
    tap: Tap | None = None  # sees each page as it lands (kept too)
    total: Callable[[], int | None] | None = None  # its pages, once known (``packing.py``)
    pages: int = 0
    headers: dict[str, str] | None = None  # of the item (a count's ``ConsistencyLevel``)
    spare: bool = False
    """A first page or a one-off request: it may wait one round to fill a call (module doc)."""
    held: bool = False  # it waited a round already: due in the next
    items: Items = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    attempt: int = 0
    waited: float = 0.0
    refreshed: bool = False


class BatchedListings:
    """Reads listings in rounds of batches; see the module docstring."""

    def __init__(
        self,
        http: HttpClient,
        snap: Snapshot,
        *,
        size: int = MAX_BATCH,
        lanes: Lanes | None = None,
        producers: int = 1,
    ) -> None:
        self.http = http
        self.snap = snap
        self.size = max(1, min(MAX_BATCH, size))
        self.lanes = lanes
        self.base = http.base_url.rstrip("/")
        self.found: Found = {}  # each member listing's objects by group id (None: failed)
        self.next: list[_Listing] = []
        """Listings that go on in the next round (a next page, or a retry)."""
        self.wait = 0.0  # the longest wait a retried item asked for before the next round
        self.rejected: set[str] = set()
        """Authorization headers an item answered 401 to (renewed before the next round)."""
        self.arrived: list[_Listing] = []  # added since the last round started
        self.added: set[str] = set()
        self.open = producers
        """Producers that may still add listings (each calls :meth:`close` once)."""
        self.wake = asyncio.Event()
        self.on_found: Callable[[str, Items | None], None] | None = None  # else in found
        self.rounds = Rounds()
        self.later = Later()  # pages' work done while the next round is in flight (later.py)

    async def read(self, group_ids: list[str], select: str) -> Found:
        """Each group's member objects (``None``: its listing failed, ``snap`` says why)."""
        self.add(group_ids, select)
        self.close()
        return await self.run()

    def add(self, group_ids: list[str], select: str) -> None:
        """More member listings to read (they join the next round); results in :attr:`found`."""
        params = {"$top": ep.PAGE, "$select": select}
        for group_id in dict.fromkeys(group_ids):
            if group_id not in self.added:  # a group listed twice is read once
                self.added.add(group_id)

                def done(items: Items | None, key: str = group_id) -> None:
                    if self.on_found is not None:  # handed over, not kept
                        return self.on_found(key, items)
                    self.found[key] = items

                name = f"{ep.MEMBERS.label} ({group_id})"
                self._enqueue(name, ep.MEMBERS, {"id": group_id}, params, self.snap, done)
                self.arrived[-1].spare = True

    def follow(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        on_page: Callable[[Items], None],
        done: Callable[[bool], None],
    ) -> None:
        """A listing whose pages go to ``on_page`` as they land; ``done(read to its end)``."""
        self._enqueue(
            endpoint.label, endpoint, {}, params, self.snap, lambda x: done(x is not None), on_page
        )

    def listing(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        snap: Snapshot,
        values: dict[str, str] | None = None,
        tap: Tap | None = None,
        total: Callable[[], int | None] | None = None,
    ) -> asyncio.Future[Items | None]:
        """A whole listing (``None``: failed, ``snap`` marked), added now (not when awaited).

        ``tap`` sees each page as it lands; with ``values`` its first page is spare; ``total``
        tells its pages once known (it may then wait while it has slack: ``packing.py``).
        """
        future: asyncio.Future[Items | None] = asyncio.get_running_loop().create_future()

        def done(items: Items | None) -> None:
            if not future.done():
                future.set_result(items)

        name = f"{endpoint.label} ({values['id']})" if values else endpoint.label
        self._enqueue(name, endpoint, values or {}, params, snap, done)
        self.arrived[-1].tap, self.arrived[-1].spare = tap, bool(values)
        self.arrived[-1].total = total
        return future

    def single(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        snap: Snapshot,
        headers: dict[str, str] | None = None,
        due: bool = False,
    ) -> asyncio.Future[dict[str, Any] | None]:
        """One request's answer body (``None``: failed, ``snap`` marked), spare unless ``due``.

        Its next link, if any, is not followed (a count's ``$top=1`` page).
        """
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()

        def done(items: Items | None) -> None:
            if items is None and not future.done():
                future.set_result(None)

        def body(page: dict[str, Any]) -> None:
            if not future.done():
                future.set_result(page)

        self._enqueue(endpoint.label, endpoint, {}, params, snap, done)
        listing = self.arrived[-1]
        listing.on_body, listing.headers, listing.spare = body, headers, not due
        return future

    def _enqueue(
        self,
        name: str,
        endpoint: Endpoint,
        values: dict[str, str],
        params: dict[str, str],
        snap: Snapshot,
        done: Callable[[Items | None], None],
        on_page: Callable[[Items], None] | None = None,
    ) -> None:
        target = self.http.target(endpoint, values)
        query = urlencode(params, safe="$,()'", quote_via=quote)
        url = f"{target.url[len(self.base) :]}?{query}"
        self.arrived.append(_Listing(name, url, target, snap, done, on_page))
        self.wake.set()

    def close(self) -> None:
        """One producer will add no more listings: :meth:`run` ends after the last one's end."""
        self.open -= 1
        self.wake.set()

    async def run(self) -> Found:
        """Rounds until every listing added (until the last :meth:`close`) is read or failed."""
        todo: list[_Listing] = []
        await asyncio.sleep(0)  # producers started beside the run add their first listings
        while True:
            todo, self.arrived = todo + self.arrived, []
            if not todo:
                self.later.drain()  # nothing in flight: now (it may add listings)
                todo, self.arrived = self.arrived, []
                if todo:
                    continue
                if self.open <= 0:
                    return self.found
                self.wake.clear()
                await self.wake.wait()
                continue
            send, held = self.rounds.choose(todo, self.size)
            chunks = [send[i : i + self.size] for i in range(0, len(send), self.size)]
            await self.later.during(gather(*(self._held(chunk) for chunk in chunks)))
            await asyncio.sleep(0)  # what the answers woke (a count, a check) joins the next round
            if self.rejected and self.http.auth is not None:
                for header in self.rejected:
                    await self.http.auth.invalidate(header)
            await pause(self.wait)
            todo, self.next, self.wait, self.rejected = held + self.next, [], 0.0, set()

    async def _held(self, take: list[_Listing]) -> None:
        if self.lanes is None:
            await self._send(take)
        else:
            async with self.lanes.other():
                await self._send(take)

    async def _send(self, take: list[_Listing]) -> None:
        """One batch call for ``take``; each item's answer is taken as its own response."""
        requests: list[dict[str, Any]] = []
        for n, x in enumerate(take):
            item: dict[str, Any] = {"id": str(n), "method": "GET", "url": x.url}
            requests.append(item | ({"headers": x.headers} if x.headers else {}))
        extra = self.http.stats.extra
        extra["batched_requests"] = int(extra.get("batched_requests", 0)) + len(take)
        try:
            # Graph charges every item's resource units: pace items, not round trips.
            await self.http.budget.take(len(take) - 1)
            response = await self.http.request(ep.BATCH, json={"requests": requests})
            sent = response.request.headers.get("authorization", "")
            body = json_body(response, ep.BATCH)  # not JSON: MalformedAnswer / NotFromIdp
        except HttpError as exc:
            if RULE.fatal(exc):
                raise
            for listing in take:
                self._fail(listing, f"{ep.BATCH.label}: {exc}")
            return
        answers = body.get("responses") if isinstance(body, dict) else None
        by_id = {}
        for answer in answers if isinstance(answers, list) else []:
            if isinstance(answer, dict) and isinstance(answer.get("id"), str):
                by_id[answer["id"]] = answer
        for n, listing in enumerate(take):
            answer = by_id.get(str(n))
            if answer is None:
                self._fail(listing, f"{ep.BATCH.label}: the batch answer has no response for it")
            else:
                self._take(listing, answer, sent)

    def _take(self, listing: _Listing, answer: dict[str, Any], sent: str) -> None:
        status = answer.get("status")
        body = answer.get("body")
        if status == 200:
            self._page(listing, body)
            return
        if not isinstance(status, int) or status < 400:
            self._fail(listing, f"an item of the batch answered status {status!r}")
            return
        response = ep.item_response(
            f"{self.base}{listing.url}", status, answer.get("headers"), body
        )
        rule = classify_response(response)
        if rule.action is Action.REFRESH and not listing.refreshed and self.http.auth:
            listing.refreshed = True
            self.rejected.add(sent)
            listing.spare = False
            self.next.append(listing)
            return
        if rule.action in (Action.RETRY, Action.RATE_LIMITED):
            listing.attempt += 1
            if rule.action is Action.RATE_LIMITED:
                self.http.stats.throttled += 1
            asked = server_wait(response)
            wait = asked if asked is not None else backoff(listing.attempt)
            limits = self.http.settings
            if (
                listing.attempt < limits.max_attempts
                and listing.waited + wait <= limits.max_retry_seconds
            ):
                listing.waited += wait
                listing.spare = False
                self.http.stats.retries += 1
                self.wait = max(self.wait, wait)
                self.next.append(listing)
                return
        error = status_error(response, listing.target, listing.attempt + 1, listing.waited)
        if RULE.fatal(error):
            raise error
        self._fail(listing, str(error))

    def _page(self, listing: _Listing, body: object) -> None:
        try:  # the checks (and reasons) of a page read on its own
            values = page_items(body, "value", listing.name, required=True)
            link = optional_text(json_object(body, listing.name), "@odata.nextLink", listing.name)
        except ShapeError as exc:
            self._end(listing, str(exc))
            return
        if listing.on_body is not None:
            listing.on_body(json_object(body, listing.name))
            return
        listing.pages += 1
        if listing.on_page is None:
            listing.items.extend(values)
        else:
            listing.on_page(values)
        if listing.tap is not None:
            listing.tap(values)
        if link is None:
            listing.done(listing.items)
            return
        relative = self._relative(listing, link)
        if relative is not None:
            listing.url, listing.attempt, listing.waited = relative, 0, 0.0
            listing.spare = False  # under way: its pages are due
            self.next.append(listing)

    def _relative(self, listing: _Listing, link: object) -> str | None:
        """The next link relative to the base (a batch item's URL), or ``None`` (failed)."""
        if not isinstance(link, str) or not link:
            self._fail(listing, "'@odata.nextLink' is not a link")
            return None
        try:
            url = check_link(listing.target, link)
        except HttpError as exc:
            self._fail(listing, str(exc))
            return None
        if url in listing.seen:
            self._fail(listing, "the next-page link repeats one already read")
            return None
        listing.seen.add(url)
        if not url.startswith(f"{self.base}/"):
            self._fail(listing, "the next-page link leaves the API's base path")
            return None
        return url[len(self.base) :]

    def _fail(self, listing: _Listing, why: str) -> None:
        self._end(listing, f"{listing.name}: {why}")

    def _end(self, listing: _Listing, reason: str) -> None:
        """The listing failed: ``reason`` marks its snapshot, and whoever waits is told."""
        listing.snap.mark_incomplete(reason)
        listing.done(None)


async def read_members(
    http: HttpClient,
    snap: Snapshot,
    group_ids: list[str],
    select: str,
    *,
    size: int = MAX_BATCH,
    lanes: Lanes | None = None,
) -> Found:
    """Each group's member objects read in batches (``None``: failed; ``snap`` says why)."""
    return await BatchedListings(http, snap, size=size, lanes=lanes).read(group_ids, select)
