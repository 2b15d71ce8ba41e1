"""Delta rounds in ``$batch`` calls: many short chains of delta pages side by side.

A delta round is a listing that ends at a page with ``@odata.deltaLink`` instead of
``@odata.nextLink``. :class:`DeltaRounds` reads such rounds in the rounds of batch calls of
:class:`~idpsync.sources.entra.batch.BatchedListings` (20 requests a call, each round's next
page in the call after its page came in), with the same handling of every item's failure, and
keeps each round's new delta link. A round starts either at a saved delta link
(:meth:`DeltaRounds.resume`) or with query parameters (:meth:`DeltaRounds.start`: a first round,
or ``$deltatoken=latest``).

An item answered ``syncStateNotFound`` (400, or 410 Gone) sets :attr:`DeltaRounds.expired`: its
token is no longer known, and the caller reads everything instead. A page with neither link,
or a delta link on another origin, fails the round like any other failure (its snapshot is
marked incomplete).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from idpsync.errors import ShapeError
from idpsync.http.errors import BadRequest, HttpError
from idpsync.http.origins import check_link
from idpsync.http.shape import json_object, optional_text, page_items
from idpsync.sources.entra.batch import BatchedListings, Items, _Listing
from idpsync.sources.entra.paging import DELTA, DeltaPages

if TYPE_CHECKING:
    from idpsync.http import Endpoint, HttpClient
    from idpsync.model import Snapshot


class Expired(Exception):
    """The delta token is no longer known to Graph (``syncStateNotFound``)."""


async def follow(http: HttpClient, endpoint: Endpoint, link: str) -> tuple[list[Any], str]:
    """Every item of a delta round from ``link`` (one request a page), and its new delta link.

    The new link must stay on the listing's origin (else
    :class:`~idpsync.http.errors.ForeignOrigin`: it is neither followed nor kept).
    """
    items: list[Any] = []
    paginator = DeltaPages()
    try:
        async for page in http.pages(endpoint, paginator=paginator, start=link):
            items.extend(page.records)
    except BadRequest as exc:
        if exc.status == 410 or "syncStateNotFound" in f"{exc.cause} {exc.body or ''}":
            raise Expired from exc
        raise
    assert paginator.delta is not None  # a round ends only at a delta link
    return items, check_link(http.target(endpoint), paginator.delta)


@dataclass
class Round:
    """A delta round read to its end: every item of its pages, and the new delta link."""

    items: Items
    link: str


@dataclass
class _Round(_Listing):
    link: str | None = None
    future: asyncio.Future[Round | None] | None = field(default=None, repr=False)


class DeltaRounds(BatchedListings):
    """Reads delta rounds in batch calls; see the module docstring."""

    expired = False
    """Whether some round's token was refused as no longer known (``syncStateNotFound``)."""

    def start(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        snap: Snapshot,
        name: str = "",
        spare: bool = False,
    ) -> asyncio.Future[Round | None]:
        """A round from its first request (``params``), joining the next batch call.

        ``spare``: its first page may wait a round to fill a call (``batch.py``).
        """
        self._enqueue(name or endpoint.label, endpoint, {}, params, snap, _ignore)
        self.arrived[-1].spare = spare
        return self._as_round(self.arrived[-1])

    def resume(
        self, endpoint: Endpoint, link: str, snap: Snapshot, name: str = "", spare: bool = False
    ) -> asyncio.Future[Round | None]:
        """A round from a saved delta link (``None`` when it cannot be read: ``snap`` says why)."""
        self._enqueue(name or endpoint.label, endpoint, {}, {}, snap, _ignore)
        self.arrived[-1].spare = spare
        future = self._as_round(self.arrived[-1])
        listing = self.arrived[-1]
        relative = self._relative(listing, link)
        if relative is None:
            self.arrived.pop()
        else:
            listing.url = relative
        return future

    def _as_round(self, listing: _Listing) -> asyncio.Future[Round | None]:
        """Turn the listing just queued into a delta round with a future for its result."""
        future: asyncio.Future[Round | None] = asyncio.get_running_loop().create_future()
        fields = {k: getattr(listing, k) for k in ("name", "url", "target", "snap", "spare")}
        delta = _Round(**fields, done=_ignore, future=future)

        def done(items: Items | None) -> None:
            if not future.done():
                link = delta.link
                future.set_result(Round(items, link) if items is not None and link else None)

        delta.done = done
        self.arrived[-1] = delta
        return future

    def _take(self, listing: _Listing, answer: dict[str, Any], sent: str) -> None:
        status, body = answer.get("status"), answer.get("body")
        expired = status == 410 or (status == 400 and "syncStateNotFound" in str(body))
        if expired and isinstance(listing, _Round):  # another listing fails as it would alone
            self.expired = True
            listing.done(None)
            return
        super()._take(listing, answer, sent)

    def _page(self, listing: _Listing, body: object) -> None:
        if not isinstance(listing, _Round):
            super()._page(listing, body)
            return
        try:
            values = page_items(body, "value", listing.name, required=True)
            page = json_object(body, listing.name)
            after = optional_text(page, "@odata.nextLink", listing.name)
            delta = optional_text(page, DELTA, listing.name)
        except ShapeError as exc:
            self._end(listing, str(exc))
            return
        listing.items.extend(values)
        if after is not None:
            relative = self._relative(listing, after)
            if relative is not None:
                listing.url, listing.attempt, listing.waited = relative, 0, 0.0
                listing.spare = False
                self.next.append(listing)
            return
        if not delta:
            self._fail(listing, "a page has neither next nor delta link")
            return
        try:
            listing.link = check_link(listing.target, delta)
        except HttpError as exc:
            self._fail(listing, str(exc))
            return
        listing.done(listing.items)


def _ignore(items: Items | None) -> None:
    """A placeholder: :meth:`DeltaRounds._as_round` sets each round's own callback."""
