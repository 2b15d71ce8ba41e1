"""The stage: the connector's mirror of its IdP, written by set operations in the database.

The stage is three tables: ``source_users`` and ``source_groups`` (one JSON record per IdP id)
and ``source_memberships`` (direct edges). A run writes it in its own transaction:

- A **complete snapshot** replaces the mirror. Its records and edges are bulk-loaded into
  temporary tables (edges in the order the source read them), and the database works out the
  difference: only records whose JSON changed are rewritten, only new edges are inserted
  (``INSERT … SELECT … WHERE NOT EXISTS``) and only edges gone from the IdP are deleted
  (``DELETE … WHERE NOT EXISTS``). No Python set of the tenant's edges is built.
- An **incomplete snapshot** only upserts: changed and new records are written, new edges
  inserted; nothing is removed.
- A **complete delta** (:class:`DeltaSnapshot`, an incremental read) is applied in place
  (:func:`apply_delta`): its records are upserted, the records it removes are deleted, its
  added edges inserted and its removed edges deleted, and every edge whose group or member is
  no longer staged goes too, exactly as :func:`idpsync.app.delta.merge_delta` followed by a
  complete :func:`write_stage` would leave it.

Staging a complete snapshot reports what it changed (:class:`StageChange`, bounded), from the
anti-joins it runs anyway, so a full read with few changes is planned incrementally.

``run_id`` of a staged user or group is the run that staged its current values (an unchanged
record is not written again); ``run_id`` of an edge is the run that added it. The last run whose
read covered a record (what ``idpsync explain`` shows) is the later of its ``run_id`` and the
connector's last complete run that staged (:func:`last_read`). Temporary tables live inside
the run's transaction and are dropped at the end of each call (a rollback drops them too).

:func:`load_stage` reads the mirror back (:mod:`idpsync.store.stage_read`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import schema as t
from idpsync.store.stage_read import (
    STAGING_MODES,
    LazyEdgesSnapshot,
    last_read,
    load_edges,
    load_stage,
    staged_counts,
)
from idpsync.store.store import bulk_insert, raw_rows

__all__ = [
    "STAGING_MODES",
    "DeltaSnapshot",
    "LazyEdgesSnapshot",
    "StageChange",
    "apply_delta",
    "change_bound",
    "is_mirror",
    "last_read",
    "load_edges",
    "load_stage",
    "staged_counts",
    "write_stage",
]

_KINDS = {kind.value: kind for kind in MemberKind}
_KIND_VALUES = {kind: kind.value for kind in MemberKind}
_RECORD_FIELDS = {cls: tuple(f.name for f in fields(cls)) for cls in (SourceUser, SourceGroup)}


@dataclass(slots=True)
class DeltaSnapshot(Snapshot):
    """A complete incremental read, to be applied to the stage rather than replace it.

    ``users``, ``groups`` and ``memberships`` hold the delta's upserts and added edges (so the
    same normalisation cleans them as a full read's); the removals are the IdP's own word.
    Should normalisation mark it incomplete, it is staged as an incomplete snapshot: upserts
    only, nothing removed.
    """

    removed: list[Membership] = field(default_factory=list)
    """Membership edges removed in the IdP."""
    removed_users: list[str] = field(default_factory=list)
    """Ids of users deleted in the IdP."""
    removed_groups: list[str] = field(default_factory=list)
    """Ids of groups deleted in the IdP."""


def is_mirror(snap: Snapshot) -> bool:
    """Whether ``snap`` is, once staged, the whole mirror (a complete read, not a delta)."""
    return snap.complete and not isinstance(snap, DeltaSnapshot)


CHANGE_FLOOR = 1000
"""Changed ids (and edges) up to this many are always listed, however small the stage."""
LARGE_SHARE = 0.1
"""Past this share of the snapshot's users (or edges) changed, a change is only "large"."""


def change_bound(size: int) -> int:
    """How many changed records (or edges) out of ``size`` a :class:`StageChange` lists."""
    return max(CHANGE_FLOOR, int(LARGE_SHARE * size))


@dataclass(slots=True)
class StageChange:
    """What staging a complete snapshot changed: the basis of an incremental plan of a full read.

    Complete only when :attr:`large` is empty; otherwise the listing stopped at its bound and
    the plan must be full.
    """

    users: set[str] = field(default_factory=set)
    """Users whose staged record is new, changed or gone."""
    groups: set[str] = field(default_factory=set)
    """Groups whose staged record is new, changed or gone."""
    added: list[Membership] = field(default_factory=list)
    """Edges staged by this write."""
    removed: list[Membership] = field(default_factory=list)
    """Edges the write deleted."""
    large: str = ""
    """Non-empty: what changed past its bound (the lists are then not whole)."""


def write_stage(
    conn: Connection, connector: str, snap: Snapshot, run_id: int
) -> StageChange | None:
    """Stage ``snap``: a complete one replaces the mirror, an incomplete one only upserts.

    A complete :class:`DeltaSnapshot` is applied to the mirror instead (:func:`apply_delta`).
    Returns what a complete (non-delta) snapshot changed; ``None`` for the others.
    """
    if isinstance(snap, DeltaSnapshot) and snap.complete:
        apply_delta(conn, connector, snap, run_id)
        return None
    change = StageChange()
    held = {
        kind: sorted({r.source_id for r in snap.skipped if r.kind == kind})
        for kind in ("user", "group")
    }
    for table, records, kind, listed in (
        (t.source_users, snap.users, "user", change.users),
        (t.source_groups, snap.groups, "group", change.groups),
    ):
        keep = held[kind]
        args = (conn, table, connector, records, run_id)
        found = _stage_records(*args, replace=snap.complete, keep=keep)
        if found is None:
            change.large = f"more than {change_bound(len(records))} {kind}s changed"
        listed.update(found or ())
    bound = change_bound(len(snap.memberships))
    with _temp(conn, _edges_tmp) as tmp:
        bulk_insert(conn, tmp, _EDGE_COLUMNS, _edge_rows(snap.memberships))
        _index_edges(conn, tmp)
        removed: list[Any] | None = []
        if snap.complete:
            e = _edges.c
            gone = [e.connector == connector, ~_edge_in(tmp)]
            if held["group"]:
                gone += [e.group_id.not_in(held["group"])]
            for kind, ids in held.items():
                if ids:  # a skipped record's staged edges stay with its staged record
                    gone += [sa.or_(e.member_kind != kind, e.member_id.not_in(ids))]
            removed = _listed(conn, sa.select(*_key(e)).where(*gone), bound)
            if removed is None:
                conn.execute(_edges.delete().where(*gone))
            else:
                _delete_edges(conn, connector, [_edge(*row) for row in removed])
            change.removed = [_edge(*row) for row in removed or ()]
        added = _insert_new_edges(conn, tmp, connector, run_id)
    if not snap.complete:
        return None
    if removed is None or not 0 <= added <= bound - len(change.removed):
        change.large = change.large or f"more than {bound} memberships changed"
    elif added:
        change.added = _edges_of_run(conn, connector, run_id)
    return change


def apply_delta(conn: Connection, connector: str, delta: DeltaSnapshot, run_id: int) -> None:
    """Apply a complete delta to the staged mirror, in place (see the module docstring).

    The result is what :func:`idpsync.app.delta.merge_delta` followed by a complete
    :func:`write_stage` gives: upserts then removals (an id both upserted and removed is
    removed), added edges then removed ones, and no edge whose group or member is not staged.
    """
    for table, records, removed in (
        (t.source_users, delta.users, delta.removed_users),
        (t.source_groups, delta.groups, delta.removed_groups),
    ):
        gone = set(removed)
        kept = [r for r in records if r.source_id not in gone]
        _stage_records(conn, table, connector, kept, run_id, replace=False)
        _delete_ids(conn, table, connector, gone)
    removed_edges = set(delta.removed)
    with _temp(conn, _edges_tmp) as tmp:
        bulk_insert(conn, tmp, _EDGE_COLUMNS, _edge_rows(delta.memberships, removed_edges))
        _index_edges(conn, tmp)
        _insert_new_edges(conn, tmp, connector, run_id)
    _delete_edges(conn, connector, sorted(removed_edges))
    _drop_dangling_edges(conn, connector)


# -- records ----------------------------------------------------------------------------------

_records_tmp = sa.Table(
    "idpsync_stage_records",
    sa.MetaData(),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
"""The records of one write: IdP id and the JSON text the stage holds for it."""


def _stage_records(
    conn: Connection,
    table: sa.Table,
    connector: str,
    records: Iterable[SourceUser | SourceGroup],
    run_id: int,
    *,
    replace: bool,
    keep: Sequence[str] = (),
) -> set[str] | None:
    """Write the records new or changed (with ``run_id``); ``replace``: delete the ones not given.

    An unchanged record keeps its row and its ``run_id``. ``keep``: ids of records the source
    read but could not use (``snap.skipped``): their staged rows stay as they are, so a later
    delta that does not mention them does not find them missing.

    Returns, with ``replace``, the ids of the records new, changed or gone (``None``: more
    than :func:`change_bound` of them); without, an empty set.
    """
    latest = {r.source_id: r for r in records}  # the last record of an id wins
    c = table.c
    found: set[str] | None = set()
    with _temp(conn, _records_tmp) as tmp:
        bulk_insert(conn, tmp, ("source_id", "data"), ((k, _json(r)) for k, r in latest.items()))
        _analyse(conn, tmp)
        stored = sa.cast(c.data, sa.Text)
        bound = change_bound(len(latest))
        staged = sa.exists().where(c.connector == connector, c.source_id == tmp.c.source_id)
        if replace:  # gone or changed
            same = sa.exists().where(tmp.c.source_id == c.source_id, tmp.c.data == stored)
            kept = [c.source_id.not_in(list(keep))] if keep else []
            where = [c.connector == connector, ~same, *kept]
            rows = _listed(conn, sa.select(c.source_id).where(*where), bound)
            if rows is None:
                conn.execute(table.delete().where(*where))
            else:
                _delete_ids(conn, table, connector, {sid for (sid,) in rows})
            new = _listed(conn, sa.select(tmp.c.source_id).where(~staged), bound)
            found = None  # changed records are both deleted and new: counted once
            if rows is not None and new is not None:
                found = {sid for (sid,) in rows} | {sid for (sid,) in new}
                found = found if len(found) <= bound else None
        else:  # changed
            changed = sa.exists().where(tmp.c.source_id == c.source_id, tmp.c.data != stored)
            conn.execute(table.delete().where(c.connector == connector, changed))
        data = sa.cast(tmp.c.data, sa.JSON) if conn.dialect.name == "postgresql" else tmp.c.data
        insert = sa.select(sa.literal(connector), tmp.c.source_id, data, sa.literal(run_id))
        columns = ["connector", "source_id", "data", "run_id"]
        conn.execute(table.insert().from_select(columns, insert.where(~staged)))
    return found


def _delete_ids(conn: Connection, table: sa.Table, connector: str, ids: set[str]) -> None:
    c = table.c
    for chunk in _chunks(sorted(ids), 500):
        conn.execute(table.delete().where(c.connector == connector, c.source_id.in_(chunk)))


def _json(record: SourceUser | SourceGroup) -> str:
    """The staged JSON text of a record (as the JSON column's own encoding writes it)."""
    data = {name: getattr(record, name) for name in _RECORD_FIELDS[type(record)]}
    if "attributes" in data:
        data["attributes"] = dict(data["attributes"])
    return json.dumps(data)


# -- edges ------------------------------------------------------------------------------------

_edges = t.source_memberships
_EDGE_COLUMNS = ("group_id", "member_kind", "member_id")
_edges_tmp = sa.Table(
    "idpsync_stage_edges",
    sa.MetaData(),
    *(sa.Column(name, sa.String(255), nullable=False) for name in _EDGE_COLUMNS),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
"""The edges of one write, in the order given (duplicates allowed)."""


def _edge_rows(
    edges: Iterable[Membership], leave_out: set[Membership] | None = None
) -> Iterator[tuple[str, str, str]]:
    for e in edges:
        if leave_out is None or e not in leave_out:
            yield e.group_id, _KIND_VALUES[e.member_kind], e.member_id


def _key(c: Any) -> list[Any]:
    return [c[name] for name in _EDGE_COLUMNS]


def _edge_in(tmp: sa.Table) -> sa.Exists:
    """Whether the staged edge (correlated) is one of ``tmp``'s."""
    return sa.exists().where(*(a == b for a, b in zip(_key(tmp.c), _key(_edges.c), strict=True)))


def _index_edges(conn: Connection, tmp: sa.Table) -> None:
    """Make ``tmp`` quick to probe: an index on SQLite, fresh statistics on PostgreSQL."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE INDEX {tmp.name}_key ON {tmp.name} ({', '.join(_EDGE_COLUMNS)})"
        )
    _analyse(conn, tmp)


def _insert_new_edges(conn: Connection, tmp: sa.Table, connector: str, run_id: int) -> int:
    """Insert ``tmp``'s edges not staged yet, with ``run_id``, in ``tmp``'s order.

    Returns how many (-1: the driver does not say).
    """
    c = _edges.c
    staged = sa.exists().where(
        c.connector == connector, *(c[name] == tmp.c[name] for name in _EDGE_COLUMNS)
    )
    rows = sa.select(sa.literal(connector), *tmp.c, sa.literal(run_id)).where(~staged)
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(_edges)
    columns = ["connector", *_EDGE_COLUMNS, "run_id"]
    statement = insert.from_select(columns, rows).on_conflict_do_nothing()
    return int(conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount)


def _edge(group_id: str, kind: str, member_id: str) -> Membership:
    return Membership(group_id, member_id, MemberKind(kind))


def _listed(conn: Connection, query: sa.Select[Any], bound: int) -> list[Any] | None:
    """The rows of ``query``, or ``None`` when there are more than ``bound``."""
    rows = list(conn.execute(query.limit(bound + 1)))
    return rows if len(rows) <= bound else None


def _edges_of_run(conn: Connection, connector: str, run_id: int) -> list[Membership]:
    """The staged edges run ``run_id`` added (a scan: the stage has no index by run)."""
    c = _edges.c
    query = sa.select(*_key(c)).where(c.connector == connector, c.run_id == run_id)
    return [_edge(*row) for row in raw_rows(conn, query)]


def _delete_edges(conn: Connection, connector: str, edges: Iterable[Membership]) -> None:
    """Delete staged edges by their key, in batches."""
    key = _edges.c
    for chunk in _chunks(list(edges), 10_000):
        conn.execute(
            _edges.delete().where(
                key.connector == connector,
                key.group_id == sa.bindparam("g"),
                key.member_kind == sa.bindparam("k"),
                key.member_id == sa.bindparam("m"),
            ),
            [{"g": e.group_id, "k": _KIND_VALUES[e.member_kind], "m": e.member_id} for e in chunk],
        )


def _drop_dangling_edges(conn: Connection, connector: str) -> None:
    """Delete the staged edges whose group, member user or member group is not staged."""
    c, u, g = _edges.c, t.source_users.alias("u").c, t.source_groups.alias("g").c
    member_group = t.source_groups.alias("mg").c
    conn.execute(
        _edges.delete().where(
            c.connector == connector,
            sa.or_(
                ~sa.exists().where(g.connector == connector, g.source_id == c.group_id),
                sa.and_(
                    c.member_kind == MemberKind.USER.value,
                    ~sa.exists().where(u.connector == connector, u.source_id == c.member_id),
                ),
                sa.and_(
                    c.member_kind == MemberKind.GROUP.value,
                    ~sa.exists().where(
                        member_group.connector == connector, member_group.source_id == c.member_id
                    ),
                ),
            ),
        )
    )


# -- temporary tables -------------------------------------------------------------------------


@contextmanager
def _temp(conn: Connection, table: sa.Table) -> Iterator[sa.Table]:
    """``table`` created empty in ``conn``'s transaction and dropped after (or by a rollback)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
    table.create(conn)
    yield table
    conn.exec_driver_sql(f"DROP TABLE {table.name}")


def _analyse(conn: Connection, table: sa.Table) -> None:
    """Fresh planner statistics for a just-filled temporary table (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
