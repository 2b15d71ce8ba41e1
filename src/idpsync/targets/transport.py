"""The request layer of a target: dry-run enforcement, a small retry, and error translation.

Deliberately minimal and isolated, so it can be swapped for the shared HTTP layer
(``idpsync.http``) later: :class:`TargetHttp` takes an injected :class:`httpx.AsyncClient`
(base URL, auth header and transport are the caller's) and offers one method,
:meth:`TargetHttp.request`.

- **Dry-run** is enforced here: in dry-run any write method (POST, PUT, PATCH, DELETE) raises
  :class:`~idpsync.targets.errors.DryRunRejected` and is recorded in :attr:`TargetHttp.blocked`;
  nothing leaves the process.
- **Retries**: 429, 502, 503, 504 and connection errors are retried up to ``max_attempts``,
  waiting ``Retry-After`` when the server gives it, else an exponential backoff with jitter.
  Tests pass ``sleep`` to avoid waiting.
- **Errors** are classified by one table (:data:`STATUS_ERRORS`).
- **One origin**: every request stays on the origin (scheme, host, port) of the client's base
  URL, which carries the target's credentials. A URL elsewhere (an absolute ``location`` or
  link a target answered, a crafted id) is refused before anything is sent, with
  :class:`~idpsync.targets.errors.TargetDown` naming the foreign origin; redirects are never
  followed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from idpsync.targets.errors import (
    Conflict,
    DryRunRejected,
    NotFound,
    PreconditionFailed,
    Rejected,
    TargetAuthError,
    TargetDown,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
STATUS_ERRORS: dict[int, type[Exception]] = {
    401: TargetAuthError,
    403: TargetAuthError,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: TargetDown,
}
"""Status → exception; any other 5xx is :class:`TargetDown`, any other 4xx :class:`Rejected`."""

ErrorReader = Callable[[httpx.Response], tuple[str, str | None]]
"""Turns an error response into (reason, protocol error type) for the message."""


def _plain_reason(response: httpx.Response) -> tuple[str, str | None]:
    return response.text[:200] or response.reason_phrase, None


class TargetHttp:
    """Sends a target's requests through an injected ``httpx.AsyncClient``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        dry_run: bool = False,
        max_attempts: int = 4,
        read_error: ErrorReader = _plain_reason,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.read_error = read_error
        self.sleep = sleep
        self.blocked: list[str] = []
        """``METHOD URL`` of every write refused because of dry-run."""
        self.requests = 0
        """Requests sent (attempts included)."""

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; return a 2xx/304 response or raise a ``TargetError``."""
        url = self.client.base_url.join(path.lstrip("/")) if not path.startswith("http") else path
        where = f"{method} {httpx.URL(url).copy_with(query=None)}"
        foreign = _foreign(self.client.base_url, httpx.URL(url))
        if foreign is not None:
            raise TargetDown(
                f"{method}: refused to send a request to {foreign}, which is not the target's "
                f"configured origin {_shown(self.client.base_url)} (its credentials stay there); "
                "check the target's url, or report the answer that named this address"
            )
        if self.dry_run and method.upper() in WRITE_METHODS:
            self.blocked.append(f"{method} {url}")
            raise DryRunRejected(method, str(url))
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.requests += 1
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.max_attempts:
                    raise TargetDown(
                        f"{where}: cannot reach the target ({type(exc).__name__}: {exc}); "
                        "check that it is running and reachable, delivery resumes from the "
                        "same change next time"
                    ) from exc
                await self.sleep(_backoff(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_attempts:
                await self.sleep(_retry_after(response) or _backoff(attempt))
                continue
            if response.status_code < 400 or response.status_code == 304:
                return response
            raise self._error(where, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, where: str, response: httpx.Response) -> Exception:
        status = response.status_code
        reason, kind = self.read_error(response)
        detail = f"{where}: HTTP {status}" + (f" {kind}" if kind else "") + f": {reason}"
        cls = STATUS_ERRORS.get(status) or (TargetDown if status >= 500 else Rejected)
        if cls is TargetAuthError:
            what = "credentials" if status == 401 else "credentials' rights"
            return TargetAuthError(
                f"{detail} (the target refused the {what}; check the target's token, or "
                "application and password setting)"
            )
        if cls is TargetDown:
            return TargetDown(f"{detail} (the target is failing; delivery resumes later)")
        assert issubclass(cls, Rejected)
        return cls(detail, status, kind)


_PORTS = {"https": 443, "http": 80}


def _shown(url: httpx.URL) -> str:
    port = url.port or _PORTS.get(url.scheme)
    suffix = "" if port == _PORTS.get(url.scheme) else f":{port}"
    return f"{url.scheme}://{url.host}{suffix}"


def _foreign(base: httpx.URL, url: httpx.URL) -> str | None:
    """``url``'s origin when it differs from ``base``'s (``None``: same origin)."""
    if not base.host:
        return None  # no base URL: the caller passes absolute URLs it chose itself
    return None if _shown(base) == _shown(url) else _shown(url)


def _backoff(attempt: int) -> float:
    return float(min(30.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random()))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(300.0, max(0.0, float(value)))
    except ValueError:
        return None
