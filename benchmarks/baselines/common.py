"""What every baseline shares: the target emulator, the counts read, the time cap, the record.

A baseline is a function ``(target, cap_s) -> Counts``: it reads the emulated tenant the way
its design says and returns what it read. :func:`measure` times it (wall and CPU seconds of
this process), empties the emulator's request log before and reads it after, and turns the
counts into a record that says whether the baseline read as much as the tenant holds.

Every baseline stops at its time cap ``cap_s`` wherever it is (listing, paging, waiting out a
429): an async one is cancelled (:func:`capped`), a threaded one checks its
:class:`Deadline` before each request and each wait. A stopped run says how far it got, and
its wall time is a measured lower bound of the whole run's, never an extrapolation.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from benchmarks import process

CONCURRENCY = 16
"""Requests in flight for the group-centric and plain-HTTP baselines (an IdP's documented
concurrency cap wins when it is lower: Okta's smallest tier allows 15)."""
NAIVE_CAP_S = 300.0
"""Default time cap of a naive baseline: it stops there and reports how far it got."""
CAP_S = 3600.0
"""Default time cap of a group-sdk or plain-HTTP baseline (same meaning)."""


class Target(Protocol):
    """A running emulator as the baselines see it (``benchmarks.process.Emulator`` is one)."""

    base: str
    block: str
    env: dict[str, str]


def setting(block: str, key: str) -> str:
    """A string value of the printed connector block (``key = "value"``)."""
    m = re.search(rf'^{key} = "([^"]*)"', block, re.M)
    if not m:
        raise ValueError(f"no {key} in the printed connector block")
    return m.group(1)


def secret(target: Target, key: str) -> str:
    """A setting of the block, resolved through the printed environment when it is ``env:X``."""
    value = setting(target.block, key)
    return target.env[value[4:]] if value.startswith("env:") else value


@dataclass
class Counts:
    """What a baseline read: user ids, group ids, (group, user) edges; how far it got."""

    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    edges: set[tuple[str, str]] = field(default_factory=set)
    visited: int | None = None
    """Objects whose memberships were read so far: users (naive, per user) or groups
    (OneLogin: roles) whose members were read (group-centric); None before that phase."""
    of: int | None = None
    """How many ``unit`` there are to visit (known once their listing ended)."""
    unit: str = "users"
    stopped: bool = False
    """The time cap ended the run before it read everything."""

    def visit(self, of: int, unit: str) -> None:
        """Start the per-object phase: ``of`` objects (``unit``) to read, none read yet."""
        self.visited, self.of, self.unit = 0, of, unit

    def one_more(self) -> None:
        """One more object's memberships read whole."""
        self.visited = (self.visited or 0) + 1

    def user_edges(self) -> int:
        """Memberships whose member is a user this baseline listed."""
        return sum(1 for _, member in self.edges if member in self.users)


class Capped(Exception):
    """A threaded baseline reached its time cap (raised by :meth:`Deadline.check`)."""


class Deadline:
    """The cap of a run: ``over()`` once ``cap_s`` seconds have passed since creation."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s
        self.end = time.perf_counter() + cap_s

    def over(self) -> bool:
        """True once the cap is reached."""
        return time.perf_counter() >= self.end

    def left(self) -> float:
        """Seconds left before the cap (0 once it is reached)."""
        return max(0.0, self.end - time.perf_counter())

    def check(self) -> None:
        """Raise :class:`Capped` once the cap is reached (before a request or a wait)."""
        if self.over():
            raise Capped(f"the {self.cap_s:g} s cap")


async def capped(counts: Counts, cap_s: float, work: Coroutine[Any, Any, None]) -> Counts:
    """Run ``work`` (which fills ``counts`` as it reads) to its end or until ``cap_s`` seconds
    have passed: then it is cancelled where it is (requests in flight, waits for a 429's
    reset) and ``counts`` says it stopped."""
    timeout = asyncio.timeout(cap_s)
    try:
        async with timeout:
            await work
    except TimeoutError:
        if not timeout.expired():
            raise  # a timeout of the baseline's own, not the cap
        counts.stopped = True
    return counts


def run_async(factory: Callable[[], Coroutine[Any, Any, Counts]]) -> Counts:
    """Run an async baseline on a fresh event loop (the harness itself is synchronous)."""
    return asyncio.run(factory())


@dataclass(frozen=True)
class Expected:
    """What the tenant holds, as idpsync reads it: users, groups, user memberships."""

    users: int
    groups: int
    memberships: int


def measure(
    idp: str,
    kind: str,
    design: str,
    target: process.Emulator,
    baseline: Callable[[Target, float], Counts],
    cap_s: float,
    expected: Expected | None,
) -> dict[str, Any]:
    """Run one baseline whole (a naive one up to ``cap_s``) and return its result record."""
    process.request_log(target)  # empty the log before the run
    started, cpu = time.perf_counter(), time.process_time()
    error = None
    try:
        counts = baseline(target, cap_s)
    except Exception as exc:  # a baseline that fails is recorded as such, never dropped
        counts, error = Counts(), f"{type(exc).__name__}: {str(exc)[:200]}"
    wall = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    logged = process.request_log(target)
    record: dict[str, Any] = {
        "idp": idp,
        "kind": kind,
        "design": design,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu_s, 1),
        "requests_log": logged[0] if logged else None,
        "throttled_log": logged[1] if logged else None,
        "users": len(counts.users),
        "groups": len(counts.groups),
        "memberships": counts.user_edges(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    record |= {"cap_s": cap_s, "stopped": counts.stopped}
    if counts.visited is not None or counts.stopped:
        record |= {"visited": counts.visited, "of": counts.of, "unit": counts.unit}
    record["verdict"] = verdict(record, expected, error)
    if expected is not None:
        record["expected"] = vars(expected).copy()
    return record


def verdict(record: dict[str, Any], expected: Expected | None, error: str | None) -> str:
    """``complete``, or why the baseline's result is not a full read of the tenant."""
    if error:
        return f"failed ({error})"
    if record.get("stopped"):
        return stopped_text(record)
    if expected is None:
        return "complete (not checked)"
    short = [
        f"{name} {record[name]} of {want}"
        for name, want in vars(expected).items()
        if record[name] < want
    ]
    return "read less: " + ", ".join(short) if short else "complete"


def stopped_text(record: dict[str, Any]) -> str:
    """How far a capped run got: objects visited of those listed, or what it had listed when
    the cap came before its listings ended (records of old runs: naive, users)."""
    cap = f"stopped at the {record['cap_s']:g} s cap"
    of = record.get("of", record["users"])
    if of is None or record.get("visited") is None:
        return (
            f"{cap} while listing ({record['users']} users, {record['groups']} groups "
            f"listed, {record['memberships']} memberships read)"
        )
    return f"{cap} after {record['visited']} of {of} {record.get('unit', 'users')}"


class Plain:
    """A plain httpx client for the plain-HTTP baselines: ``concurrency`` requests in flight,
    a 429 waited out (``Retry-After`` or the IdP's reset header) and tried again."""

    def __init__(self, concurrency: int, headers: dict[str, str] | None = None) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx.AsyncClient(timeout=300, limits=limits, headers=headers or {})
        self.gate = asyncio.Semaphore(concurrency)

    async def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET ``url``, retrying after a 429 as the answer asks; other errors raise."""
        for _ in range(20):
            async with self.gate:
                r = await self.http.get(url, params=params)
            if r.status_code != 429:
                r.raise_for_status()
                return r
            await asyncio.sleep(retry_after(r))
        raise RuntimeError(f"still throttled after 20 tries: {url}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()


def retry_after(r: httpx.Response) -> float:
    """Seconds a 429 asks to wait: ``Retry-After``, else Okta's ``X-Rate-Limit-Reset`` (an
    epoch second), else OneLogin's ``X-RateLimit-Reset`` (seconds left in its hour)."""
    if value := r.headers.get("Retry-After"):
        return max(0.0, float(value))
    if reset := r.headers.get("X-Rate-Limit-Reset"):
        return max(0.0, float(reset) - time.time()) + 0.1
    if left := r.headers.get("X-RateLimit-Reset"):
        return max(0.1, float(left))
    return 1.0


async def gather_limited(
    items: list[Any], work: Callable[[Any], Coroutine[Any, Any, None]]
) -> None:
    """Run ``work(item)`` for every item (the caller's client limits the concurrency)."""
    await asyncio.gather(*(work(item) for item in items))
