"""The HTTP client every connector uses: build it from settings, inject it, call endpoints.

:func:`build_http_client` turns a connector's :class:`~idpsync.config.HttpSettings` into an
:class:`HttpClient` (budget, counters, token flow, pacing) over the transport
:mod:`idpsync.http.transport` builds (timeouts, proxy, CA bundle). Connectors never build one:
they receive it, so tests can hand them a client over ``httpx.ASGITransport`` or
``httpx.MockTransport``. Every request is made for an :class:`~idpsync.http.endpoint.Endpoint`;
failures become :mod:`idpsync.http.errors` that name it.

Two guards apply to every request: credentials and next-page links stay on the client's
configured origins (:mod:`idpsync.http.origins`; redirects are never followed), and one
request, connect to last body byte, must finish within ``http.request_deadline``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from idpsync.http import errors as e
from idpsync.http.body import json_body
from idpsync.http.budget import DEFAULT_CONCURRENCY, RequestBudget
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.origins import (
    Origin,
    carries_credentials,
    check_credentials,
    check_link,
    origin_of,
    redirect_error,
)
from idpsync.http.paging import Page, Paginator, merged, records_of
from idpsync.http.policy import Action, backoff, classify_error, classify_response, pause
from idpsync.http.policy import server_wait as _server_wait
from idpsync.http.redact import redact_url
from idpsync.http.settings import HttpSettings
from idpsync.http.stats import RequestStats
from idpsync.http.translate_network import DeadlineExceeded, deadline_error, network_error
from idpsync.http.translate_status import status_error
from idpsync.http.transport import build_httpx_client, proxy_for

if TYPE_CHECKING:
    from idpsync.http.auth import TokenProvider
    from idpsync.http.pacing import Pacer

log = logging.getLogger("idpsync.http")


def build_http_client(
    settings: HttpSettings,
    *,
    base_url: str = "",
    default_rate: float | None = None,
    default_concurrency: int = DEFAULT_CONCURRENCY,
    transport: httpx.AsyncBaseTransport | None = None,
    stats: RequestStats | None = None,
    auth: TokenProvider | Callable[[HttpClient], TokenProvider] | None = None,
    pacer: Pacer | None = None,
) -> HttpClient:
    """One connector's client, complete at construction.

    ``default_*`` are the source's budget defaults, ``auth`` its token flow (or a factory
    taking the client), ``pacer`` its pacing strategy.
    """
    budget = RequestBudget(
        settings.requests_per_second or default_rate,
        settings.concurrency or default_concurrency,
    )
    return HttpClient(
        build_httpx_client(settings, transport),
        settings,
        base_url=base_url,
        budget=budget,
        stats=stats,
        auth=auth,
        pacer=pacer,
    )


class HttpClient:
    """Sends requests for endpoints with retries, budget, token handling and translation."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: HttpSettings,
        *,
        base_url: str = "",
        budget: RequestBudget | None = None,
        stats: RequestStats | None = None,
        auth: TokenProvider | Callable[[HttpClient], TokenProvider] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.base_url = base_url
        self.budget = budget or RequestBudget(None)
        self.stats = stats or RequestStats()
        self.pacer = pacer
        """Optional pacing strategy fed every response's headers (see :mod:`.pacing`)."""
        self._token_origins: set[Origin] = set()
        self.auth: TokenProvider | None = auth(self) if callable(auth) else auth
        """The token provider. A provider that sends its token requests through this client
        is given as a factory taking the client (``auth=lambda http: Flow(http, …)``)."""

    def target(
        self, endpoint: Endpoint, values: Mapping[str, str] | None = None
    ) -> ConcreteEndpoint:
        """The endpoint with its URL filled in from ``values`` and the base URL."""
        return endpoint.resolve(self.base_url, values)

    async def request(
        self,
        endpoint: Endpoint | ConcreteEndpoint,
        values: Mapping[str, str] | None = None,
        *,
        url: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
        accept: Collection[int] = (),
        content: bytes | None = None,
        sent: asyncio.Event | None = None,
    ) -> httpx.Response:
        """Send one request for ``endpoint`` with retries, budget and token handling.

        Returns a response whose status is below 400 or in ``accept``; anything else raises an
        :class:`~idpsync.http.errors.HttpError` that names the endpoint.

        ``url`` replaces the template's URL (e.g. a next-page link the IdP returned); it must
        stay on the template's origin. Credentials only go to :meth:`credential_origins`; a
        3xx answer is never followed. Both raise :class:`~idpsync.http.errors.ForeignOrigin`
        before anything is sent there (see :mod:`idpsync.http.origins`). ``sent`` is set once
        the request's body is on the wire (transports that report it: httpx's own).
        """
        if isinstance(endpoint, ConcreteEndpoint):
            target = endpoint
        else:
            target = self.target(endpoint, values)
        if url is not None:
            target = ConcreteEndpoint(target.endpoint, check_link(target, url))
        request = _Request(target, params, json, data, headers, authenticate and bool(self.auth))
        request.content = content  # a raw body (e.g. a multipart batch)
        request.sent = sent
        if carries_credentials(target, request.authenticate, headers):
            check_credentials(target, self.credential_origins())
        return await self._attempts(request, accept)

    async def get_json(
        self, endpoint: Endpoint, values: Mapping[str, str] | None = None, **kwargs: Any
    ) -> Any:
        """``request`` and decode a JSON body (a malformed one names the endpoint too).

        ``None`` when the answer's status is one of the endpoint's ``absent`` statuses.
        """
        if endpoint.absent:
            kwargs["accept"] = {*kwargs.get("accept", ()), *endpoint.absent}
        response = await self.request(endpoint, values, **kwargs)
        if response.status_code in endpoint.absent:
            return None
        return json_body(response, endpoint)

    async def pages(
        self,
        endpoint: Endpoint,
        values: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        paginator: Paginator | None = None,
        headers: Mapping[str, str] | None = None,
        start: str | None = None,
    ) -> AsyncIterator[Page]:
        """Every page of a listing, in order, as the endpoint's paginator leads.

        ``paginator`` replaces the endpoint's own (e.g. one with another page size). ``start``
        is a whole first URL instead of the endpoint's (a saved link, e.g. an Entra delta link):
        like every link it must stay on the endpoint's origin, and counts as seen. A failed
        request raises its :class:`~idpsync.http.errors.HttpError`; a page of the wrong shape or
        a repeated token raises :class:`~idpsync.errors.ShapeError`: either way the listing was
        not read to its end, and the caller decides what that means for the read.
        """
        if paginator is None:
            if endpoint.paging is None:
                raise TypeError(f"{endpoint.label} is not a paged listing")
            paginator = endpoint.paging()
        where = endpoint.label
        query: dict[str, Any] | None = merged(params, paginator.first())
        url: str | None = None
        if start is not None:
            url, query = paginator.once(start, where), None
        number = 0
        while True:
            response = await self.request(endpoint, values, url=url, params=query, headers=headers)
            body = json_body(response, endpoint)
            number += 1
            page = Page(response, body, records_of(body, endpoint.records, where), number)
            yield page
            if not paginator.advance(page, where):
                return
            url = paginator.url
            query = merged(params, paginator.params) if url is None else paginator.params or None

    async def read_all(
        self,
        endpoint: Endpoint,
        values: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        paginator: Paginator | None = None,
    ) -> list[Any]:
        """The records of every page of a listing (see :meth:`pages`)."""
        found: list[Any] = []
        async for page in self.pages(endpoint, values, params=params, paginator=paginator):
            found.extend(page.records)
        return found

    def allow_credentials_to(self, url: str) -> None:
        """Let credentials go to ``url``'s origin too (a token flow's token endpoint)."""
        origin = origin_of(url)
        if origin is not None:
            self._token_origins.add(origin)

    def credential_origins(self) -> set[Origin]:
        """The origins credentials may go to: the base URL's and the token endpoints'."""
        base = origin_of(self.base_url)
        return self._token_origins | ({base} if base else set())

    async def _attempts(self, request: _Request, accept: Collection[int]) -> httpx.Response:
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            attempt += 1
            try:
                response = await self._send(request)
            except (httpx.TransportError, DeadlineExceeded) as exc:
                error = self._network_error(exc, request.target, attempt)
                wait = backoff(attempt)
                if classify_error(error).action is Action.FAIL or not self._room(
                    attempt, waited, wait
                ):
                    raise error from exc
                await self._retry(request, error.cause, wait)
                waited += wait
                continue
            if response.status_code in accept:
                return response
            if 300 <= response.status_code < 400 and response.status_code != 304:
                raise redirect_error(
                    request.target, response.status_code, response.headers.get("location")
                )
            if response.status_code < 400:
                return response
            rule = classify_response(response)
            if rule.action is Action.REFRESH and request.authenticate and not refreshed:
                refreshed = True
                self.stats.retries += 1
                assert self.auth is not None
                await self.auth.invalidate(request.authorization or "")
                continue
            if rule.action in (Action.RETRY, Action.RATE_LIMITED):
                if rule.action is Action.RATE_LIMITED:
                    self.stats.throttled += 1
                asked = _server_wait(response)
                wait = asked if asked is not None else backoff(attempt)
                if self._room(attempt, waited, wait):
                    await self._retry(request, f"status {response.status_code}", wait)
                    waited += wait
                    continue
            raise status_error(response, request.target, attempt, waited)

    def _network_error(
        self, exc: Exception, target: ConcreteEndpoint, attempt: int
    ) -> e.NetworkError:
        if isinstance(exc, DeadlineExceeded):
            return deadline_error(exc, target, attempt)
        return network_error(exc, target, proxy_for(target.url, self.settings), attempt)

    def _room(self, attempt: int, waited: float, wait: float) -> bool:
        return attempt < self.settings.max_attempts and (
            waited + wait <= self.settings.max_retry_seconds
        )

    async def _retry(self, request: _Request, why: str, wait: float) -> None:
        self.stats.retries += 1
        self.stats.extra["retry_wait_seconds"] = round(
            float(self.stats.extra.get("retry_wait_seconds", 0.0)) + wait, 3
        )
        log.warning(
            "retrying %s on %s in %.1f s: %s",
            request.target.endpoint.label,
            request.target.where,
            wait,
            why,
        )
        await pause(wait)

    async def _send(self, request: _Request) -> httpx.Response:
        headers = dict(request.headers or {})
        if request.authenticate:
            request.authorization = await self._authorization()
            headers["Authorization"] = request.authorization
        async with self.budget.slot():
            if self.pacer is not None:
                await self.pacer.before(request.target)
            self.stats.requests += 1
            response: httpx.Response | None = None
            try:
                response = await self._whole(request, headers)
            finally:
                if self.pacer is not None:
                    self.pacer.after(request.target, response)
        self.stats.bytes_received += len(response.content)
        if log.isEnabledFor(logging.DEBUG):  # redacting the URL costs more than the check
            log.debug(
                "%s %s -> %d (%d bytes)",
                request.target.endpoint.method,
                redact_url(str(response.request.url)),
                response.status_code,
                len(response.content),
            )
        return response

    async def _whole(self, request: _Request, headers: dict[str, str]) -> httpx.Response:
        """The whole answer, body read, within ``http.request_deadline``.

        httpx's timeouts bound each read, not their sum: a server trickling a byte at a time
        would otherwise hold the sync (and in ``serve`` the connector's lock) forever.
        """
        deadline = self.settings.request_deadline
        try:
            async with asyncio.timeout(deadline):
                return await self.client.request(
                    request.target.endpoint.method,
                    request.target.url,
                    params=_merge(request.target.params, request.params),
                    json=request.json,
                    data=request.data,
                    content=request.content,
                    headers=headers,
                    extensions=_traced(request.sent),
                )
        except TimeoutError as exc:
            raise DeadlineExceeded(deadline) from exc

    async def _authorization(self) -> str:
        """The token provider's header value; a failed token request ends the read.

        A token request that failed for a passing reason (reset, timeout, 5xx) becomes
        :class:`~idpsync.http.errors.TokenUnavailable`, so no source reads on as if the IdP were
        empty. Configuration errors (DNS, TLS, proxy, refused credentials) keep their class.
        """
        assert self.auth is not None
        try:
            return await self.auth.authorization()
        except e.HttpError as exc:
            if exc.kind == "config":
                raise
            raise e.TokenUnavailable.after(exc) from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def _merge(a: Mapping[str, Any], b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    merged = {**a, **(b or {})}
    return merged or None


def _traced(sent: asyncio.Event | None) -> dict[str, Any] | None:
    """The ``trace`` extension (httpcore's) setting ``sent`` once the request body is written."""
    if sent is None:
        return None

    async def trace(event: str, info: Mapping[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            sent.set()

    return {"trace": trace}


class _Request:
    """One logical request across its attempts."""

    def __init__(
        self,
        target: ConcreteEndpoint,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        authenticate: bool,
    ) -> None:
        self.target, self.params, self.json, self.data = target, params, json, data
        self.headers, self.authenticate = headers, authenticate
        self.authorization: str | None = None
        self.content: bytes | None = None
        self.sent: asyncio.Event | None = None
