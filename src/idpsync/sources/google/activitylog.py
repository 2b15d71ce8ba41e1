"""The admin activity log of an incremental read, its ranges read side by side.

The log (``activities.list``, ``maxResults`` up to 1,000) is a chain of pages:
each ``nextPageToken`` comes with the page before, and the API tells neither how many
activities a range holds nor where its n-th one is. What it does take is a time range
(``startTime`` / ``endTime``). So :func:`read_log` reads the first page of the window; when
there is more, the window (up to the newest activity on that page, the last range open like
the window) is cut into :data:`SPLIT` ranges read side by side, each the same way. Nothing is
assumed of the order of the pages (the first page's activities are read again in the ranges
and dropped), only that a range answers every activity in it. A burst of
activities is thus read in about ``log_SPLIT(window / burst)`` rounds plus its last ranges'
pages instead of one round trip a page. A range too short to cut (fewer milliseconds than
:data:`SPLIT`), or a page with a time this code cannot read, goes on as a chain.

Complete whatever the events' times: the ranges cover the window, each overlapping
the next by a millisecond (Google's reference does not say whether ``endTime`` is inclusive),
and each is read to its end or the read fails as a whole. An activity read twice is dropped
(``id.time`` + ``id.uniqueQualifier``, unique per activity); one that cannot be told apart is
kept (a repeated event changes nothing, :mod:`.memberlog`). How much it saves depends on the
times: more than a page of activities in one millisecond stay a chain.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from idpsync.http.paging import Page
from idpsync.sources.google.endpoints import ACTIVITIES, ACTIVITY_PAGE
from idpsync.sources.lanes import gather

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

SPLIT = 8
"""Ranges the rest of a range is cut into once its first page shows there is more."""


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
        times = [_ms(item) for item in items]
        if not (isinstance(first.body, dict) and first.body.get("nextPageToken")):
            return items
        known = [t for t in times if t is not None]
        top = end if end is not None else (max(known) + 1 if known else start)
        if len(known) < len(times) or top - start < SPLIT:  # cannot cut: the chain goes on
            async for page in pages:
                items.extend(page.records)
            return items
    finally:
        await pages.aclose()
    # the whole range cut (the first page's activities are read again and dropped: nothing
    # is assumed of the order of the pages); the last range keeps the range's own end
    edges = [start + (top - start) * i // SPLIT for i in range(SPLIT + 1)]
    bounds: list[int | None] = [b + 1 for b in edges[1:-1]]
    bounds.append(end)
    parts = await gather(
        *(_range(source, a, b, size) for a, b in zip(edges[:-1], bounds, strict=True))
    )
    return items + [item for part in parts for item in part]
