"""What an emulator can do to a request besides answering it: latency, rate limits, faults.

All of it is plain data plus a little state, configured per run and shared by every emulator.
A fault is chosen by method, path pattern and the ordinal of the matching request, e.g.
``Fault("status", "*/groups/{id}/members", nth=3, status=503)`` fails the third request to any
group's member list with a 503. Path patterns: ``{name}`` matches one path segment, ``*``
matches anything (slashes included); the pattern must match the whole path.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "status",  # answer ``status`` with the IdP's error body
    "reset",  # send the headers and part of the body, then drop the connection
    "truncate",  # send a complete HTTP response whose JSON body is cut in half
    "expired_token",  # answer as the IdP does for an expired access token (401)
    "repeat_page",  # a page whose next link is the very link just requested
    "empty_page",  # an empty page that still carries a next link (to the real page)
]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Turn a path pattern (``{name}`` = one segment, ``*`` = anything) into a regex."""
    parts = re.split(r"(\{[^}/]+\}|\*)", pattern)
    regex = "".join(
        "[^/]+" if p.startswith("{") else ".*" if p == "*" else re.escape(p) for p in parts
    )
    return re.compile(regex)


@dataclass
class Fault:
    """Inject one kind of failure into the ``nth`` … ``nth + times - 1`` matching requests."""

    kind: FaultKind
    """What to do (see :data:`FaultKind`)."""
    path: str = "*"
    """Path pattern the request must match (see module docstring)."""
    method: str | None = "GET"
    """HTTP method to match, or ``None`` for any."""
    nth: int = 1
    """Ordinal (1-based) of the first matching request that fails."""
    times: int = 1
    """How many consecutive matching requests fail (``0`` = every one from ``nth`` on)."""
    status: int = 503
    """Status code for ``kind="status"``."""
    seen: int = field(default=0, init=False)
    """Matching requests seen so far."""
    fired: int = field(default=0, init=False)
    """How many times this fault has been injected."""

    def __post_init__(self) -> None:
        self._regex = compile_pattern(self.path)

    def matches(self, method: str, path: str) -> bool:
        """Count the request if it matches; True when this one must fail."""
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if not self._regex.fullmatch(path):
            return False
        self.seen += 1
        last = math.inf if self.times == 0 else self.nth + self.times - 1
        if self.nth <= self.seen <= last:
            self.fired += 1
            return True
        return False


class FaultPlan:
    """An ordered list of faults; the first that fires for a request wins."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        """Register a fault and return it (to read ``fired`` later)."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self.faults.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault to inject into this request, if any (every fault counts the request)."""
        chosen: Fault | None = None
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path) and chosen is None:
                    chosen = fault
        return chosen


@dataclass
class Latency:
    """Delay before answering: ``fixed_ms`` plus, with ``tail_probability``, up to ``tail_ms``."""

    fixed_ms: float = 0.0
    """Added to every request."""
    tail_ms: float = 0.0
    """Upper bound of the extra random delay."""
    tail_probability: float = 0.0
    """Share of requests that get a uniform extra delay in ``[0, tail_ms]``."""
    seed: int = 0
    """Seed of the tail's random numbers."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def next_delay(self) -> float:
        """Seconds to wait before answering the next request."""
        delay = self.fixed_ms
        if self.tail_ms and self._rng.random() < self.tail_probability:
            delay += self._rng.uniform(0, self.tail_ms)
        return delay / 1000.0


@dataclass(frozen=True, slots=True)
class BucketDecision:
    """Outcome of charging a request to a token bucket."""

    allowed: bool
    """True when the request may proceed."""
    cost: float
    """What the request costs (charged only when allowed)."""
    remaining: float
    """Tokens left after the decision."""
    retry_after: int
    """Whole seconds until the request would fit (0 when allowed)."""


class TokenBucket:
    """A refilling bucket: ``capacity`` tokens, refilled at ``capacity / window_s`` per second.

    ``clock`` is injectable so tests can move time without sleeping.
    """

    def __init__(
        self, capacity: float, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.rate = capacity / window_s
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def charge(self, cost: float) -> BucketDecision:
        """Take ``cost`` tokens if available; otherwise say how long to wait."""
        with self._lock:
            self._refill()
            if self._tokens >= cost:
                self._tokens -= cost
                return BucketDecision(True, cost, self._tokens, 0)
            wait = (cost - self._tokens) / self.rate
            return BucketDecision(False, cost, self._tokens, max(1, math.ceil(wait)))

    @property
    def used_fraction(self) -> float:
        """Share of the capacity currently used (0 = full bucket)."""
        with self._lock:
            self._refill()
            return 1.0 - self._tokens / self.capacity
