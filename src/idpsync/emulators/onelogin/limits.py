"""OneLogin's account-wide hourly call budget and its access tokens.

The budget: ``limit`` calls (5,000 by default) per clock hour for the whole account, shared by
every API client of the account. Each counted call answers with ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds left in the hour); a call over the
budget is refused with 429. The limit and the clock are injectable so tests can exhaust the
budget and move to the next hour without waiting.
"""

from __future__ import annotations

import base64
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

HOURLY_LIMIT = 5000
"""Calls per hour per account (developers.onelogin.com, "Get Rate Limit")."""
TOKEN_SECONDS = 36000
"""Access tokens last 10 hours."""


@dataclass(frozen=True, slots=True)
class Usage:
    """The budget after charging (or refusing) one call."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    """Seconds until the hour rolls over."""

    def headers(self) -> list[tuple[str, str]]:
        """The ``X-RateLimit-*`` headers."""
        return [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.remaining)),
            ("X-RateLimit-Reset", str(self.reset)),
        ]


class HourlyBudget:
    """``limit`` calls per clock hour (``clock`` returns epoch seconds)."""

    def __init__(self, limit: int = HOURLY_LIMIT, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.used = 0
        self._hour: int | None = None
        self._lock = threading.Lock()

    def _roll(self) -> float:
        now = self.clock()
        hour = int(now // 3600)
        if hour != self._hour:
            self._hour, self.used = hour, 0
        return now

    def _reset(self, now: float) -> int:
        return max(1, math.ceil(3600 - now % 3600))

    def charge(self) -> Usage:
        """Count one call if the budget allows it."""
        with self._lock:
            now = self._roll()
            if self.used >= self.limit:
                return Usage(False, self.limit, 0, self._reset(now))
            self.used += 1
            return Usage(True, self.limit, self.limit - self.used, self._reset(now))

    def peek(self) -> Usage:
        """The budget without charging (``GET /auth/rate_limit``)."""
        with self._lock:
            now = self._roll()
            remaining = max(0, self.limit - self.used)
            return Usage(remaining > 0, self.limit, remaining, self._reset(now))

    def exhaust(self, leave: int = 0) -> None:
        """Use up the budget but ``leave`` calls (as if other integrations had spent it)."""
        with self._lock:
            self._roll()
            self.used = max(0, self.limit - leave)


class Tokens:
    """Issued access tokens with their expiry (``clock`` in epoch seconds)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[str, float] = {}

    def issue(self) -> tuple[str, float]:
        """A new token and its creation time."""
        token = secrets.token_hex(32)
        now = self.clock()
        self._tokens[token] = now + TOKEN_SECONDS
        return token, now

    def valid(self, authorization: str | None) -> bool:
        """Whether the header carries a live token (``bearer:t``, ``bearer t``, ``Bearer t``)."""
        token = bearer(authorization)
        expiry = self._tokens.get(token or "")
        return expiry is not None and expiry > self.clock()

    def expire_all(self) -> None:
        """Every token issued so far is now expired."""
        for token in self._tokens:
            self._tokens[token] = 0.0


def bearer(authorization: str | None) -> str | None:
    """The token of ``bearer:<t>``, ``bearer <t>`` or ``Bearer <t>``; ``None`` otherwise."""
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(":")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return None


def client_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(client_id, secret)`` from Basic auth or the legacy ``client_id:…, client_secret:…``."""
    if not authorization:
        return None
    value = authorization.strip()
    if value.lower().startswith("basic "):
        try:
            raw = base64.b64decode(value[6:].strip(), validate=True).decode()
        except ValueError:
            return None
        client_id, sep, secret = raw.partition(":")
        return (client_id, secret) if sep else None
    parts = dict(
        (k.strip().lower(), v.strip())
        for k, _, v in (p.partition(":") for p in value.split(","))
        if v
    )
    if "client_id" in parts and "client_secret" in parts:
        return parts["client_id"], parts["client_secret"]
    return None
