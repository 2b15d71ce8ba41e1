"""The edge rule (engine/edges.py) says exactly what decide's edge steps did (generated worlds).

``decide`` still builds the desired edges in Python step by step (policy, prune, hold,
cleanup, relinks); its :class:`EdgeRule` must describe the same set, and deciding with the
edges kept out of the states (an :class:`EdgePlanner`) must give the very same plan.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from idpsync.config import ConnectorSettings
from idpsync.engine import edges
from idpsync.engine.decide import decide
from idpsync.engine.plan import apply_ops
from idpsync.model import (
    DirectoryState,
    MemberKind,
    Membership,
    SkippedRecord,
    Snapshot,
)
from tests.test_properties import POLICIES, idp, snapshot_of

GROUPS = [f"g{i}" for i in range(4)]
USERS = [f"u{i}" for i in range(8)]


@st.composite
def worlds(
    draw: st.DrawFn, *, relink: bool = False
) -> tuple[ConnectorSettings, DirectoryState, Snapshot]:
    """A directory synced from a first IdP state (plus stray edges), and a second snapshot.

    ``relink``: the second snapshot is the first with some users re-created under new ids.
    """
    policy = {**draw(POLICIES), "relink_recreated": relink or draw(st.booleans())}
    connector = ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "x.json"}, "policy": policy}
    )
    now = datetime.now(UTC)
    earlier = draw(idp())
    first = decide(snapshot_of(earlier), connector, DirectoryState(), connector="hr", now=now)
    state = apply_ops(DirectoryState(), first.plan.ops)
    users, groups = sorted(state.users), sorted(state.groups)
    if groups:  # edges the policy would not make (local to the directory, or older rules)
        members = [(MemberKind.USER, u) for u in users] + [(MemberKind.GROUP, g) for g in groups]
        stray = draw(st.sets(st.tuples(st.sampled_from(groups), st.sampled_from(members))))
        state.memberships |= {Membership(g, m, k) for g, (k, m) in stray if m != g}
    snap = snapshot_of(earlier if relink else draw(idp()))
    gone = set() if relink else draw(st.sets(st.sampled_from(USERS)))
    snap.users = [u for u in snap.users if u.source_id not in gone]
    again = draw(st.sets(st.sampled_from(USERS), min_size=4 if relink else 0))
    snap.users = [
        replace(u, source_id=f"n{u.source_id}") if u.source_id in again else u for u in snap.users
    ]
    snap.memberships = [
        replace(m, member_id=f"n{m.member_id}") if m.member_id in again else m
        for m in snap.memberships
    ]
    nested = draw(st.sets(st.tuples(st.sampled_from(GROUPS), st.sampled_from(GROUPS))))
    snap.memberships += [Membership(g, c, MemberKind.GROUP) for g, c in sorted(nested)]
    for kind, sid in draw(
        st.sets(st.tuples(st.sampled_from(["user", "group"]), st.sampled_from(USERS + GROUPS)))
    ):
        snap.skipped.append(SkippedRecord(kind, sid, sid, "unreadable"))
    if draw(st.booleans()):
        snap.mark_incomplete("a listing failed")
    return connector, state, snap


def _decide(world: tuple[ConnectorSettings, DirectoryState, Snapshot], **kwargs: Any) -> Any:
    connector, state, snap = world
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return decide(snap, connector, state, connector="hr", now=now, **kwargs)


@settings(max_examples=300, deadline=None)
@given(world=worlds() | worlds(relink=True))
def test_the_rule_gives_the_desired_edges_and_the_same_plan(
    world: tuple[ConnectorSettings, DirectoryState, Snapshot],
) -> None:
    connector, state, snap = world
    decision = _decide(world)
    event(f"relinks: {bool(decision.relinks)}")
    event(f"held: {bool(decision.edges.held_users or decision.edges.held_groups)}")
    event(f"kept with edges: {bool(decision.edges.kept)}")
    event(f"always: {bool(decision.edges.always)}")
    assert decision.edges.relinks == decision.relinks
    moved = {m.member_id for m in state.memberships} & set(decision.relinks.values())
    event(f"relinked user with directory edges: {bool(moved)}")
    current = edges.rekeyed(state.memberships, decision.edges.relinks)
    wanted = edges.desired(decision.edges, snap.memberships, current)
    assert wanted == decision.policy.desired.memberships
    bare = DirectoryState(dict(state.users), dict(state.groups))
    planner = edges.InMemory(snap.memberships, state.memberships)
    apart = _decide((connector, bare, snap), edges=planner)
    assert apart.plan.ops == decision.plan.ops
    assert apart.edges == decision.edges
    assert not apart.policy.desired.memberships  # no edge became a Python object of the state


def test_a_held_user_keeps_directory_edges_not_staged_ones() -> None:
    rule = edges.EdgeRule(
        synced_users=frozenset({"a"}),
        staged_groups=frozenset({"g1", "g2"}),
        groups=frozenset({"g1", "g2"}),
        held_users=frozenset({"h"}),
    )
    staged = [Membership("g1", "h", MemberKind.USER), Membership("g1", "a", MemberKind.USER)]
    current = [Membership("g2", "h", MemberKind.USER), Membership("g2", "a", MemberKind.USER)]
    diff = edges.changes(rule, staged, current)
    assert diff.added == [Membership("g1", "a", MemberKind.USER)]
    assert diff.removed == [Membership("g2", "a", MemberKind.USER)]


def test_an_incomplete_read_removes_no_edge_and_relinks_rekey() -> None:
    rule = edges.EdgeRule(
        synced_users=frozenset({"new"}),
        staged_groups=frozenset({"g"}),
        groups=frozenset({"g"}),
        relinks={"new": "old"},
        complete=False,
    )
    current = [Membership("g", "old", MemberKind.USER), Membership("g", "x", MemberKind.USER)]
    diff = edges.changes(rule, [Membership("g", "new", MemberKind.USER)], current)
    assert diff == edges.EdgeChanges([], [])
