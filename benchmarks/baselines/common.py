"""What every baseline shares: the target emulator, the counts read, the time cap, the record.

A baseline is a function ``(target, cap_s) -> Counts``: it reads the emulated tenant the way
its design says and returns what it read. :func:`measure` times it (wall and CPU seconds of
this process), empties the emulator's request log before and reads it after, and turns the
counts into a record that says whether the baseline read as much as the tenant holds.
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
    """What a baseline read: user ids, group ids, (group, user) edges; how far a naive run got."""

    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    edges: set[tuple[str, str]] = field(default_factory=set)
    visited: int | None = None
    """Users whose groups a naive (per-user) baseline read before the cap (None: not naive)."""
    stopped: bool = False

    def user_edges(self) -> int:
        """Memberships whose member is a user this baseline listed."""
        return sum(1 for _, member in self.edges if member in self.users)


class Deadline:
    """The cap of a naive run: ``over()`` once ``cap_s`` seconds have passed since creation."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s
        self.end = time.perf_counter() + cap_s

    def over(self) -> bool:
        """True once the cap is reached."""
        return time.perf_counter() >= self.end


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
    if counts.visited is not None:
        record |= {"visited": counts.visited, "cap_s": cap_s, "stopped": counts.stopped}
    record["verdict"] = verdict(record, expected, error)
    if expected is not None:
        record["expected"] = vars(expected).copy()
    return record


def verdict(record: dict[str, Any], expected: Expected | None, error: str | None) -> str:
    """``complete``, or why the baseline's result is not a full read of the tenant."""
    if error:
        return f"failed ({error})"
    if record.get("stopped"):
        return (
            f"stopped at the {record['cap_s']:g} s cap after {record['visited']} of "
            f"{record['users']} users"
        )
    if expected is None:
        return "complete (not checked)"
    short = [
        f"{name} {record[name]} of {want}"
        for name, want in vars(expected).items()
        if record[name] < want
    ]
    return "read less: " + ", ".join(short) if short else "complete"


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
    """Seconds a 429 asks to wait: ``Retry-After``, else Okta's ``X-Rate-Limit-Reset``."""
    if value := r.headers.get("Retry-After"):
        return max(0.0, float(value))
    if reset := r.headers.get("X-Rate-Limit-Reset"):
        return max(0.0, float(reset) - time.time()) + 0.1
    return 1.0


async def gather_limited(
    items: list[Any], work: Callable[[Any], Coroutine[Any, Any, None]]
) -> None:
    """Run ``work(item)`` for every item (the caller's client limits the concurrency)."""
    await asyncio.gather(*(work(item) for item in items))
