"""A chain's next page asked for as soon as the answer's head names it (:func:`pages_ahead`).

A listing whose next page is named in the answer's headers (Okta's ``Link: <…>; rel="next"``)
is one chain: each request waits for the answer before it. :meth:`HttpClient.pages
<idpsync.http.client.HttpClient.pages>` sends the next request only once the caller is done
with a page, so a page's JSON decoding and whatever the caller makes of its records (Okta:
100,000 users checked, made and cleaned, 200 a page) add to every round trip of the chain.
:func:`pages_ahead` reads the same pages in the same order, but sends the next request once the
answer's head has named it and hands the page over only once that request is on the wire (or,
on a transport that does not report it, answered), so the caller's work on a page overlaps the
next round trip.

Nothing else changes: one request of the listing in flight at a time (each after the answer
before it), through the same :meth:`~idpsync.http.client.HttpClient.request` (budget, pacing,
retries, origin checks), the same repeated-link guard, the same pages. A page that fails to
decode raises as before; the request already sent for the next page is cancelled, and so is
one still in flight when the caller stops early. A paginator that cannot tell the next page
from the head (:attr:`~idpsync.http.paging.Paginator.in_head` false) is read as
:meth:`HttpClient.pages <idpsync.http.client.HttpClient.pages>` reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

from idpsync.http.body import json_body
from idpsync.http.paging import Page, merged, records_of

if TYPE_CHECKING:
    import httpx

    from idpsync.http.client import HttpClient
    from idpsync.http.endpoint import Endpoint


async def pages_ahead(
    http: HttpClient,
    endpoint: Endpoint,
    values: Mapping[str, str] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
) -> AsyncGenerator[Page, None]:
    """Every page of ``endpoint``'s listing, in order, the next one asked for early (above)."""
    if endpoint.paging is None:
        raise TypeError(f"{endpoint.label} is not a paged listing")
    paginator = endpoint.paging()
    if not paginator.in_head:
        async for page in http.pages(endpoint, values, params=params, paginator=paginator):
            yield page
        return
    where = endpoint.label
    first = merged(params, paginator.first())
    pending: asyncio.Future[httpx.Response] | None = asyncio.ensure_future(
        http.request(endpoint, values, params=first)
    )
    number = 0
    try:
        while pending is not None:
            response = await pending
            pending = None
            if paginator.from_head(response, where):
                sent = asyncio.Event()
                url, query = paginator.url, paginator.params or None
                pending = asyncio.ensure_future(
                    http.request(endpoint, values, url=url, params=query, sent=sent)
                )
                await _on_the_wire(sent, pending)
            body = json_body(response, endpoint)
            number += 1
            yield Page(response, body, records_of(body, endpoint.records, where), number)
    finally:
        if pending is not None:  # its outcome dropped; a cancellation of the caller still raises
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


async def _on_the_wire(sent: asyncio.Event, pending: asyncio.Future[Any]) -> None:
    """Until the request's body is sent, or it is answered or failed (whichever comes first)."""
    if pending.done():
        return
    waiter = asyncio.ensure_future(sent.wait())
    try:
        await asyncio.wait({waiter, pending}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
