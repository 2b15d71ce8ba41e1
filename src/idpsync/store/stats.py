"""Planner statistics for the tables a run has just filled (PostgreSQL).

A run writes the stage and then plans with set queries over the stage and the directory
(:mod:`idpsync.store.edge_diff`, :mod:`idpsync.store.stage`). PostgreSQL plans those queries
from the tables' statistics, which autovacuum gathers only some time after the rows were
committed (and never for rows still in the run's own transaction). A table filled by the
previous run or by this run's stage still counts as nearly empty, and the planner picks nested
loops that rescan a table once per row of another: the 1 % run of
``python -m benchmarks.engine --users 5000 --groups 250 --store postgresql`` spent 15–20 s in
one edge query (a scan of ``users`` for each of 12k memberships) that takes milliseconds with
statistics.

:func:`refresh` therefore runs ``ANALYZE`` on the run's tables inside the run's transaction
(which counts the transaction's own new rows); after staging, only on those whose statistics
are stale (:func:`refresh_stale`, autovacuum's rule: rows changed by more than a tenth of those
last counted), so a full read that changed 1 % of a large stage does not sample six tables of a
million rows again. ``SKIP_LOCKED`` makes it skip a table whose lock
another run's transaction holds, so runs of different connectors never wait for each other here
(the other run's statistics are then committed with it). SQLite plans without such statistics
worth refreshing here; there :func:`refresh` does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.store import schema as t

RUN_TABLES = (
    t.source_users,
    t.source_groups,
    t.source_memberships,
    t.users,
    t.groups,
    t.memberships,
)
"""The tables a run stages into and plans against."""


def refresh(conn: Connection, tables: Iterable[sa.Table] = RUN_TABLES) -> None:
    """``ANALYZE`` ``tables`` in ``conn``'s transaction (PostgreSQL only; skips locked ones)."""
    if conn.dialect.name != "postgresql":
        return
    names = ", ".join(conn.dialect.identifier_preparer.format_table(table) for table in tables)
    conn.execute(sa.text(f"ANALYZE (SKIP_LOCKED) {names}"))


STALE_SHARE = 0.1
"""A table's statistics are stale once its row count moved by more than this share of the
rows they counted (plus :data:`STALE_ROWS`): autovacuum's own default rule for an ``ANALYZE``."""
STALE_ROWS = 50


def refresh_stale(conn: Connection, tables: Iterable[sa.Table] = RUN_TABLES) -> list[str]:
    """:func:`refresh` those of ``tables`` whose statistics are stale; returns their names.

    A table is stale when it was never analysed (no row count, or rows but no column
    statistics: building an index counts the rows, as a first load's deferred indexes do,
    but gathers no statistics), or when its rows now (the server's count of committed live
    rows, plus this transaction's inserts less its deletes) differ from those last counted
    by more than :data:`STALE_SHARE` of those plus :data:`STALE_ROWS`.
    A run that changes a few rows of a large stage (a full read with 1 % changed) then plans
    with the statistics of the last analysis instead of sampling six tables again (≈0.8 s of
    the server's CPU at L); a first load, a large change, or rows another transaction
    committed without analysing them still analyse. The server counts a transaction's rows
    once its backend reports them (at once after a long transaction, else within seconds):
    this asks for the report right after this transaction ends, so the next run's check sees
    it. PostgreSQL only (SQLite: nothing, as :func:`refresh`).
    """
    if conn.dialect.name != "postgresql":
        return []
    by_name = {conn.dialect.identifier_preparer.format_table(table): table for table in tables}
    query = sa.text(
        "SELECT n.name, c.reltuples,"
        " COALESCE(s.n_live_tup, 0) + COALESCE(x.n_tup_ins, 0) - COALESCE(x.n_tup_del, 0),"
        " EXISTS (SELECT FROM pg_stats p WHERE p.schemaname = s.schemaname"
        " AND p.tablename = c.relname)"
        " FROM unnest(CAST(:names AS text[])) AS n(name)"
        " JOIN pg_class c ON c.oid = to_regclass(n.name)"
        " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
        " LEFT JOIN pg_stat_xact_user_tables x ON x.relid = c.oid"
    )
    stale = [
        by_name[name]
        for name, counted, rows, analysed in conn.execute(query, {"names": list(by_name)})
        if counted < 0
        or (rows > STALE_ROWS and not analysed)  # rows counted by an index build, say
        or abs(rows - counted) > STALE_SHARE * counted + STALE_ROWS
    ]
    if stale:
        refresh(conn, stale)
    flush = "to_regprocedure('pg_stat_force_next_flush()')"  # PostgreSQL 15 and later
    if conn.execute(sa.text(f"SELECT has_function_privilege({flush}, 'EXECUTE')")).scalar():
        conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
    return [table.name for table in stale]


BULK_MEMORY = "256MB"
"""PostgreSQL: ``work_mem`` and ``maintenance_work_mem`` for a first load's big statements.

At L the stash's sort of a million edges, the memberships' and the change log's sorts and the
stage's index builds each spill to disk with the defaults (4 MB, 64 MB): 45–290 MB of
temporary files a statement. Raised for those statements only (``SET LOCAL``, restored after),
never lowered; each sort, hash or index build may then use up to this much of the server's
memory (a hash twice as much, ``hash_mem_multiplier``), only while the statement runs.
"""


@contextmanager
def bulk_memory(conn: Connection) -> Iterator[None]:
    """Around big statements in ``conn``'s transaction: at least :data:`BULK_MEMORY` to work in.

    PostgreSQL only. On an exception the caller's transaction (or savepoint) must be rolled
    back, which undoes the setting too.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    raise_to = (
        "SELECT set_config(:name, CASE WHEN pg_size_bytes(current_setting(:name))"
        " < pg_size_bytes(:size) THEN :size ELSE current_setting(:name) END, true)"
    )
    current = sa.text("SELECT current_setting(:name)")
    before = {name: conn.execute(current, {"name": name}).scalar_one() for name in _MEMORY}
    for name in _MEMORY:
        conn.execute(sa.text(raise_to), {"name": name, "size": BULK_MEMORY})
    yield
    for name, value in before.items():
        conn.execute(
            sa.text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
        )


_MEMORY = ("work_mem", "maintenance_work_mem")
