"""``pages_ahead``: a chain's next page asked for once the answer's head names it (issue #20)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from idpsync.http import Endpoint, build_http_client, errors
from idpsync.http.ahead import pages_ahead
from idpsync.http.paging import BodyToken, LinkHeader
from idpsync.http.settings import HttpSettings
from tests.http.recording import BASE
from tests.http.recording import recording_client as mock_client
from tests.http.servers import LocalServer, Reply, Request

ITEMS = [{"id": str(i)} for i in range(7)]
THINGS = Endpoint("things", "GET", "/things", "list things", paging=LinkHeader, records=None)


def linked(after: int, base: str = BASE) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Items ``after…after+3`` and the link to the next three, if any."""
    headers = {}
    if after + 3 < len(ITEMS):
        headers["link"] = f'<{base}/things?after={after + 3}&limit=3>; rel="next"'
    return ITEMS[after : after + 3], headers


async def on_the_wire(request: httpx.Request) -> None:
    """What httpcore's ``trace`` extension reports once a request is written."""
    trace = request.extensions.get("trace")
    if trace is not None:
        await trace("http11.send_request_body.complete", {"request": request})


def by_after(request: httpx.Request) -> httpx.Response:
    items, headers = linked(int(request.url.params.get("after", "0")))
    return httpx.Response(200, json=items, headers=headers)


@pytest.mark.asyncio
async def test_the_next_page_is_asked_for_before_a_page_is_handed_over() -> None:
    http, sent = mock_client(by_after)
    seen: list[int] = []
    read: list[Any] = []
    async for page in pages_ahead(http, THINGS, params={"limit": "3"}):
        seen.append(len(sent))  # requests sent when the caller gets the page
        read += page.records
    assert read == ITEMS  # the same pages, in order, each once
    assert seen == [2, 3, 3]  # page 1 handed over with page 2 asked for; no request after the last
    assert [r.url.params.get("after") for r in sent] == [None, "3", "6"]
    assert all(r.url.params["limit"] == "3" for r in sent)


@pytest.mark.asyncio
async def test_a_page_that_does_not_decode_raises_and_the_request_sent_after_it_is_cancelled() -> (
    None
):
    cancelled = asyncio.Event()

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await on_the_wire(request)
            after = int(request.url.params.get("after", "0"))
            items, headers = linked(after)
            if after == 3:  # page 2 names page 3, but its body is not JSON
                return httpx.Response(200, content=b"<html>", headers=headers)
            if after == 6:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    cancelled.set()
                    raise
            return httpx.Response(200, json=items, headers=headers)

    http = build_http_client(HttpSettings(max_attempts=1), base_url=BASE, transport=Transport())
    read: list[Any] = []
    with pytest.raises(errors.MalformedAnswer):
        async for page in pages_ahead(http, THINGS):
            read += page.records
    assert read == ITEMS[:3]
    assert cancelled.is_set()


@pytest.mark.asyncio
async def test_a_caller_that_stops_early_cancels_the_request_in_flight() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await on_the_wire(request)
            after = int(request.url.params.get("after", "0"))
            if after:
                started.set()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    cancelled.set()
                    raise
            items, headers = linked(after)
            return httpx.Response(200, json=items, headers=headers)

    http = build_http_client(HttpSettings(max_attempts=1), base_url=BASE, transport=Transport())
    pages = pages_ahead(http, THINGS)
    first = await asyncio.wait_for(anext(pages), 5)  # handed over once page 2 is on the wire
    assert first.records == ITEMS[:3] and started.is_set() and not cancelled.is_set()
    await pages.aclose()
    assert cancelled.is_set()


@pytest.mark.asyncio
async def test_over_a_socket_a_page_is_handed_over_once_the_next_request_is_on_the_wire() -> None:
    """Page 2's answer waits until the caller has page 1: only an early request gets there."""
    released = asyncio.Event()

    async def handler(request: Request) -> Reply:
        after = int(request.query.get("after", "0"))
        if after:
            await released.wait()
        items, headers = linked(after, server.url)
        return Reply(200, body=json.dumps(items).encode(), headers=headers)

    async with LocalServer(handler) as server:
        http = build_http_client(HttpSettings(max_attempts=1), base_url=server.url)
        read: list[Any] = []

        async def listing() -> None:
            async for page in pages_ahead(http, THINGS):
                read.extend(page.records)
                released.set()

        await asyncio.wait_for(listing(), 5)
        await http.aclose()
    assert read == ITEMS
    assert [r.query.get("after") for r in server.requests] == [None, "3", "6"]


@pytest.mark.asyncio
async def test_a_paginator_that_pages_from_the_body_is_read_page_by_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        body: dict[str, Any] = {"items": ITEMS[:4] if token is None else ITEMS[4:]}
        if token is None:
            body["nextPageToken"] = "t2"
        return httpx.Response(200, json=body)

    http, sent = mock_client(handler)
    tokens = Endpoint("t", "GET", "/t", "list t", paging=BodyToken, records="items")
    seen: list[int] = []
    read: list[Any] = []
    async for page in pages_ahead(http, tokens):
        seen.append(len(sent))
        read += page.records
    assert read == ITEMS
    assert seen == [1, 2]
