"""Guards: safety limits checked between planning and applying.

A guard that trips raises :class:`GuardRefused` before anything is written; the message says how
many users would be removed and how to confirm (``idpsync sync --allow-deletes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from idpsync.config import GuardSettings
from idpsync.engine.plan import REMOVALS, OpKind, Plan


class GuardRefused(Exception):
    """A run was stopped by a safety limit; nothing was changed."""

    def __init__(self, message: str, removals: int) -> None:
        super().__init__(message)
        self.removals = removals


@dataclass(frozen=True)
class GuardContext:
    """What the guards need besides the plan."""

    complete: bool
    """Whether the snapshot was complete."""
    owned_active_users: int
    """Active users the connector owns before the run."""
    allow_deletes: bool = False
    """The administrator confirmed the removals (``--allow-deletes``)."""


def check(plan: Plan, settings: GuardSettings, ctx: GuardContext) -> None:
    """Raise :class:`GuardRefused` when the plan breaks a limit."""
    if not ctx.complete:
        bad = [op for op in plan.ops if op.kind in REMOVALS]
        if bad:  # the planner never does this; a guard that cannot be confirmed away
            raise AssertionError(f"incomplete snapshot planned {len(bad)} removals")
    removals = plan.count(OpKind.DEACTIVATE_USER, OpKind.DELETE_USER)
    if ctx.allow_deletes or removals == 0:
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
