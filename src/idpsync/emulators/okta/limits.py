"""Okta's rate limits as the emulator applies them: per-minute buckets per endpoint, concurrency.

Buckets are fixed one-minute windows (Okta resets a bucket at ``X-Rate-Limit-Reset``, UTC epoch
seconds, not continuously). Defaults follow the Workforce Identity table of
``limits-and-scale.md``; ``/api/v1/groups/{id}/users`` is put in the ``/api/v1/groups/{id}``
bucket (Okta does not publish which one it is in).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LIMITS: dict[str, int] = {
    "token": 600,  # POST /oauth2/v1/token
    "users": 600,  # GET /api/v1/users
    "user": 2000,  # GET /api/v1/users/{id}, /api/v1/users/{id}/groups
    "groups": 500,  # GET /api/v1/groups
    "group": 1000,  # GET /api/v1/groups/{id}, /api/v1/groups/{id}/users
    "logs": 120,  # GET /api/v1/logs (its own bucket)
    "other": 1200,  # anything else under /api/v1
}
DEFAULT_CONCURRENCY = 75


def bucket_of(path: str) -> str | None:
    """The bucket a request path is charged to (``None``: not rate-limited)."""
    if path == "/oauth2/v1/token":
        return "token"
    if not path.startswith("/api/v1/"):
        return None
    parts = path.strip("/").split("/")[2:]
    if parts == ["logs"]:
        return "logs"
    if parts == ["users"]:
        return "users"
    if parts[0] == "users" and len(parts) <= 3:
        return "user"
    if parts == ["groups"]:
        return "groups"
    if parts[0] == "groups" and len(parts) <= 3:
        return "group"
    return "other"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of charging one request."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    """UTC epoch seconds when the bucket's window ends."""


class RateLimiter:
    """Fixed one-minute windows per bucket and a limit on requests in flight."""

    def __init__(
        self,
        clock: Callable[[], float],
        limits: dict[str, int] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.clock = clock
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.concurrency = concurrency
        self.in_flight = 0
        self._used: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def charge(self, bucket: str) -> Decision:
        """Count one request against ``bucket`` (and the concurrency limit)."""
        with self._lock:
            now = self.clock()
            window = math.floor(now / 60)
            reset = (window + 1) * 60
            if self.in_flight > self.concurrency:
                return Decision(False, 0, 0, reset)
            start, used = self._used.get(bucket, (window, 0))
            if start != window:
                used = 0
            limit = self.limits[bucket]
            if used >= limit:
                return Decision(False, limit, 0, reset)
            self._used[bucket] = (window, used + 1)
            return Decision(True, limit, limit - used - 1, reset)

    def peek(self, bucket: str) -> Decision:
        """The bucket's state without charging it."""
        with self._lock:
            window = math.floor(self.clock() / 60)
            start, used = self._used.get(bucket, (window, 0))
            used = used if start == window else 0
            limit = self.limits[bucket]
            return Decision(used < limit, limit, max(0, limit - used), (window + 1) * 60)

    def reset(self) -> None:
        """Forget what every bucket has used."""
        with self._lock:
            self._used.clear()
