"""Okta's full read streamed into the stage (:mod:`idpsync.store.stream`), end to end against the
emulator on SQLite and PostgreSQL: the same runs as reading in memory (statuses, plans, stage),
an incomplete read that removes nothing, and failed or cancelled reads that leave nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from idpsync.app import runner
from idpsync.app.runner import RunResult, run_sync
from idpsync.config import ConnectorSettings
from idpsync.emulators import Fault, TenantGroup, TenantUser
from idpsync.model import Membership
from idpsync.sources.base import Event
from idpsync.sources.okta.reader import OktaSource
from idpsync.store import Store, stream
from idpsync.store.stream import EdgeStream
from tests.sources.okta_support import RecordingEmulator, emulator, source
from tests.store.test_stage_sql import stage_of

pytestmark = pytest.mark.usefixtures("no_sleep")


class Recorded(EdgeStream):
    """An edge stream that notes itself and its driver connection, to look at after the run."""

    made: ClassVar[list[Recorded]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.driver: Any = None
        Recorded.made.append(self)

    def start(self) -> None:
        super().start()
        assert self.conn is not None
        self.driver = self.conn.connection.dbapi_connection


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recorded]]:
    """The runs' edge streams, written every 5 edges (several short transactions a read)."""
    Recorded.made.clear()
    monkeypatch.setattr(runner, "EdgeStream", Recorded)
    monkeypatch.setattr(stream, "BATCH", 5)
    yield Recorded.made


@pytest.fixture
def twin(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A second empty store of the same kind as ``store``."""
    sqlite = store.dialect == "sqlite"
    url = f"sqlite:///{tmp_path / 'twin.db'}" if sqlite else request.getfixturevalue("fresh_pg_url")
    other = Store.open(url)
    yield other
    other.close()


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


def _left_behind(made: list[Recorded], dialect: str) -> list[str]:
    """Temporary tables still on the connections the runs' streams held (none once closed)."""
    assert all(s.conn is None for s in made)  # every stream was closed
    return [name for s in made if s.driver is not None for name in _temp_tables(s.driver, dialect)]


def _ops(result: RunResult) -> list[str]:
    return sorted(repr(op) for op in result.plan.ops)


async def _sync(store: Store, src: OktaSource, **kwargs: Any) -> RunResult:
    settings = ConnectorSettings(source=src.settings)
    return await run_sync(store, "okta", settings, src, mode="full", allow_deletes=True, **kwargs)


def _changes(emu: RecordingEmulator) -> Iterator[str]:
    """Change the org between runs; yields what changed."""
    t = emu.tenant
    active = [uid for uid in t.user_ids if emu.status_of(uid) == "ACTIVE"]
    plain = [gid for gid in t.group_ids if emu.group_type(gid) == "OKTA_GROUP"]
    yield "first load"
    t.add_user(TenantUser("00unew", "new.person", "New Person", "New", "Person", None))
    t.add_group(TenantGroup("00gnew", "New group", members={active[0]: None, "00unew": None}))
    t.add_member(plain[0], active[1])
    t.remove_member(plain[1], next(iter(t.groups[plain[1]].members)))
    t.delete_group(plain[2])
    emu.set_status(active[2], "SUSPENDED")
    yield "changes"
    # one group's member listing fails (a 404 is never fatal): incomplete, nothing removed
    t.remove_member(plain[3], next(iter(t.groups[plain[3]].members)))
    emu.inject(Fault("status", f"/api/v1/groups/{plain[4]}/users", times=0, status=404))
    yield "incomplete"


async def test_a_streamed_full_sync_runs_exactly_as_one_read_in_memory(
    store: Store, twin: Store, streams: list[Recorded], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator(users=220, groups=14)
    streamed, in_memory = source(emu), source(emu)
    for step in _changes(emu):
        got = await _sync(store, streamed)
        assert streams[-1].driver is not None, step  # the edges went through the stream
        with monkeypatch.context() as m:
            m.setattr(OktaSource, "streams_edges", False)
            count = len(streams)
            expected = await _sync(twin, in_memory)
            assert len(streams) == count, step  # read in memory: no stream at all
        assert (got.status, got.complete, got.message) == (
            expected.status,
            expected.complete,
            expected.message,
        ), step
        assert got.summary() == expected.summary(), step
        assert _ops(got) == _ops(expected), step
        assert stage_of(store, "okta") == stage_of(twin, "okta"), step
        for key in ("source_users", "source_groups", "planned"):
            assert got.stats[key] == expected.stats[key], (step, key)
    assert got.status == "partial" and got.summary()["memberships_removed"] == 0
    assert _left_behind(streams, store.dialect) == []
    await streamed.aclose()
    await in_memory.aclose()


async def test_a_failed_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded]
) -> None:
    emu = emulator(users=150, groups=10)
    src = source(emu)
    first = await _sync(store, src)
    assert first.status == "succeeded"
    before = stage_of(store, "okta")
    gid = next(g for g in emu.tenant.group_ids if emu.tenant.groups[g].members)
    emu.tenant.add_user(TenantUser("00unew", "new.person", "New Person", "New", "Person", None))
    emu.tenant.add_member(gid, "00unew")  # would be staged, were the read to succeed
    # the fifth member listing is refused (401: fatal), after others were streamed
    emu.inject(Fault("status", "/api/v1/groups/{id}/users", nth=5, times=0, status=401))
    result = await _sync(store, src)
    assert result.status == "failed" and "401" in result.message
    assert streams[-1].count > 0  # edges had been written before the failure
    assert stage_of(store, "okta") == before
    assert _left_behind(streams, store.dialect) == []
    await src.aclose()


async def test_a_cancelled_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded]
) -> None:
    emu = emulator(users=150, groups=10)
    src = source(emu)
    seen = 0

    def cancel_midway(event: Event) -> None:
        nonlocal seen
        if event.message == "group members":
            seen += 1
            if seen == 4:  # a few listings were streamed
                raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await _sync(store, src, progress=cancel_midway)
    assert streams[-1].count > 0  # a few batches were written before
    assert stage_of(store, "okta") == {
        "source_users": {},
        "source_groups": {},
        "source_memberships": {},
    }
    assert _left_behind(streams, store.dialect) == []
    await src.aclose()


async def test_edges_with_unusable_ids_are_dropped_and_mark_the_read_incomplete(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As :func:`~idpsync.sources.clean.normalise` does for edges held in memory."""
    emu = emulator(users=60, groups=6)
    src = source(emu)
    real = OktaSource.snapshot_to

    async def with_a_bad_edge(self: OktaSource, sink: Any, progress: Any) -> Any:
        sink.edges([Membership("g\x00bad", "u1"), Membership("g1", "")])
        return await real(self, sink, progress)

    monkeypatch.setattr(OktaSource, "snapshot_to", with_a_bad_edge)
    result = await _sync(store, src)
    assert not result.complete
    assert "2 membership edge(s) name an unusable id" in result.message
    staged = stage_of(store, "okta")["source_memberships"]
    assert not any(g in ("g\x00bad", "g1") for g, _, _ in staged)
    await src.aclose()


async def test_another_run_writes_the_directory_while_a_read_streams(
    store: Store, streams: list[Recorded]
) -> None:
    """Between the stream's batches and across them, another run's write transaction (SQLite:
    ``BEGIN IMMEDIATE``) goes through at once: the read holds no lock on the directory."""
    emu = emulator(users=150, groups=10)
    src = source(emu)
    written: list[int] = []

    def another_run(event: Event) -> None:
        if event.message == "group members" and streams and streams[-1].count:
            with store.transaction() as conn:  # waits for any lock, up to 30 s, then fails
                store.ensure_connector(conn, f"other{len(written)}", "file")
            written.append(streams[-1].count)

    result = await _sync(store, src, progress=another_run)
    assert result.status == "succeeded", result.message
    assert len(written) >= 3 and written[0] < written[-1]  # while the stream went on filling
    with store.read() as conn:
        names = {row[0] for row in conn.exec_driver_sql("SELECT name FROM connectors")}
    assert {f"other{i}" for i in range(len(written))} <= names
    await src.aclose()
