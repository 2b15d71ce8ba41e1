"""``python -m benchmarks.stream_read --idp okta --users N --groups G``: a streamed full read.

Starts the IdP's emulator in its own process (the benchmark profile: latency, quota), then runs
two full syncs of it **in this process** through the real runner into a temporary store (SQLite,
or a throwaway PostgreSQL database with ``--store postgresql``): the first load, then a full
read of the unchanged tenant (the case where staging compares every edge with the stage). It
prints, per sync, the wall time, the read's and staging's seconds (the run's stats) and the
peak RSS of each phase (:class:`benchmarks.rss.RssSampler`).

``--in-memory`` turns streaming off (the source's ``streams_edges``): the read holds its edges
in the snapshot and staging loads them into the temporary table, as before
:mod:`idpsync.store.stream`; run both ways for a comparison on the same commit.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from benchmarks import process
from benchmarks.engine import cpu_seconds
from benchmarks.profiles import PROFILES, Size
from benchmarks.rss import RssSampler
from idpsync.app.run import prepare
from idpsync.config import load_config
from idpsync.sources.registry import CONNECTORS
from idpsync.store import Store

PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _source_class(idp: str) -> type:
    """The IdP's source class (its ``streams_edges`` is switched for ``--in-memory``)."""
    module = __import__(f"idpsync.sources.{idp}.reader", fromlist=["*"])
    return next(
        value
        for value in vars(module).values()
        if isinstance(value, type) and getattr(value, "type", None) == idp
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_read", description=__doc__)
    parser.add_argument("--idp", default="okta", choices=sorted(CONNECTORS))
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--medium-every", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--in-memory", action="store_true", help="do not stream the edges")
    args = parser.parse_args(argv)

    profile = PROFILES[args.idp]
    cls = _source_class(args.idp)
    if args.in_memory:
        cls.streams_edges = False  # type: ignore[attr-defined]
    size = Size(args.users, args.groups, args.medium_every)
    emu = process.start_emulator(args.idp, profile.emulator_args(size, args.seed))
    database = f"idpsync_stream_{uuid.uuid4().hex[:8]}"
    try:
        with tempfile.TemporaryDirectory() as tmp, RssSampler() as rss:
            if args.store == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'directory.db'}"
            else:
                with psycopg.connect(PG, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{database}"')
                url = PG.rsplit("/", 1)[0] + f"/{database}"
            config = process.write_config(
                Path(tmp), url, emu.block, profile.concurrency, profile.source_settings
            )
            os.environ.update(emu.env)
            loaded, name = load_config(str(config)), process.connector_name(emu.block)
            store = Store.open(url)
            mode = "in memory" if args.in_memory else "streamed"
            print(f"{args.idp} {args.users} users, {args.groups} groups, {args.store}, {mode}")
            for label in ("first load", "second full"):
                gc.collect()
                rss.run_label = label
                rss.enter(f"{label} fetch")
                run = prepare(loaded, name)  # a source (and its HTTP client) per event loop
                start, cpu = time.perf_counter(), cpu_seconds()
                result = asyncio.run(run.sync(store, mode="full", progress=rss.progress))
                wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
                s = result.stats
                print(
                    f"  {label}: {result.status}; {s.get('requests')} requests; wall {wall:.1f} s,"
                    f" CPU {cpu:.1f} s; fetch {s.get('fetch_seconds')} s, stage"
                    f" {s.get('stage_seconds')} s, plan {s.get('plan_seconds')} s, apply"
                    f" {s.get('apply_seconds')} s {result.message}",
                    flush=True,
                )
            store.close()
        print(rss.table(), flush=True)
    finally:
        emu.stop()
        if args.store == "postgresql":
            with psycopg.connect(PG, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
