"""Staging a snapshot's edges (:func:`idpsync.store.stage.write_stage`'s edge half).

A first load of many edges is inserted straight (nothing staged to compare). Otherwise the
snapshot's edges are loaded into a temporary table and compared with the stage by two
anti-joins: the new edges are inserted, a complete read's gone edges deleted. A complete read
held in memory compares each member's digest of its edges with the staged one first
(:mod:`idpsync.store.edge_digests`) and loads and compares only the edges of the members whose
digest differs: the stage it leaves, and the :class:`~idpsync.store.stage.StageChange` it
reports (the same edges, in the same order), are those of the whole comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import Snapshot
from idpsync.store import stage_sql as q
from idpsync.store.deferred import indexes_deferred
from idpsync.store.digest_diff import stage_changed
from idpsync.store.edge_digests import MemberDigests, forget, store_all
from idpsync.store.fk_sets import checked_set_wise
from idpsync.store.store import bulk_insert
from idpsync.store.stream import Streamed

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
) -> None:
    """Stage the snapshot's edges (or ``streamed``'s); a complete snapshot's gone edges go.

    ``change`` gets the removed and added edges, up to ``bound``. The connector's edge digests
    are written after (a complete read in memory) or dropped (any other).
    """
    count = len(snap.memberships) if streamed is None else streamed.count
    digests = MemberDigests.of(snap, held) if streamed is None else None
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
        _keep_digests(conn, connector, digests)
        return
    changed = None if digests is None else digests.changed(conn, connector)
    if digests is not None and changed is not None:  # only the changed members' edges
        stage_changed(conn, connector, digests, changed, run_id, change, bound)
        return
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
            if held["group"]:
                gone += [e.group_id.not_in(held["group"])]
            for kind, ids in held.items():
                if ids:  # a skipped record's staged edges stay with its staged record
                    gone += [sa.or_(e.member_kind != kind, e.member_id.not_in(ids))]
            # in key order: SQLite walks the stage by its key (probing ``tmp`` in order), not
            # by the index by member, whose order scattered the probes (seconds more at L)
            gone_keys = sa.select(*q.key(e)).where(*gone).order_by(*q.key(e))
            removed = q.listed(conn, gone_keys, bound)
            if removed is None:
                conn.execute(q.EDGES.delete().where(*gone))
                report = False
            else:
                change.removed = [q.edge(*row) for row in removed]
                q.delete_edges(conn, connector, change.removed)
        room = bound - len(change.removed) if report else -1
        added = q.insert_new_edges(conn, tmp, connector, run_id, room)
    if added is not None:
        change.added = added
    elif snap.complete:
        change.removed = []
        change.large = change.large or f"more than {bound} memberships changed"
    _keep_digests(conn, connector, digests)


def _keep_digests(conn: Connection, connector: str, digests: MemberDigests | None) -> None:
    """After a whole comparison: every member's digests written, or (none made) all dropped."""
    if digests is None:
        forget(conn, connector)
    else:
        store_all(conn, connector, digests)
