"""Streamed edges (:mod:`idpsync.store.stream`): staged exactly as the same edges in memory, on
SQLite and PostgreSQL; a stream that ends without staging leaves nothing; on SQLite, filling the
stream takes no lock on the directory's file while the run's transaction still does."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.clean import CheckedEdges
from idpsync.store import Store, stage, stream
from idpsync.store.errors import StoreError
from idpsync.store.stage import StageChange
from idpsync.store.stream import EdgeStream
from tests.store.test_stage_sql import stage_of

USER_IDS = [f"u{i}" for i in range(6)]
GROUP_IDS = [f"g{i}" for i in range(4)]
WORDS = st.sampled_from(["a", "b"])

users = st.lists(st.builds(SourceUser, st.sampled_from(USER_IDS), WORDS), max_size=6)
groups = st.lists(st.builds(SourceGroup, st.sampled_from(GROUP_IDS), WORDS), max_size=4)
edges = st.lists(
    st.one_of(
        st.builds(Membership, st.sampled_from(GROUP_IDS), st.sampled_from(USER_IDS)),
        st.builds(
            Membership,
            st.sampled_from(GROUP_IDS),
            st.sampled_from(GROUP_IDS),
            st.just(MemberKind.GROUP),
        ),
    ),
    max_size=14,
)
"""Edges over the id pools, repeats and edges to records not read included."""
others = st.lists(
    st.builds(
        Membership,
        st.sampled_from([*GROUP_IDS, "x1", "bad\x00"]),
        st.sampled_from([*USER_IDS, "x2"]),
    ),
    max_size=5,
)
"""Edges a read hands over and then takes back (unusable ids included)."""
reads = st.tuples(users, groups, edges, st.booleans())
"""A read: users, groups, edges, and whether it is complete."""

_names = itertools.count()


def _change(change: StageChange | None) -> Any:
    """A StageChange to compare (the added edges come in the order read: compared as a set)."""
    if change is None:
        return None
    added, removed = sorted(change.added), sorted(change.removed)
    return change.users, change.groups, added, removed, change.large


def _streamed_write(
    store: Store,
    connector: str,
    snap: Snapshot,
    run_id: int,
    cuts: list[int],
    discarded: Sequence[Membership] = (),
    withdrawn: Sequence[Membership] = (),
) -> StageChange | None:
    """Stage ``snap`` as a streamed read does: its edges handed over in pieces (at ``cuts``).

    ``discarded`` are handed over first and all taken back (a listing read again);
    ``withdrawn``, handed over twice among the pieces, are taken back at the end (edges the
    finished read does not keep: those of ``snap`` are left out of them).
    """
    held = EdgeStream(store.engine)
    sink = CheckedEdges(held)
    try:
        given_edges, snap.memberships = list(snap.memberships), []
        if discarded:
            sink.edges(discarded)
            sink.discard()
        kept = set(given_edges)
        extra = [e for e in withdrawn if e not in kept]
        bounds = [0, *sorted(c % (len(given_edges) + 1) for c in cuts), len(given_edges)]
        for piece, (start, end) in enumerate(itertools.pairwise(bounds)):
            sink.edges(given_edges[start:end])
            if piece == 0:
                sink.edges(extra)
        sink.edges(extra)
        sink.withdraw(extra + extra)
        assert sink.dropped == 0  # the read's own edges name usable ids
        streamed = held.streamed()
        with held.transaction() as conn:
            store.ensure_connector(conn, connector, "file")
            return store.write_stage(conn, connector, snap, run_id, streamed)
    finally:
        held.close()


def _memory_write(store: Store, connector: str, snap: Snapshot, run_id: int) -> Any:
    with store.transaction() as conn:
        store.ensure_connector(conn, connector, "file")
        return store.write_stage(conn, connector, snap, run_id)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    sequence=st.lists(reads, min_size=1, max_size=3),
    cuts=st.lists(st.integers(0, 20), max_size=3),
    floor=st.sampled_from([2, 1000]),
    batch=st.sampled_from([3, 10_000]),
    discarded=edges,
    withdrawn=others,
)
def test_a_streamed_read_stages_exactly_what_the_same_read_in_memory_stages(
    store: Store,
    sequence: list[tuple[list[SourceUser], list[SourceGroup], list[Membership], bool]],
    cuts: list[int],
    floor: int,
    batch: int,
    discarded: list[Membership],
    withdrawn: list[Membership],
) -> None:
    """Records, edges with their run, and the StageChange, after each read of a sequence.

    ``floor`` 2 makes a first load of three edges or more "many" (staged without a comparison)
    and most changes "large"; ``batch`` 3 writes the stream in several transactions. Edges
    handed over and taken back (``discarded``, ``withdrawn``) leave no trace.
    """
    memory, streamed = f"m{next(_names)}", f"s{next(_names)}"
    with mock.patch.object(stage, "CHANGE_FLOOR", floor), mock.patch.object(stream, "BATCH", batch):
        for run_id, (u, g, e, complete) in enumerate(sequence, start=1):
            expected = _memory_write(store, memory, Snapshot(u, g, e, complete=complete), run_id)
            snap = Snapshot(u, g, e, complete=complete)
            got = _streamed_write(store, streamed, snap, run_id, cuts, discarded, withdrawn)
            assert _change(got) == _change(expected)
            assert stage_of(store, streamed) == stage_of(store, memory)


def _temp_tables(dbapi: Any, dialect: str, *, outside: bool = True) -> list[str]:
    """The temporary tables of a driver connection (``outside`` a transaction: ends psycopg's)."""
    if dialect == "sqlite":
        query = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
    else:
        query = "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"
    cursor = dbapi.cursor()
    try:
        cursor.execute(query)
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()
        if outside:  # psycopg opened a transaction: leave the connection as it was
            dbapi.rollback()


@pytest.mark.parametrize("ended", ["closed", "rolled back"])
def test_a_stream_that_is_not_staged_leaves_nothing_behind(store: Store, ended: str) -> None:
    """A failed or cancelled read (closed before staging), or a run rolled back after it."""
    snap = Snapshot([SourceUser("u1", "one")], [SourceGroup("g1", "One")])
    held = EdgeStream(store.engine)
    held.edges([Membership("g1", "u1"), Membership("g1", "u2")])
    streamed = held.streamed()
    assert held.conn is not None and streamed is not None and streamed.count == 2
    dbapi = held.conn.connection.dbapi_connection
    assert _temp_tables(dbapi, store.dialect) == ["idpsync_stream_edges"]
    if ended == "rolled back":
        with pytest.raises(RuntimeError), held.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            store.write_stage(conn, "hr", snap, 1, streamed)
            raise RuntimeError("a guard refused")
    held.close()
    assert held.conn is None
    # the connection went back to the pool without the table (or was thrown away)
    assert _temp_tables(dbapi, store.dialect) == []
    assert stage_of(store, "hr") == {
        "source_users": {},
        "source_groups": {},
        "source_memberships": {},
    }


def test_staging_drops_the_stream_table(store: Store) -> None:
    held = EdgeStream(store.engine)
    try:
        held.edges([Membership("g1", "u1")])
        streamed = held.streamed()
        with held.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            snap = Snapshot([SourceUser("u1", "one")], [SourceGroup("g1", "One")])
            store.write_stage(conn, "hr", snap, 1, streamed)
            assert (
                _temp_tables(conn.connection.dbapi_connection, store.dialect, outside=False) == []
            )
    finally:
        held.close()
    assert stage_of(store, "hr")["source_memberships"] == {("g1", "user", "u1"): 1}


def test_streamed_edges_and_edges_in_the_snapshot_are_refused_together(store: Store) -> None:
    held = EdgeStream(store.engine)
    try:
        held.edges([Membership("g1", "u1")])
        streamed = held.streamed()
        with pytest.raises(ValueError, match="holds none"), held.transaction() as conn:
            snap = Snapshot([], [], [Membership("g1", "u2")])
            store.write_stage(conn, "hr", snap, 1, streamed)
    finally:
        held.close()


def _no_wait(held: EdgeStream) -> None:
    """A lock the stream's connection had to wait for fails at once instead of in 30 s."""
    assert held.conn is not None
    held.conn.exec_driver_sql("PRAGMA busy_timeout=0")
    held.conn.commit()


def test_sqlite_filling_a_stream_takes_no_lock_on_the_directory(tmp_path: Any) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'directory.db'}")
    held = EdgeStream(store.engine)
    try:
        held.edges([Membership("g1", "u1")])
        held.flush()
        _no_wait(held)
        # another run writes the directory (BEGIN IMMEDIATE) while the read streams, and holds
        # its write lock while the stream writes a batch: neither waits for the other
        with store.transaction() as other:
            store.ensure_connector(other, "another", "file")
            held.edges([Membership("g1", f"u{i}") for i in range(2, 50)])
            held.flush()
            assert held.count == 49
        # the run's own transaction is a writer: it waits for (here: fails at once on) the
        # lock another run holds, as a run's transaction always did
        with store.transaction() as other:
            store.ensure_connector(other, "third", "file")
            with pytest.raises(StoreError, match="busy"), held.transaction():
                pass
        streamed = held.streamed()
        with held.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            snap = Snapshot([SourceUser("u1", "one")], [SourceGroup("g1", "One")])
            store.write_stage(conn, "hr", snap, 1, streamed)
    finally:
        held.close()
    assert len(stage_of(store, "hr")["source_memberships"]) == 49
    with store.read() as conn:
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM connectors")}
    assert {"another", "third", "hr"} <= names
    store.close()


def test_sqlite_a_stream_batch_in_flight_does_not_hold_another_writer(tmp_path: Any) -> None:
    """Even inside a batch's open transaction, the directory's file is not locked."""
    store = Store.open(f"sqlite:///{tmp_path / 'directory.db'}")
    held = EdgeStream(store.engine)
    try:
        held.start()
        assert held.conn is not None
        with held.conn.begin():
            held.conn.exec_driver_sql(
                "INSERT INTO idpsync_stream_edges VALUES ('g1', 'user', 'u1', 0)"
            )
            other = sqlite3.connect(tmp_path / "directory.db", timeout=0)
            other.execute("BEGIN IMMEDIATE")
            other.execute(
                "INSERT INTO connectors (name, source_type, state, created_at, updated_at)"
                " VALUES ('x', 'file', '{}', '2026-01-01', '2026-01-01')"
            )
            other.execute("COMMIT")
            other.close()
    finally:
        held.close()
    store.close()


def test_batches_are_written_by_the_writer_thread_in_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``edges`` hands full batches to the writer thread; ``streamed`` waits for them."""
    monkeypatch.setattr(stream, "BATCH", 3)
    writers: list[tuple[str, int]] = []
    real = EdgeStream._write

    def noted(self: EdgeStream, rows: list[tuple[str, str, str]]) -> None:
        writers.append((threading.current_thread().name, len(rows)))
        real(self, rows)

    monkeypatch.setattr(EdgeStream, "_write", noted)
    held = EdgeStream(store.engine)
    try:
        edges = [Membership(f"g{i % 4}", f"u{i}") for i in range(10)]
        for edge in edges:
            held.edges([edge])
        streamed = held.streamed()
        assert streamed is not None and streamed.count == 10
        assert [n for _, n in writers] == [3, 3, 3, 1]  # the rest written by ``streamed``
        assert all(name.startswith(stream.WRITER) for name, _ in writers[:3])
        with held.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            snap = Snapshot([], [SourceGroup(f"g{i}", "G") for i in range(4)])
            store.write_stage(conn, "hr", snap, 1, streamed)
    finally:
        held.close()
    assert len(stage_of(store, "hr")["source_memberships"]) == 10


def test_a_batch_the_writer_could_not_write_fails_the_stream(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "BATCH", 2)
    held = EdgeStream(store.engine)
    try:
        held.edges([Membership("g1", "u1")])  # starts the stream (the table)
        failing = mock.Mock(side_effect=RuntimeError("disk full"))
        monkeypatch.setattr(stream, "_insert_keyed", failing)
        monkeypatch.setattr(stream, "bulk_insert", failing)
        held.edges([Membership("g1", "u2")])  # a full batch: to the writer, which fails
        with pytest.raises(RuntimeError, match="disk full"):
            held.streamed()
    finally:
        held.close()
    assert held.conn is None
