"""Reading one v2 listing by page number, the pages in parallel, with a proof of completeness.

A ``/api/2/…`` listing answers every page with ``Total-Count``, ``Total-Pages`` and
``Current-Page`` headers and takes ``page=N`` as well as the ``After-Cursor`` chain. The
cursor is itself the base64 of ``limit=…&page=…``, so both ways read the same offsets: by
number, the pages after the first need not wait for each other. :func:`read_listing` reads the
first page, and once it tells ``Total-Pages`` asks for pages 2…P at once (the HTTP client keeps
``concurrency`` in flight, the budget pacer holds each call to the hourly floor).

The result is accepted only with a proof that it is the whole listing (:class:`Doubt`
otherwise):

* every page answers the page asked for (``Current-Page``) and the same ``Total-Count`` and
  ``Total-Pages`` as the first (a count that moved means users came or went meanwhile);
* every page but the last holds as many records as the first, the last holds the rest;
* the pages' union holds ``Total-Count`` distinct ids (no duplicate page);
* no record was created (``updated_at`` for a filtered listing) after the first page's
  ``Date`` (:data:`QUIET_MARGIN`): a user created while the pages were read could have hidden a
  deletion that shifted another user from one page to the one before, with the count unchanged.

A doubt caused by changes in the account reads the listing again once, by number; any other
doubt (or a second one) reads it as the cursor chain with the same checks. If the chain too
cannot be proven whole, :class:`Doubt` reaches the reader, which marks the listing incomplete:
a user possibly missed never looks like a leaver. A first page without the headers, or a
listing of one page, simply goes on as the cursor chain.

A listing with :attr:`Listing.pages` hands each page's records to it as the page is accepted
(the first page, each page by number once checked, each page of a chain): whatever a read
that starts over or fails had handed is taken back (:meth:`PageSink.restart`), so the pages
handed when :func:`read_listing` returns are exactly the records it returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from idpsync.errors import SourceError
from idpsync.http import Endpoint, HttpClient
from idpsync.http.errors import MalformedAnswer
from idpsync.http.paging import Page
from idpsync.sources.onelogin.budget import BudgetStop, CallPacer, reserve
from idpsync.sources.onelogin.delta import server_time
from idpsync.sources.onelogin.endpoints import page_records

log = logging.getLogger("idpsync.sources.onelogin.paged")

QUIET_MARGIN = timedelta(0)
"""A record whose time is later than the first page's ``Date`` plus this counts as a change
during the read. ``Date`` has whole seconds and ``created_at`` milliseconds, so a record of the
second the first page was answered in counts too (unless on the second exactly)."""

Seen = Callable[[int, int | None], None]
"""Told the records read so far and ``Total-Count`` after every page (progress)."""


class Doubt(Exception):
    """The pages read cannot be proven to be the whole listing."""

    def __init__(self, reason: str, *, churn: bool) -> None:
        super().__init__(reason)
        self.churn = churn
        """Whether the account changed during the read (a re-read may succeed)."""


@dataclass(frozen=True, slots=True)
class Totals:
    """What the first page told: records, pages, records per full page."""

    count: int
    pages: int
    size: int


def header_int(page: Page, name: str) -> int | None:
    """A paging header as a non-negative integer (``None``: absent or not a number)."""
    raw = (page.response.headers.get(name) or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None


def totals_of(first: Page) -> Totals | None:
    """The totals of a listing of two pages or more, when its first page states them fully."""
    count, pages = header_int(first, "total-count"), header_int(first, "total-pages")
    size = len(first.records)
    if count is None or pages is None or pages < 2 or size < 1:
        return None
    if header_int(first, "current-page") != 1 or pages != math.ceil(count / size):
        return None
    return Totals(count, pages, size)


def check_page(page: Page, number: int, totals: Totals) -> None:
    """One page by number against the first page's totals (see the module docstring)."""
    count, pages = header_int(page, "total-count"), header_int(page, "total-pages")
    if count != totals.count or pages != totals.pages:
        raise Doubt(
            f"Total-Count moved from {totals.count} to {count} during the read "
            "(records were added or removed meanwhile)",
            churn=True,
        )
    current = header_int(page, "current-page")
    if current != number:
        raise Doubt(f"page={number} was answered with Current-Page {current}", churn=False)
    last = totals.count - (totals.pages - 1) * totals.size
    expected = totals.size if number < totals.pages else last
    if len(page.records) != expected:
        raise Doubt(
            f"page {number} of {totals.pages} holds {len(page.records)} records, not {expected}",
            churn=False,
        )


def check_union(items: list[Any], count: int) -> None:
    """The records hold ``count`` distinct ids (a record without an id counts on its own)."""
    keys = {
        ("id", str(item["id"])) if isinstance(item, dict) and "id" in item else ("at", index)
        for index, item in enumerate(items)
    }
    if len(keys) != count:
        raise Doubt(
            f"the pages hold {len(keys)} distinct records for Total-Count {count} "
            "(a repeated or shifted page)",
            churn=len(items) != count,
        )


def check_quiet(items: list[Any], field: str | None, start: datetime | None) -> None:
    """No record has ``field`` later than ``start`` plus :data:`QUIET_MARGIN`."""
    if field is None or start is None:
        return
    since = start + QUIET_MARGIN
    for item in items:
        moment = _time(item.get(field) if isinstance(item, dict) else None)
        if moment is not None and moment > since:
            raise Doubt(
                f"record {item.get('id')} has {field} {item.get(field)}, after the listing's "
                "first page (a change during the read can shift a record between pages)",
                churn=True,
            )


class PageSink(Protocol):
    """Takes a listing's pages as they are accepted (see the module docstring)."""

    def page(self, records: list[Any]) -> None:
        """Take one accepted page's records."""

    def restart(self) -> None:
        """Take back every page handed so far (the read starts over or failed)."""


@dataclass
class Listing:
    """One v2 listing to read: the call, its parameters and how to judge it."""

    http: HttpClient
    pacer: CallPacer
    endpoint: Endpoint
    params: dict[str, Any]
    values: Mapping[str, str] | None = None
    workers: int = 1
    """Pages asked for at once (1: the cursor chain only)."""
    quiet_field: str | None = None
    """The record time that must predate the read (``created_at``, ``updated_at``)."""
    seen: Seen | None = None
    pages: PageSink | None = None
    """Given each page as it is accepted (``None``: the records are only returned)."""
    handed: bool = field(default=False, init=False)
    """Whether pages were handed to :attr:`pages` since the last restart."""

    def hand(self, records: list[Any]) -> None:
        """Hand one accepted page to :attr:`pages`."""
        if self.pages is not None and records:
            self.pages.page(records)
            self.handed = True

    def restart(self) -> None:
        """Take back the pages handed (a read that starts over or failed)."""
        if self.pages is not None and self.handed:
            self.pages.restart()
            self.handed = False

    def told(self, read: int, page: Page) -> None:
        """Report progress: ``read`` records so far, and the total ``page`` states."""
        if self.seen is not None:
            self.seen(read, header_int(page, "total-count"))


async def read_listing(job: Listing) -> list[Any]:
    """Every record of the listing (see the module docstring); :class:`Doubt` if unproven.

    On any failure the pages handed to ``job.pages`` are taken back before it is raised.
    """
    try:
        return await _read_listing(job)
    except Exception:
        job.restart()
        raise


async def _read_listing(job: Listing) -> list[Any]:
    for attempt in (1, 2):
        job.restart()
        chain = _pages(job, job.params)
        first = await anext(chain)
        items = list(page_records(first, job.endpoint))
        job.hand(items)
        job.told(len(items), first)
        totals = totals_of(first) if job.workers >= 2 else None
        if totals is None:
            return await _rest(job, chain, items)
        await chain.aclose()
        start = server_time(first.response.headers.get("date"))
        try:
            items += await _by_number(job, totals, len(items))
            check_union(items, totals.count)
            check_quiet(items, job.quiet_field, start)
            return items
        except Doubt as doubt:
            log.info("%s: %s (attempt %d)", job.endpoint.label, doubt, attempt)
            if not doubt.churn:
                break
    return await _checked_chain(job)


async def _rest(job: Listing, chain: AsyncIterator[Page], items: list[Any]) -> list[Any]:
    async for page in chain:
        records = page_records(page, job.endpoint)
        items += records
        job.hand(records)
        job.told(len(items), page)
    return items


async def _by_number(job: Listing, totals: Totals, read: int) -> list[Any]:
    """Pages 2…P, ``job.workers`` at a time; the first error (by kind) is raised."""
    reserve(job.pacer, totals.pages - 1, job.endpoint.label)
    found: dict[int, list[Any]] = {}
    errors: list[Exception] = []
    numbers = iter(range(2, totals.pages + 1))

    async def worker() -> None:
        nonlocal read
        for number in numbers:
            if errors:
                return
            try:
                page = await _page(job, number)
                check_page(page, number, totals)
            except Exception as exc:  # sorted below: the first of the worst kind is raised
                errors.append(exc)
                return
            found[number] = page_records(page, job.endpoint)
            job.hand(found[number])
            read += len(found[number])
            job.told(read, page)

    await asyncio.gather(*(worker() for _ in range(min(job.workers, totals.pages - 1))))
    for kind in (BudgetStop, SourceError, Doubt, Exception):
        for exc in errors:
            if isinstance(exc, kind):
                raise exc
    return [item for number in sorted(found) for item in found[number]]


async def _page(job: Listing, number: int) -> Page:
    params = {**job.params, "page": str(number)}
    chain = _pages(job, params)
    try:
        return await anext(chain)
    finally:
        await chain.aclose()


def _pages(job: Listing, params: dict[str, Any]) -> AsyncGenerator[Page, None]:
    pages = job.http.pages(job.endpoint, job.values, params=params)
    return cast("AsyncGenerator[Page, None]", pages)


async def _checked_chain(job: Listing) -> list[Any]:
    """The cursor chain, proven whole: one ``Total-Count`` throughout, that many distinct ids."""
    items: list[Any] = []
    counts: set[int | None] = set()
    start: datetime | None = None
    job.restart()
    async for page in job.http.pages(job.endpoint, job.values, params=job.params):
        start = start or server_time(page.response.headers.get("date"))
        counts.add(header_int(page, "total-count"))
        records = page_records(page, job.endpoint)
        items += records
        job.hand(records)
        job.told(len(items), page)
    if len(counts) != 1 or None in counts:
        raise Doubt(f"Total-Count moved during the read ({sorted(map(str, counts))})", churn=True)
    check_union(items, counts.pop() or 0)
    check_quiet(items, job.quiet_field, start)
    return items


def why_unread(exc: SourceError) -> str:
    """A listing's failure as its reason reads (an unreadable body: likely cut off)."""
    if isinstance(exc, MalformedAnswer):
        return f"{exc.target.endpoint.label}: the answer is not JSON (cut off?); retry later"
    return str(exc)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


__all__ = [
    "QUIET_MARGIN",
    "Doubt",
    "Listing",
    "PageSink",
    "Totals",
    "read_listing",
    "totals_of",
    "why_unread",
]
