"""A client on a mock transport that keeps every request it sends (the paging tests)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from idpsync.http import HttpClient, build_http_client
from idpsync.http.settings import HttpSettings

BASE = "https://idp.test/api"
Handler = Callable[[httpx.Request], httpx.Response]


def recording_client(handler: Handler) -> tuple[HttpClient, list[httpx.Request]]:
    """A client of :data:`BASE` answered by ``handler``, one attempt a request; what it sent."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    settings = HttpSettings(max_attempts=1)
    http = build_http_client(settings, base_url=BASE, transport=httpx.MockTransport(record))
    return http, sent
