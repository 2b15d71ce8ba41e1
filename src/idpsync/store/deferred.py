"""Big inserts into small tables: secondary indexes built after the rows, not row by row.

A connector's first load writes about a million ``memberships`` rows and as many ``changes``
rows (and, staging, as many ``source_memberships`` rows), and 100,000 ``users`` at L. Kept up
row by row, the ``memberships (member_kind, member_id)`` index costs about as much as the
insert itself (its keys arrive in no order), as do the four name keys of ``users``; built once
from the finished table an index costs a sort.
:func:`indexes_deferred` drops a table's non-unique indexes inside the run's transaction, lets
the insert run, and creates them again, when that is cheaper:

- at least :data:`MIN_ROWS` rows are added, and
- the table holds no more rows than are added (its highest id bounds its row count; read in
  one index step; a table without a serial id, the stage's edges, must be empty), so a rebuild
  reads at most twice what was added. A table that already holds other connectors' rows, or
  years of change log, keeps its indexes.

Unique indexes and foreign keys stay: the rows are checked exactly as before. On PostgreSQL a
table whose indexes were deferred may have its unique keys built after the rows as well
(:func:`unique_after`: the stage's edges, a first load's ``memberships`` and change log): the
build checks every row once, and a repeated key fails it, in which case nothing was written and
the caller writes the rows with the keys kept up. The rows written
are the same; only how the index is built differs. DDL is transactional on SQLite and on
PostgreSQL: if the run fails after the drop, its rollback brings the indexes back with
everything else (which is why nothing here catches an error: the caller's transaction must be
rolled back on any exception, as the runner's is).

Locking: SQLite's writer already excludes other writers, and readers (WAL) keep reading the
committed tables. On PostgreSQL dropping an index takes an ``ACCESS EXCLUSIVE`` lock on the
table until the run commits: other sessions, readers included, wait for it. The lock is asked
for with ``NOWAIT`` in a savepoint; when any other session holds a lock on the table (a reader,
another connector's run), the indexes are simply kept and nothing waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.store import stats

MIN_ROWS = 20_000
"""Fewer added rows than this keep the indexes (the rebuild's fixed cost is not worth it)."""


@contextmanager
def indexes_deferred(conn: Connection, table: sa.Table, adding: int) -> Iterator[bool]:
    """Around an insert of ``adding`` rows into ``table``: whether its indexes were deferred.

    In ``conn``'s transaction. On a normal exit the dropped indexes are created again; on an
    exception they are left to the transaction's rollback.
    """
    indexes = sorted((i for i in table.indexes if not i.unique), key=lambda i: str(i.name))
    if not indexes or not _worth_it(conn, table, adding) or not _exclusive(conn, table):
        yield False
        return
    for index in indexes:
        index.drop(conn)
    yield True
    with stats.bulk_memory(conn):  # a sort in memory, not in temporary files
        for index in indexes:
            index.create(conn)


def _worth_it(conn: Connection, table: sa.Table, adding: int) -> bool:
    """At least :data:`MIN_ROWS` rows added to a table that holds no more than that.

    A table keyed by a serial id is bounded by its highest id; one with a composite key (the
    stage's edges) only counts as small when it is empty.
    """
    if adding < MIN_ROWS:
        return False
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, sa.Integer):
        return conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None
    highest = conn.execute(sa.select(sa.func.max(keys[0]))).scalar_one()
    return highest is None or int(highest) <= adding


def _exclusive(conn: Connection, table: sa.Table) -> bool:
    """Whether the table is ours alone until commit (PostgreSQL: taken now or never)."""
    if conn.dialect.name != "postgresql":
        return True
    name = conn.dialect.identifier_preparer.format_table(table)
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE NOWAIT")
    except sa.exc.OperationalError:  # another session holds a lock on it: keep the indexes
        return False
    return True


def unique_after(conn: Connection, table: sa.Table, kinds: str, write: Callable[[], None]) -> bool:
    """PostgreSQL: ``write`` with ``table``'s unique keys dropped, then the keys added again.

    ``kinds``: which keys, ``"p"`` its primary key, ``"u"`` its unique constraints (``"pu"``:
    both); each added again as it was defined. Only for a table :func:`indexes_deferred`
    deferred (empty, and locked by this run until it commits). Kept up row by row, a key over
    a million rows costs a descent of the tree and a WAL record each (strings: ≈4× building it
    from the sorted rows at L; ``memberships``' two keys over integers: ≈2×, ≈90 MB of WAL
    more). ``False``, with nothing changed (its savepoint rolled back): another dialect, no
    such key, or a key came twice.
    """
    if conn.dialect.name != "postgresql":
        return False
    name = conn.dialect.identifier_preparer.format_table(table)
    keys = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            ' WHERE conrelid = CAST(:t AS regclass) AND contype = ANY(CAST(:k AS "char"[]))'
            " ORDER BY contype, conname"
        ),
        {"t": name, "k": list(kinds)},
    ).all()
    if not keys:
        return False
    quote = conn.dialect.identifier_preparer.quote
    try:
        with conn.begin_nested():
            for key, _definition in keys:
                conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {quote(key)}")
            write()
            with stats.bulk_memory(conn):
                for key, definition in keys:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {name} ADD CONSTRAINT {quote(key)} {definition}"
                    )
    except sa.exc.IntegrityError:  # a key came twice: the caller writes with the keys kept up
        return False
    return True
