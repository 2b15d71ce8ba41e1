"""Writing a plan into the store, with one change-log row per operation.

Runs inside the caller's transaction: either every operation of a run and its change-log rows
are written, or none are. Writes are batched by kind (bulk inserts, ``executemany`` updates).

A big insert into a small table (a first load) builds the secondary indexes of ``users``,
``memberships`` and ``changes`` after the rows (:mod:`~idpsync.store.deferred`), and on
PostgreSQL the primary and unique keys of ``memberships`` and ``changes`` too (at L ≈2 s of the
server's CPU and ≈145 MB of WAL less: one WAL record and one descent of each key per row
otherwise); the rows written are the same either way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.engine.plan import Op, OpKind, Plan
from idpsync.engine.skeleton import collision_key
from idpsync.model import MemberKind
from idpsync.store import schema as t
from idpsync.store.affected import Rows
from idpsync.store.deferred import indexes_deferred, unique_after
from idpsync.store.id_lists import ids_in
from idpsync.store.stash import Stash
from idpsync.store.store import Store, _chunks, _insert, bulk_insert, fold, now

USER_UPDATES = (
    OpKind.UPDATE_USER,
    OpKind.DEACTIVATE_USER,
    OpKind.REACTIVATE_USER,
    OpKind.ANONYMISE_USER,
)


def apply_plan(
    store: Store,
    conn: Connection,
    connector: str,
    run_id: int,
    plan: Plan,
    *,
    checkpoint: Callable[[str], None] | None = None,
    rows: Rows | None = None,
) -> None:
    """Apply ``plan`` for ``connector`` and log every change under ``run_id``.

    ``checkpoint`` is called between phases (for progress, and fault injection in tests).
    ``rows``: directory rows the plan read in this transaction (an incremental plan's,
    :class:`~idpsync.store.affected.Rows`): their ids are not read again, and the removed
    memberships among them are deleted by row id (one statement on PostgreSQL).
    """
    stamp = now()
    by_kind: dict[OpKind, list[Op]] = defaultdict(list)
    for op in plan.ops:
        by_kind[op.kind].append(op)
    step = checkpoint or (lambda _phase: None)
    _relink(conn, connector, by_kind[OpKind.RELINK_USER], stamp)

    _insert(
        conn,
        t.groups,
        (
            {
                "source_id": op.source_id,
                "name": op.after["name"],
                "name_key": fold(op.after["name"]),
                "name_skeleton": collision_key(op.after["name"]),
                "description": op.after.get("description"),
            }
            for op in by_kind[OpKind.CREATE_GROUP]
            if op.after is not None
        ),
        {"connector": connector, "created_at": stamp, "updated_at": stamp},
    )
    _update_rows(conn, t.groups, connector, by_kind[OpKind.UPDATE_GROUP], stamp)
    created = by_kind[OpKind.CREATE_USER]
    with indexes_deferred(conn, t.users, len(created)):  # its four name keys, in random order
        _insert(  # a row at a time as written: a first load's rows are never held all at once
            conn,
            t.users,
            (
                {
                    "source_id": op.source_id,
                    **_user_values(op.after),
                    "deactivated_at": None if op.after.get("active", True) else stamp,
                }
                for op in created
                if op.after is not None
            ),
            {"connector": connector, "created_at": stamp, "updated_at": stamp},  # keys once
        )
    step("users")
    _update_rows(conn, t.users, connector, [op for k in USER_UPDATES for op in by_kind[k]], stamp)
    step("updates")

    known = rows or Rows()
    user_ids, group_ids = _id_maps(store, conn, connector, by_kind, known)
    _add_members(conn, connector, by_kind[OpKind.ADD_MEMBER], (user_ids, group_ids), stamp)
    stash = _stash(plan)
    if stash is not None:
        with indexes_deferred(conn, t.memberships, stash.count) as empty:
            _keys_after(
                conn, t.memberships, empty, lambda: stash.write_memberships(connector, stamp)
            )
    removals: list[dict[str, Any]] = []
    by_row: list[int] = []  # removed memberships whose row the plan read
    for op in by_kind[OpKind.REMOVE_MEMBER]:
        edge = op.member
        if edge is None:
            continue
        row = known.memberships.get((edge.group_id, edge.member_id))
        if row is not None and edge.member_kind is MemberKind.USER:
            by_row.append(row)
            continue
        removals.append(
            {
                "g": group_ids[edge.group_id],
                "k": edge.member_kind.value,
                "m": _member_id(op, user_ids, group_ids),
            }
        )
    m = t.memberships.c
    # The owner compared through COALESCE: with ``connector =`` SQLite walked the connector's
    # memberships by their unique index once per ``IN`` list instead of probing the ids.
    owned = sa.func.coalesce(m.connector, "") == connector
    for named in ids_in(conn, m.id, sorted(by_row)):
        conn.execute(t.memberships.delete().where(owned, named))
    if removals:
        conn.execute(
            t.memberships.delete().where(
                m.connector == connector,
                m.group_id == sa.bindparam("g"),
                m.member_kind == sa.bindparam("k"),
                m.member_id == sa.bindparam("m"),
            ),
            removals,
        )
    step("memberships")
    _delete_objects(conn, connector, by_kind[OpKind.DELETE_USER], user_ids, MemberKind.USER)
    _delete_objects(conn, connector, by_kind[OpKind.DELETE_GROUP], group_ids, MemberKind.GROUP)
    with indexes_deferred(conn, t.changes, len(plan)) as empty:
        _keys_after(
            conn, t.changes, empty, lambda: _log(conn, run_id, connector, stamp, plan.ops, stash)
        )
    step("changes")


def _id_maps(
    store: Store, conn: Connection, connector: str, by_kind: dict[OpKind, list[Op]], known: Rows
) -> tuple[dict[str, int], dict[str, int]]:
    """The row ids of the users and groups the steps after need (:func:`_named`).

    Those the plan read (``known``) are not read again, but for relinked users: their source
    ids moved (:func:`_relink`), so theirs, old and new, are read as apply left them.
    """
    users, groups = _named(by_kind)
    moved = {op.source_id for op in by_kind[OpKind.RELINK_USER]}
    moved.update(str(op.before["source_id"]) for op in by_kind[OpKind.RELINK_USER] if op.before)
    kept = {sid: row for sid, row in known.users.items() if sid in users and sid not in moved}
    groups_kept = {sid: row for sid, row in known.groups.items() if sid in groups}
    user_ids, group_ids = store.id_maps(
        conn, connector, users - kept.keys(), groups - groups_kept.keys()
    )
    return {**kept, **user_ids}, {**groups_kept, **group_ids}


def _keys_after(conn: Connection, table: sa.Table, empty: bool, write: Callable[[], Any]) -> None:
    """``write`` into ``table``; with its keys built after the rows if its indexes were deferred.

    PostgreSQL, a table :func:`indexes_deferred` found small and locked: its primary key and
    unique constraints are dropped and added again after ``write`` (:func:`unique_after`: the
    build checks every row once). A key that came twice fails the build, nothing of ``write``
    stays, and it runs again with the keys kept up (where the repeat fails it as it always did).
    """
    if not (empty and unique_after(conn, table, "pu", write)):
        write()


def _named(by_kind: dict[OpKind, list[Op]]) -> tuple[set[str], set[str]]:
    """The source ids of the users and groups whose internal ids the steps after need.

    The members and groups of the added and removed edges, and the deleted users and groups
    (a stashed plan's edges are written by a join in the database, without these maps).
    """
    users = {op.source_id for op in by_kind[OpKind.DELETE_USER]}
    groups = {op.source_id for op in by_kind[OpKind.DELETE_GROUP]}
    for op in (*by_kind[OpKind.ADD_MEMBER], *by_kind[OpKind.REMOVE_MEMBER]):
        if op.member is not None:
            groups.add(op.member.group_id)
            kind = users if op.member.member_kind is MemberKind.USER else groups
            kind.add(op.member.member_id)
    return users, groups


def _stash(plan: Plan) -> Stash | None:
    """The plan's added edges kept in the store, if any (only a :class:`Stash` can be)."""
    if plan.stored is None:
        return None
    edges = plan.stored.edges
    if not isinstance(edges, Stash):
        raise TypeError(f"stored edges of type {type(edges).__name__} cannot be applied here")
    return edges


def _log(
    conn: Connection, run_id: int, connector: str, stamp: Any, ops: list[Op], stash: Stash | None
) -> None:
    """The change log, in plan order: the stashed additions go where added edges belong."""
    same = {"run_id": run_id, "connector": connector, "at": stamp}
    if stash is None:
        head, tail = ops, []
    else:
        at = next((i for i, op in enumerate(ops) if op.kind in _AFTER_ADDS), len(ops))
        head, tail = ops[:at], ops[at:]
    for part in (head, tail):
        bulk_insert(
            conn,
            t.changes,
            CHANGE_COLUMNS,
            map(_change_row, part),
            raw=("before", "after"),
            same=same,
        )
        if stash is not None and part is head:
            stash.write_changes(run_id, connector, stamp)
            stash.drop()


_AFTER_ADDS = frozenset(
    {OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER, OpKind.DELETE_USER, OpKind.DELETE_GROUP}
)
"""Operations the plan orders at or after its membership additions."""


def _add_members(
    conn: Connection,
    connector: str,
    ops: list[Op],
    id_maps: tuple[dict[str, int], dict[str, int]],
    stamp: Any,
) -> None:
    """Insert the added edges, streamed in the plan's order."""
    ids = {MemberKind.USER: id_maps[0], MemberKind.GROUP: id_maps[1]}
    groups = id_maps[1]
    rows = (
        (groups[edge.group_id], _VALUES[edge.member_kind], ids[edge.member_kind][edge.member_id])
        for edge in (op.member for op in ops)
        if edge is not None
    )
    with indexes_deferred(conn, t.memberships, len(ops)):
        bulk_insert(
            conn,
            t.memberships,
            ("group_id", "member_kind", "member_id"),
            rows,
            same={"connector": connector, "created_at": stamp},
        )


def _relink(conn: Connection, connector: str, ops: list[Op], stamp: Any) -> None:
    """Move existing accounts onto their new IdP ids (two steps, so swaps cannot clash)."""
    u = t.users.c
    for op in ops:
        assert op.before is not None
        conn.execute(
            t.users.update()
            .where(u.connector == connector, u.source_id == op.before["source_id"])
            .values(source_id="~relink~" + op.source_id, updated_at=stamp)
        )
    for op in ops:
        conn.execute(
            t.users.update()
            .where(u.connector == connector, u.source_id == "~relink~" + op.source_id)
            .values(source_id=op.source_id, missing_since=None, missing_runs=0)
        )


def _user_values(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "login" in values:
        values["login_key"] = fold(values["login"])
        values["login_skeleton"] = collision_key(values["login"])
    if "email" in values:
        values["email_key"] = fold(values["email"]) if values["email"] else None
        values["email_skeleton"] = collision_key(values["email"]) if values["email"] else None
    if "attributes" in values:
        values["attributes"] = dict(values["attributes"] or {})
    return values


def _update_rows(
    conn: Connection, table: sa.Table, connector: str, ops: list[Op], stamp: Any
) -> None:
    """``executemany`` updates, one statement per set of changed columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for op in ops:
        values = _user_values(op.after or {}) if table is t.users else dict(op.after or {})
        if table is t.groups and "name" in values:
            values["name_key"] = fold(values["name"])
            values["name_skeleton"] = collision_key(values["name"])
        if table is t.users and "active" in values:
            values["deactivated_at"] = None if values["active"] else stamp
        values["updated_at"] = stamp
        columns = tuple(sorted(values))
        by_columns[columns].append(
            {"_sid": op.source_id, **{f"v_{k}": v for k, v in values.items()}}
        )
    for columns, rows in by_columns.items():
        statement = (
            table.update()
            .where(table.c.connector == connector, table.c.source_id == sa.bindparam("_sid"))
            .values({c: sa.bindparam(f"v_{c}") for c in columns})
        )
        for chunk in _chunks(rows, 5000):
            conn.execute(statement, chunk)


def _delete_objects(
    conn: Connection, connector: str, ops: list[Op], ids: dict[str, int], kind: MemberKind
) -> None:
    table = t.users if kind is MemberKind.USER else t.groups
    doomed = [ids[op.source_id] for op in ops if op.source_id in ids]
    m = t.memberships.c
    for chunk in _chunks(doomed, 500):
        conn.execute(
            t.memberships.delete().where(m.member_kind == kind.value, m.member_id.in_(chunk))
        )
        if kind is MemberKind.GROUP:
            conn.execute(t.memberships.delete().where(m.group_id.in_(chunk)))
        conn.execute(table.delete().where(table.c.connector == connector, table.c.id.in_(chunk)))


def _member_id(op: Op, user_ids: dict[str, int], group_ids: dict[str, int]) -> int:
    assert op.member is not None
    ids = user_ids if op.member.member_kind is MemberKind.USER else group_ids
    return ids[op.member.member_id]


CHANGE_COLUMNS = ("op", "object_type", "source_id", "object_key", "before", "after", "reason")
"""The ``changes`` columns :func:`_change_row` fills, in its order (the run's are added)."""


def _change_row(op: Op) -> tuple[Any, ...]:
    """One change-log row; ``before``/``after`` as JSON text (``null`` for none)."""
    kind = op.kind
    member = op.member
    if member is not None:
        edge = _edge_json(member.group_id, member.member_id, _VALUES[member.member_kind])
        before, after = ("null", edge) if kind is OpKind.ADD_MEMBER else (edge, "null")
    else:
        before, after = _json(op.before), _json(op.after)
    return (
        _VALUES[kind],
        _OBJECT_TYPES[kind],
        op.source_id,
        op.key or op.source_id,
        before,
        after,
        op.reason or None,
    )


_VALUES: dict[OpKind | MemberKind, str] = {k: k.value for k in (*OpKind, *MemberKind)}
"""Enum values by member (a dict lookup is much faster than ``.value``)."""
_OBJECT_TYPES = {kind: kind.value.split(".", 1)[0] for kind in OpKind}


def _edge_json(group: str, member: str, kind: str) -> str:
    """``json.dumps({"group": …, "member": …, "member_kind": …})``, built directly."""
    return (
        f'{{"group": {_quote(group)}, "member": {_quote(member)}, "member_kind": {_quote(kind)}}}'
    )


def _json(value: dict[str, Any] | None) -> str:
    """JSON text of a change's side: values JSON cannot hold become strings (``str()``)."""
    return "null" if value is None else json.dumps(value, default=str)
