"""Retry policy: the classification table, backoff with jitter, server-requested waits.

:data:`CLASSIFICATION` is the single place that decides what happens after a failure. Keys are
HTTP status codes, ``"403:<reason>"`` for Google's rate-limit reasons, or an
:class:`~idpsync.http.errors.HttpError` class (for failures without an HTTP answer). The most
specific key wins (a class's own entry before its base class's).

Waits are bounded twice: by ``max_attempts`` and by ``max_retry_seconds`` of total waiting.
A server-requested wait (``Retry-After`` seconds or HTTP date, Okta's ``X-Rate-Limit-Reset``
epoch seconds measured against the response's ``Date``) is honoured; otherwise the wait is an
exponential backoff with full jitter. :func:`set_testing` turns every wait into a no-op.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx

from idpsync.http import errors as e


class Action(StrEnum):
    """What to do after a failed attempt."""

    RETRY = "retry"
    RATE_LIMITED = "rate-limited"
    REFRESH = "refresh-then-retry"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Rule:
    """An action and the kind of problem (``config``, ``transient``, ``remote``)."""

    action: Action
    kind: str


_RETRY = Rule(Action.RETRY, "transient")
_LIMIT = Rule(Action.RATE_LIMITED, "transient")

CLASSIFICATION: dict[int | str | type[e.HttpError], Rule] = {
    400: Rule(Action.FAIL, "remote"),
    401: Rule(Action.REFRESH, "config"),
    403: Rule(Action.FAIL, "config"),
    "403:userRateLimitExceeded": _LIMIT,
    "403:rateLimitExceeded": _LIMIT,
    404: Rule(Action.FAIL, "config"),
    408: _RETRY,
    409: Rule(Action.FAIL, "remote"),
    429: _LIMIT,
    500: _RETRY,
    502: _RETRY,
    503: _RETRY,
    504: _RETRY,
    e.DnsError: Rule(Action.FAIL, "config"),
    e.TlsError: Rule(Action.FAIL, "config"),
    e.ProxyError: Rule(Action.FAIL, "config"),
    e.ConnectionRefused: _RETRY,
    e.ConnectionReset: _RETRY,
    e.Timeout: _RETRY,
    e.NetworkError: _RETRY,
}
"""Status code / Google reason / error class → :class:`Rule`."""

GOOGLE_RATE_REASONS = ("userRateLimitExceeded", "rateLimitExceeded")


def classify_response(response: httpx.Response) -> Rule:
    """The rule for an error response (any status ≥ 400)."""
    if response.status_code == 403:
        reason = google_reason(response)
        if reason and f"403:{reason}" in CLASSIFICATION:
            return CLASSIFICATION[f"403:{reason}"]
    rule = CLASSIFICATION.get(response.status_code)
    if rule:
        return rule
    return _RETRY if response.status_code >= 500 else Rule(Action.FAIL, "remote")


def classify_error(error: e.HttpError) -> Rule:
    """The rule for a translated network error (most specific class first)."""
    for cls in type(error).__mro__:
        if cls in CLASSIFICATION:
            return CLASSIFICATION[cls]
    return Rule(Action.FAIL, error.kind)


def google_reason(response: httpx.Response) -> str | None:
    """The ``reason`` of Google's ``{"error": {"errors": [{"reason": …}]}}`` body, if any."""
    try:
        body = json.loads(response.content)
        errors = body["error"]["errors"]
        return str(errors[0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return None


MAX_SERVER_WAIT = 3600.0
"""A server-requested wait is capped here (``max_retry_seconds`` then decides whether to wait)."""

_SECONDS = re.compile(r"[0-9]{1,12}")


def server_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the server asked to wait (``Retry-After``, ``X-Rate-Limit-Reset``), or ``None``.

    Only ASCII digits count as a number (``"²".isdigit()`` is true in Python); an unreadable
    value counts as absent and a huge one is capped at :data:`MAX_SERVER_WAIT`.
    """
    server_now = _date(response) or (now if now is not None else time.time())
    value = response.headers.get("retry-after", "").strip()
    if _SECONDS.fullmatch(value):
        return min(MAX_SERVER_WAIT, float(value))
    if value:
        moment = _when(value)
        if moment is not None:
            return min(MAX_SERVER_WAIT, max(0.0, moment - server_now))
    reset = response.headers.get("x-rate-limit-reset", "").strip()
    if _SECONDS.fullmatch(reset):
        return min(MAX_SERVER_WAIT, max(0.0, float(reset) - server_now))
    return None


def _when(value: str) -> float | None:
    """An HTTP date as epoch seconds; ``None`` for anything else."""
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _date(response: httpx.Response) -> float | None:
    value = response.headers.get("date")
    return _when(value) if value else None


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter for the given 1-based attempt that just failed."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


_testing = False


def set_testing(on: bool) -> None:
    """In tests, make every retry wait (and budget wait) return at once."""
    global _testing
    _testing = on


def is_testing() -> bool:
    """Whether :func:`set_testing` switched waits off."""
    return _testing


async def pause(seconds: float) -> None:
    """Sleep, unless waits are switched off for tests."""
    if seconds > 0 and not _testing:
        await asyncio.sleep(seconds)
