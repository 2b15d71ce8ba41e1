"""A first load's bulk inserts with their foreign keys checked once per statement, not per row.

PostgreSQL checks a foreign key with a trigger per inserted row: one lookup of the referenced
row (``FOR KEY SHARE``) through the executor for each. A first load at L writes about a million
rows into each of ``source_memberships`` (one key: its connector), ``memberships`` (two: its
connector and its group) and ``changes`` (one: its run), and those four million lookups were
about half of the server's work for the three statements (``EXPLAIN ANALYZE``: 37 s of the
three inserts' 83 s under load, docs/benchmarks.md).

:func:`checked_set_wise` runs such an ``INSERT … SELECT`` with the per-row triggers off
(``SET LOCAL session_replication_role = replica``, for that statement only) and then does what
they would have done, set-wise, in the same transaction, for every foreign key of the table:

1. locks the referenced rows the new rows name (``SELECT … FOR KEY SHARE``, as each trigger
   does), so none of them can be deleted, or its key changed, until the run commits;
2. counts the new rows whose key (all its columns set: ``MATCH SIMPLE``) has no referenced row,
   in a statement that starts after the lock (``READ COMMITTED``: it sees every delete committed
   before the lock); one is enough to fail the run, whose transaction then rolls back whole
   (:class:`MissingReference`), as a failed trigger would have.

A foreign key whose columns the insert fills with one value in every row (the connector of
the stage's and of ``memberships``' rows, the run of the change log's) is checked on that value:
one ``FOR KEY SHARE`` lookup of the row it names, and, only if there is none, whether any new
row exists (then :class:`MissingReference`). At L that replaces a ``DISTINCT`` over a million
rows and an anti-join for each of those three keys (≈1 s of the server's CPU in all).

The rows written are the same. The path is taken only where it changes nothing else:

- the role may set ``session_replication_role`` (a superuser, or on PostgreSQL 15 and later
  a role granted ``SET ON PARAMETER session_replication_role``); otherwise the triggers check
  each row, as before;
- the session's setting is ``origin`` (the default) before;
- the table has no trigger of its own (only the constraints' internal ones) and no rewrite
  rule: ``replica`` would silence those too;
- the table's foreign keys in the database are the ones the schema declares (the set-wise check
  reads them from :mod:`idpsync.store.schema`).

:func:`held_by_value` does the same for ``COPY``s (:func:`idpsync.store.store.bulk_insert`) whose
rows fill every foreign key of the table with one value (``same``: a connector, a run), from
their second batch on (at least 10,000 rows: ``source_users``, ``users``, the edge digests, the
change log's rows of a first load): the one row each key names is locked (``FOR KEY SHARE``)
*before* the rows are written, and only if every one is there are the per-row triggers turned
off; if one is missing the triggers stay on and fail the ``COPY`` as they always did. At L that
is ≈3 µs of the server's CPU a row, ≈0.3 s per 100,000 rows.

SQLite checks foreign keys row by row (``PRAGMA foreign_keys=ON``, :mod:`idpsync.store.opening`)
and cannot switch them off inside a transaction: there nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MIN_ROWS = 20_000
"""Fewer rows than this keep the per-row checks (the set-wise ones cost a few scans)."""


class MissingReference(RuntimeError):
    """A row of a set-wise checked insert names a referenced row that does not exist."""


@contextmanager
def checked_set_wise(
    conn: Connection,
    table: sa.Table,
    new_rows: Any,
    adding: int,
    same: Mapping[str, Any] | None = None,
) -> Iterator[bool]:
    """Around one bulk insert of about ``adding`` rows into ``table``: whether set-wise checks.

    ``new_rows``: a condition on ``table``'s columns true for the rows the insert writes (and
    for no others it need not check); ``same``: columns the insert writes one value into, in
    every row (its connector, its run), which are part of the condition. A foreign key made of
    such columns is checked on that value alone (one lookup, one lock), not over the rows. On
    a normal exit the per-row triggers are on again and the new rows' foreign keys have been
    locked and checked (:class:`MissingReference`); on an exception the caller's transaction
    must be rolled back (which ends the setting too).
    """
    if adding < MIN_ROWS or not _eligible(conn, table):
        yield False
        return
    yield True
    conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
    values = dict(same or {})
    new_rows = sa.and_(new_rows, *(table.c[name] == value for name, value in values.items()))
    for fk in sorted(table.foreign_key_constraints, key=lambda fk: str(fk.name)):
        if all(column.name in values for column in fk.columns):
            _lock_and_check_value(conn, table, fk, new_rows, values)
        else:
            _lock_and_check(conn, table, fk, new_rows)


@contextmanager
def held_by_value(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> Iterator[bool]:
    """Around writes of rows into ``table`` that all hold ``values``: whether triggers are off.

    When every foreign key of ``table`` is made of columns of ``values`` (none of them NULL),
    the table qualifies (:func:`_eligible`) and every row those keys name exists: those rows
    are locked ``FOR KEY SHARE`` (as each row's trigger would) and the writes run with the
    per-row triggers off (``session_replication_role = replica``), put back on after them.
    Otherwise nothing changes and the triggers check each row (a missing row fails the write,
    as always). On an exception the caller's transaction must be rolled back (which ends the
    setting too).
    """
    keys = list(table.foreign_key_constraints)
    covered = bool(keys) and all(
        column.name in values and values[column.name] is not None
        for fk in keys
        for column in fk.columns
    )
    if not covered or not _eligible(conn, table):
        yield False
        return
    held = all(_locked(conn, fk, values) for fk in sorted(keys, key=lambda fk: str(fk.name)))
    if not held:  # a key names no row: the triggers fail the write as they always did
        conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
        yield False
        return
    yield True
    conn.exec_driver_sql("SET LOCAL session_replication_role = origin")


def _locked(conn: Connection, fk: sa.ForeignKeyConstraint, values: Mapping[str, Any]) -> bool:
    """Lock the one row ``fk`` names with ``values`` (``FOR KEY SHARE``); whether it exists."""
    referred = fk.referred_table.alias("referred")
    lock = (
        sa.select(sa.literal(1))
        .select_from(referred)
        .where(
            *(
                referred.c[element.column.name] == values[element.parent.name]
                for element in fk.elements
            )
        )
        .with_for_update(read=True, key_share=True, of=referred)
    )
    return conn.execute(lock).first() is not None


def _eligible(conn: Connection, table: sa.Table) -> bool:
    """PostgreSQL, nothing but the declared keys' triggers, and the setting ours to change.

    When it returns true the setting is ``replica`` (until :func:`checked_set_wise` resets it).
    """
    if conn.dialect.name != "postgresql" or not table.foreign_key_constraints:
        return False
    name = conn.dialect.identifier_preparer.format_table(table)
    own_triggers, rules, keys, setting = conn.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass)"
            " AND NOT tgisinternal),"
            " (SELECT count(*) FROM pg_rewrite WHERE ev_class = CAST(:t AS regclass)),"
            " (SELECT count(*) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
            " AND contype = 'f'),"
            " current_setting('session_replication_role')"
        ),
        {"t": name},
    ).one()
    if own_triggers or rules or setting != "origin":
        return False
    if keys != len(table.foreign_key_constraints):
        return False
    try:
        with conn.begin_nested():  # a released savepoint keeps the setting: until reset
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    except sa.exc.DBAPIError:  # not this role's to set: the triggers check every row
        return False
    return True


def _lock_and_check_value(
    conn: Connection,
    table: sa.Table,
    fk: sa.ForeignKeyConstraint,
    new_rows: Any,
    values: Mapping[str, Any],
) -> None:
    """Lock the one row ``fk`` references from every new row; fail if it is missing.

    At L this replaces a ``DISTINCT`` over a million rows and an anti-join with one lookup.
    """
    key = [values[column.name] for column in fk.columns]
    if any(value is None for value in key):  # MATCH SIMPLE: a NULL references nothing
        return
    referred = fk.referred_table.alias("referred")
    targets = [referred.c[element.column.name] for element in fk.elements]
    lock = (
        sa.select(sa.literal(1))
        .select_from(referred)
        .where(*(target == value for target, value in zip(targets, key, strict=True)))
        .with_for_update(read=True, key_share=True, of=referred)
    )
    if conn.execute(lock).first() is not None:
        return
    if conn.execute(sa.select(sa.literal(1)).where(new_rows).limit(1)).first() is not None:
        raise MissingReference(
            f"a new {table.name} row names a {fk.referred_table.name} row that does not exist"
            f" ({fk.name}); nothing was changed"
        )


def _lock_and_check(
    conn: Connection, table: sa.Table, fk: sa.ForeignKeyConstraint, new_rows: Any
) -> None:
    """Lock the rows ``fk`` references from the new rows, then fail if any is missing."""
    columns = list(fk.columns)
    referred = fk.referred_table.alias("referred")
    targets = [referred.c[element.column.name] for element in fk.elements]
    named = sa.and_(*(column.is_not(None) for column in columns))  # MATCH SIMPLE
    keys = sa.select(*columns).where(new_rows, named).distinct()
    target = targets[0] if len(targets) == 1 else sa.tuple_(*targets)
    lock = (
        sa.select(sa.literal(1))
        .select_from(referred)
        .where(target.in_(keys))
        .with_for_update(read=True, key_share=True, of=referred)
    )
    conn.execute(lock).all()
    found = sa.and_(*(t == c for t, c in zip(targets, columns, strict=True)))
    missing = sa.select(sa.literal(1)).where(new_rows, named, ~sa.exists().where(found)).limit(1)
    if conn.execute(missing).first() is not None:
        raise MissingReference(
            f"a new {table.name} row names a {fk.referred_table.name} row that does not exist"
            f" ({fk.name}); nothing was changed"
        )
