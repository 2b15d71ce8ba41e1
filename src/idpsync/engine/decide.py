"""From a snapshot and the directory to a plan: the policy pipeline, without any I/O.

:func:`decide` chains the steps a run takes between reading the IdP and the guards:
policy (:mod:`~idpsync.engine.policy`), collisions (:mod:`~idpsync.engine.collisions`),
keeping skipped objects as they are, cleanup (:mod:`~idpsync.engine.cleanup`), local
deactivations, and the planner. Everything it needs from the store is passed in, so the
property tests can run it on generated data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from idpsync.config_policy import PolicySettings
from idpsync.engine.cleanup import Cleanup, Missing, cleanup
from idpsync.engine.collisions import Taken, resolve, settle
from idpsync.engine.edges import EdgePlanner, EdgeRule, rekey
from idpsync.engine.plan import Plan, plan
from idpsync.engine.policy import (
    PolicyResult,
    always_group_id,
    evaluate,
    hold,
    with_inactive,
)
from idpsync.model import DirectoryState, MemberKind, Snapshot


class ConnectorPolicy(Protocol):
    """What :func:`decide` reads of a connector's settings (``idpsync.config``'s have it)."""

    @property
    def policy(self) -> PolicySettings:
        """The connector's ``policy`` table."""


@dataclass
class Decision:
    """A plan and everything that explains it."""

    plan: Plan
    """The operations."""
    policy: PolicyResult
    """Desired state, skipped objects, users out of scope, warnings."""
    cleanup: Cleanup = field(default_factory=Cleanup)
    """Deprovisioning reasons, grace periods and missing-user tracking."""
    relinks: dict[str, str] = field(default_factory=dict)
    """Accounts moved to a new IdP id (new → old)."""
    kept_inactive: list[str] = field(default_factory=list)
    """Users the IdP has active but a local administrator deactivated (left inactive)."""
    collided_from: int = -1
    """``policy.skipped[collided_from:]`` were skipped for a name collision (-1: unknown)."""
    edges: EdgeRule = field(default_factory=EdgeRule)
    """Which membership edges are desired (:mod:`idpsync.engine.edges`)."""


def prune(state: DirectoryState) -> None:
    """Drop membership edges whose group or member is not in ``state``."""
    users, groups = state.users, state.groups
    dangling = [
        m
        for m in state.memberships
        if m.group_id not in groups
        or m.member_id not in (users if m.member_kind is MemberKind.USER else groups)
    ]
    if dangling:  # a set difference reuses the stored hashes (no rebuild of the whole set)
        state.memberships = state.memberships - set(dangling)


def decide(
    snapshot: Snapshot,
    settings: ConnectorPolicy,
    current: DirectoryState,
    *,
    connector: str = "",
    taken: Taken | Callable[[PolicyResult], Taken] | None = None,
    missing: Mapping[str, Missing] | None = None,
    local_off: set[str] | None = None,
    now: datetime,
    preset: Mapping[str, str] | None = None,
    edges: EdgePlanner | None = None,
) -> Decision:
    """The plan for ``snapshot`` against ``current`` under the connector's settings.

    ``preset``: the mapping templates of the connector's source type (the caller looks them up
    with :func:`idpsync.sources.registry.preset`). ``edges``: where the membership edges are
    when neither ``snapshot`` nor ``current`` holds them (the store,
    :class:`idpsync.store.edge_diff.StoreEdges`): the desired state then has no edges, and the
    plan's membership operations come from ``edges.changes`` under the decision's
    :class:`~idpsync.engine.edges.EdgeRule`. Without it, edges are diffed in Python.
    """
    policy = settings.policy
    result = evaluate(snapshot, policy, preset, connector=connector, edges=edges)
    collided_from = len(result.skipped)
    names = taken(result) if callable(taken) else taken or Taken()
    relinks = resolve(
        result, current, names, relink=policy.relink_recreated, unique_emails=policy.unique_emails
    )
    base = result.desired
    mapped = set(base.users)
    done = Cleanup()
    held: tuple[set[str], set[str]] = set(), set()
    for _ in range(10):  # each round can only skip more users; it settles quickly
        moved = rekey(current, relinks) if relinks else current
        desired = DirectoryState(dict(base.users), dict(base.groups), set(base.memberships))
        for sid in set(base.users) - mapped:
            desired.users.pop(sid)
        prune(desired)
        result.desired = desired
        held = result.held_users, result.held_groups  # as held (a last settle skips more)
        hold(desired, moved, *held)
        done = cleanup(
            desired,
            moved,
            policy,
            complete=snapshot.complete,
            missing=missing or {},
            why_gone=result.out_of_scope,
            now=now,
            connector=connector,
        )
        newly = settle(result, moved, mapped)
        if not newly:
            break
        mapped -= set(newly)
        for sid in newly:
            relinks.pop(sid, None)
    else:
        # A round that settles skips nobody, and hold and cleanup only add edges between
        # objects they put in, so only a loop that ran out of rounds can leave dangling edges.
        prune(result.desired)
    desired = result.desired
    kept = with_inactive(desired, local_off or set())
    rule = edge_rule(snapshot, settings, result, (base, mapped), held, done, relinks)
    ops = plan(
        desired,
        current,
        complete=snapshot.complete,
        deprovision="delete",
        delete_groups=policy.delete_groups,
        notes=done.reasons,
        anonymised=done.anonymised,
        relinks=relinks,
        members=None if edges is None else edges.changes(rule),
    )
    return Decision(ops, result, done, relinks, kept, collided_from, rule)


def edge_rule(
    snapshot: Snapshot,
    settings: ConnectorPolicy,
    result: PolicyResult,
    synced: tuple[DirectoryState, set[str]],
    held: tuple[set[str], set[str]],
    done: Cleanup,
    relinks: Mapping[str, str],
) -> EdgeRule:
    """The :class:`EdgeRule` of a settled decision (see :mod:`idpsync.engine.edges`).

    ``synced``: the policy's state after the collisions of names, and its users still synced
    after settling; ``held``: the users and groups the last round held as they are.
    """
    base, mapped = synced
    always = {always_group_id(name) for name in settings.policy.groups.always}
    from_snapshot = {g.source_id for g in snapshot.groups} - result.dropped_groups.keys()
    return EdgeRule(
        synced_users=frozenset(base.users.keys() & mapped),
        staged_groups=frozenset(base.groups.keys() - (always - from_snapshot)),
        always=frozenset(always & base.groups.keys()),
        groups=frozenset(result.desired.groups),
        held_users=frozenset(held[0]),
        held_groups=frozenset(held[1]),
        kept=frozenset(done.with_edges),
        relinks=dict(relinks),
        complete=snapshot.complete,
    )
