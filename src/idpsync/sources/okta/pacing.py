"""Pacing an Okta sync from the org's own rate-limit headers, per endpoint bucket.

Okta counts requests per endpoint bucket (``/api/v1/users``, ``/api/v1/groups``, …) in one-minute
windows shared by every integration of the org, and answers every request with
``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset`` (UTC epoch
seconds). :class:`OktaPacer` plugs into :attr:`idpsync.http.HttpClient.pacer`: before each
request it checks the bucket's last known ``Remaining`` minus the requests already in flight;
once that falls to ``reserve × Limit`` it waits until the window resets (``Reset − Date`` of the
last answer, minus the time since, plus one second because ``Date`` is truncated to the second).
So a sync never runs into a 429 on its own and leaves ``reserve`` of each bucket to the org's
other integrations. ``Limit = 0`` with ``Remaining = 0`` is Okta's concurrency-limit answer and
is not a bucket reading.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.policy import pause
from idpsync.sources.base import SourceStats

MAX_WAIT = 65.0
"""The longest wait for a window: Okta's windows last one minute (a larger ``Reset`` is bogus)."""


@dataclass
class BucketState:
    """What the pacer knows about one bucket."""

    limit: int = 0
    remaining: int = 0
    reset: float = 0.0
    """Server epoch seconds when the window ends."""
    server_now: float = 0.0
    """Server ``Date`` of the latest reading."""
    seen_at: float = 0.0
    """Local clock when that reading arrived."""
    in_flight: int = 0
    known: bool = False


class OktaPacer:
    """Per-bucket pacing on ``X-Rate-Limit-*`` headers (see module docstring)."""

    def __init__(
        self,
        bucket_of: Callable[[ConcreteEndpoint], str],
        reserve: float = 0.2,
        *,
        stats: SourceStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = pause,
    ) -> None:
        self.bucket_of = bucket_of
        self.reserve = reserve
        self.stats = stats or SourceStats()
        self.clock, self.sleep = clock, sleep
        self.buckets: dict[str, BucketState] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def floor(self, state: BucketState) -> int:
        """Requests of the bucket left to other integrations."""
        return math.ceil(state.limit * self.reserve)

    async def before(self, target: ConcreteEndpoint) -> None:
        """Wait for the bucket's next window when this request would eat into the reserve."""
        key = self.bucket_of(target)
        state = self.buckets.setdefault(key, BucketState())
        async with self._locks.setdefault(key, asyncio.Lock()):
            self._expire(state)
            while state.known and state.remaining - state.in_flight <= self.floor(state):
                wait = max(0.0, state.reset - state.server_now - self._age(state)) + 1.0
                wait = min(wait, MAX_WAIT)  # a garbage Reset must not park the sync
                self._count(key, wait)
                await self.sleep(wait)
                state.remaining, state.known = state.limit, False
            state.in_flight += 1

    def after(self, target: ConcreteEndpoint, response: httpx.Response | None) -> None:
        """Take the bucket's reading from the response headers."""
        state = self.buckets.setdefault(self.bucket_of(target), BucketState())
        state.in_flight = max(0, state.in_flight - 1)
        reading = _reading(response) if response is not None else None
        if reading is None:
            return
        limit, remaining, reset, server_now = reading
        if limit == 0 and remaining == 0:
            return  # the concurrency limit, not the bucket
        if state.known and reset == state.reset:
            remaining = min(remaining, state.remaining)
        elif state.known and reset < state.reset:
            return  # a late answer from the previous window
        state.limit, state.remaining, state.reset = limit, remaining, reset
        state.server_now, state.seen_at, state.known = server_now, self.clock(), True

    def _age(self, state: BucketState) -> float:
        return max(0.0, self.clock() - state.seen_at)

    def _expire(self, state: BucketState) -> None:
        """Forget a reading whose window has ended (the bucket is full again)."""
        if state.known and state.server_now + self._age(state) >= state.reset + 1:
            state.remaining, state.known = state.limit, False

    def _count(self, key: str, wait: float) -> None:
        extra = self.stats.extra
        extra["pacing_waits"] = int(extra.get("pacing_waits", 0)) + 1
        extra["pacing_wait_seconds"] = round(float(extra.get("pacing_wait_seconds", 0)) + wait, 3)
        waits = extra.setdefault("pacing_waits_by_bucket", {})
        waits[key] = int(waits.get(key, 0)) + 1


def _reading(response: httpx.Response) -> tuple[int, int, float, float] | None:
    headers = response.headers
    try:
        limit = int(headers["x-rate-limit-limit"])
        remaining = int(headers["x-rate-limit-remaining"])
        reset = float(headers["x-rate-limit-reset"])
    except (KeyError, ValueError):
        return None
    if not math.isfinite(reset):
        return None
    try:
        server_now = parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, OverflowError, IndexError):
        server_now = time.time()
    return limit, remaining, reset, server_now
