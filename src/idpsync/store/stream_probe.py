"""SQLite: a complete streamed read's changed members' edges found by the stream's key.

SQLite's stream table (:data:`~idpsync.store.stream.STREAM_SQLITE`) is keyed by edge and has
no index by member: the two anti-joins restricted to the changed members
(:func:`idpsync.store.stage_edges._compare` with ``only``) scan its million rows at L, probing
the members' list for each, and probe it for each of the members' staged edges. Here, as for a
read held in memory (:mod:`idpsync.store.digest_diff`), each changed member's move (its sum
less its staged digest, :meth:`~idpsync.store.stream_digests.StreamSums.moves`) says where to
look, and the edges looked at are probed by key, in the stream and in the stage:

- A member whose sum moved by exactly one edge's value (most of a small change's) differs from
  its staged edges at that edge only: it is new when streamed and not staged, gone when staged
  and not streamed. A move up whose edge is not streamed, or down whose edge is not staged
  (only a collision of digests gives these), sends the member to the scan below.
- Another member's staged edges are read (by the stage's index by member) and probed in the
  stream: those not streamed are gone. What its move leaves once they are taken off is then
  0 (no new edge) or one edge's value, whose edge must be streamed and not staged (new);
  anything else (a repeat read or gone, or more than one new edge) sends it to the scan.
- The members left (few, or none) have their streamed edges read in one scan of the stream
  and compared with their staged ones in Python.

The stage is left, and the :class:`~idpsync.store.stage.StageChange` made, as the anti-joins
leave and make them (:func:`~idpsync.store.digest_diff.write_edges`: the gone edges in key
order, the new ones in the order they came, the bound as theirs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.store.digest_diff import members_tmp, write_edges
from idpsync.store.edge_digests import edge_value
from idpsync.store.stage_sql import EDGE_COLUMNS, EDGES, key, temp
from idpsync.store.store import bulk_insert, raw_rows
from idpsync.store.stream_digests import StreamSums

if TYPE_CHECKING:
    from idpsync.store.stage import StageChange

ENABLED = True
"""Whether SQLite stages a complete streamed read this way (off: by the restricted anti-joins)."""

Row = tuple[str, str, str]
"""An edge as a key row: group id, kind, member id."""

probe_tmp = sa.Table(
    "idpsync_stream_probe",
    sa.MetaData(),
    *(sa.Column(column, sa.String(255), primary_key=True) for column in EDGE_COLUMNS),
    prefixes=["TEMPORARY"],
    sqlite_with_rowid=False,
)
"""The edges probed in the stream and in the stage."""


def stage_probed(
    conn: Connection,
    connector: str,
    stream: sa.Table,
    sums: StreamSums,
    moves: dict[str, int],
    run_id: int,
    change: StageChange,
    bound: int,
) -> None:
    """Stage the streamed edges of the members of ``moves`` (the others' are as staged)."""
    singles = sums.single_edges()
    one: dict[Row, int] = {}  # the edge a single move names: +1 or -1
    rest: list[str] = []
    for member, move in moves.items():
        at = singles.get(abs(move))
        if at is None:
            rest.append(member)
        else:
            one[(*at, member)] = 1 if move > 0 else -1
    held = _staged(conn, connector, rest)
    found = _probe(
        conn, connector, stream, [*one, *(row for rows in held.values() for row in rows)]
    )
    new: list[tuple[int, Row]] = []
    gone: list[Row] = []
    scan: set[str] = set()
    for row, sign in one.items():
        pos, staged = found[row]
        if (pos is None) if sign > 0 else not staged:  # a collision of digests: compared whole
            scan.add(row[2])
        elif pos is not None and not staged:
            new.append((pos, row))
        elif pos is None and staged:
            gone.append(row)
    guessed: list[Row] = []  # the one new edge each of those members' moves leaves
    for member in rest:
        left = moves[member]
        for row in held.get(member, ()):
            if found[row][0] is None:
                gone.append(row)
                left += edge_value(row[0], row[1])
        if left:
            at = singles.get(left)
            if at is None:
                scan.add(member)
            else:
                guessed.append((*at, member))
    for row, (pos, staged) in _probe(conn, connector, stream, guessed).items():
        if pos is None or staged:
            scan.add(row[2])
        else:
            new.append((pos, row))
    if scan:  # compared whole: what was found of them above is left
        new = [(pos, row) for pos, row in new if row[2] not in scan]
        gone = [row for row in gone if row[2] not in scan]
        _scanned(conn, connector, stream, sorted(scan), new, gone)
    write_edges(conn, connector, run_id, change, bound, sorted(gone), [r for _, r in sorted(new)])


def _staged(conn: Connection, connector: str, members: list[str]) -> dict[str, list[Row]]:
    """The staged edges of ``members``, by member (by the stage's index by member)."""
    held: dict[str, list[Row]] = {}
    if not members:
        return held
    e = EDGES.c
    with temp(conn, members_tmp) as tmp:
        bulk_insert(conn, tmp, ("member_id",), ((m,) for m in members))
        of = e.member_id.in_(sa.select(tmp.c.member_id))
        for row in raw_rows(conn, sa.select(*key(e)).where(e.connector == connector, of)):
            held.setdefault(row[2], []).append(row)
    return held


def _probe(
    conn: Connection, connector: str, stream: sa.Table, rows: Iterable[Row]
) -> dict[Row, tuple[int | None, bool]]:
    """Of each of ``rows``: where it first came in the stream (``None``: not streamed), staged.

    Each is probed by key in the stream and in the stage.
    """
    rows = list(rows)
    if not rows:
        return {}
    same = " AND ".join(f"x.{c} = p.{c}" for c in EDGE_COLUMNS)
    columns = ", ".join(f"p.{c}" for c in EDGE_COLUMNS)
    query = (
        f"SELECT {columns}, x.pos, EXISTS (SELECT 1 FROM {EDGES.name} AS e"
        f" WHERE e.connector = ? AND {same.replace('x.', 'e.')})"
        f" FROM {probe_tmp.name} AS p LEFT JOIN {stream.name} AS x ON {same}"
    )
    with temp(conn, probe_tmp) as tmp:
        bulk_insert(conn, tmp, EDGE_COLUMNS, rows)
        found = conn.exec_driver_sql(query, (connector,)).fetchall()
    return {(g, k, m): (pos, bool(staged)) for g, k, m, pos, staged in found}


def _scanned(
    conn: Connection,
    connector: str,
    stream: sa.Table,
    members: list[str],
    new: list[tuple[int, Row]],
    gone: list[Row],
) -> None:
    """``members``' streamed edges (one scan of the stream) compared with their staged ones.

    The new ones are added to ``new`` (with where each came), the gone ones to ``gone``.
    """
    staged = {row for rows in _staged(conn, connector, members).values() for row in rows}
    s = stream.c
    streamed: dict[Row, int] = {}
    with temp(conn, members_tmp) as tmp:
        bulk_insert(conn, tmp, ("member_id",), ((m,) for m in members))
        of = s.member_id.in_(sa.select(tmp.c.member_id))
        for found in conn.execute(sa.select(*key(s), s.pos).where(of)):
            streamed[(found[0], found[1], found[2])] = found[3]
    new += ((pos, row) for row, pos in streamed.items() if row not in staged)
    gone += (row for row in staged if row not in streamed)
