"""A run spaces Python's cyclic garbage collector out while it reads and pauses it after.

The collector's full passes over a run's millions of objects cost CPU and find little or
nothing to free (app/collector.py). While the source reads, young collections come every
50,000 net new objects, not 700, and a cycle made then is still freed within that bound; the
collector is off inside the run's transaction and back on after it, also when the run fails;
overlapping runs restore it only when the last one ends, and a collector someone else had
turned off stays off.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from idpsync.app.collector import READ_YOUNG_THRESHOLD, collection_paused, collection_spaced
from idpsync.app.runner import run_sync
from idpsync.sources.base import Event
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.engine.test_runner import settings
from tests.filedata import people, write


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was, thresholds = gc.isenabled(), gc.get_threshold()
    gc.enable()
    gc.set_threshold(700, 10, 10)  # Python's default
    yield
    gc.set_threshold(*thresholds)
    if not was:
        gc.disable()


class Node:
    """A container that can be made into a cycle and watched with a weak reference."""

    def __init__(self) -> None:
        self.me: Node | None = None


async def test_a_run_stages_plans_and_applies_without_the_collector(
    store: Store, tmp_path: Path
) -> None:
    seen: dict[str, bool] = {}

    def progress(event: Event) -> None:
        seen.setdefault(event.phase, gc.isenabled())

    path = write(tmp_path / "people.json", people(12))
    result = await run_sync(store, "hr", settings(), FileSource(path), progress=progress)
    assert result.status == "succeeded"
    assert {seen[p] for p in ("stage", "plan", "apply")} == {False}
    assert gc.isenabled()


async def test_the_collector_resumes_after_a_failed_run(store: Store, tmp_path: Path) -> None:
    def progress(event: Event) -> None:
        if event.phase == "apply":
            raise RuntimeError("boom")

    path = write(tmp_path / "people.json", people(12))
    result = await run_sync(store, "hr", settings(), FileSource(path), progress=progress)
    assert result.status == "failed" and "boom" in (result.message or "")
    assert gc.isenabled()


def test_overlapping_pauses_resume_once_the_last_ends() -> None:
    first, second = collection_paused(), collection_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second run is still inside
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_turned_off_elsewhere_stays_off() -> None:
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


async def test_a_run_reads_with_young_collections_spaced_out(store: Store, tmp_path: Path) -> None:
    seen: dict[str, tuple[bool, int]] = {}

    def progress(event: Event) -> None:
        seen.setdefault(event.phase, (gc.isenabled(), gc.get_threshold()[0]))

    path = write(tmp_path / "people.json", people(12))
    result = await run_sync(store, "hr", settings(), FileSource(path), progress=progress)
    assert result.status == "succeeded"
    assert seen["fetch"] == (True, READ_YOUNG_THRESHOLD)  # on, but spaced out
    assert seen["stage"][0] is False
    assert gc.isenabled() and gc.get_threshold() == (700, 10, 10)


def test_a_cycle_made_while_reading_is_freed_within_the_bound() -> None:
    freed: list[bool] = []
    with collection_spaced():
        gc.collect()  # the count of new objects starts from zero
        node = Node()
        node.me = node  # a cycle: reference counting alone never frees it
        weakref.finalize(node, freed.append, True)
        del node
        kept = [[] for _ in range(READ_YOUNG_THRESHOLD // 2)]
        assert not freed  # spaced out: not yet collected
        kept += [[] for _ in range(READ_YOUNG_THRESHOLD // 2 + 100)]
        assert freed  # within the bound: a young collection came and freed it
    assert len(kept) > READ_YOUNG_THRESHOLD


def test_overlapping_reads_restore_the_thresholds_once_the_last_ends() -> None:
    first, second = collection_spaced(), collection_spaced()
    first.__enter__()
    second.__enter__()
    assert gc.get_threshold() == (READ_YOUNG_THRESHOLD, 10, 10)
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (READ_YOUNG_THRESHOLD, 10, 10)  # the second still reads
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_collector_with_automatic_collection_set_off_stays_off_while_reading() -> None:
    gc.set_threshold(0)  # Python's other way to turn automatic collection off
    with collection_spaced():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_what_a_paused_run_holds_ends_in_the_oldest_generation_uncollected() -> None:
    gc.unfreeze()  # the suite's own freeze (conftest) would make the collector leave it be
    try:
        with collection_paused():
            held = [Node() for _ in range(1000)]
            assert _in_generation(held, 0)
        assert _in_generation(held, 2)  # moved there without a young collection scanning it
        assert gc.isenabled()
    finally:
        gc.freeze()


def test_a_freeze_made_elsewhere_is_left_as_it_is() -> None:
    frozen = gc.get_freeze_count()
    assert frozen > 0  # the suite froze what imports and collection built (conftest)
    with collection_paused():
        Node()
    assert gc.get_freeze_count() == frozen
