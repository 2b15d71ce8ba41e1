"""``python -m benchmarks.google_timeline --users N --groups G``: a Google full read's timeline.

Starts the Google emulator in its own process (the benchmark profile: latency, tail, quota),
runs one full sync of it **in this process** into a temporary SQLite store, and times every
batch the read's scheduler sends (:class:`~idpsync.sources.google.rolling.Roller`): main or
side, when it left and came back, its calls, whether it carried the longest listing's page,
the credit and budget left. Printed: the main batches' round trips by the calls they carried,
per 10 s window the batches, calls and mean round trip (what the quota let through and how
long the chain's trips took), and the seconds from the last page to the end of the fetch (the
snapshot's assembly and :func:`~idpsync.sources.clean.normalise`). Nothing is written to docs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from benchmarks import process
from benchmarks.profiles import PROFILES, Size
from idpsync.app.run import prepare
from idpsync.config import load_config
from idpsync.sources.google import rolling
from idpsync.sources.google.chains import PageChain
from idpsync.store import Store

WINDOW = 10
"""Seconds a line of the timeline covers."""


def trace(events: list[dict[str, Any]], start: list[float]) -> None:
    """Wrap :meth:`Roller._send` and :meth:`Roller.run`: each batch and the read's end."""
    send, run = rolling.Roller._send, rolling.Roller.run

    async def timed_send(
        self: rolling.Roller,
        chains: list[PageChain],
        calls: list[int],
        lane: AbstractAsyncContextManager[None],
        main: bool,
    ) -> None:
        left = time.perf_counter() - start[0]
        longest = bool(calls) and self.left[calls[0]] >= self.longest
        credit, room = self.source.credit, self.source.http.budget.available()
        await send(self, chains, calls, lane, main)
        events.append(
            {"t": left, "end": time.perf_counter() - start[0], "main": main,
             "calls": len(calls) + len(chains), "longest": longest, "credit": credit,
             "room": room}
        )  # fmt: skip

    async def timed_run(self: rolling.Roller) -> Any:
        found = await run(self)
        events.append({"read_end": time.perf_counter() - start[0]})
        return found

    rolling.Roller._send = timed_send  # type: ignore[method-assign]
    rolling.Roller.run = timed_run  # type: ignore[method-assign]


def report(events: list[dict[str, Any]], stats: dict[str, Any]) -> None:
    """Print the timeline (module docstring)."""
    batches = sorted((e for e in events if "main" in e), key=lambda e: e["t"])
    mains = [e for e in batches if e["main"]]
    sides = [e for e in batches if not e["main"]]
    trips = [e["end"] - e["t"] for e in mains]
    print(f"main batches {len(mains)} ({sum(e['calls'] for e in mains)} calls), side batches "
          f"{len(sides)} ({sum(e['calls'] for e in sides)} calls); main round trip median "
          f"{statistics.median(trips):.3f} s, {sum(t > 0.6 for t in trips)} over 0.6 s "
          f"({sum(t for t in trips if t > 0.6):.1f} s)")  # fmt: skip
    by_calls: dict[int, list[float]] = defaultdict(list)
    for e, trip in zip(mains, trips, strict=True):
        if trip <= 0.6:  # the latency tail and stalls apart
            by_calls[min(e["calls"] // 10, 3)].append(trip)
    for key in sorted(by_calls):
        label = f"{key * 10}-{key * 10 + 9}" if key < 3 else "30+"
        print(f"  main batches of {label} calls: {len(by_calls[key])}, mean round trip "
              f"{statistics.mean(by_calls[key]):.3f} s (≤ 0.6 s)")  # fmt: skip
    windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in batches:
        windows[int(e["t"] // WINDOW)].append(e)
    for key in sorted(windows):
        ms = [e for e in windows[key] if e["main"]]
        ss = [e for e in windows[key] if not e["main"]]
        trip = statistics.mean(e["end"] - e["t"] for e in ms) if ms else 0.0
        print(f"{key * WINDOW:5d} s  main {len(ms):3d} ({sum(e['calls'] for e in ms):5d} calls, "
              f"longest {sum(e['longest'] for e in ms):3d}, trip {trip:.3f} s)  side "
              f"{len(ss):2d} ({sum(e['calls'] for e in ss):5d} calls)  credit at start "
              f"{windows[key][0]['credit']}")  # fmt: skip
    end = next((e["read_end"] for e in events if "read_end" in e), None)
    fetch = stats.get("fetch_seconds")
    if end is not None and isinstance(fetch, int | float):
        print(f"last page in at {end:.1f} s; fetch {fetch:.1f} s: {fetch - end:.1f} s after it")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.google_timeline", description=__doc__
    )
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--medium-every", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    profile = PROFILES["google"]
    size = Size(args.users, args.groups, args.medium_every)
    events: list[dict[str, Any]] = []
    start = [0.0]
    trace(events, start)
    emu = process.start_emulator("google", profile.emulator_args(size, args.seed))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'directory.db'}"
            config = process.write_config(
                Path(tmp), url, emu.block, profile.concurrency, profile.source_settings
            )
            os.environ.update(emu.env)  # the service account key, as the sync's environment
            run = prepare(load_config(str(config)), process.connector_name(emu.block))
            store = Store.open(url)
            start[0] = time.perf_counter()
            result = asyncio.run(run.sync(store, mode="full"))
            wall = time.perf_counter() - start[0]
            store.close()
        stats = result.stats
        print(f"google {args.users} users, {args.groups} groups: {result.status}; "
              f"{stats.get('requests')} requests; wall {wall:.1f} s; fetch "
              f"{stats.get('fetch_seconds')} s, stage {stats.get('stage_seconds')} s, plan "
              f"{stats.get('plan_seconds')} s, apply {stats.get('apply_seconds')} s",
              flush=True)  # fmt: skip
        report(events, stats)
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
