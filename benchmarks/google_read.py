"""``python -m benchmarks.google_read --users N --groups G``: where a Google sync's memory goes.

Starts the Google emulator in its own process (the benchmark profile: latency, tail, quota),
then runs one full sync of it **in this process** through the real runner into a temporary
SQLite store, and prints the peak RSS of each run phase (:class:`benchmarks.rss.RssSampler`:
fetch, stage, plan, apply). With ``--trace-python`` it also traces Python's allocations
(:mod:`tracemalloc`, which slows the read several times over) and prints, for the moment the
read held most and for the moment it ended, the largest holders by source line: which
structures of the reader (raw pages, batch bodies, per-group member lists, user records, the
snapshot) hold what.

The tenant is the seeded generator's; ``--medium-every 32`` (the default, as size L) gives
about ten memberships a user, so ``--users 20000 --groups 1000`` has ≈200k of them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from benchmarks import process
from benchmarks.engine import cpu_seconds
from benchmarks.profiles import PROFILES, Size
from benchmarks.rss import MIB, RssSampler
from idpsync.app.run import prepare
from idpsync.config import load_config
from idpsync.sources.base import Event
from idpsync.store import Store


class Tracer:
    """Keeps the :mod:`tracemalloc` snapshot of the read's largest moment, and of its end."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.best: tracemalloc.Snapshot | None = None
        self.best_size = 0
        self.end: tracemalloc.Snapshot | None = None
        self.end_size = 0
        self._last = 0.0

    def progress(self, event: Event) -> None:
        """On the read's progress events (at most every ``every`` s): keep the largest."""
        now = time.monotonic()
        if event.phase == "fetch" and now - self._last >= self.every:
            self._last = now
            current = tracemalloc.get_traced_memory()[0]
            if current > self.best_size:
                self.best, self.best_size = tracemalloc.take_snapshot(), current
        elif event.phase == "stage" and self.end is None:
            self.end, self.end_size = (
                tracemalloc.take_snapshot(),
                tracemalloc.get_traced_memory()[0],
            )


def top(snap: tracemalloc.Snapshot, size: int, label: str, lines: int) -> None:
    """The largest holders of ``snap`` by the line that allocated them (two frames)."""
    print(f"{label}: {size / MIB:.1f} MiB traced", flush=True)
    for stat in snap.statistics("traceback")[:lines]:
        frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback)
        print(f"  {stat.size / MIB:8.1f} MiB {stat.count:9d} blocks  {frames}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.google_read", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--medium-every", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace-python", action="store_true", help="trace allocations")
    parser.add_argument("--lines", type=int, default=15, help="holders printed per moment")
    args = parser.parse_args(argv)

    profile = PROFILES["google"]
    size = Size(args.users, args.groups, args.medium_every)
    emu = process.start_emulator("google", profile.emulator_args(size, args.seed))
    tracer = Tracer(every=2.0)
    try:
        with tempfile.TemporaryDirectory() as tmp, RssSampler() as rss:
            url = f"sqlite:///{Path(tmp) / 'directory.db'}"
            config = process.write_config(
                Path(tmp), url, emu.block, profile.concurrency, profile.source_settings
            )
            os.environ.update(emu.env)  # the service account key, as the sync's environment
            loaded = load_config(str(config))
            run = prepare(loaded, process.connector_name(emu.block))
            store = Store.open(url)
            gc.collect()
            rss.run_label = "full"
            rss.enter("full fetch")
            if args.trace_python:
                tracemalloc.start(2)

            def progress(event: Event) -> None:
                rss.progress(event)
                if args.trace_python:
                    tracer.progress(event)

            start, cpu = time.perf_counter(), cpu_seconds()
            result = asyncio.run(run.sync(store, mode="full", progress=progress))
            wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
            store.close()
        stats = result.stats
        print(
            f"google {args.users} users, {args.groups} groups: {result.status}; "
            f"{stats.get('users')} users, {stats.get('groups')} groups; "
            f"{stats.get('requests')} requests; wall {wall:.1f} s, CPU {cpu:.1f} s; "
            f"fetch {stats.get('fetch_seconds')} s",
            flush=True,
        )
        print(rss.table(), flush=True)
        if args.trace_python:
            print(f"traced peak {tracemalloc.get_traced_memory()[1] / MIB:.1f} MiB", flush=True)
            if tracer.best is not None:
                top(tracer.best, tracer.best_size, "largest sampled moment of the read", args.lines)
            if tracer.end is not None:
                top(tracer.end, tracer.end_size, "read ended (staging starts)", args.lines)
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
