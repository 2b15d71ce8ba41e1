"""The membership part of a plan as data: which edges are desired, and the diff.

:func:`~idpsync.engine.decide.decide` settles users and groups in Python and describes the
edges it wants with an :class:`EdgeRule`. The desired edge set is then:

- **staged edges** of the snapshot whose group is one of the policy's groups (``staged_groups``)
  and whose member is a synced user (``synced_users``) or one of those groups, never an edge of a
  group to itself;
- **always-group edges**: every synced user in every always-assigned group (``always``);
- the directory's edges **touching a held object** (a skipped user or group, kept as the
  directory has it), when both ends stay: the group is in ``groups`` and the member is a synced
  or held user, or a group in ``groups`` (held users' staged edges are not used);
- the directory's edges of **gone users kept with their memberships** (``kept``: missing users
  in a grace period, from an incomplete read, or deprovisioned without ``remove_memberships``)
  into a group in ``groups``.

The directory's edges are taken with ``relinks`` applied (old user ids carry their new id).
Held and kept edges are always directory edges, so they can never be added, only spared.

:func:`changes` is the in-memory diff over Python edges; :mod:`idpsync.store.edge_diff` computes
the same two lists in the database, so a run never holds the whole edge set as objects. Both
give the edges sorted by group, member and kind, and no removals when the read was incomplete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Protocol

from idpsync.model import DirectoryState, MemberKind, Membership

if TYPE_CHECKING:
    from idpsync.engine.plan import Op


@dataclass(frozen=True)
class EdgeRule:
    """The id sets and flags that decide which membership edges the connector wants."""

    synced_users: frozenset[str] = frozenset()
    """Users the policy maps and syncs: their staged edges and always-group edges count."""
    staged_groups: frozenset[str] = frozenset()
    """Groups of the snapshot the policy keeps: staged edges into them (and of them) count."""
    always: frozenset[str] = frozenset()
    """Always-assigned groups that stay (every synced user is a member)."""
    groups: frozenset[str] = frozenset()
    """Every group the directory will hold for the connector (policy, always and held groups)."""
    held_users: frozenset[str] = frozenset()
    """Skipped users kept as the directory has them (with their directory edges)."""
    held_groups: frozenset[str] = frozenset()
    """Skipped groups kept as the directory has them (with their directory edges)."""
    kept: frozenset[str] = frozenset()
    """Users gone from the IdP or the scope whose directory edges are kept."""
    relinks: Mapping[str, str] = field(default_factory=dict)
    """Accounts moved to a new IdP id (new → old): the directory's edges take the new id."""
    complete: bool = True
    """Whether the snapshot was complete (an incomplete one never removes an edge)."""


class StoredEdges(Protocol):
    """Added edges left where they were computed (the store) because they are too many.

    A first load adds about ten edges per user; as objects (an edge, an operation with its key
    string, a change-log row) they cost ≈400 bytes each. The guards need only their count, a
    report only a sample; the store that computed them writes them itself
    (:mod:`idpsync.store.edge_diff`).
    """

    @property
    def count(self) -> int:
        """How many edges are added."""

    @property
    def sample(self) -> list[Membership]:
        """The first edges in order (group, member, kind), at most a few hundred, for display."""

    def read(self) -> list[Membership]:
        """Every edge, in order: only for what needs them all as objects (invariants)."""


@dataclass(frozen=True, slots=True)
class StoredAdds:
    """Added memberships the store writes itself (set-wise), with a sample to show."""

    edges: StoredEdges
    """The edges, their count, and where they are (:class:`~idpsync.engine.edges.StoredEdges`)."""
    sample: list[Op]
    """``member.add`` operations for the first edges of ``edges.sample``, keys included."""


@dataclass(frozen=True)
class EdgeChanges:
    """The membership edges a plan adds and removes, each sorted by group, member, kind."""

    added: list[Membership] = field(default_factory=list)
    """Desired edges the directory lacks."""
    removed: list[Membership] = field(default_factory=list)
    """Directory edges no longer desired (always empty for an incomplete snapshot)."""
    stored: StoredEdges | None = None
    """The added edges when the store kept them (``added`` is then empty)."""


class EdgePlanner(Protocol):
    """Where the membership edges live: the store's tables, or Python sets (:class:`InMemory`)."""

    def members(self, roots: set[str], *, transitive: bool) -> set[str]:
        """Users in the staged groups ``roots`` (with ``transitive``: through nested groups)."""

    def changes(self, rule: EdgeRule) -> EdgeChanges:
        """The edges to add and to remove under ``rule``."""


def sorted_edges(edges: Iterable[Membership]) -> list[Membership]:
    """``sorted(edges)``, in the order of the fields (group, member, kind).

    Three stable sorts on one field each are much faster than comparing the dataclasses or
    building a tuple key per edge.
    """
    result = sorted(edges, key=attrgetter("member_kind"))
    result.sort(key=attrgetter("member_id"))
    result.sort(key=attrgetter("group_id"))
    return result


def rekeyed(edges: Iterable[Membership], relinks: Mapping[str, str]) -> set[Membership]:
    """``edges`` with each old user id of ``relinks`` (new → old) replaced by its new id."""
    if not relinks:
        return set(edges)
    new_id = {old: new for new, old in relinks.items()}
    return {
        Membership(m.group_id, new_id[m.member_id], m.member_kind)
        if m.member_kind is MemberKind.USER and m.member_id in new_id
        else m
        for m in edges
    }


def staged_wanted(rule: EdgeRule, edge: Membership) -> bool:
    """Whether a staged edge is desired (its group and member are synced)."""
    if edge.group_id not in rule.staged_groups or edge.member_id == edge.group_id:
        return False
    known = rule.synced_users if edge.member_kind is MemberKind.USER else rule.staged_groups
    return edge.member_id in known


def spared(rule: EdgeRule, edge: Membership) -> bool:
    """Whether a directory edge (relinks applied) stays for a held object or a kept user."""
    if edge.group_id not in rule.groups:
        return False
    user = edge.member_kind is MemberKind.USER
    if user and edge.member_id in rule.kept:
        return True
    touches = edge.group_id in rule.held_groups or (
        edge.member_id in (rule.held_users if user else rule.held_groups)
    )
    if not touches:
        return False
    if user:
        return edge.member_id in rule.synced_users or edge.member_id in rule.held_users
    return edge.member_id in rule.groups


def desired(
    rule: EdgeRule, staged: Iterable[Membership], current: Iterable[Membership]
) -> set[Membership]:
    """The desired edge set; ``current`` are the directory's edges with relinks applied."""
    wanted = {e for e in staged if staged_wanted(rule, e)}
    wanted.update(
        Membership(gid, sid, MemberKind.USER) for gid in rule.always for sid in rule.synced_users
    )
    wanted.update(e for e in current if spared(rule, e))
    return wanted


def changes(
    rule: EdgeRule, staged: Iterable[Membership], current: Iterable[Membership]
) -> EdgeChanges:
    """Added and removed edges; ``current`` are the directory's edges as stored (old ids)."""
    now = rekeyed(current, rule.relinks)
    want = desired(rule, staged, now)
    removed = sorted_edges(now - want) if rule.complete else []
    return EdgeChanges(sorted_edges(want - now), removed)


class InMemory:
    """An :class:`EdgePlanner` over edges held in Python (a snapshot's and a directory's)."""

    def __init__(self, staged: Iterable[Membership], current: Iterable[Membership]) -> None:
        self.staged = staged
        self.current = current

    def members(self, roots: set[str], *, transitive: bool) -> set[str]:
        """Users in the groups ``roots`` (see :class:`EdgePlanner`)."""
        children: dict[str, list[Membership]] = {}
        for edge in self.staged:
            children.setdefault(edge.group_id, []).append(edge)
        users: set[str] = set()
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            gid = todo.pop()
            if gid in seen:
                continue
            seen.add(gid)
            for edge in children.get(gid, []):
                if edge.member_kind is MemberKind.USER:
                    users.add(edge.member_id)
                elif transitive:
                    todo.append(edge.member_id)
        return users

    def changes(self, rule: EdgeRule) -> EdgeChanges:
        """The edges to add and to remove under ``rule`` (see :func:`changes`)."""
        return changes(rule, self.staged, self.current)


def rekey(state: DirectoryState, relinks: Mapping[str, str]) -> DirectoryState:
    """A copy of ``state`` where each old user id of ``relinks`` (new → old) has its new id."""
    old_to_new = {old: new for new, old in relinks.items()}
    users = {}
    for sid, user in state.users.items():
        new = old_to_new.get(sid)
        users[new or sid] = replace(user, source_id=new) if new else user
    memberships = {
        replace(m, member_id=old_to_new[m.member_id])
        if m.member_kind is MemberKind.USER and m.member_id in old_to_new
        else m
        for m in state.memberships
    }
    return DirectoryState(users=users, groups=dict(state.groups), memberships=memberships)
