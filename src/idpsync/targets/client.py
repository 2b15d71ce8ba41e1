"""How a target sends: the dry-run seam and its credentials on the shared HTTP client.

An HTTP target (SCIM, Crowd) sends every request through :class:`TargetClient`, which wraps an
injected :class:`~idpsync.http.HttpClient` (built by :func:`idpsync.targets.http_client` from
the target's ``http`` settings: proxy, CA bundle, timeouts, retries). The shared client does
the retrying (429, 5xx and connection errors, honouring ``Retry-After``), the redaction and the
origin rule (credentials only to the target's own origin, redirects never followed).
:class:`TargetClient` adds what is a target's own:

- **Dry run**: in dry run any request that is not a ``GET`` raises
  :class:`~idpsync.targets.errors.DryRunRejected` before it is sent, and is recorded in
  :attr:`TargetClient.blocked`; nothing leaves the process.
- **Credentials**: the target's ``Authorization`` header (a SCIM bearer token, Crowd's
  application name and password) goes with every request, so the shared client's origin
  check applies to it.
- **Errors**: every failure of the shared client becomes a target error in one place,
  :func:`target_error`, so delivery decides from the class: stop (the target is down) or
  record a rejected change and go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from idpsync.errors import ShapeError, SourceError
from idpsync.http import errors as e
from idpsync.http.body import json_body
from idpsync.http.client import HttpClient
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.origins import origin_of, shown
from idpsync.http.paging import Page, Paginator, records_of
from idpsync.targets.errors import (
    Conflict,
    DryRunRejected,
    NotFound,
    PreconditionFailed,
    Rejected,
    TargetAuthError,
    TargetDown,
    TargetError,
    Unreadable,
    unreadable,
)

ErrorReader = Callable[[httpx.Response], tuple[str, str | None]]
"""Turns an error answer into (reason, protocol error type) for the message."""


def plain_reason(response: httpx.Response) -> tuple[str, str | None]:
    """The start of the answer's text (or the status phrase), without an error type."""
    return response.text[:200] or response.reason_phrase, None


_REJECTIONS: dict[int, type[Rejected]] = {404: NotFound, 409: Conflict, 412: PreconditionFailed}
"""Refusals about one object that delivery treats apart; any other 4xx is :class:`Rejected`."""


def target_error(
    error: SourceError, read_error: ErrorReader = plain_reason, *, home: str = ""
) -> TargetError:
    """The target error for a failed request or an unreadable answer (``home``: its origin).

    - network failures, 429 and 5xx (the shared client retried them first), a redirect:
      :class:`TargetDown`; 401 and 403: :class:`TargetAuthError`;
    - another 4xx: :class:`Rejected` (404 :class:`NotFound`, 409 :class:`Conflict`,
      412 :class:`PreconditionFailed`) with the protocol's reason and error type;
    - an answer that is not JSON or not shaped as documented: :class:`Unreadable`.
    """
    if not isinstance(error, e.HttpError):
        return Unreadable(unreadable(f"{type(error).__name__}: {error}"[:200]))
    method = error.target.endpoint.method
    where = f"{method} {error.target.url}"
    if isinstance(error, e.MalformedAnswer):
        return Unreadable(unreadable(f"{where}: the answer is not JSON"[:200]))
    if isinstance(error, e.ForeignOrigin) and error.status is None:
        return TargetDown(
            f"{method}: refused to send a request to {error.origin}, which is not the target's "
            f"configured origin {home} (its credentials stay there); check the target's url, "
            "or report the answer that named this address"
        )
    if isinstance(error, e.NetworkError):
        return TargetDown(
            f"{where}: cannot reach the target ({error.cause}); check that it is running and "
            "reachable, delivery resumes from the same change next time"
        )
    if not isinstance(error, e.StatusError) or error.status is None:
        return TargetDown(f"{where}: {error.cause}")
    status = error.status
    reason, kind = read_error(error.response) if error.response is not None else (error.cause, None)
    detail = f"{where}: HTTP {status}" + (f" {kind}" if kind else "") + f": {reason}"
    if status in (401, 403):
        what = "credentials" if status == 401 else "credentials' rights"
        return TargetAuthError(
            f"{detail} (the target refused the {what}; check the target's token, or "
            "application and password setting)"
        )
    if status == 429 or status >= 500:
        return TargetDown(f"{detail} (the target is failing; delivery resumes later)")
    return _REJECTIONS.get(status, Rejected)(detail, status, kind)


class TargetClient:
    """A target's requests: dry-run seam and credentials over an injected ``HttpClient``."""

    def __init__(
        self,
        http: HttpClient,
        *,
        authorization: str | None = None,
        dry_run: bool = False,
        read_error: ErrorReader = plain_reason,
    ) -> None:
        self.http = http
        self.dry_run = dry_run
        self.read_error = read_error
        self._credentials = {"Authorization": authorization} if authorization else {}
        self.blocked: list[str] = []
        """``METHOD URL`` of every write refused because of dry run."""

    @property
    def requests(self) -> int:
        """Requests sent so far (retries included)."""
        return self.http.stats.requests

    async def send(
        self,
        endpoint: Endpoint | ConcreteEndpoint,
        values: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; return its (2xx/304) answer or raise a target error."""
        if isinstance(endpoint, ConcreteEndpoint):
            target = endpoint
        else:
            target = self.http.target(endpoint, values)
        method = target.endpoint.method
        if self.dry_run and method != "GET":
            self.blocked.append(f"{method} {target.url}")
            raise DryRunRejected(method, target.url)
        with self._translated():
            return await self.http.request(
                target, params=params, json=json, headers=self._headers(headers)
            )

    def decode(self, response: httpx.Response, endpoint: Endpoint) -> Any:
        """The answer's JSON body (:class:`~idpsync.targets.errors.Unreadable` if it is not)."""
        with self._translated():
            return json_body(response, endpoint)

    async def read(
        self,
        endpoint: Endpoint,
        values: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """``GET`` one object and return its JSON body."""
        response = await self.send(endpoint, values, params=params, headers=headers)
        return self.decode(response, endpoint)

    async def records(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """The records of one page of a listing (a search reads its first page only)."""
        body = await self.read(endpoint, params=params, headers=headers)
        with self._translated():
            return records_of(body, endpoint.records, endpoint.label)

    async def pages(
        self,
        endpoint: Endpoint,
        *,
        paginator: Paginator,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Page]:
        """Every page of a listing (see :meth:`idpsync.http.HttpClient.pages`)."""
        with self._translated():
            async for page in self.http.pages(
                endpoint, params=params, paginator=paginator, headers=self._headers(headers)
            ):
                yield page

    def _headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        return {**(headers or {}), **self._credentials}

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (e.HttpError, ShapeError) as exc:
            home = shown(origin_of(self.http.base_url))
            raise target_error(exc, self.read_error, home=home) from exc
