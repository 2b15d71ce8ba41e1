"""Python's cyclic garbage collector paused while a run stages, plans and applies.

A run at L holds millions of objects (the snapshot's records, the mapped users, the plan's
operations) and makes hundreds of thousands more; each full collection walks all of them,
and allocation-heavy phases trigger many. Measured on a first load at L (100k users, 1M
memberships; docs/benchmarks.md), the collector cost ≈7 of the run's ≈39 CPU seconds while
finding almost nothing to free: the run's objects are freed by reference counting when it
ends. :func:`collection_paused` turns automatic collection off for the run and back on after
it (a later collection frees any cycles the run left). Nothing else changes: reference
counting frees as before, and an explicit ``gc.collect()`` still works.

Runs may overlap in one process (the service's executor): the first to enter pauses the
collector, the last to leave resumes it, and a collector someone else had disabled stays off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_inside = 0
_resume = False


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
                gc.enable()
