"""Guards for groups and memberships: limits on what a plan may take away besides users.

:mod:`idpsync.engine.guard` counts user removals. The limits here stop a plan that would

- delete more than ``max_group_delete_share`` of the connector's groups (from
  ``min_group_deletes_for_share`` deletions on) or more than ``max_group_delete_count`` groups;
- remove more than ``max_membership_remove_share`` of the connector's memberships (from
  ``min_membership_removals_for_share`` removals on) or more than
  ``max_membership_remove_count`` memberships;
- take more than ``max_group_shrink`` of the members out of any one group that has at least
  ``min_group_size_for_shrink`` members (a scope mistake that empties a large group).

A refusal raises :class:`~idpsync.engine.guard.GuardRefused` before anything is written, like
the user guard, and ``--allow-deletes`` confirms it. Nothing here does I/O: the sizes come in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from idpsync.engine.guard import GuardRefused
from idpsync.engine.plan import OpKind, Plan

SHOWN = 5
"""At most this many groups are named in a refusal."""


@dataclass(frozen=True)
class Sizes:
    """How much the connector owns before the run."""

    groups: int
    """Groups the connector owns."""
    memberships: int
    """Membership edges the connector owns."""
    members: Mapping[str, int] = field(default_factory=dict)
    """Direct members per group source id (at least every group the plan takes members from)."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Group names by source id, for the message."""


def removed_per_group(plan: Plan) -> Counter[str]:
    """How many members the plan takes out of each group (by group source id)."""
    return Counter(
        op.member.group_id
        for op in plan.ops
        if op.kind is OpKind.REMOVE_MEMBER and op.member is not None
    )


class GroupLimits(Protocol):
    """The group and membership limits of a connector's ``guard`` table (``GuardSettings``)."""

    @property
    def max_group_delete_share(self) -> float:
        """Largest share of the connector's groups a run may delete."""

    @property
    def min_group_deletes_for_share(self) -> int:
        """Fewest group deletions for the share limit to apply."""

    @property
    def max_group_delete_count(self) -> int | None:
        """Most groups a run may delete (``None``: no limit)."""

    @property
    def max_membership_remove_share(self) -> float:
        """Largest share of the connector's memberships a run may remove."""

    @property
    def min_membership_removals_for_share(self) -> int:
        """Fewest membership removals for the share limit to apply."""

    @property
    def max_membership_remove_count(self) -> int | None:
        """Most memberships a run may remove (``None``: no limit)."""

    @property
    def max_group_shrink(self) -> float:
        """Largest share of one group's members a run may take out."""

    @property
    def min_group_size_for_shrink(self) -> int:
        """Smallest group the per-group limit applies to."""


def problems(plan: Plan, settings: GroupLimits, sizes: Sizes) -> list[str]:
    """Every group or membership limit the plan breaks, in words (empty: none)."""
    found: list[str] = []
    deleted = plan.count(OpKind.DELETE_GROUP)
    found += _over(
        deleted,
        sizes.groups,
        "groups",
        "delete",
        settings.max_group_delete_share,
        settings.min_group_deletes_for_share,
        settings.max_group_delete_count,
    )
    per_group = removed_per_group(plan)
    removed = sum(per_group.values())
    found += _over(
        removed,
        sizes.memberships,
        "memberships",
        "remove",
        settings.max_membership_remove_share,
        settings.min_membership_removals_for_share,
        settings.max_membership_remove_count,
    )
    shrinking = []
    for group, n in sorted(per_group.items()):
        size = sizes.members.get(group, 0)
        if size >= settings.min_group_size_for_shrink and n / size > settings.max_group_shrink:
            shrinking.append(f"{sizes.names.get(group, group)} ({n} of {size})")
    if shrinking:
        more = f" and {len(shrinking) - SHOWN} more" if len(shrinking) > SHOWN else ""
        found.append(
            f"it would take more than {settings.max_group_shrink:.0%} of the members out of "
            f"{len(shrinking)} groups of at least {settings.min_group_size_for_shrink} members: "
            + ", ".join(shrinking[:SHOWN])
            + more
        )
    return found


def _over(
    n: int, base: int, what: str, verb: str, share: float, minimum: int, count: int | None
) -> list[str]:
    if n == 0:
        return []
    out = []
    if count is not None and n > count:
        out.append(f"it would {verb} {n} {what}, more than the limit of {count}")
    ratio = n / max(base, 1)
    if n >= minimum and ratio > share:
        out.append(
            f"it would {verb} {n} of the {base} {what} ({ratio:.0%}), "
            f"above the limit of {share:.0%}"
        )
    return out


def check(plan: Plan, settings: GroupLimits, sizes: Sizes, *, allow_deletes: bool) -> None:
    """Raise :class:`GuardRefused` when the plan breaks a group or membership limit."""
    if allow_deletes:
        return
    found = problems(plan, settings, sizes)
    if found:
        raise GuardRefused(
            f"refused: {'; '.join(found)}. Nothing was changed. Check the IdP and the "
            "connector's scope and group filters; if the removals are intended, run again "
            "with --allow-deletes.",
            plan.count(OpKind.DEACTIVATE_USER, OpKind.DELETE_USER, OpKind.ANONYMISE_USER),
        )
