"""A streamed full read's edges compared by member digest (``store/stream_digests.py``).

The digests are summed as the edges are handed over (taken back ones taken off), compared at
staging, and only the changed members' edges compared with the stage: what is staged and the
:class:`StageChange` reported must be exactly what comparing every edge gives, and the digests
kept exactly those a read of the same edges held in memory keeps, over any sequence of
complete, incomplete, skipping and delta reads, streamed or not, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult
from idpsync.store import Store, ahead, edge_digests, stage, stage_edges, stream
from idpsync.store.digest_diff import members_tmp
from idpsync.store.stage import StageChange
from idpsync.store.stream import EdgeStream
from idpsync.store.stream_digests import StreamSums
from tests.store.test_stage_edge_digests import _comparable, _digests, _write, reads
from tests.store.test_stage_sql import stage_of
from tests.store.test_stage_stream import _streamed_write, others

_names = itertools.count()


def _streamed(
    store: Store,
    connector: str,
    read: Snapshot,
    run_id: int,
    withdrawn: list[Membership],
    *,
    digests: bool,
) -> StageChange | None:
    snap = Snapshot(read.users, read.groups, list(read.memberships), complete=read.complete)
    snap.skipped = list(read.skipped)
    edge_digests.ENABLED = digests
    try:  # in pieces of three, ``withdrawn`` handed over and taken back among them
        return _streamed_write(store, connector, snap, run_id, [3, 6, 9], withdrawn[:2], withdrawn)
    finally:
        edge_digests.ENABLED = True


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    sequence=st.lists(
        st.tuples(reads(), st.integers(-1, 3), st.booleans()), min_size=1, max_size=6
    ),
    floor=st.sampled_from([1000, 2]),
    withdrawn=others,
)
def test_a_streamed_read_staged_by_member_digest_equals_comparing_every_edge(
    store: Store, sequence: list[Any], floor: int, withdrawn: list[Membership]
) -> None:
    """``sequence``: reads, each with how many of the previous read's edges to drop before its
    own (-1: none kept) and whether it is streamed (a delta never is).

    Three connectors: digests off (every edge compared), digests on (streamed or not as the
    read says), and digests on in memory (whose digests the second's must equal)."""
    plain, digested, memory = (f"{p}{next(_names)}" for p in "pdm")
    with store.transaction() as conn:
        for name in (plain, digested, memory):
            store.ensure_connector(conn, name, "file")
    ordered = store.engine.dialect.name == "sqlite"  # PostgreSQL's insert order is its plan's
    last: list[Membership] = []
    with mock.patch.object(stage, "CHANGE_FLOOR", floor), mock.patch.object(stream, "BATCH", 3):
        for run_id, (read, drop, streams) in enumerate(sequence, start=1):
            if isinstance(read, Snapshot):
                if drop >= 0:  # the previous read's edges, a few dropped, then the new ones
                    read.memberships = [*last[drop:], *read.memberships]
                last = list(read.memberships)
            if isinstance(read, DeltaResult) or not streams:
                expected = _write(store, plain, read, run_id, digests=False)
                found = _write(store, digested, read, run_id, digests=True)
            else:
                expected = _streamed(store, plain, read, run_id, withdrawn, digests=False)
                found = _streamed(store, digested, read, run_id, withdrawn, digests=True)
            _write(store, memory, read, run_id, digests=True)
            assert _comparable(found, ordered) == _comparable(expected, ordered)
            assert stage_of(store, digested) == stage_of(store, plain)
            assert _digests(store, digested) == _digests(store, memory)
            assert not _digests(store, plain)


def _stage(store: Store, connector: str, edges: list[Membership], run_id: int) -> Any:
    users = [SourceUser(f"u{i}", f"u{i}") for i in range(6)]
    groups = [SourceGroup(f"g{i}", f"g{i}") for i in range(3)]
    return _streamed_write(store, connector, Snapshot(users, groups, edges), run_id, [2, 5])


def test_a_streamed_read_compares_only_the_changed_members_edges(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [Membership(f"g{i % 3}", f"u{i}") for i in range(6)] + [Membership("g2", "u0")]
    _stage(store, "hr", first, 1)
    assert set(_digests(store, "hr")) == {f"u{i}" for i in range(6)}
    compared: list[Any] = []
    insert = stage_edges.bulk_insert

    def spy(conn: sa.Connection, table: sa.Table, columns: Any, rows: Any, **kw: Any) -> int:
        rows = list(rows)
        if table is members_tmp:
            compared.extend(row[0] for row in rows)
        return insert(conn, table, columns, rows, **kw)

    monkeypatch.setattr(stage_edges, "bulk_insert", spy)
    # u1 moves from g1 to g2 and u3 leaves g0; the others' edges come again, in another order
    after = [e for e in reversed(first) if e.member_id not in ("u1", "u3")]
    after += [Membership("g2", "u1")]
    change = _stage(store, "hr", after, 2)
    assert compared == ["u1", "u3"]
    assert change is not None and not change.large
    assert change.added == [Membership("g2", "u1")]
    assert change.removed == [Membership("g0", "u3"), Membership("g1", "u1")]  # in key order
    assert set(stage_of(store, "hr")["source_memberships"]) == {
        (e.group_id, e.member_kind.value, e.member_id) for e in after
    }
    assert set(_digests(store, "hr")) == {"u0", "u1", "u2", "u4", "u5"}
    compared.clear()
    assert _stage(store, "hr", after, 3) == StageChange()  # the same again: none compared
    assert compared == []


def test_a_streamed_reads_changed_members_are_read_from_the_stream_once(store: Store) -> None:
    """PostgreSQL: the stream's table (a heap of every edge read, no index) is read once.

    By the statement that compares the changed members' edges with the stage (a copy of them
    out of it at first, read by two anti-joins; now one full join); SQLite probes its keyed
    stream in place, as before. Same stage, same change.
    """
    first = [Membership(f"g{i % 3}", f"u{i}") for i in range(6)]
    _stage(store, "hr", first, 1)
    read: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        name = stream.STREAM_POSTGRESQL.name  # read by a select, or analysed
        if f"FROM {name}" in statement or statement.startswith(f"ANALYZE {name}"):
            read.append(statement.split()[0])

    after = [e for e in first if e.member_id != "u1"] + [Membership("g2", "u1")]
    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        change = _stage(store, "hr", after, 2)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert change is not None
    assert (change.added, change.removed) == ([Membership("g2", "u1")], [Membership("g1", "u1")])
    assert set(stage_of(store, "hr")["source_memberships"]) == {
        (e.group_id, e.member_kind.value, e.member_id) for e in after
    }
    if store.engine.dialect.name == "postgresql":
        assert read == ["INSERT"]  # before the copy: ANALYZE, the gone edges' select, INSERT


def test_a_streamed_reads_changed_members_are_compared_with_the_stage_by_one_statement(
    store: Store,
) -> None:
    """PostgreSQL: one full join of the changed members' streamed and staged edges.

    No other statement reads the stage's edges of those members (before: two anti-joins of a
    copy of the stream, each reading the stage), and the gone edges are deleted by the rows
    that join found (``ctid``), not by key. SQLite compares in place, as before. Same stage,
    same change, whether or not past the bound.
    """
    first = [Membership(f"g{i % 3}", f"u{i}") for i in range(6)] + [Membership("g1", "u0")]
    _stage(store, "hr", first, 1)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    # u1 moves from g1 to g2 (read twice), u0 leaves g1 (its g0 read twice), u3 leaves g0
    left = {Membership("g1", "u1"), Membership("g1", "u0"), Membership("g0", "u3")}
    after = [e for e in first if e not in left]
    after += [Membership("g2", "u1"), Membership("g2", "u1"), Membership("g0", "u0")]
    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        change = _stage(store, "hr", after, 2)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert change is not None and not change.large
    assert change.added == [Membership("g2", "u1")]
    assert change.removed == [
        Membership("g0", "u3"),
        Membership("g1", "u0"),
        Membership("g1", "u1"),
    ]
    assert set(stage_of(store, "hr")["source_memberships"]) == {
        (e.group_id, e.member_kind.value, e.member_id) for e in after
    }
    with mock.patch.object(stage, "CHANGE_FLOOR", 1):  # past the bound: none listed
        change = _stage(store, "hr", first, 3)
    assert change is not None and change.large and not change.added and not change.removed
    assert set(stage_of(store, "hr")["source_memberships"]) == {
        (e.group_id, e.member_kind.value, e.member_id) for e in first
    }
    if store.engine.dialect.name == "postgresql":
        stage_reads = [
            s for s in statements if "FROM source_memberships" in s and members_tmp.name in s
        ]
        assert len(stage_reads) == 1
        assert f"FROM {stream.STREAM_POSTGRESQL.name}" in stage_reads[0]
        assert "FULL OUTER JOIN" in stage_reads[0]
        deletes = [s for s in statements if s.startswith("DELETE FROM source_memberships")]
        assert len(deletes) == 1 and "ctid = ANY" in deletes[0]


def test_a_rolled_back_streamed_run_leaves_the_digests_as_they_were(store: Store) -> None:
    _stage(store, "hr", [Membership("g0", "u0"), Membership("g1", "u1")], 1)
    before = _digests(store, "hr")
    held = EdgeStream(store.engine)
    try:
        held.edges([Membership("g0", "u0"), Membership("g2", "u1")])
        streamed = held.streamed()
        with pytest.raises(RuntimeError), held.transaction() as conn:
            store.write_stage(conn, "hr", Snapshot([], []), 2, streamed)
            raise RuntimeError("a guard refused")
    finally:
        held.close()
    assert _digests(store, "hr") == before
    assert set(stage_of(store, "hr")["source_memberships"]) == {
        ("g0", "user", "u0"),
        ("g1", "user", "u1"),
    }


def test_a_streamed_reads_record_digests_are_made_while_its_edges_are_staged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the staged records' digests are made in a thread of their own, and the
    edges' statements (the full join) run meanwhile, before the records' are compared.

    SQLite (and a first load, nothing staged to compare with) stage as before: records first,
    their digests made by the staging thread. Same stage, same change either way.
    """
    users = [SourceUser(f"u{i}", f"u{i}") for i in range(6)]
    groups = [SourceGroup(f"g{i}", f"g{i}") for i in range(3)]
    first = [Membership(f"g{i % 3}", f"u{i}") for i in range(6)]
    made: list[str] = []
    record_digest = stage._record_digest

    def spy(record: SourceUser | SourceGroup) -> str:
        made.append(threading.current_thread().name)
        return record_digest(record)

    monkeypatch.setattr(stage, "_record_digest", spy)
    _streamed_write(store, "hr", Snapshot(users, groups, first), 1, [2, 5])
    assert not any(name.startswith(ahead.THREAD) for name in made)  # a first load: as before
    made.clear()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    renamed = [SourceUser("u0", "zero"), *users[1:]]
    after = [e for e in first if e.member_id != "u1"] + [Membership("g2", "u1")]
    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        change = _streamed_write(store, "hr", Snapshot(renamed, groups, after), 2, [2, 5])
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert change is not None
    assert (change.users, change.groups) == ({"u0"}, set())
    assert (change.added, change.removed) == ([Membership("g2", "u1")], [Membership("g1", "u1")])
    staged = stage_of(store, "hr")
    assert set(staged["source_memberships"]) == {
        (e.group_id, e.member_kind.value, e.member_id) for e in after
    }
    assert len(made) == len(users) + len(groups)
    compared = next(i for i, s in enumerate(statements) if s.startswith("DELETE FROM source_users"))
    joined = [i for i, s in enumerate(statements) if "FULL OUTER JOIN" in s]
    if store.engine.dialect.name == "postgresql":
        assert all(name.startswith(ahead.THREAD) for name in made)
        assert joined and joined[0] < compared
    else:
        assert all(name == threading.current_thread().name for name in made)
        assert not joined


def test_a_streamed_reads_record_digests_begin_once_its_edge_sums_are_compared(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the records' digests thread begins only when the server's work does (the
    full join), after this thread has compared the read's edge sums with the staged digests
    (before, the two ran side by side and took turns holding the GIL). Its digests are the
    ones staging uses, and a read whose members' edges are all as staged (no full join) still
    gets its digests (made when the records are compared). SQLite: as before, none in a thread.
    """
    users = [SourceUser(f"u{i}", f"u{i}") for i in range(6)]
    groups = [SourceGroup(f"g{i}", f"g{i}") for i in range(3)]
    first = [Membership(f"g{i % 3}", f"u{i}") for i in range(6)]
    _streamed_write(store, "hr", Snapshot(users, groups, first), 1, [2, 5])
    compared: list[bool] = []  # each digest: were the sums compared when it was made
    made: list[tuple[str, bool]] = []
    record_digest, sums_moves = stage._record_digest, StreamSums.moves

    def spy(record: SourceUser | SourceGroup) -> str:
        made.append((threading.current_thread().name, bool(compared)))
        return record_digest(record)

    def moves(self: StreamSums, conn: Any, connector: str) -> dict[str, int] | None:
        found = sums_moves(self, conn, connector)
        compared.append(True)
        return found

    monkeypatch.setattr(stage, "_record_digest", spy)
    monkeypatch.setattr(StreamSums, "moves", moves)
    renamed = [SourceUser("u0", "zero"), *users[1:]]
    after = [e for e in first if e.member_id != "u1"] + [Membership("g2", "u1")]
    change = _streamed_write(store, "hr", Snapshot(renamed, groups, after), 2, [2, 5])
    assert change is not None and (change.users, change.added) == ({"u0"}, [after[-1]])
    assert stage_of(store, "hr")["source_users"]["u0"][1] == 2
    assert len(made) == len(users) + len(groups)
    postgresql = store.engine.dialect.name == "postgresql"
    assert all(name.startswith(ahead.THREAD) == postgresql for name, _ in made)
    if postgresql:  # none made before the sums were compared (SQLite: records staged first)
        assert all(was for _, was in made)
    made.clear()
    compared.clear()
    renamed = [SourceUser("u0", "nought"), *users[1:]]  # the edges as staged: no full join
    change = _streamed_write(store, "hr", Snapshot(renamed, groups, after), 3, [2, 5])
    assert change is not None and (change.users, change.added, change.removed) == ({"u0"}, [], [])
    assert stage_of(store, "hr")["source_users"]["u0"][1] == 3
    assert len(made) == len(users) + len(groups)
    assert all(name.startswith(ahead.THREAD) == postgresql for name, _ in made)
