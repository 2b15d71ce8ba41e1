"""``python -m benchmarks.snapmem --users N --groups G``: what a parsed snapshot costs to hold.

Builds a snapshot the way a connector does from JSON pages: every membership edge carries its
own copy of the member's id string, as ``json.loads`` hands it out (the group's id is one
object per group, as the connectors take it from the group record); with ``--shared`` the
edges are built with :meth:`~idpsync.model.Snapshot.edge` instead, as the Google, Okta and
Entra readers build them. Either way the snapshot's :class:`~idpsync.model.EdgeList` keeps
one string per id, so the copies are let go as the edges are added. Then it prints

- the memory the snapshot holds (tracemalloc, after a collection) before and after
  :func:`idpsync.sources.clean.normalise`, and the peak while it ran;
- the seconds :func:`~idpsync.sources.clean.normalise` took, measured in a second run
  without tracemalloc (whose hooks slow every allocation).

The tenant is the seeded generator's (:func:`benchmarks.engine.snapshot`); about 10 edges a
user, so ``--users 100000 --groups 5000`` gives the L tenant's ≈1M edges.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc

from benchmarks.engine import snapshot
from idpsync.model import EdgeList, Membership, Snapshot
from idpsync.sources.clean import normalise

MIB = 1024 * 1024


def parsed(users: int, groups: int, seed: int, shared: bool = False) -> Snapshot:
    """The generated snapshot with each edge's member id a separate string, as from JSON.

    ``shared``: the edges are built with :meth:`Snapshot.edge`, as the connectors that share
    ids while they read build them.
    """
    snap = snapshot(users, groups, seed)
    member_ids = json.loads(json.dumps([m.member_id for m in snap.memberships]))
    make = snap.edge if shared else Membership
    snap.memberships = EdgeList(
        make(m.group_id, member, m.member_kind)
        for m, member in zip(snap.memberships, member_ids, strict=True)
    )
    return snap


def held(label: str) -> float:
    """The MiB tracemalloc counts now (after a full collection), printed with ``label``."""
    gc.collect()
    current = tracemalloc.get_traced_memory()[0] / MIB
    print(f"{label:<28} {current:8.1f} MiB", flush=True)
    return current


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapmem", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", action="store_true", help="edges built with Snapshot.edge")
    args = parser.parse_args(argv)

    tracemalloc.start()
    snap = parsed(args.users, args.groups, args.seed, args.shared)
    print(f"{len(snap.users)} users, {len(snap.groups)} groups, {len(snap.memberships)} edges")
    before = held("snapshot as parsed")
    tracemalloc.reset_peak()
    normalise(snap)
    peak = tracemalloc.get_traced_memory()[1] / MIB
    after = held("snapshot normalised")
    print(f"{'peak during normalise':<28} {peak:8.1f} MiB (+{peak - before:.1f})")
    print(f"{'saved':<28} {before - after:8.1f} MiB", flush=True)
    del snap
    tracemalloc.stop()

    snap = parsed(args.users, args.groups, args.seed, args.shared)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    normalise(snap)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"normalise took {wall:.2f} s, CPU {cpu:.2f} s (no tracemalloc)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
