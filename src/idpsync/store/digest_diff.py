"""A complete read's changed members' edges staged (:mod:`idpsync.store.edge_digests`).

The members whose digest differs are diffed without loading their edges into the database:

- A member whose digest moved by exactly what one edge adds (or takes away) has one edge
  more (or fewer) in the read than in the reading staged: which one is known from the value
  (:meth:`~idpsync.store.edge_digests.MemberDigests.single_edges`), and whether it is new to
  the stage (or gone from it) from the read's own edges of the member (an edge still read, or
  read twice, is no change). Most changed members of a small change are such.
- The others (and the staged members the read no longer names) have their staged edges read
  by the stage's index by member and compared with the read's in Python.

The gone edges are deleted and the new ones inserted in the order they came; the
:class:`~idpsync.store.stage.StageChange` gets them, bounded, as a comparison of every edge
in the database reports them (the removed ones in key order: Python's order of the ids, which
is SQLite's; on PostgreSQL the database's collation ordered them before, and nothing depends
on that order), and the members' digests are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Column, String
from sqlalchemy.engine import Connection

from idpsync.store.edge_digests import Changed, MemberDigests, source_edge_digests
from idpsync.store.stage_sql import (
    EDGE_COLUMNS,
    EDGES,
    analyse,
    delete_edges,
    delete_ids,
    edge,
    key,
)
from idpsync.store.stage_sql import temp as temp_table
from idpsync.store.store import bulk_insert, raw_rows

if TYPE_CHECKING:
    from idpsync.store.stage import StageChange

KINDS = ("user", "group")
"""The kinds' values by :class:`~idpsync.model.EdgeList`'s codes."""

members_tmp = sa.Table(
    "idpsync_stage_members",
    sa.MetaData(),
    Column("member_id", String(255), primary_key=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
    sqlite_with_rowid=False,
)
"""The ids of the members whose staged edges a write reads."""

Row = tuple[str, str, str]
"""An edge as a key row: group id, kind, member id."""


def stage_changed(
    conn: Connection,
    connector: str,
    digests: MemberDigests,
    changed: Changed,
    run_id: int,
    change: StageChange,
    bound: int,
) -> None:
    """Stage the read's edges of the ``changed`` members (the others' are as staged)."""
    ids, _, groups, members, kinds = digests.edges.columns()
    singles = digests.single_edges()
    one: dict[int, tuple[int, int, int]] = {}  # member: (+1 or -1, group, kind code)
    rest = set(changed.gone)  # ids of members compared with their staged edges
    for at, move in changed.moves.items():
        found = singles.get(move)
        sign = 1
        if found is None:
            found, sign = singles.get(-move), -1
        if found is None:
            rest.add(ids[at])
        else:
            one[at] = (sign, *found)
    counts: dict[int, int] = {}  # of the one-edge members: how often the read has that edge
    first: dict[int, int] = {}  # and where it first came
    read: dict[Row, int] = {}  # the other members' read edges, where each first came
    for pos in changed.positions:
        member = members[pos]
        single = one.get(member)
        if single is None:
            row = (ids[groups[pos]], KINDS[kinds[pos]], ids[member])
            read.setdefault(row, pos)
        elif groups[pos] == single[1] and kinds[pos] == single[2]:
            counts[member] = counts.get(member, 0) + 1
            first.setdefault(member, pos)
    new: list[tuple[int, Row]] = []
    gone: list[Row] = []
    odd: set[int] = set()  # one edge more, not read: only a collision of digests gives this
    for member, (sign, group, code) in one.items():
        row = (ids[group], KINDS[code], ids[member])
        seen = counts.get(member, 0)
        if sign > 0 and seen == 1:  # read once: the edge is new
            new.append((first[member], row))
        elif sign < 0 and seen == 0:  # read no more: the edge is gone
            gone.append(row)
        elif sign > 0 and seen == 0:
            odd.add(member)
    if odd:  # compared with their staged edges after all
        rest.update(ids[member] for member in odd)
        for pos in changed.positions:
            if members[pos] in odd:
                read.setdefault((ids[groups[pos]], KINDS[kinds[pos]], ids[members[pos]]), pos)
    digest_ids = source_edge_digests.c.member_id  # rewritten below
    delete_ids(conn, source_edge_digests, connector, digest_ids, changed.members)
    staged: set[Row] = set()
    if rest:
        e = EDGES.c
        with temp_table(conn, members_tmp) as tmp:
            bulk_insert(conn, tmp, ("member_id",), ((m,) for m in rest))
            analyse(conn, tmp)
            of_rest = e.member_id.in_(sa.select(tmp.c.member_id))
            staged.update(
                raw_rows(conn, sa.select(*key(e)).where(e.connector == connector, of_rest))
            )
    gone += (row for row in staged if row not in read)
    new += ((pos, row) for row, pos in read.items() if row not in staged)
    write_edges(
        conn, connector, run_id, change, bound, sorted(gone), [row for _, row in sorted(new)]
    )
    columns = ("member_id", "digest")
    rows = digests.rows(changed.members)
    bulk_insert(conn, source_edge_digests, columns, rows, same={"connector": connector})


def write_edges(
    conn: Connection,
    connector: str,
    run_id: int,
    change: StageChange,
    bound: int,
    gone: list[Row],
    new: list[Row],
) -> None:
    """Delete ``gone`` and insert ``new``; ``change`` lists them unless past ``bound``."""
    removed = [edge(*row) for row in gone]
    if conn.dialect.name == "sqlite":  # the driver's own statements: no per-row binding work
        names = ", ".join(("connector", *EDGE_COLUMNS, "run_id"))
        where = " AND ".join(f"{name} = ?" for name in ("connector", *EDGE_COLUMNS))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                f"DELETE FROM {EDGES.name} WHERE {where}", [(connector, *row) for row in gone]
            )
            cursor.executemany(
                f"INSERT INTO {EDGES.name} ({names}) VALUES (?, ?, ?, ?, ?)",
                [(connector, *row, run_id) for row in new],
            )
        finally:
            cursor.close()
    else:
        delete_edges(conn, connector, removed)
        bulk_insert(conn, EDGES, EDGE_COLUMNS, new, same={"connector": connector, "run_id": run_id})
    room = bound - len(removed) if len(removed) <= bound else -1
    if len(new) <= room:
        change.removed, change.added = removed, [edge(*row) for row in new]
    else:  # past the bound: not listed (as the comparison in the database gives up then)
        change.large = change.large or f"more than {bound} memberships changed"
