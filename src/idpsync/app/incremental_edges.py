"""The membership diff of an incremental plan (:mod:`idpsync.app.incremental`).

An incremental plan decides only the users a delta can change the decision for. A user the
delta touches only through an added or removed edge is not one of them when no policy scoping
reads edges (no ``required_groups``): the last run left such a user synced exactly when the
directory holds it (every owned user it did not sync was left out, is gone or is marked, and
those are planned), and nothing about the user changed. For those *loose* edges the diff is
decided edge by edge: an edge is desired when it is staged after the delta, its group is one of
the policy's staged groups and its member a synced user; it is held when the directory has it,
and kept (not removed) while its group is held as the directory has it.
Everything else (the planned users' edges and every group edge) is diffed in the store,
restricted to them (:class:`~idpsync.store.edge_diff.StoreEdges` with ``users``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from idpsync.engine.decide import Decision
from idpsync.engine.edges import EdgeChanges, EdgePlanner, EdgeRule, sorted_edges
from idpsync.engine.plan import Op
from idpsync.model import DirectoryState, MemberKind, Membership


class LooseEdges:
    """An :class:`~idpsync.engine.edges.EdgePlanner`: a restricted diff plus the loose edges."""

    def __init__(
        self,
        inner: EdgePlanner,
        edges: Collection[Membership],
        staged: Collection[Membership],
        held: Collection[tuple[str, str]],
        logins: Mapping[str, str],
    ) -> None:
        self.inner = inner
        self.edges = sorted_edges(set(edges))
        """The loose edges (user edges of the delta whose member is not planned)."""
        self.staged = set(staged)
        """Those of them the stage holds after the delta."""
        self.held = set(held)
        """Those of them the directory holds, as (group, user) source ids."""
        self.logins = logins
        """Logins of the owned (so synced) users among their members."""

    def members(self, roots: set[str], *, transitive: bool) -> set[str]:
        """Users in the staged groups ``roots`` (the store's answer)."""
        return self.inner.members(roots, transitive=transitive)

    def changes(self, rule: EdgeRule) -> EdgeChanges:
        """The restricted diff's changes and the loose edges' (see the module doc)."""
        found = self.inner.changes(rule)
        added, removed = list(found.added), list(found.removed)
        for edge in self.edges:
            want = (
                edge in self.staged
                and edge.group_id in rule.staged_groups
                and edge.member_id in self.logins
                and edge.member_id != edge.group_id
            )
            have = (edge.group_id, edge.member_id) in self.held
            if want and not have:
                added.append(edge)
            elif have and not want and rule.complete and not _spared(rule, edge):
                removed.append(edge)
        return EdgeChanges(sorted_edges(added), sorted_edges(removed))

    def named(self, decision: Decision, current: DirectoryState) -> None:
        """Give the loose edges' operations the keys a full plan gives them (``group ← login``).

        The planner names a member from the users it planned; a loose member is not one.
        """
        desired = decision.policy.desired
        ops = decision.plan.ops
        for index, op in enumerate(ops):
            edge = op.member
            if edge is None or edge.member_kind is not MemberKind.USER:
                continue
            if edge.member_id in desired.users or edge.member_id in current.users:
                continue
            login = self.logins.get(edge.member_id)
            if login is not None:
                ops[index] = _keyed(op, _group_name(edge.group_id, desired, current), login)


def _spared(rule: EdgeRule, edge: Membership) -> bool:
    """Whether the directory keeps a loose edge for its held group (``edges.spared``).

    Its member is synced (owned and not planned), and neither held nor kept (those are
    planned), so only a held group can keep the edge.
    """
    return edge.group_id in rule.groups and edge.group_id in rule.held_groups


def _group_name(gid: str, desired: DirectoryState, current: DirectoryState) -> str:
    for state in (desired, current):
        if gid in state.groups:
            return state.groups[gid].name
    return gid


def _keyed(op: Op, group: str, login: str) -> Op:
    return replace(op, key=f"{group} ← {login}")
