"""``python -m benchmarks.google_log``: the admin activity log of an incremental Google read at
L's volume, one chain of pages against time ranges side by side (:mod:`idpsync.sources.google.
activitylog`), in process against the Google emulator with the benchmark's latency.

The log is filled as the benchmark's 1 % change at L fills it (``--activities`` spread over
``--burst`` seconds at the end of a ``--window`` of minutes, the incremental read's window:
the overlap and the last read's duration), then read both ways; printed: requests, the most
pages one range asked for, and the wall time of each. Nothing is written to docs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import SecretStr

from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.injection import Latency
from idpsync.http.settings import HttpSettings
from idpsync.sources.google import http_client
from idpsync.sources.google.activitylog import read_log
from idpsync.sources.google.endpoints import ACTIVITIES, ACTIVITY_PAGE
from idpsync.sources.google.incremental import stamp
from idpsync.sources.google.reader import GoogleSource
from idpsync.sources.google.settings import GoogleSourceSettings


def emulator(activities: int, burst: float, window: float, latency_ms: float) -> GoogleEmulator:
    """An emulator whose log holds ``activities`` member events in the last ``burst`` s."""
    emu = GoogleEmulator.generate(users=10, groups=2, seed=7, latency=Latency(fixed_ms=latency_ms))
    log = emu.tenant.activity
    end = time.time() - 1.0
    for i in range(activities):
        log.clock = lambda i=i: end - burst + burst * i / activities  # type: ignore[misc]
        log.group("ADD_GROUP_MEMBER", f"g{i % 50}@example.com", USER_EMAIL=f"u{i}@example.com")
    log.clock = time.time
    emu.since = end - window  # type: ignore[attr-defined]
    return emu


def source(emu: GoogleEmulator) -> GoogleSource:
    key = json.dumps(emu.service_account_info("https://oauth2.googleapis.com/token"))
    settings = GoogleSourceSettings.model_validate(
        {
            "type": "google",
            "credentials": SecretStr(key),
            "subject": emu.admin_email,
            "incremental": "reports",
        }
    ).model_copy(update={"base_url": "https://admin.googleapis.com", "http": HttpSettings()})
    return GoogleSource(settings, http_client(settings, "gws", transport=emu.transport()))


async def measure(
    emu: GoogleEmulator, read: Callable[[GoogleSource, float], Awaitable[list[Any]]]
) -> str:
    src = source(emu)
    emu.requests.clear()
    try:
        await src.http.request(ACTIVITIES, params={"maxResults": "1"})  # the token first
        emu.requests.clear()
        started = time.perf_counter()
        found = await read(src, emu.since)  # type: ignore[attr-defined]
        wall = time.perf_counter() - started
    finally:
        await src.aclose()
    return f"{len(found)} activities, {len(emu.requests)} requests, {wall:.2f} s"


async def chain(src: GoogleSource, since: float) -> list[Any]:
    params = {"startTime": stamp(since), "maxResults": str(ACTIVITY_PAGE)}
    return await src.http.read_all(ACTIVITIES, params=params)


async def ranges(src: GoogleSource, since: float) -> list[Any]:
    return await read_log(src, int(since * 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--burst", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=20 * 60.0)
    parser.add_argument("--latency-ms", type=float, default=400.0)
    args = parser.parse_args()
    emu = emulator(args.activities, args.burst, args.window, args.latency_ms)
    print("one chain:       ", asyncio.run(measure(emu, chain)))
    print("ranges, side by side:", asyncio.run(measure(emu, ranges)))


if __name__ == "__main__":
    main()
