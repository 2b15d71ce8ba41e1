"""Guards: safety limits checked between planning and applying.

A guard that trips raises :class:`GuardRefused` before anything is written; the message says how
many users would be removed and how to confirm (``idpsync sync --allow-deletes``).

Two kinds of limit:

- **the read**: a complete IdP read with no users at all, or with more than
  ``max_snapshot_shrink`` fewer users than the last good run read (from
  ``min_snapshot_shrink_count`` users on), is refused whatever the plan says — an empty or
  truncated answer is far more likely a permission or API problem than a mass departure;
- **the plan**: more deactivations, anonymisations and deletions than ``max_deactivate_share``
  of the owned active users (from ``min_deactivations_for_share`` on) or than
  ``max_deactivate_count``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from idpsync.engine.plan import REMOVALS, OpKind, Plan


class GuardRefused(Exception):
    """A run was stopped by a safety limit; nothing was changed."""

    def __init__(self, message: str, removals: int) -> None:
        super().__init__(message)
        self.removals = removals


class GuardLimits(Protocol):
    """The limits a connector's ``guard`` table sets (``idpsync.config.GuardSettings``)."""

    @property
    def max_snapshot_shrink(self) -> float:
        """Largest share of users a complete read may lose against the last good run."""

    @property
    def min_snapshot_shrink_count(self) -> int:
        """Fewest disappeared users for the shrink limit to apply."""

    @property
    def refuse_empty(self) -> bool:
        """Whether a complete read without users is refused."""

    @property
    def max_deactivate_share(self) -> float:
        """Largest share of owned active users a run may remove."""

    @property
    def max_deactivate_count(self) -> int | None:
        """Most users a run may remove (``None``: no limit)."""

    @property
    def min_deactivations_for_share(self) -> int:
        """Fewest removals for the share limit to apply."""


@dataclass(frozen=True)
class GuardContext:
    """What the guards need besides the plan."""

    complete: bool
    """Whether the snapshot was complete."""
    owned_active_users: int
    """Active users the connector owns before the run."""
    allow_deletes: bool = False
    """The administrator confirmed the removals (``--allow-deletes``)."""
    snapshot_users: int | None = None
    """Users in this run's IdP read (``None``: not checked)."""
    previous_users: int | None = None
    """Users in the last good run's IdP read (``None``: there was none)."""
    previous_run: int | None = None
    """The last good run's id, for the message."""


def check(plan: Plan, settings: GuardLimits, ctx: GuardContext) -> None:
    """Raise :class:`GuardRefused` when the plan breaks a limit."""
    if not ctx.complete:
        bad = [op for op in plan.ops if op.kind in REMOVALS]
        if bad:  # the planner never does this; a guard that cannot be confirmed away
            raise AssertionError(f"incomplete snapshot planned {len(bad)} removals")
    removals = plan.count(OpKind.DEACTIVATE_USER, OpKind.DELETE_USER, OpKind.ANONYMISE_USER)
    if ctx.allow_deletes:
        return
    _check_read(plan, settings, ctx, removals)
    if removals == 0:
        return
    base = max(ctx.owned_active_users, 1)
    share = removals / base
    problems = []
    if settings.max_deactivate_count is not None and removals > settings.max_deactivate_count:
        problems.append(f"more than the limit of {settings.max_deactivate_count} users")
    if removals >= settings.min_deactivations_for_share and share > settings.max_deactivate_share:
        problems.append(
            f"{share:.0%} of the {ctx.owned_active_users} active users, "
            f"above the limit of {settings.max_deactivate_share:.0%}"
        )
    if problems:
        raise GuardRefused(
            f"refused: this run would deactivate or delete {removals} users "
            f"({'; '.join(problems)}). Nothing was changed. Check the IdP and the connector's "
            "scope; if the removals are intended, run again with --allow-deletes.",
            removals,
        )


def _check_read(plan: Plan, settings: GuardLimits, ctx: GuardContext, removals: int) -> None:
    """Refuse an empty or much smaller complete read than the last good run's."""
    now, before = ctx.snapshot_users, ctx.previous_users
    if not ctx.complete or now is None or not before:
        return
    problem = ""
    if now == 0 and settings.refuse_empty:
        problem = (
            f"the IdP returned no users at all, but the last good run (run "
            f"{ctx.previous_run}) read {before}"
        )
    elif (
        settings.max_snapshot_shrink < 1
        and before - now >= settings.min_snapshot_shrink_count
        and (before - now) / before > settings.max_snapshot_shrink
    ):
        problem = (
            f"the IdP returned {now} users, {(before - now) / before:.0%} fewer than "
            f"the {before} of the last good run (run {ctx.previous_run}), above the limit of "
            f"{settings.max_snapshot_shrink:.0%}"
        )
    if problem:
        members = plan.count(OpKind.REMOVE_MEMBER)
        raise GuardRefused(
            f"refused: {problem}. This run would deactivate, anonymise or delete {removals} "
            f"users and remove {members} memberships. Nothing was changed. Check the IdP and "
            "the connector's permissions and scope; if this is intended, run again with "
            "--allow-deletes.",
            removals,
        )
