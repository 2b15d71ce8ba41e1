"""Undo of a run: compensating operations built from its change log, without any I/O.

Every change-log row holds the values before and after the change; :func:`compensate` turns a
run's rows, newest first, into the operations that put them back:

- a creation becomes a deletion, a deletion a creation with the logged values;
- an update, deactivation, reactivation or anonymisation becomes the update (or reactivation,
  deactivation) that restores the logged ``before`` values;
- an added membership is removed, a removed one added again.

An object that changed since the run is **not** touched but reported as a :class:`Conflict`:
one a later change-log row names (``touched``), or one whose current state is not what the run
left (a local change). A re-link (an account moved to a new IdP id) is never undone. Reverting
the same run twice therefore changes nothing the second time: the first revert's own changes
are later rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from idpsync.engine.plan import Op, OpKind, Plan
from idpsync.model import DirectoryState, MemberKind, Membership

Touch = tuple[str, str]
"""What a change-log row touches: ``("user", source id)``, ``("group", …)`` or
``("member", "group|kind|member")``."""


@dataclass(frozen=True)
class Conflict:
    """A change of the run that is not undone, and why."""

    op: str
    """The change-log ``op`` of the run's change."""
    key: str
    """The object's name (login, group name, ``group ← member``)."""
    source_id: str
    """The object's source id (the group's for memberships)."""
    reason: str
    """Why it is left as it is."""


@dataclass
class Compensation:
    """The operations that undo a run, and what cannot be undone."""

    plan: Plan = field(default_factory=Plan)
    """The compensating operations (applied as one new run)."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Changes left as they are."""


def edge_of(value: Mapping[str, Any]) -> Membership:
    """The membership of a ``member.*`` change-log side (``{"group", "member", "member_kind"}``)."""
    return Membership(
        str(value["group"]), str(value["member"]), MemberKind(str(value["member_kind"]))
    )


def touches(row: Mapping[str, Any]) -> Touch:
    """What one change-log row touches (see :data:`Touch`)."""
    if row["object_type"] != "member":
        return (str(row["object_type"]), str(row["source_id"]))
    edge = edge_of(row["after"] or row["before"])
    return ("member", f"{edge.group_id}|{edge.member_kind.value}|{edge.member_id}")


def compensate(
    rows: Iterable[Mapping[str, Any]],
    current: DirectoryState,
    touched: Collection[Touch] = frozenset(),
) -> Compensation:
    """The undo of a run's change-log ``rows`` (in log order) on the ``current`` directory."""
    result = Compensation()
    for row in reversed(list(rows)):
        op = str(row["op"])
        key = str(row.get("object_key") or row["source_id"])
        reason = _conflict(row, current, touched)
        if reason:
            result.conflicts.append(Conflict(op, key, str(row["source_id"]), reason))
            continue
        result.plan.ops.append(_inverse(row, current, key))
    _drop_dangling(result, current)
    return result


def _drop_dangling(result: Compensation, current: DirectoryState) -> None:
    """Memberships to add back whose group or member neither exists nor comes back."""
    users, groups = set(current.users), set(current.groups)
    for op in result.plan.ops:
        if op.kind is OpKind.CREATE_USER:
            users.add(op.source_id)
        elif op.kind is OpKind.CREATE_GROUP:
            groups.add(op.source_id)
        elif op.kind is OpKind.DELETE_USER:
            users.discard(op.source_id)
        elif op.kind is OpKind.DELETE_GROUP:
            groups.discard(op.source_id)
    kept = []
    for op in result.plan.ops:
        edge = op.member
        if op.kind is OpKind.ADD_MEMBER and edge is not None:
            members = users if edge.member_kind is MemberKind.USER else groups
            if edge.group_id not in groups or edge.member_id not in members:
                result.conflicts.append(
                    Conflict(
                        OpKind.REMOVE_MEMBER.value,
                        op.key,
                        op.source_id,
                        "its group or member no longer exists",
                    )
                )
                continue
        kept.append(op)
    result.plan.ops = kept


def _differs(now: Mapping[str, Any], logged: Mapping[str, Any] | None) -> bool:
    return any(now.get(k) != v for k, v in (logged or {}).items())


def _conflict(
    row: Mapping[str, Any], current: DirectoryState, touched: Collection[Touch]
) -> str | None:
    """Why the row cannot be undone, or ``None``."""
    op, sid = OpKind(row["op"]), str(row["source_id"])
    if op is OpKind.RELINK_USER:
        return "a re-linked account is not moved back"
    if touches(row) in touched:
        return "changed again by a later run"
    if op in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
        edge = edge_of(row["after"] or row["before"])
        present = edge in current.memberships
        if present != (op is OpKind.ADD_MEMBER):
            return "the membership changed since"
        return None
    objects: Mapping[str, Any] = current.users if row["object_type"] == "user" else current.groups
    found = objects.get(sid)
    if op in (OpKind.DELETE_USER, OpKind.DELETE_GROUP):
        return "it exists again" if found is not None else None
    if found is None:
        return "it no longer exists"
    if _differs(found.fields(), row["after"]):
        return "changed since the run"
    return None


_FLIP = {True: OpKind.REACTIVATE_USER, False: OpKind.DEACTIVATE_USER}


def _inverse(row: Mapping[str, Any], current: DirectoryState, key: str) -> Op:
    op, sid = OpKind(row["op"]), str(row["source_id"])
    before, after = row["before"], row["after"]
    why = f"revert of run {row['run_id']}" if "run_id" in row else "revert"
    if op in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
        kind = OpKind.REMOVE_MEMBER if op is OpKind.ADD_MEMBER else OpKind.ADD_MEMBER
        return Op(kind, sid, member=edge_of(after or before), reason=why, key=key)
    if op is OpKind.CREATE_USER:
        fields = current.users[sid].fields()
        return Op(OpKind.DELETE_USER, sid, before=fields, reason=why, key=key)
    if op is OpKind.CREATE_GROUP:
        fields = current.groups[sid].fields()
        return Op(OpKind.DELETE_GROUP, sid, before=fields, reason=why, key=key)
    if op is OpKind.DELETE_USER:
        return Op(OpKind.CREATE_USER, sid, after=dict(before), reason=why, key=key)
    if op is OpKind.DELETE_GROUP:
        return Op(OpKind.CREATE_GROUP, sid, after=dict(before), reason=why, key=key)
    restore = {k: before.get(k) for k in after} if before else {}
    kind = OpKind.UPDATE_GROUP if op is OpKind.UPDATE_GROUP else OpKind.UPDATE_USER
    if kind is OpKind.UPDATE_USER and "active" in restore and restore["active"] != after["active"]:
        kind = _FLIP[bool(restore["active"])]
    return Op(kind, sid, before=dict(after), after=restore, reason=why, key=key)
