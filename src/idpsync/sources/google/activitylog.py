"""The admin activity log of an incremental read, its ranges sized from its first page.

The log (``activities.list``, ``maxResults`` up to 1,000) is a chain of pages: each
``nextPageToken`` comes with the page before, and the API tells neither how many activities a
range holds nor where its n-th one is. What it does take is a time range (``startTime`` /
``endTime``), and each page tells the times of its activities. So :func:`read_log` reads the
first page of the window; when there is more, :func:`cuts` sizes the ranges the window is read
in from that page, and each range is read the same way, side by side:

- Google answers newest first (as the emulator does; its reference states no order), so the
  first page is most likely the window's newest activities: its oldest time ``t`` and its
  density (activities per millisecond over its span) say how wide a range below ``t``
  holding :data:`FILL` × a page is. The first :data:`LINEAR` ranges below ``t`` have that
  width; each after them is :data:`GROWTH` × as wide as the one before, the oldest taking
  the rest of the window. An even log is thus read in about one range a page in one round;
  a burst (the 1 % change of the benchmark: ≈20 pages in the last minute of a 20-minute
  window) in the ranges that hold it and a few widening, mostly empty ones (about
  ``log₄(window / width)``, one request each) instead of one a width.
- The first page's own span (from ``t`` on) is read again as one range: nothing is assumed of
  the order of the pages, only that a range answers every activity in it. Its activities are
  read twice and dropped once.
- A range that holds more than its width promised reads its own first page and is cut again
  the same way, from its own density.

The count follows how the activities spread, not where equal cuts happen to fall: for
``N`` pages of activities about ``N / FILL`` ranges where they are, one probe and one re-read
per range cut, and the widening ranges of the empty time (tests/sources/
test_google_logspread.py counts them for logs spread differently).

Complete whatever the events' times: the ranges cover the window, each overlapping the next by
a millisecond (the client library's reference says ``endTime`` is inclusive, the emulator
takes it as exclusive), and each is read to its end or the read fails as a whole. An activity
read twice is dropped (``id.time`` + ``id.uniqueQualifier``, unique per activity); one that
cannot be told apart is kept (a repeated event changes nothing, :mod:`.memberlog`). A range no
cut makes smaller (more than a page of activities in its first millisecond), or a page with a
time this code cannot read, goes on as a chain.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any, cast

from idpsync.http.paging import Page
from idpsync.sources.google.endpoints import ACTIVITIES, ACTIVITY_PAGE
from idpsync.sources.lanes import gather

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

LINEAR = 4
"""Ranges of the first page's width below it before the widths grow."""
GROWTH = 4
"""How much wider each range after the first :data:`LINEAR` is than the one before it."""
FILL = 0.8
"""The share of a page a range is sized for at the first page's density: under one, so that
a range seldom spills into a second page (which costs a probe and a re-read) where the density
varies (the benchmark's change at L: 400 to 700 activities a second, 500 on average)."""

Range = tuple[int, int | None]
"""Epoch milliseconds: from (inclusive) and to (``endTime``; ``None``: open, up to now)."""


def stamp_ms(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, from epoch milliseconds."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(item: Any) -> int | None:
    ident = item.get("id") if isinstance(item, dict) else None
    raw = ident.get("time") if isinstance(ident, dict) else None
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # not a time this code can place: no cut
    return int(when.replace(microsecond=0).timestamp()) * 1000 + when.microsecond // 1000


def cuts(start: int, end: int | None, times: list[int | None], size: int) -> list[Range] | None:
    """The ranges ``[start, end)`` is read in once its first page (``times``) has more.

    ``None`` when no cut makes the range smaller or a time is unknown: the range goes on as a
    chain. Else the ranges below the page's oldest time, newest first as in the module
    docstring, each to one millisecond past the next one's start, then the page's own span.
    """
    known = [t for t in times if t is not None]
    if not known or len(known) < len(times):
        return None
    oldest, newest = min(known), max(known)
    if oldest <= start or (end is not None and end <= oldest + 2):
        return None  # the ranges below would be the range itself
    width = max(1, int(FILL * size * (newest + 1 - oldest) / len(known)))
    edges, step = [oldest + 1], width
    while edges[-1] > start:
        if len(edges) > LINEAR:
            step *= GROWTH
        edge = edges[-1] - step
        edges.append(start if edge - start < step // 8 else edge)  # no sliver left at start
    below: list[Range] = [(low, high + 1) for high, low in pairwise(edges)]
    return [*below, (oldest + 1, end)]


async def read_log(source: GoogleSource, since_ms: int, page: int = ACTIVITY_PAGE) -> list[Any]:
    """Every activity from ``since_ms`` on (module docstring), each once."""
    found = await _range(source, since_ms, None, page)
    seen: set[tuple[object, object]] = set()
    unique: list[Any] = []
    for item in found:
        ident = item.get("id") if isinstance(item, dict) else None
        key = (ident.get("time"), ident.get("uniqueQualifier")) if isinstance(ident, dict) else None
        if key is not None and None not in key:
            if key in seen:
                continue  # read twice: where two ranges overlap
            seen.add(key)
        unique.append(item)
    return unique


async def _range(source: GoogleSource, start: int, end: int | None, size: int) -> list[Any]:
    params = {"startTime": stamp_ms(start), "maxResults": str(size)}
    if end is not None:
        params["endTime"] = stamp_ms(end)
    pages = cast(AsyncGenerator[Page, None], source.http.pages(ACTIVITIES, params=params))
    try:
        first = await anext(pages)
        items = list(first.records)
        if not (isinstance(first.body, dict) and first.body.get("nextPageToken")):
            return items
        ranges = cuts(start, end, [_ms(item) for item in items], size)
        if ranges is None:  # cannot cut: the chain goes on
            async for page in pages:
                items.extend(page.records)
            return items
    finally:
        await pages.aclose()
    parts = await gather(*(_range(source, low, high, size) for low, high in ranges))
    return items + [item for part in parts for item in part]
