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
from idpsync.engine.plan import Plan, plan, rekey
from idpsync.engine.policy import PolicyResult, evaluate, hold, with_inactive
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
) -> Decision:
    """The plan for ``snapshot`` against ``current`` under the connector's settings.

    ``preset``: the mapping templates of the connector's source type (the caller looks them up
    with :func:`idpsync.sources.registry.preset`).
    """
    policy = settings.policy
    result = evaluate(snapshot, policy, preset, connector=connector)
    collided_from = len(result.skipped)
    names = taken(result) if callable(taken) else taken or Taken()
    relinks = resolve(
        result, current, names, relink=policy.relink_recreated, unique_emails=policy.unique_emails
    )
    base = result.desired
    mapped = set(base.users)
    done = Cleanup()
    for _ in range(10):  # each round can only skip more users; it settles quickly
        moved = rekey(current, relinks) if relinks else current
        desired = DirectoryState(dict(base.users), dict(base.groups), set(base.memberships))
        for sid in set(base.users) - mapped:
            desired.users.pop(sid)
        prune(desired)
        result.desired = desired
        hold(desired, moved, result.held_users, result.held_groups)
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
    ops = plan(
        desired,
        current,
        complete=snapshot.complete,
        deprovision="delete",
        delete_groups=policy.delete_groups,
        notes=done.reasons,
        anonymised=done.anonymised,
        relinks=relinks,
    )
    return Decision(ops, result, done, relinks, kept, collided_from)
