"""The stage: the connector's mirror of its IdP, written by set operations in the database.

The stage is three tables: ``source_users`` and ``source_groups`` (one JSON record per IdP id)
and ``source_memberships`` (direct edges). A run writes it in its own transaction:

- A **complete snapshot** replaces the mirror. Its records are compared by digest: each
  staged user or group row holds the digest of its JSON text (``digest``, written with the
  row; filled in from the staged JSON where a row has none), the snapshot's digests are
  compared with them in Python, and only the records whose digest differs are deleted and
  inserted. Its edges are bulk-loaded into a temporary table (PostgreSQL: in the order the
  source read them, then analysed; SQLite: a ``WITHOUT ROWID`` table keyed by edge, each edge
  once with its first position, so no index is built after the rows), and the database works
  out the difference: only new edges are inserted (in the order the source read them)
  (``INSERT … SELECT … WHERE NOT EXISTS``) and only edges gone from the IdP are deleted
  (``DELETE … WHERE NOT EXISTS``). No Python set of the tenant's edges is built. A first
  load of many edges (none staged yet) has nothing to compare: SQLite inserts them straight
  into the stage (:func:`~idpsync.store.stage_sql.insert_first_edges`), and the stage's index
  by member is built after them (:mod:`idpsync.store.deferred`). A complete read held in
  memory compares each member's digest of its edges with the staged one first and diffs only
  the members whose digest differs, without a temporary table of edges
  (:mod:`idpsync.store.edge_digests`, :mod:`idpsync.store.digest_diff`); the edges' half of
  staging is :mod:`idpsync.store.stage_edges`.
- An **incomplete snapshot** only upserts: changed and new records are written, new edges
  inserted; nothing is removed.
- A **complete delta** (:class:`DeltaSnapshot`, an incremental read) is applied in place
  (:func:`apply_delta`): its records are upserted, the records it removes are deleted, its
  added edges inserted and its removed edges deleted, and every edge whose group or member is
  no longer staged goes too, exactly as :func:`idpsync.app.delta.merge_delta` followed by a
  complete :func:`write_stage` would leave it.

Staging a complete snapshot reports what it changed (:class:`StageChange`, bounded), from the
record digests and the edges' anti-joins it compares anyway, so a full read with few changes
is planned incrementally.

``run_id`` of a staged user or group is the run that staged its current values (an unchanged
record is not written again); ``run_id`` of an edge is the run that added it. The last run whose
read covered a record (what ``idpsync explain`` shows) is the later of its ``run_id`` and the
connector's last complete run that staged (:func:`last_read`). Temporary tables live inside
the run's transaction and are dropped at the end of each call (a rollback drops them too); a
streamed read's edges come in a temporary table filled before the transaction, on its
connection (:mod:`idpsync.store.stream`), which staging uses in place of loading one.

:func:`load_stage` reads the mirror back (:mod:`idpsync.store.stage_read`).
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import schema as t
from idpsync.store import stage_sql as q
from idpsync.store.ahead import DigestsAhead, digests_ahead
from idpsync.store.edge_digests import forget
from idpsync.store.stage_edges import stage_edges
from idpsync.store.stage_read import (
    STAGING_MODES,
    LazyEdgesSnapshot,
    last_read,
    load_edges,
    load_stage,
    staged_counts,
)
from idpsync.store.store import bulk_insert, raw_rows
from idpsync.store.stream import Streamed

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
    conn: Connection,
    connector: str,
    snap: Snapshot,
    run_id: int,
    streamed: Streamed | None = None,
) -> StageChange | None:
    """Stage ``snap``: a complete one replaces the mirror, an incomplete one only upserts.

    A complete :class:`DeltaSnapshot` is applied to the mirror instead (:func:`apply_delta`).
    Returns what a complete (non-delta) snapshot changed; ``None`` for the others.
    ``streamed``: the read's edges are in that table of ``conn`` (:mod:`idpsync.store.stream`),
    not in ``snap``; they are staged exactly as the same edges in ``snap`` would be, and the
    table is dropped.
    """
    if streamed is not None and (isinstance(snap, DeltaSnapshot) or snap.memberships):
        raise ValueError("streamed edges belong to a full read whose snapshot holds none")
    if isinstance(snap, DeltaSnapshot) and snap.complete:
        apply_delta(conn, connector, snap, run_id)
        return None
    change = StageChange()
    held = {
        kind: sorted({r.source_id for r in snap.skipped if r.kind == kind})
        for kind in ("user", "group")
    }
    bound = change_bound(len(snap.memberships) if streamed is None else streamed.count)
    tables = (
        (t.source_users, snap.users, "user", change.users),
        (t.source_groups, snap.groups, "group", change.groups),
    )
    # PostgreSQL, streamed: the edges staged first, the staged records' digests made meanwhile
    ahead_of = streamed is not None and snap.complete and conn.dialect.name == "postgresql"
    work: dict[sa.Table, Sequence[SourceUser | SourceGroup]] = {
        table: records
        for table, records, _, _ in tables
        if ahead_of and _any(conn, table, connector)
    }
    early = bool(work)  # not a first load (nothing staged to compare digests with)
    with digests_ahead(work, _record_digest, operator.attrgetter("source_id")) as ahead:
        if early:  # the digests begin in their thread when the server's work does
            stage_edges(conn, connector, snap, run_id, held, change, streamed, bound, ahead.start)
        for table, records, kind, listed in tables:
            args = (conn, table, connector, records, run_id)
            found = _stage_records(*args, replace=snap.complete, keep=held[kind], ahead=ahead)
            if found is None:
                change.large = f"more than {change_bound(len(records))} {kind}s changed"
            listed.update(found or ())
    if not early:
        stage_edges(conn, connector, snap, run_id, held, change, streamed, bound)
    if streamed is not None:
        conn.exec_driver_sql(f"DROP TABLE {streamed.table.name}")
    return change if snap.complete else None


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
    with q.temp(conn, q.edges_tmp) as tmp:
        bulk_insert(conn, tmp, q.EDGE_COLUMNS, q.edge_rows(delta.memberships, removed_edges))
        q.index_edges(conn, tmp)
        q.insert_new_edges(conn, tmp, connector, run_id)
    q.delete_edges(conn, connector, sorted(removed_edges))
    q.drop_dangling_edges(conn, connector)
    forget(conn, connector)  # the next complete read diffs every edge


# -- records ----------------------------------------------------------------------------------

_records_tmp = sa.Table(
    "idpsync_stage_records",
    sa.MetaData(),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("digest", sa.String(32), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
"""The records of an upsert: IdP id, the JSON text the stage holds for it and its digest."""


def _stage_records(
    conn: Connection,
    table: sa.Table,
    connector: str,
    records: Iterable[SourceUser | SourceGroup],
    run_id: int,
    *,
    replace: bool,
    keep: Sequence[str] = (),
    ahead: DigestsAhead[sa.Table] | None = None,
) -> set[str] | None:
    """Write the records new or changed (with ``run_id``); ``replace``: delete the ones not given.

    An unchanged record keeps its row and its ``run_id``. ``keep``: ids of records the source
    read but could not use (``snap.skipped``): their staged rows stay as they are, so a later
    delta that does not mention them does not find them missing. ``ahead``: the records'
    digests, if made beforehand (:mod:`idpsync.store.ahead`).

    Returns, with ``replace``, the ids of the records new, changed or gone (``None``: more
    than :func:`change_bound` of them); without, an empty set.
    """
    latest = {r.source_id: r for r in records}  # the last record of an id wins
    if replace:
        made = None if ahead is None else ahead.get(table)
        return _replace_records(conn, table, connector, latest, run_id, set(keep), made)
    c = table.c
    with q.temp(conn, _records_tmp) as tmp:
        rows = ((k, text, _digest(text)) for k, text in ((k, _json(r)) for k, r in latest.items()))
        bulk_insert(conn, tmp, ("source_id", "data", "digest"), rows)
        q.analyse(conn, tmp)
        stored = sa.cast(c.data, sa.Text)
        changed = sa.exists().where(tmp.c.source_id == c.source_id, tmp.c.data != stored)
        conn.execute(table.delete().where(c.connector == connector, changed))
        staged = sa.exists().where(c.connector == connector, c.source_id == tmp.c.source_id)
        data = sa.cast(tmp.c.data, sa.JSON) if conn.dialect.name == "postgresql" else tmp.c.data
        insert = sa.select(
            sa.literal(connector), tmp.c.source_id, data, tmp.c.digest, sa.literal(run_id)
        )
        columns = ["connector", "source_id", "data", "digest", "run_id"]
        conn.execute(table.insert().from_select(columns, insert.where(~staged)))
    return set()


def _replace_records(
    conn: Connection,
    table: sa.Table,
    connector: str,
    latest: dict[str, SourceUser | SourceGroup],
    run_id: int,
    keep: set[str],
    made: dict[str, str] | None = None,
) -> set[str] | None:
    """Make the staged records ``latest`` (bar ``keep``'s rows); the ids new, changed or gone.

    Compares the digests of the records' JSON with the staged ones (filled in first where a
    row has none, from its staged JSON: found in the one read of the staged digests, so a
    stage whose rows all have theirs is not scanned for them), in Python, and writes only
    the records whose digest differs: an unchanged record is never loaded into the database.
    ``None``: more than :func:`change_bound` ids. ``made``: ``latest``'s digests, made already.
    """
    c = table.c
    new = list(latest)  # nothing staged yet (a first load): every record is new
    gone: list[str] = []  # staged rows deleted: gone from the IdP, or changed
    if conn.execute(sa.select(c.run_id).where(c.connector == connector).limit(1)).first():
        query = sa.select(c.source_id, c.digest).where(c.connector == connector)
        staged = list(raw_rows(conn, query))
        if any(digest is None for _, digest in staged):  # staged before digests: fill them in
            _fill_digests(conn, table, connector)
            staged = list(raw_rows(conn, query))
        unstaged = made or {k: _record_digest(r) for k, r in latest.items()}
        for source_id, digest in staged:
            if unstaged.pop(source_id, None) != digest and source_id not in keep:
                gone.append(source_id)
        _delete_ids(conn, table, connector, set(gone))
        # not staged, or deleted above as changed (one gone from the IdP is not in ``latest``)
        new = [*unstaged, *(k for k in gone if k in latest)]
    rows = ((k, text, _digest(text)) for k, text in ((k, _json(latest[k])) for k in new))
    columns = ("source_id", "data", "digest")
    bulk_insert(
        conn, table, columns, rows, raw=("data",), same={"connector": connector, "run_id": run_id}
    )
    found = {*gone, *new}
    return found if len(found) <= change_bound(len(latest)) else None


_FILL_PAGE = 10_000
"""Rows given their digest per statement when a stage staged without digests is filled in."""


def _fill_digests(conn: Connection, table: sa.Table, connector: str) -> None:
    """Give the connector's staged rows without a digest (staged before it existed) theirs."""
    c = table.c
    query = sa.select(c.source_id, sa.cast(c.data, sa.Text)).where(
        c.connector == connector, c.digest.is_(None)
    )
    update = table.update().where(c.connector == connector, c.source_id == sa.bindparam("s"))
    last = None  # a page at a time, in key order (the rows read are the rows updated)
    while True:
        page = query if last is None else query.where(c.source_id > last)
        rows = conn.execute(page.order_by(c.source_id).limit(_FILL_PAGE)).all()
        if not rows:
            return
        values = [{"s": source_id, "d": _digest(text)} for source_id, text in rows]
        conn.execute(update.values(digest=sa.bindparam("d")), values)
        last = rows[-1][0]


def _delete_ids(conn: Connection, table: sa.Table, connector: str, ids: set[str]) -> None:
    q.delete_ids(conn, table, connector, table.c.source_id, sorted(ids))


_ENCODE = json.encoder.encode_basestring_ascii
"""How ``json.dumps`` writes a string (``ensure_ascii``; the C function where it is built)."""
_KEYS = {cls: tuple(f"{_ENCODE(n)}: " for n in names) for cls, names in _RECORD_FIELDS.items()}
"""Each record field's key as the JSON text has it, in field order."""
_VALUES = {cls: operator.attrgetter(*names) for cls, names in _RECORD_FIELDS.items()}
_ATTRIBUTES = f"{_ENCODE('attributes')}: "


def _json(record: SourceUser | SourceGroup) -> str:
    """The staged JSON text of a record (as the JSON column's own encoding writes it).

    Exactly ``json.dumps`` of the record's fields as a dict (``attributes`` as a plain dict,
    left out of a group that has none: as staged before groups had any, the same text and
    digest), written value by value: a complete read makes one per record (100,000 at L) for
    its digest, and most values are strings, ``None`` or booleans (the attributes too), whose
    text needs no dict built and no encoder's walk; any other value is ``json.dumps``'s.
    """
    parts = []
    for key, value in zip(_KEYS[type(record)], _VALUES[type(record)](record), strict=True):
        if key != _ATTRIBUTES:
            parts.append(key + _plain(value))
        elif value or not isinstance(record, SourceGroup):
            items = [
                f"{_ENCODE(k)}: {_plain(v)}" if type(k) is str else "" for k, v in value.items()
            ]
            text = "{" + ", ".join(items) + "}" if all(items) else json.dumps(dict(value))
            parts.append(key + text)
    return "{" + ", ".join(parts) + "}"


def _plain(value: object) -> str:
    """``json.dumps(value)``, without the encoder for a string, ``None`` or a boolean."""
    if type(value) is str:
        return _ENCODE(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return json.dumps(value)


def _record_digest(record: SourceUser | SourceGroup) -> str:
    """The digest staged with a record (of its JSON text)."""
    return _digest(_json(record))


def _any(conn: Connection, table: sa.Table, connector: str) -> bool:
    """Whether the connector has any record staged in ``table``."""
    c = table.c
    return (
        conn.execute(sa.select(c.run_id).where(c.connector == connector).limit(1)).first()
        is not None
    )


def _digest(text: str) -> str:
    """The digest staged with a record's JSON text: BLAKE2b, 128 bits, in hex."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
