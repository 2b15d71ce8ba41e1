"""A client-side request budget per connector: a token bucket plus a concurrency limit.

Many IdP quotas are shared by every application of an organisation (Okta's per-org buckets,
Graph's per-tenant limits). The budget keeps a sync below ``requests_per_second`` on average
(bursts up to one second's worth) and below ``concurrency`` requests in flight, so a large
sync does not starve the other applications. Each source supplies defaults; ``http`` settings
override them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from idpsync.http.policy import pause

DEFAULT_CONCURRENCY = 8


class RequestBudget:
    """Token bucket (``rate`` requests per second, burst ``max(1, rate)``) and a semaphore."""

    def __init__(self, rate: float | None, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.rate = rate
        self.concurrency = concurrency
        self._capacity = max(1.0, rate or 1.0)
        self._tokens = self._capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency)
        self.waited = 0.0
        """Seconds spent waiting for the bucket (for statistics)."""
        self.last_wait = 0.0
        """The wait of the latest request: how far ahead its slot was."""

    async def _take(self) -> None:
        if self.rate is None:
            return
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self.waited += wait
            self.last_wait = wait
            await pause(wait)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one concurrency slot and one bucket token for the duration of a request."""
        async with self._slots:
            await self._take()
            yield

    def available(self) -> float:
        """Bucket tokens that could be taken now without waiting (``inf`` without a rate).

        Lets a caller that can choose how much to send (Google's batches) send what the budget
        allows at once instead of queueing behind its own wait.
        """
        if self.rate is None:
            return math.inf
        now = time.monotonic()
        return min(self._capacity, self._tokens + (now - self._stamp) * self.rate)

    async def take(self, units: int) -> None:
        """Wait for ``units`` more bucket tokens (a request the IdP counts as several calls)."""
        for _ in range(max(0, units)):
            await self._take()
