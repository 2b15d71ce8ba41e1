"""Planner statistics: staging analyses the run's tables on PostgreSQL, never waiting on a lock."""

from __future__ import annotations

import sqlalchemy as sa

from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store, deferred, stats
from idpsync.store import schema as t


def _snap(users: int) -> Snapshot:
    return Snapshot(
        [SourceUser(f"u{i}", f"user{i}") for i in range(users)],
        [SourceGroup("g1", "One")],
        [Membership("g1", f"u{i}") for i in range(users)],
    )


def _estimated_rows(conn: sa.Connection, table: sa.Table) -> float:
    query = sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)")
    return float(conn.execute(query, {"name": table.name}).scalar_one())


def test_staging_gives_the_planner_the_run_s_own_new_rows(store: Store) -> None:
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", _snap(500), 1)
        if conn.dialect.name == "postgresql":  # estimates as the run's own queries see them
            assert _estimated_rows(conn, t.source_memberships) == 500
            assert _estimated_rows(conn, t.source_users) == 500
        staged = store.load_stage(conn, "hr")
    assert len(staged.memberships) == 500


def test_refresh_skips_a_table_another_transaction_holds(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        with store.transaction() as conn:
            stats.refresh(conn)  # nothing to do, and nothing done
            assert stats.refresh_stale(conn) == []
        return
    with store.engine.connect() as holder, store.engine.connect() as other, holder.begin():
        stats.refresh(holder, [t.users])  # holds the table's lock until it ends
        with other.begin():
            other.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            stats.refresh(other)  # would raise on the timeout if it waited for ``holder``


def _staged_twice(store: Store, first: int, second: int) -> list[float]:
    """Stage ``first`` users and edges, commit, then ``second`` (each run analysing as it
    decides); the staged edges' row estimates after each run."""
    estimates = []
    for run_id, users in ((1, first), (2, second)):
        with store.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            store.write_stage(conn, "hr", _snap(users), run_id)
            estimates.append(_estimated_rows(conn, t.source_memberships))
    return estimates


def test_a_small_change_keeps_the_last_statistics(fresh_pg_url: str) -> None:
    store = Store.open(fresh_pg_url)
    try:  # 10 of 500 edges gone: within a tenth, the tables are not sampled again
        assert _staged_twice(store, 500, 490) == [500, 500]
    finally:
        store.close()


def test_a_large_change_is_analysed(fresh_pg_url: str) -> None:
    store = Store.open(fresh_pg_url)
    try:
        assert _staged_twice(store, 500, 300) == [500, 300]
    finally:
        store.close()


def test_rows_committed_without_analysis_make_a_table_stale(fresh_pg_url: str) -> None:
    store = Store.open(fresh_pg_url)
    try:
        with store.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            store.write_stage(conn, "hr", _snap(500), 1)
            assert stats.refresh_stale(conn) == []  # analysed by the staging just now
        with store.engine.connect() as conn, conn.begin():  # another writer, no ANALYZE
            edges = t.source_memberships
            conn.execute(edges.delete().where(edges.c.member_id > "u3"))
            conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        with store.transaction() as conn:
            assert stats.refresh_stale(conn) == ["source_memberships"]
            assert _estimated_rows(conn, t.source_memberships) < 500
    finally:
        store.close()


def test_a_first_load_whose_indexes_counted_its_rows_is_analysed(fresh_pg_url: str) -> None:
    store = Store.open(fresh_pg_url)
    try:  # enough edges for the stage's index by member to be built after them
        with store.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            store.write_stage(conn, "hr", _snap(deferred.MIN_ROWS), 1)
            columns = sa.text("SELECT count(*) FROM pg_stats WHERE tablename = :name")
            for table in (t.source_memberships, t.source_users):
                assert conn.execute(columns, {"name": table.name}).scalar_one() > 0
    finally:
        store.close()
