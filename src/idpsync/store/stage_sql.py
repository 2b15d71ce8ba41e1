"""The SQL pieces of staging (:mod:`idpsync.store.stage`), apart so that it stays readable.

Temporary tables, and the staged edges written, listed and deleted by set operations.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import EdgeList, MemberKind, Membership
from idpsync.store import schema as t
from idpsync.store.deferred import unique_after
from idpsync.store.id_lists import ids_in
from idpsync.store.store import BATCH, bulk_insert

KIND_VALUES = {kind: kind.value for kind in MemberKind}

# -- edges ------------------------------------------------------------------------------------

EDGES = t.source_memberships
EDGE_COLUMNS = ("group_id", "member_kind", "member_id")


def edge_table(name: str, **options: Any) -> sa.Table:
    """A temporary table of edges in the order they came (repeats allowed)."""
    columns = (sa.Column(column, sa.String(255), nullable=False) for column in EDGE_COLUMNS)
    return sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"], **options)


def keyed_edge_table(name: str) -> sa.Table:
    """A temporary table of edges, each once (``pos``: where it first came), in key order."""
    return sa.Table(
        name,
        sa.MetaData(),
        *(sa.Column(column, sa.String(255), primary_key=True) for column in EDGE_COLUMNS),
        sa.Column("pos", sa.Integer, nullable=False),
        prefixes=["TEMPORARY"],
        sqlite_with_rowid=False,
    )


edges_tmp = edge_table("idpsync_stage_edges", postgresql_on_commit="DROP")
"""The edges of one write, in the order given (duplicates allowed)."""
edges_keyed = keyed_edge_table("idpsync_stage_edges_keyed")
"""SQLite: the edges of one write, each once (``pos``: where it first came), kept in key order.

Its key is its only index, filled as the rows arrive: no index to build after them, and the
anti-joins walk it and the stage's key both in key order.
"""


def load_keyed(conn: Connection, edges: Iterable[Membership]) -> None:
    """Fill :data:`edges_keyed` (created) with ``edges``: a repeated edge keeps its first place."""
    names = ", ".join((*EDGE_COLUMNS, "pos"))
    statement = f"INSERT OR IGNORE INTO {edges_keyed.name} ({names}) VALUES (?, ?, ?, ?)"
    rows = map(tuple.__add__, edge_rows(edges), zip(itertools.count()))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        while chunk := list(itertools.islice(rows, BATCH)):
            cursor.executemany(statement, chunk)
    finally:
        cursor.close()


def edge_rows(
    edges: Iterable[Membership], leave_out: set[Membership] | None = None
) -> Iterator[tuple[str, str, str]]:
    """Rows of the edges table for ``edges`` (less ``leave_out``)."""
    if leave_out is None and isinstance(edges, EdgeList):  # no Membership made an edge
        yield from edges.rows()
        return
    for e in edges:
        if leave_out is None or e not in leave_out:
            yield e.group_id, KIND_VALUES[e.member_kind], e.member_id


def key(c: Any) -> list[Any]:
    """The edge key columns of ``c`` (a table's or an alias's columns)."""
    return [c[name] for name in EDGE_COLUMNS]


def edge_in(tmp: sa.Table) -> sa.Exists:
    """Whether the staged edge (correlated) is one of ``tmp``'s."""
    return sa.exists().where(*(a == b for a, b in zip(key(tmp.c), key(EDGES.c), strict=True)))


def index_edges(conn: Connection, tmp: sa.Table) -> None:
    """Make ``tmp`` quick to probe: an index on SQLite, fresh statistics on PostgreSQL."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE INDEX {tmp.name}key ON {tmp.name} ({', '.join(EDGE_COLUMNS)})"
        )
    analyse(conn, tmp)


def any_edges(conn: Connection, connector: str) -> bool:
    """Whether the connector's stage holds any edge."""
    query = sa.select(EDGES.c.run_id).where(EDGES.c.connector == connector).limit(1)
    return conn.execute(query).first() is not None


def insert_first_edges(
    conn: Connection,
    connector: str,
    run_id: int,
    edges: Iterable[Membership],
    *,
    empty: bool = False,
) -> None:
    """Stage ``edges`` for a connector that has none staged (a first load), in their order.

    SQLite inserts them straight into the stage (``INSERT OR IGNORE``: a repeated edge is
    staged once), without the temporary table, its index and the anti-join a replacement
    needs. PostgreSQL: when the stage is empty and this run's alone (``empty``), they are
    copied straight into it, its key built after them (:func:`~idpsync.store.deferred.
    unique_after`: at L ≈1.5 s of the server's CPU less than a temporary table's ``COPY`` and
    its ``INSERT … SELECT``); ``COPY`` cannot skip a repeated edge, so when the key's build
    finds one (nothing of the copy is kept), or the stage is not empty, the rows go through the
    temporary table (:func:`_insert_first`), which skips repeats.
    """
    if conn.dialect.name != "sqlite":
        if empty and not isinstance(edges, Iterator):  # read again if the copy is undone

            def write() -> None:
                bulk_insert(
                    conn,
                    EDGES,
                    EDGE_COLUMNS,
                    edge_rows(edges),
                    same={"connector": connector, "run_id": run_id},
                )

            if unique_after(conn, EDGES, "p", write):
                return
            empty = False  # a repeated edge: the temporary table's insert skips it
        with temp(conn, edges_tmp) as tmp:
            bulk_insert(conn, tmp, EDGE_COLUMNS, edge_rows(edges))
            _insert_first(conn, tmp, connector, run_id, empty)
        return
    names = ", ".join(("connector", *EDGE_COLUMNS, "run_id"))
    statement = f"INSERT OR IGNORE INTO {EDGES.name} ({names}) VALUES (?, ?, ?, ?, ?)"
    rows = ((connector, g, k, m, run_id) for g, k, m in edge_rows(edges))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        while chunk := list(itertools.islice(rows, BATCH)):
            cursor.executemany(statement, chunk)
    finally:
        cursor.close()


def insert_streamed_first(
    conn: Connection, tmp: sa.Table, connector: str, run_id: int, *, empty: bool = False
) -> None:
    """Stage a streamed table's edges for a connector that has none staged (a first load).

    SQLite: straight from the keyed table in its key order (the stage's key order too: its key
    index grows at its end), no comparison, no sort. PostgreSQL: as :func:`insert_first_edges`
    (:func:`_insert_first`, in the order the edges came).
    """
    if conn.dialect.name != "sqlite":
        _insert_first(conn, tmp, connector, run_id, empty)
        return
    names = ", ".join(("connector", *EDGE_COLUMNS, "run_id"))
    conn.exec_driver_sql(
        f"INSERT OR IGNORE INTO {EDGES.name} ({names})"
        f" SELECT ?, {', '.join(EDGE_COLUMNS)}, ? FROM {tmp.name}",
        (connector, run_id),
    )


def _dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's ``INSERT`` (it has ``ON CONFLICT``) for the connection's database.

    Imported here: the engine has imported its own dialect already, and a SQLite run need not
    import PostgreSQL's.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _insert_first(
    conn: Connection, tmp: sa.Table, connector: str, run_id: int, empty: bool
) -> None:
    """PostgreSQL: ``tmp``'s edges into a stage that holds none of the connector's.

    ``empty`` (the whole stage is empty and locked by this run, :mod:`idpsync.store.deferred`):
    inserted in their order with the stage's key built after them
    (:func:`~idpsync.store.deferred.unique_after`); otherwise, and when the key's build finds
    an edge repeated, as any write's (:func:`insert_new_edges`, which skips a repeat).
    """
    rows = sa.select(sa.literal(connector), *key(tmp.c), sa.literal(run_id))
    insert = EDGES.insert().from_select(["connector", *EDGE_COLUMNS, "run_id"], rows)

    def write() -> None:
        conn.execute(insert)

    if empty and unique_after(conn, EDGES, "p", write):
        return
    analyse(conn, tmp)
    insert_new_edges(conn, tmp, connector, run_id)


def insert_new_edges(
    conn: Connection,
    tmp: sa.Table,
    connector: str,
    run_id: int,
    report: int = -1,
    only: sa.Select[tuple[str]] | None = None,
) -> list[Membership] | None:
    """Insert ``tmp``'s edges not staged yet, with ``run_id``, in ``tmp``'s order (``pos``'s).

    ``only``: of the members it selects (their ids).

    ``report`` ≥ 0: returns the inserted edges (``RETURNING``), ``None`` when there are more
    than ``report`` (those past it are read and dropped). Otherwise returns ``None``.
    """
    c = EDGES.c
    staged = sa.exists().where(
        c.connector == connector, *(c[name] == tmp.c[name] for name in EDGE_COLUMNS)
    )
    rows = sa.select(sa.literal(connector), *key(tmp.c), sa.literal(run_id))
    if only is not None:  # first: SQLite tests the terms in order, and this one is cheap
        rows = rows.where(tmp.c.member_id.in_(only))
    rows = rows.where(~staged)
    if "pos" in tmp.c:  # found in key order, inserted in the order the edges came
        rows = rows.order_by(tmp.c.pos)
    return insert_edges(conn, rows, report)


def insert_edges(
    conn: Connection, rows: sa.Select[Any], report: int = -1
) -> list[Membership] | None:
    """Insert ``rows`` (connector, the key, run id) into the stage; a staged edge is skipped.

    ``report`` as for :func:`insert_new_edges`.
    """
    insert = _dialect_insert(conn, EDGES)
    columns = ["connector", *EDGE_COLUMNS, "run_id"]
    statement = insert.from_select(columns, rows).on_conflict_do_nothing()
    if report < 0:
        conn.execute(statement)
        return None
    found = returned(conn, statement.returning(*key(EDGES.c)), report)
    return None if found is None else [edge(*row) for row in found]


def returned(conn: Connection, statement: Any, bound: int) -> list[Any] | None:
    """The rows a write's ``RETURNING`` gives, or ``None`` when there are more than ``bound``.

    Those past the bound are read and dropped: the write is done either way.
    """
    found: list[Any] = []
    over = False
    for row in conn.execute(statement):
        if len(found) < bound:
            found.append(row)
        else:
            over = True
    return None if over else found


def edge(group_id: str, kind: str, member_id: str) -> Membership:
    """An edge from a key row."""
    return Membership(group_id, member_id, MemberKind(kind))


def listed(conn: Connection, query: sa.Select[Any], bound: int) -> list[Any] | None:
    """The rows of ``query``, or ``None`` when there are more than ``bound``."""
    rows = list(conn.execute(query.limit(bound + 1)))
    return rows if len(rows) <= bound else None


def delete_edges(conn: Connection, connector: str, edges: Iterable[Membership]) -> None:
    """Delete staged edges by their key, in batches (SQLite: the driver's own statement)."""
    if conn.dialect.name == "sqlite":  # no per-row binding work
        where = " AND ".join(f"{name} = ?" for name in ("connector", *EDGE_COLUMNS))
        rows = ((connector, e.group_id, KIND_VALUES[e.member_kind], e.member_id) for e in edges)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f"DELETE FROM {EDGES.name} WHERE {where}", rows)
        finally:
            cursor.close()
        return
    key = EDGES.c
    for chunk in chunks(list(edges), 10_000):
        conn.execute(
            EDGES.delete().where(
                key.connector == connector,
                key.group_id == sa.bindparam("g"),
                key.member_kind == sa.bindparam("k"),
                key.member_id == sa.bindparam("m"),
            ),
            [{"g": e.group_id, "k": KIND_VALUES[e.member_kind], "m": e.member_id} for e in chunk],
        )


IDS_PER_DELETE = 500
"""Ids per ``IN`` list when deleting the edges of groups or members that are not staged."""


def drop_dangling_edges(conn: Connection, connector: str) -> None:
    """Delete the staged edges whose group, member user or member group is not staged.

    Without a probe of the users' and groups' tables for each of a million edges: the edges'
    distinct group ids and distinct member ids are read off the stage's key and its index by
    member (in order, each id once), and the edges of the few not staged (as a group; as a user,
    for user members) are deleted by those indexes. Group members are compared row by row, but
    only on the rows of group members. Deleted: exactly the edges whose group is not staged, or
    whose member is not staged as what it is.
    """
    c, groups, users = EDGES.c, t.source_groups.c, t.source_users.c

    def unstaged(table: Any, column: Any) -> Any:
        """Whether ``column``'s id is not staged in ``table``.

        PostgreSQL: an anti-join (``NOT IN`` is a subplan hashed only within ``work_mem``;
        past it each id scans the whole list: over 8 minutes at 200k users). SQLite: ``NOT
        IN`` (an index built on the list once; ``NOT EXISTS`` is a probe per row there).
        """
        if conn.dialect.name == "postgresql":
            return ~sa.exists().where(table.connector == connector, table.source_id == column)
        return column.not_in(sa.select(table.source_id).where(table.connector == connector))

    of_groups = sa.select(c.group_id).where(c.connector == connector).distinct().subquery()
    of_members = sa.select(c.member_id).where(c.connector == connector).distinct().subquery()
    gone_groups = sa.select(of_groups.c.group_id).where(unstaged(groups, of_groups.c.group_id))
    not_users = sa.select(of_members.c.member_id).where(unstaged(users, of_members.c.member_id))
    mine = c.connector == connector
    for column, ids, kind in (
        (c.group_id, gone_groups, None),
        (c.member_id, not_users, MemberKind.USER.value),
    ):
        found = [str(row[0]) for row in conn.execute(ids)]
        for chunk in chunks(found, IDS_PER_DELETE):
            of_kind = [] if kind is None else [c.member_kind == kind]
            conn.execute(EDGES.delete().where(mine, *of_kind, column.in_(chunk)))
    group_member = c.member_kind == MemberKind.GROUP.value
    conn.execute(EDGES.delete().where(mine, group_member, unstaged(groups, c.member_id)))


# -- temporary tables -------------------------------------------------------------------------


@contextmanager
def temp(conn: Connection, table: sa.Table) -> Iterator[sa.Table]:
    """``table`` created empty in ``conn``'s transaction and dropped after (or by a rollback)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
    table.create(conn)
    yield table
    conn.exec_driver_sql(f"DROP TABLE {table.name}")


@contextmanager
def filled(table: sa.Table) -> Iterator[sa.Table]:
    """``table`` as it is (already filled; its owner drops it)."""
    yield table


def analyse(conn: Connection, table: sa.Table) -> None:
    """Fresh planner statistics for a just-filled temporary table (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def delete_ids(
    conn: Connection, table: sa.Table, connector: str, column: sa.Column[Any], ids: list[str]
) -> None:
    """Delete the connector's rows of ``table`` whose ``column`` is one of ``ids``.

    PostgreSQL: one statement (:func:`~idpsync.store.id_lists.ids_in`), so the table is probed
    or scanned once, whatever its statistics say; SQLite: ``IN`` lists of 500.
    """
    for named in ids_in(conn, column, ids):
        conn.execute(table.delete().where(table.c.connector == connector, named))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
