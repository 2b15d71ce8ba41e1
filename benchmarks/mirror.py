"""``python -m benchmarks.mirror --users N --groups G``: what a ``delta()`` pays to read the mirror.

Stages the generated tenant of :mod:`benchmarks.engine` once (then drops the snapshot), and
for each way a source's ``delta()`` reads the staged mirror (:mod:`idpsync.store.staged_mirror`)
opens the mirror in a forked child and reads it so: nothing (the file source), the user ids
(Entra with ``required_groups``, Keycloak), the group ids (Keycloak, OneLogin, Google), the
managers (Entra with tracked managers), the users whole (Google, Okta). Prints per way the
child's wall and CPU seconds, and the peak of the memory Python allocated for the read (the
answer and what building it held), measured by :mod:`tracemalloc` in a second child of its own
(tracing slows the read, so the seconds come from the first). Resident memory would not do
here: a child inherits the heap the staged snapshot left free and fills it without growing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks.engine import PG, cpu_seconds, open_store, snapshot
from benchmarks.rss import MIB
from idpsync.model import Snapshot
from idpsync.store import Store
from idpsync.store.staged_mirror import staged_mirror

WAYS: dict[str, Callable[[Snapshot], Any]] = {
    "nothing": lambda staged: None,
    "user_ids()": lambda staged: staged.user_ids(),
    "group_ids()": lambda staged: staged.group_ids(),
    "managers()": lambda staged: staged.managers(),
    "users (whole)": lambda staged: staged.users,
}
"""How a source's ``delta()`` may read the mirror, by name."""


def measure(url: str, read: Callable[[Snapshot], Any], traced: bool) -> list[float]:
    """In a forked child: wall s, CPU s and Python's peak allocation (MiB) of one read, and
    the answer's length; the allocation is measured only if ``traced`` (0 otherwise)."""
    pipe_out, pipe_in = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a store of its own (no connection crosses the fork)
        os.close(pipe_out)
        store = Store.open(url)
        gc.collect()
        if traced:
            tracemalloc.start()
        start, cpu = time.perf_counter(), cpu_seconds()
        with staged_mirror(store, "bench") as staged:
            answer = read(staged)
        peak = tracemalloc.get_traced_memory()[1] / MIB if traced else 0.0
        found = [time.perf_counter() - start, cpu_seconds() - cpu, peak]
        with os.fdopen(pipe_in, "w", encoding="ascii") as out:
            json.dump([*found, len(answer) if answer is not None else 0], out)
        os._exit(0)
    os.close(pipe_in)
    with os.fdopen(pipe_out, encoding="ascii") as got:
        found = [float(value) for value in json.load(got)]
    os.waitpid(pid, 0)
    return found


def tenant_arguments(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The options of a benchmark that stages a generated tenant into a throwaway store."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--medium-every", type=int, default=32)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg", default=PG, help="PostgreSQL admin URL for the throwaway database")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = tenant_arguments("python -m benchmarks.mirror", __doc__).parse_args(argv)
    with open_store(args.store, args.pg) as store:
        snap = snapshot(args.users, args.groups, 0, args.medium_every)
        run_id = store.start_run("bench", "full", False)
        with store.transaction() as conn:
            store.ensure_connector(conn, "bench", "file")
            store.write_stage(conn, "bench", snap, run_id)
        print(f"staged {len(snap.users)} users, {len(snap.groups)} groups ({args.store})")
        del snap
        gc.collect()
        url = store.engine.url.render_as_string(hide_password=False)
        store.engine.dispose()  # no pooled connection is inherited by a child
        for name, read in WAYS.items():
            wall, cpu, _, size = measure(url, read, traced=False)
            peak = measure(url, read, traced=True)[2]
            print(
                f"{name:<14} {wall:6.2f} s  CPU {cpu:6.2f} s  allocated {peak:7.1f} MiB"
                f"  ({size:.0f} items)"
            )


if __name__ == "__main__":
    main()
