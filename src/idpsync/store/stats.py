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
(which counts the transaction's own new rows). ``SKIP_LOCKED`` makes it skip a table whose lock
another run's transaction holds, so runs of different connectors never wait for each other here
(the other run's statistics are then committed with it). SQLite plans without such statistics
worth refreshing here; there :func:`refresh` does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

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
