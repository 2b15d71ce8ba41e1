"""Staging a snapshot's edges (:func:`idpsync.store.stage.write_stage`'s edge half).

A first load of many edges is inserted straight (nothing staged to compare). Otherwise the
snapshot's edges are loaded into a temporary table and compared with the stage by two
anti-joins: the new edges are inserted, a complete read's gone edges deleted. A complete read
held in memory compares each member's digest of its edges with the staged one first
(:mod:`idpsync.store.edge_digests`) and loads and compares only the edges of the members whose
digest differs: the stage it leaves, and the :class:`~idpsync.store.stage.StageChange` it
reports (the same edges, in the same order), are those of the whole comparison. A complete
streamed read compares its members' sums (:mod:`idpsync.store.stream_digests`) the same way
and compares only the edges of the members whose sum differs: SQLite probes them by key in its
keyed stream (:mod:`idpsync.store.stream_probe`), PostgreSQL runs the two anti-joins restricted
to them as one full join of their streamed and staged edges (:func:`_joined`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import Snapshot
from idpsync.store import edge_digests, stream_probe
from idpsync.store import stage_sql as q
from idpsync.store.deferred import indexes_deferred
from idpsync.store.digest_diff import members_tmp, stage_changed
from idpsync.store.edge_digests import MemberDigests, forget, store_all
from idpsync.store.fk_sets import checked_set_wise
from idpsync.store.stats import bulk_memory
from idpsync.store.store import bulk_insert
from idpsync.store.stream import Streamed
from idpsync.store.stream_digests import StreamSums
from idpsync.store.stream_probe import stage_probed

if TYPE_CHECKING:
    from idpsync.store.stage import StageChange


def stage_edges(
    conn: Connection,
    connector: str,
    snap: Snapshot,
    run_id: int,
    held: Mapping[str, Sequence[str]],
    change: StageChange,
    streamed: Streamed | None,
    bound: int,
    waiting: Callable[[], None] = lambda: None,
) -> None:
    """Stage the snapshot's edges (or ``streamed``'s); a complete snapshot's gone edges go.

    ``change`` gets the removed and added edges, up to ``bound``. The connector's edge digests
    are written after (a complete read that skipped no record) or dropped (any other).
    ``waiting``: called when this thread is about to wait on the server for long (PostgreSQL's
    full join of a streamed read, :func:`_joined`), so that other work may use that time.
    """
    count = len(snap.memberships) if streamed is None else streamed.count
    digests = MemberDigests.of(snap, held) if streamed is None else None
    sums = _stream_sums(snap, held, streamed)
    # a first staging of many edges (a first load) is large: not read back
    small = count <= bound or q.any_edges(conn, connector)
    if not small:  # nothing staged to keep, remove or report: every edge is new
        mine = {"connector": connector}  # it had none: every one of its edges is new
        with (
            indexes_deferred(conn, q.EDGES, count) as empty,
            checked_set_wise(conn, q.EDGES, sa.true(), count, mine),
        ):
            if streamed is None:
                q.insert_first_edges(conn, connector, run_id, snap.memberships, empty=empty)
            else:
                q.insert_streamed_first(conn, streamed.table, connector, run_id, empty=empty)
        if snap.complete:
            change.large = change.large or f"more than {bound} memberships changed"
        _keep_digests(conn, connector, digests, sums)
        return
    changed = None if digests is None else digests.changed(conn, connector)
    if digests is not None and changed is not None:  # only the changed members' edges
        stage_changed(conn, connector, digests, changed, run_id, change, bound)
        return
    moves = None if sums is None else sums.moves(conn, connector)
    if sums is not None and moves is not None:  # streamed: only the changed members' edges
        if moves:  # none changed: nothing to compare, nothing to write
            sqlite = streamed is not None and conn.dialect.name == "sqlite"
            if sqlite and stream_probe.ENABLED and streamed is not None:  # by key, no scan
                stage_probed(conn, connector, streamed.table, sums, moves, run_id, change, bound)
            only = sorted(moves)
            with q.temp(conn, members_tmp) as tmp:
                bulk_insert(conn, tmp, ("member_id",), ((m,) for m in only))
                q.analyse(conn, tmp)
                of_only = sa.select(tmp.c.member_id)
                if streamed is not None and conn.dialect.name == "postgresql":
                    waiting()  # the server's work from here (:mod:`idpsync.store.ahead`)
                    _joined(conn, connector, streamed, run_id, change, bound, of_only)
                elif not (sqlite and stream_probe.ENABLED):  # the anti-joins, restricted
                    _compare(conn, connector, snap, run_id, held, change, streamed, bound, of_only)
                sums.store(conn, connector, only, of_only)
        return
    _compare(conn, connector, snap, run_id, held, change, streamed, bound)
    _keep_digests(conn, connector, digests, sums)


def _compare(
    conn: Connection,
    connector: str,
    snap: Snapshot,
    run_id: int,
    held: Mapping[str, Sequence[str]],
    change: StageChange,
    streamed: Streamed | None,
    bound: int,
    only: sa.Select[tuple[str]] | None = None,
) -> None:
    """Compare the read's edges with the stage in the database (``only``: of these members)."""
    report = snap.complete
    keyed = conn.dialect.name == "sqlite"  # no index to build after the rows
    table = q.edges_keyed if keyed else q.edges_tmp
    with q.temp(conn, table) if streamed is None else q.filled(streamed.table) as tmp:
        if streamed is not None:  # SQLite's is keyed as ``edges_keyed`` is
            q.analyse(conn, tmp)
        elif keyed:
            q.load_keyed(conn, snap.memberships)
        else:
            bulk_insert(conn, tmp, q.EDGE_COLUMNS, q.edge_rows(snap.memberships))
            q.index_edges(conn, tmp)
        if snap.complete:
            e = q.EDGES.c
            gone = [e.connector == connector, ~q.edge_in(tmp)]
            if only is not None:  # the other members' edges are as staged
                gone += [e.member_id.in_(only)]
            if held["group"]:
                gone += [e.group_id.not_in(held["group"])]
            for kind, ids in held.items():
                if ids:  # a skipped record's staged edges stay with its staged record
                    gone += [sa.or_(e.member_kind != kind, e.member_id.not_in(ids))]
            # in key order: SQLite walks the stage by its key (probing ``tmp`` in order), not
            # by the index by member, whose order scattered the probes (seconds more at L)
            gone_keys = sa.select(*q.key(e)).where(*gone)
            if only is None:
                removed = q.listed(conn, gone_keys.order_by(*q.key(e)), bound)
            else:  # by the index by member, the few rows sorted here (the same key order)
                found = q.listed(conn, gone_keys, bound)
                removed = None if found is None else sorted(tuple(row) for row in found)
            if removed is None:
                conn.execute(q.EDGES.delete().where(*gone))
                report = False
            else:
                change.removed = [q.edge(*row) for row in removed]
                q.delete_edges(conn, connector, change.removed)
        room = bound - len(change.removed) if report else -1
        added = q.insert_new_edges(conn, tmp, connector, run_id, room, only)
    if added is not None:
        change.added = added
    elif snap.complete:
        change.removed = []
        change.large = change.large or f"more than {bound} memberships changed"


def _joined(
    conn: Connection,
    connector: str,
    streamed: Streamed,
    run_id: int,
    change: StageChange,
    bound: int,
    only: sa.Select[tuple[str]],
) -> None:
    """PostgreSQL: a complete streamed read's ``only`` members' edges compared in one statement.

    The stream's table is a heap in the order the edges came, with no index. The members'
    streamed edges (one scan of it) and their staged ones (≈190,000 each at L for a 1 % change)
    are matched by a hashed full join, whose unmatched rows go into a small table: the new
    edges, and the gone ones with the row each is staged in (``ctid``), by which they are then
    deleted (no probe of the stage's key; the rows were read in this transaction, whose lock
    keeps every other writer of the connector's stage out). Before, the streamed edges were
    copied out and two anti-joins read the copy: the new edges' each probed the stage's key,
    or hashed all of it (≈1 s of the server's at L), and the gone ones were deleted by key.
    The edges compared, staged and reported are the same (``only`` restricted those too); a
    repeated new edge is inserted once (``ON CONFLICT DO NOTHING``, as before).
    """
    s, e = streamed.table.c, q.EDGES.c
    read = sa.select(*q.key(s)).where(s.member_id.in_(only)).subquery("read")
    row = sa.literal_column("ctid", _Tid()).label("tid")
    held = sa.select(*q.key(e), row).where(e.connector == connector, e.member_id.in_(only))
    staged = held.subquery("staged")
    pairs = list(zip(q.key(read.c), q.key(staged.c), strict=True))
    unmatched = sa.or_(read.c.group_id.is_(None), staged.c.group_id.is_(None))
    rows = (
        sa.select(*(sa.func.coalesce(a, b) for a, b in pairs), sa.case((unmatched, staged.c.tid)))
        .select_from(read.join(staged, sa.and_(*(a == b for a, b in pairs)), full=True))
        .where(unmatched)
    )
    with q.temp(conn, _differing) as diff:
        with bulk_memory(conn):  # the two sides hashed in memory (at L: in 4 batches otherwise)
            conn.execute(diff.insert().from_select([*q.EDGE_COLUMNS, "tid"], rows))
        d = diff.c
        gone = d.tid.is_not(None)
        found = q.listed(conn, sa.select(*q.key(d)).where(gone), bound)
        tids = f"ctid = ANY (ARRAY (SELECT tid FROM {diff.name} WHERE tid IS NOT NULL))"
        conn.execute(q.EDGES.delete().where(e.connector == connector, sa.text(tids)))
        if found is not None:  # the same key order as the comparison of every edge's
            change.removed = [q.edge(*row) for row in sorted(tuple(row) for row in found)]
        room = bound - len(change.removed) if found is not None else -1
        new = sa.select(sa.literal(connector), *q.key(d), sa.literal(run_id)).where(d.tid.is_(None))
        added = q.insert_edges(conn, new, room)
    if added is not None:
        change.added = added
    else:
        change.removed = []
        change.large = change.large or f"more than {bound} memberships changed"


class _Tid(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``tid``: where a row version is (its table's page and line)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "tid"


_differing = sa.Table(
    "idpsync_stream_differing",
    sa.MetaData(),
    *(sa.Column(column, sa.String(255), nullable=False) for column in q.EDGE_COLUMNS),
    sa.Column("tid", _Tid(), nullable=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
"""PostgreSQL: the changed members' edges streamed and not staged (``tid`` null), or staged and
not streamed (``tid``: the row it is staged in) (:func:`_joined`)."""


def _stream_sums(
    snap: Snapshot, held: Mapping[str, Sequence[str]], streamed: Streamed | None
) -> StreamSums | None:
    """A streamed read's sums, if it is staged by digest (complete, no record skipped)."""
    if streamed is None or not edge_digests.ENABLED or not snap.complete or any(held.values()):
        return None
    return streamed.sums


def _keep_digests(
    conn: Connection, connector: str, digests: MemberDigests | None, sums: StreamSums | None
) -> None:
    """After a whole comparison: every member's digests written, or (none made) all dropped."""
    if digests is not None:
        store_all(conn, connector, digests)
    elif sums is not None:
        sums.store(conn, connector)
    else:
        forget(conn, connector)
