"""Helpers for the streamed full reads' end-to-end tests (:mod:`idpsync.store.stream`).

The ``streams`` and ``twin`` fixtures are in ``tests/sources/conftest.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httpx
import pytest

from idpsync.app.runner import RunResult
from idpsync.sources.base import Event, Progress, Source
from idpsync.store import Store
from idpsync.store.stream import EdgeStream
from tests.store.test_stage_sql import stage_of


class Recorded(EdgeStream):
    """An edge stream that notes itself and its driver connection, to look at after the run."""

    made: ClassVar[list[Recorded]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.driver: Any = None
        self.peak = 0
        """The most edges the table held at once."""
        Recorded.made.append(self)

    def _write(self, rows: list[tuple[str, str, str]]) -> None:
        super()._write(rows)
        self.peak = max(self.peak, self.count)

    def start(self) -> None:
        super().start()
        assert self.conn is not None
        self.driver = self.conn.connection.dbapi_connection


def _temp_tables(driver: Any, dialect: str) -> list[str]:
    if dialect == "sqlite":
        query = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
    else:
        query = "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"
    if driver.closed if dialect == "postgresql" else False:
        return []  # thrown away: its temporary tables went with it
    cursor = driver.cursor()
    try:
        cursor.execute(query)
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()
        driver.rollback()


def left_behind(made: list[Recorded], dialect: str) -> list[str]:
    """Temporary tables still on the connections the runs' streams held (none once closed)."""
    assert all(s.conn is None for s in made)  # every stream was closed
    return [name for s in made if s.driver is not None for name in _temp_tables(s.driver, dialect)]


def assert_stage_kept(
    streams: list[Recorded], store: Store, name: str, before: dict[str, Any]
) -> None:
    """A read that failed after streaming edges left the stage as ``before``, and no table."""
    assert streams[-1].peak > 0  # edges had been written before the failure
    assert stage_of(store, name) == before
    assert left_behind(streams, store.dialect) == []


def ops(result: RunResult) -> list[str]:
    """A run's planned operations, comparable between two runs."""
    return sorted(repr(op) for op in result.plan.ops)


def assert_same_run(got: RunResult, expected: RunResult, step: str) -> None:
    """Two runs of the same read (streamed and in memory) ended alike: status, plan, stats."""
    assert (got.status, got.complete, got.message) == (
        expected.status,
        expected.complete,
        expected.message,
    ), step
    assert got.summary() == expected.summary(), step
    assert ops(got) == ops(expected), step
    for key in ("source_users", "source_groups", "planned"):
        assert got.stats[key] == expected.stats[key], (step, key)


def cancel_at(nth: int, counted: Callable[[Event], bool]) -> Progress:
    """A progress callback that cancels the run at the ``nth`` event ``counted`` accepts."""
    seen = 0

    def progress(event: Event) -> None:
        nonlocal seen
        if counted(event):
            seen += 1
            if seen == nth:
                raise asyncio.CancelledError

    return progress


def nothing_staged(store: Store, name: str) -> bool:
    """Whether the connector's stage holds no user, group or edge."""
    staged = stage_of(store, name)
    return staged == {"source_users": {}, "source_groups": {}, "source_memberships": {}}


class Twins:
    """Runs each read twice, streamed into ``store`` and in memory into ``twin``, and compares.

    ``streams`` are the runs' edge streams (the ``streams`` fixture); ``cls`` the source class
    whose ``streams_edges`` is switched off for the read in memory.
    """

    def __init__(
        self,
        stores: tuple[Store, Store],
        streams: list[Recorded],
        monkeypatch: pytest.MonkeyPatch,
        cls: type[Source],
        name: str,
    ) -> None:
        self.stores, self.streams, self.monkeypatch = stores, streams, monkeypatch
        self.cls, self.name = cls, name

    async def run(
        self,
        step: str,
        streamed: Callable[[Store], Awaitable[RunResult]],
        in_memory: Callable[[Store], Awaitable[RunResult]] | None = None,
    ) -> RunResult:
        """``streamed`` into the first store, ``in_memory`` (or the same) into the second: the
        two runs must end alike and leave the same stage; returns the streamed run."""
        store, twin = self.stores
        got = await streamed(store)
        assert self.streams[-1].driver is not None, step  # the edges went through the stream
        with self.monkeypatch.context() as m:
            m.setattr(self.cls, "streams_edges", False)
            count = len(self.streams)
            expected = await (in_memory or streamed)(twin)
            assert len(self.streams) == count, step  # read in memory: no stream at all
        assert_same_run(got, expected, step)
        assert stage_of(store, self.name) == stage_of(twin, self.name), step
        return got


class CancelsAt(httpx.AsyncBaseTransport):
    """Cancels the run's task at the ``nth`` request ``counted`` accepts (all by default)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        nth: int,
        counted: Callable[[httpx.Request], bool] = lambda request: True,
    ) -> None:
        self.inner, self.nth, self.counted, self.seen = inner, nth, counted, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.counted(request):
            self.seen += 1
            if self.seen == self.nth:
                raise asyncio.CancelledError
        return await self.inner.handle_async_request(request)


def first_changes(t: Any) -> None:
    """The changes every streamed test's second step makes to an emulator's tenant ``t``: a
    member added to the first group and one taken from the second, the third group and the
    fourth user deleted."""
    users, groups = list(t.user_ids), list(t.group_ids)
    t.add_member(groups[0], next(u for u in users if u not in t.member_list(groups[0])))
    t.remove_member(groups[1], t.member_list(groups[1])[0])
    t.delete_group(groups[2])
    t.delete_user(users[3])
