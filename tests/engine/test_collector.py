"""A run pauses Python's cyclic garbage collector while it stages, plans and applies.

The collector's full passes over a run's millions of objects cost CPU and find nothing to free
(app/collector.py). The collector is off inside the run's transaction and back on after it,
also when the run fails; overlapping runs resume it only when the last one ends, and a
collector someone else had turned off stays off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from idpsync.app.collector import collection_paused
from idpsync.app.runner import run_sync
from idpsync.sources.base import Event
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.engine.test_runner import settings
from tests.filedata import people, write


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


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
