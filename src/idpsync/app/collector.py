"""Python's cyclic garbage collector during a run: spaced out while it reads, paused after.

A run at L holds millions of objects (the snapshot's records, the mapped users, the plan's
operations) and makes hundreds of thousands more; each full collection walks all of them,
and allocation-heavy phases trigger many.

**While the source reads** (:func:`collection_spaced`), the collector stays on but its young
generation is collected every 50,000 net new container objects instead of every 700. The read
makes cyclic garbage (httpx, asyncio, exceptions), so the collector is not turned off; what the
700 cost was the old generation's full collections: by Python's own rule one falls due each
time the old generation has grown by a quarter since the last, and a read that builds its
snapshot grows it all the time. Measured at L (docs/benchmarks.md, "Issue #20 at L: the
garbage collector during Keycloak's and OneLogin's read"), the collector took ≈2.3–2.7 s of
those reads, ≈1.6–2 s of it in ≈15 full collections that freed a few thousand objects each.
With the young threshold at 50,000 the generations are collected 70 times less often: a cycle
that dies young is freed within 50,000 net new objects, one that died after reaching the old
generation after about 100 young collections (5,000,000 net new objects, or the quarter rule
if that comes later). The collector's time in the read fell to ≈0.7–0.85 s, the read's CPU by
≈0.7 s (Keycloak) and ≈2 s (OneLogin); the read's peak RSS rose by ≈2–5 %.

**While it stages, plans and applies** (:func:`collection_paused`), automatic collection is
off. Measured on a first load at L (100k users, 1M memberships; docs/benchmarks.md), the
collector cost ≈7 of the run's ≈39 CPU seconds there while finding almost nothing to free:
the run's objects are freed by reference counting when it ends. Automatic collection comes
back on after it (a later collection frees any cycles the run left). What the run still holds
then is moved into the oldest generation without a collection (:func:`_age_survivors`), so the
first young collection after it does not scan the run's plan and records (≈0.1–0.3 s at L) only
to find them alive; a cycle among them is freed by the next full collection. Nothing else changes:
reference counting frees as before, and an explicit ``gc.collect()`` still works.

Runs may overlap in one process (the service's executor): for each of the two, the first to
enter changes the collector, the last to leave restores it, and a collector someone else had
disabled stays off. A read that overlaps another run's stage, plan or apply runs paused meanwhile
(automatic collection is process-wide); the other run's end bounds it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Net new container objects between two young collections while a run reads (Python's: 700).
READ_YOUNG_THRESHOLD = 50_000

_lock = threading.Lock()
_inside = 0
_resume = False
_reading = 0
_thresholds = gc.get_threshold()


@contextmanager
def collection_paused() -> Iterator[None]:
    """Automatic garbage collection off inside the block (see the module doc)."""
    global _inside, _resume
    with _lock:
        if _inside == 0:
            _resume = gc.isenabled()
            gc.disable()
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _resume:
                _age_survivors()
                gc.enable()


def _age_survivors() -> None:
    """Move every tracked object into the oldest generation, without a collection.

    What a paused run allocated and still holds sits in the young generation; the first young
    collection after :func:`collection_paused` would scan all of it (≈0.1 s after a first load
    in the engine benchmark at L, ≈0.3 s in ``idpsync sync`` at OneLogin's L) to find it alive.
    ``gc.freeze()`` then ``gc.unfreeze()`` moves it there in constant time. Skipped when
    something else froze objects (``gc.get_freeze_count()``): unfreezing would undo that.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@contextmanager
def collection_spaced(young: int = READ_YOUNG_THRESHOLD) -> Iterator[None]:
    """Young collections every ``young`` net new objects inside the block (see the module doc)."""
    global _reading, _thresholds
    with _lock:
        if _reading == 0:
            _thresholds = gc.get_threshold()
            if _thresholds[0]:  # 0: automatic collection set off, and so it stays
                gc.set_threshold(max(young, _thresholds[0]), *_thresholds[1:])
        _reading += 1
    try:
        yield
    finally:
        with _lock:
            _reading -= 1
            if _reading == 0:
                gc.set_threshold(*_thresholds)
