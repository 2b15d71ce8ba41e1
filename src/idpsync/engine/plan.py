"""The planner: a pure function of (desired state, current state) → operations.

Nothing here does I/O. :func:`plan` compares what the policy wants with what the directory
holds for one connector and returns the operations that close the gap; :func:`apply_ops`
performs them on an in-memory :class:`~idpsync.model.DirectoryState`, which is what the
property tests use to show that planning again after applying yields nothing.

Rules:

- Users and groups are matched on ``source_id`` only, so a rename or an e-mail change is an
  ``update``, never a delete plus a create.
- ``complete=False`` (an incomplete snapshot) never produces a deactivation, a deletion or a
  membership removal: missing data is not evidence that someone left.
- A user who is missing from the IdP is handled by ``deprovision``: ``deactivate`` (default),
  ``delete`` or ``keep``. A user who comes back is reactivated under the same identity.
  (The runner decides cleanup beforehand with :mod:`idpsync.engine.cleanup` and passes its
  reasons as ``notes``; what is then still absent from ``desired`` is deleted.)
- ``relinks`` (``{new source id: old source id}``) re-anchor an existing account on a new IdP
  id (a user deleted and re-created in the IdP); they come first, as ``user.relink``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from idpsync.engine.edges import EdgeChanges, StoredAdds, rekey, sorted_edges
from idpsync.model import (
    DirectoryState,
    DirGroup,
    DirUser,
    JSONValue,
    MemberKind,
    Membership,
)

Deprovision = Literal["deactivate", "delete", "anonymise", "keep"]


class OpKind(StrEnum):
    """Every kind of change a run can make; the value is the change log's ``op``."""

    CREATE_USER = "user.create"
    UPDATE_USER = "user.update"
    DEACTIVATE_USER = "user.deactivate"
    REACTIVATE_USER = "user.reactivate"
    DELETE_USER = "user.delete"
    ANONYMISE_USER = "user.anonymise"
    RELINK_USER = "user.relink"
    CREATE_GROUP = "group.create"
    UPDATE_GROUP = "group.update"
    DELETE_GROUP = "group.delete"
    ADD_MEMBER = "member.add"
    REMOVE_MEMBER = "member.remove"


_OBJECT_TYPES = {kind: kind.value.split(".", 1)[0] for kind in OpKind}

REMOVALS = frozenset(
    {
        OpKind.DEACTIVATE_USER,
        OpKind.DELETE_USER,
        OpKind.ANONYMISE_USER,
        OpKind.DELETE_GROUP,
        OpKind.REMOVE_MEMBER,
    }
)
"""Operations an incomplete snapshot may never produce."""


@dataclass(frozen=True, slots=True)
class Op:
    """One change to the directory."""

    kind: OpKind
    """What to do."""
    source_id: str
    """The user's or group's source id (for memberships: the group's)."""
    before: dict[str, JSONValue] | None = None
    """The changed fields before (``None`` for a creation)."""
    after: dict[str, JSONValue] | None = None
    """The changed fields after (``None`` for a deletion)."""
    member: Membership | None = None
    """The edge, for membership operations."""
    reason: str = ""
    """Why, in words (``missing from the IdP``, ``disabled in the IdP``)."""
    key: str = ""
    """What a person calls the object: the user's login, the group's name, ``group ← member``."""

    @property
    def object_type(self) -> str:
        """``user``, ``group`` or ``member``."""
        return _OBJECT_TYPES[self.kind]


@dataclass(slots=True)
class Plan:
    """The operations of one run, in the order they are applied."""

    ops: list[Op] = field(default_factory=list)
    """Creations first, then updates, memberships, and removals last."""
    stored: StoredAdds | None = None
    """Added memberships left in the store (a first load): not in ``ops``, but counted."""

    def count(self, *kinds: OpKind) -> int:
        """How many operations of the given kinds."""
        counted = sum(1 for op in self.ops if op.kind in kinds)
        if OpKind.ADD_MEMBER in kinds:
            counted += self._stored_count()
        return counted

    def summary(self) -> dict[str, int]:
        """Counts by operation kind (only non-zero kinds)."""
        counts = Counter(op.kind for op in self.ops)
        counts[OpKind.ADD_MEMBER] += self._stored_count()
        return {kind.value: n for kind, n in counts.items() if n}

    def shown(self) -> list[Op]:
        """The operations to show a person: ``ops`` with the stored additions' sample in place."""
        return self.ops if self.stored is None else self.with_adds(self.stored.sample)

    def with_adds(self, adds: list[Op]) -> list[Op]:
        """``ops`` with ``adds`` (``member.add`` operations) where the plan orders additions."""
        first = _ORDER[OpKind.ADD_MEMBER]
        at = next((i for i, op in enumerate(self.ops) if _ORDER[op.kind] >= first), len(self.ops))
        return [*self.ops[:at], *adds, *self.ops[at:]]

    def _stored_count(self) -> int:
        return 0 if self.stored is None else self.stored.edges.count

    def __len__(self) -> int:
        return len(self.ops) + self._stored_count()

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run (3.11) formats the finished main task, and with it a
        # run's result and plan, when it restores the SIGINT handler; a million ops took seconds.
        return f"Plan({len(self)} ops: {self.summary()})"

    def __bool__(self) -> bool:
        return bool(self.ops) or self._stored_count() > 0


def _diff(
    before: dict[str, JSONValue], after: dict[str, JSONValue]
) -> tuple[dict[str, JSONValue], dict[str, JSONValue]]:
    changed = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in changed}, {k: after[k] for k in changed}


def plan(
    desired: DirectoryState,
    current: DirectoryState,
    *,
    complete: bool = True,
    deprovision: Deprovision = "deactivate",
    delete_groups: bool = True,
    notes: Mapping[str, str] | None = None,
    anonymised: frozenset[str] | set[str] = frozenset(),
    relinks: Mapping[str, str] | None = None,
    members: EdgeChanges | None = None,
) -> Plan:
    """The operations that turn ``current`` into ``desired`` (see the module rules).

    ``members``: the membership changes, when they were computed elsewhere (in the store, see
    :mod:`idpsync.engine.edges`); otherwise the edges of ``desired`` and ``current`` are diffed.
    """
    result = Plan()
    relink_ops = []
    if relinks:
        current = rekey(current, relinks)
        relink_ops = [
            Op(
                OpKind.RELINK_USER,
                new,
                before={"source_id": old},
                after={"source_id": new},
                reason="re-created in the IdP with a new id; the account is kept",
            )
            for new, old in sorted(relinks.items())
        ]
    result.ops.extend(relink_ops)
    result.ops.extend(_plan_groups_upsert(desired, current))
    result.ops.extend(
        _plan_users(
            desired,
            current,
            complete=complete,
            deprovision=deprovision,
            notes=notes or {},
            anonymised=anonymised,
        )
    )
    if members is None:
        members = _edge_changes(desired, current, complete=complete)
    result.ops.extend(_plan_members(desired, current, members))
    if members.stored is not None:
        shown = EdgeChanges(members.stored.sample, [])
        result.stored = StoredAdds(members.stored, list(_plan_members(desired, current, shown)))
    if complete and delete_groups:
        for source_id in sorted(current.groups.keys() - desired.groups.keys()):
            result.ops.append(
                Op(
                    OpKind.DELETE_GROUP,
                    source_id,
                    before=current.groups[source_id].fields(),
                    reason="missing from the IdP",
                )
            )
    result.ops.sort(key=lambda op: _ORDER[op.kind])  # stable: keeps source-id order within a kind
    result.ops = [
        op if op.key else replace(op, key=_key(op, desired, current)) for op in result.ops
    ]
    return result


def _name(kind: MemberKind, source_id: str, *states: DirectoryState) -> str:
    for state in states:
        if kind is MemberKind.USER and source_id in state.users:
            return state.users[source_id].login
        if kind is MemberKind.GROUP and source_id in state.groups:
            return state.groups[source_id].name
    return source_id


def _key(op: Op, desired: DirectoryState, current: DirectoryState) -> str:
    if op.member is not None:
        group = _name(MemberKind.GROUP, op.member.group_id, desired, current)
        member = _name(op.member.member_kind, op.member.member_id, desired, current)
        return f"{group} ← {member}"
    kind = MemberKind.USER if op.object_type == "user" else MemberKind.GROUP
    return _name(kind, op.source_id, desired, current)


NEW = "new in the IdP"

_ORDER = {
    OpKind.RELINK_USER: -1,
    OpKind.ANONYMISE_USER: 1,
    OpKind.CREATE_GROUP: 0,
    OpKind.UPDATE_GROUP: 0,
    OpKind.CREATE_USER: 1,
    OpKind.UPDATE_USER: 1,
    OpKind.REACTIVATE_USER: 1,
    OpKind.DEACTIVATE_USER: 1,
    OpKind.ADD_MEMBER: 2,
    OpKind.REMOVE_MEMBER: 3,
    OpKind.DELETE_USER: 4,
    OpKind.DELETE_GROUP: 5,
}


def _plan_groups_upsert(desired: DirectoryState, current: DirectoryState) -> Iterable[Op]:
    for source_id, group in sorted(desired.groups.items()):
        existing = current.groups.get(source_id)
        if existing is None:
            yield Op(OpKind.CREATE_GROUP, source_id, after=group.fields(), reason=NEW)
        elif existing != group:
            before, after = _diff(existing.fields(), group.fields())
            yield Op(
                OpKind.UPDATE_GROUP,
                source_id,
                before=before,
                after=after,
                reason="changed in the IdP",
            )


def _plan_users(
    desired: DirectoryState,
    current: DirectoryState,
    *,
    complete: bool,
    deprovision: Deprovision,
    notes: Mapping[str, str],
    anonymised: frozenset[str] | set[str],
) -> Iterable[Op]:
    for source_id, user in sorted(desired.users.items()):
        existing = current.users.get(source_id)
        if existing is None:
            yield Op(OpKind.CREATE_USER, source_id, after=user.fields(), reason=NEW, key=user.login)
            continue
        if existing == user:
            continue
        before, after = _diff(existing.fields(), user.fields())
        if source_id in anonymised:
            kind, reason = OpKind.ANONYMISE_USER, notes.get(source_id, "missing from the IdP")
        elif existing.active and not user.active:
            kind, reason = OpKind.DEACTIVATE_USER, notes.get(source_id, "disabled in the IdP")
            if not complete:
                # Even a deactivation the IdP states explicitly is applied only from a
                # complete read, so a partial run can never reduce access.
                after.pop("active")
                before.pop("active")
                if not after:
                    continue
                kind, reason = OpKind.UPDATE_USER, "changed in the IdP"
        elif not existing.active and user.active:
            kind, reason = OpKind.REACTIVATE_USER, "active in the IdP again"
        else:
            kind, reason = OpKind.UPDATE_USER, "changed in the IdP"
        yield Op(kind, source_id, before=before, after=after, reason=reason, key=user.login)
    if not complete or deprovision == "keep":
        return
    for source_id in sorted(current.users.keys() - desired.users.keys()):
        existing = current.users[source_id]
        if deprovision == "delete":
            yield Op(
                OpKind.DELETE_USER,
                source_id,
                before=existing.fields(),
                reason=notes.get(source_id, "missing from the IdP"),
            )
        elif existing.active:
            yield Op(
                OpKind.DEACTIVATE_USER,
                source_id,
                before={"active": True},
                after={"active": False},
                reason="missing from the IdP",
            )


def _edge_changes(
    desired: DirectoryState, current: DirectoryState, *, complete: bool
) -> EdgeChanges:
    added = sorted_edges(desired.memberships - current.memberships)
    removed = sorted_edges(current.memberships - desired.memberships) if complete else []
    return EdgeChanges(added, removed)


def _plan_members(
    desired: DirectoryState, current: DirectoryState, members: EdgeChanges
) -> Iterable[Op]:
    names = _Names(desired, current)
    for edge in members.added:
        yield Op(
            OpKind.ADD_MEMBER,
            edge.group_id,
            member=edge,
            reason="member in the IdP",
            key=names.edge(edge),
        )
    for edge in members.removed:
        yield Op(
            OpKind.REMOVE_MEMBER,
            edge.group_id,
            member=edge,
            reason="no longer a member",
            key=names.edge(edge),
        )


class _Names:
    """``_key`` of membership operations from name maps built once (``desired`` first)."""

    def __init__(self, desired: DirectoryState, current: DirectoryState) -> None:
        self.users = {sid: u.login for sid, u in current.users.items()}
        self.users.update((sid, u.login) for sid, u in desired.users.items())
        self.groups = {sid: g.name for sid, g in current.groups.items()}
        self.groups.update((sid, g.name) for sid, g in desired.groups.items())

    def edge(self, edge: Membership) -> str:
        member = self.users if edge.member_kind is MemberKind.USER else self.groups
        group = self.groups.get(edge.group_id, edge.group_id)
        return f"{group} ← {member.get(edge.member_id, edge.member_id)}"


def apply_ops(state: DirectoryState, ops: Iterable[Op]) -> DirectoryState:
    """Apply operations to an in-memory state (a copy is returned; ``state`` is unchanged)."""
    users = dict(state.users)
    groups = dict(state.groups)
    memberships = set(state.memberships)
    for op in ops:
        if op.kind is OpKind.CREATE_USER:
            assert op.after is not None
            users[op.source_id] = DirUser(source_id=op.source_id, **op.after)
        elif op.kind is OpKind.RELINK_USER:
            assert op.before is not None
            moved = rekey(
                DirectoryState(users, groups, memberships), {op.source_id: op.before["source_id"]}
            )
            users, memberships = moved.users, moved.memberships
        elif op.kind in (
            OpKind.UPDATE_USER,
            OpKind.DEACTIVATE_USER,
            OpKind.REACTIVATE_USER,
            OpKind.ANONYMISE_USER,
        ):
            users[op.source_id] = replace(users[op.source_id], **(op.after or {}))
        elif op.kind is OpKind.DELETE_USER:
            del users[op.source_id]
            memberships = {
                m
                for m in memberships
                if not (m.member_kind is MemberKind.USER and m.member_id == op.source_id)
            }
        elif op.kind is OpKind.CREATE_GROUP:
            assert op.after is not None
            groups[op.source_id] = DirGroup(source_id=op.source_id, **op.after)
        elif op.kind is OpKind.UPDATE_GROUP:
            groups[op.source_id] = replace(groups[op.source_id], **(op.after or {}))
        elif op.kind is OpKind.DELETE_GROUP:
            del groups[op.source_id]
            memberships = {
                m
                for m in memberships
                if m.group_id != op.source_id
                and not (m.member_kind is MemberKind.GROUP and m.member_id == op.source_id)
            }
        elif op.kind is OpKind.ADD_MEMBER:
            assert op.member is not None
            memberships.add(op.member)
        elif op.kind is OpKind.REMOVE_MEMBER:
            assert op.member is not None
            memberships.discard(op.member)
    return DirectoryState(users=users, groups=groups, memberships=memberships)
