"""Okta's incremental delta, built from what changed rather than from the whole mirror.

:func:`~idpsync.sources.okta.incremental.read_changes` lists the changed users, the groups, the
System Log's membership events and the members of the groups it re-lists; :func:`build_delta`
turns that into the :class:`~idpsync.sources.base.DeltaResult` that
:func:`~idpsync.sources.base.delta_between` gives for the staged mirror and the mirror with
every change merged in, reading of the staged mirror only:

- the staged records of the changed users and of the users the log names (``users_of``), and,
  when deprovisioned users are left out, the ids of staged ``DEPROVISIONED`` users
  (``user_ids_with``);
- the staged groups (a few thousand records, compared with the listing);
- the staged edges of the groups whose members are read again or gone (re-listed groups,
  groups gone from the listing: ``edges_of_groups``), and the staged edges of the users the
  log's events name and of the users whose deletion it confirmed (``edges_of_members``): in a
  group the log explains only the pairs its events name can change, and a user is in a few
  groups where a logged group may hold everyone.

Every other staged edge is in the merged mirror as it is staged, so it is neither added nor
removed. That holds because Okta's stage holds only user members (a group lists users), which is
all the reader ever stages.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from idpsync.model import Membership, Snapshot, SourceUser
from idpsync.sources.base import DeltaResult

__all__ = ["DEPROVISIONED", "Found", "Users", "build_delta", "stale_from_log"]

DEPROVISIONED = "DEPROVISIONED"
"""The Okta status of a deactivated user (left out unless ``include_deprovisioned``)."""


class Users:
    """The merged users (the staged ones with the changed records over them), asked by id.

    Holds the changed records and the staged records of the changed users and of ``asked``
    (read once, by id); a user is in the merged mirror when its newest record is there and is
    not left out as deprovisioned.
    """

    def __init__(
        self,
        staged: Snapshot,
        changed: list[SourceUser],
        include_deprovisioned: bool,
        asked: Collection[str] = (),
    ) -> None:
        self.changed = {user.source_id: user for user in changed}
        """The changed records by id (the last listed wins)."""
        self.include_deprovisioned = include_deprovisioned
        wanted = set(self.changed) | set(asked)
        self.staged = {user.source_id: user for user in staged.users_of(wanted)}
        """The staged records of the changed and asked users (those staged)."""

    def left_out(self, user: SourceUser) -> bool:
        """Whether ``user`` is dropped as deprovisioned."""
        status = user.attributes.get("status")
        return not self.include_deprovisioned and status == DEPROVISIONED

    def present(self, user_id: str) -> bool:
        """Whether ``user_id`` (a changed or asked user) is in the merged mirror."""
        user = self.changed.get(user_id, self.staged.get(user_id))
        return user is not None and not self.left_out(user)

    def upserts(self, gone: Collection[str]) -> list[SourceUser]:
        """The changed users kept (not left out, not deleted) whose record is not the staged one."""
        return [
            user
            for user_id, user in self.changed.items()
            if not self.left_out(user) and user_id not in gone and self.staged.get(user_id) != user
        ]

    def removed(self, staged: Snapshot, gone: Collection[str]) -> list[str]:
        """The staged users the merged mirror no longer has (left out or deleted), sorted."""
        removed = {
            k for k, user in self.changed.items() if k in self.staged and self.left_out(user)
        }
        if not self.include_deprovisioned:
            old = staged.user_ids_with("status", DEPROVISIONED)
            removed.update(k for k in old if k not in self.changed)
        removed.update(k for k in gone if k in self.staged)  # a deleted user never staged: none
        return sorted(removed)


@dataclass
class Found:
    """What an incremental read found (see :func:`~.incremental.read_changes`)."""

    snap: Snapshot
    """The changed users' records, the listed groups, the re-listed groups' members, and whether
    every listing was read (with the reasons)."""
    users: Users
    """The changed users against the staged ones."""
    listed: set[str] | None
    """Ids of the listed groups of the wanted types; ``None``: the group listing failed."""
    stale: set[str] = field(default_factory=set)
    """The re-listed groups (their members are in ``snap.memberships``)."""
    log_edges: list[tuple[str, str, bool]] | None = None
    """The System Log's ``(group, user, added)`` events, in order; ``None``: no log used."""
    gone: set[str] = field(default_factory=set)
    """Users whose logged deletion was confirmed."""


def stale_from_log(
    edges: list[tuple[str, str, bool]],
    unreadable: set[str],
    new: set[str],
    moved: set[str],
    listed: set[str],
    users: Users,
) -> set[str]:
    """The groups to re-list when the log's events are applied (see ``incremental``).

    New groups, groups with an unreadable event, moved groups no event names and groups where
    an added member is not a known user; only listed groups.
    """
    explained = {gid for gid, _, _ in edges} | unreadable
    stale = new | unreadable | (moved - explained)
    stale |= {gid for gid, uid, added in edges if added and not users.present(uid)}
    return stale & listed


def build_delta(staged: Snapshot, found: Found, state: dict[str, Any]) -> DeltaResult:
    """The delta turning ``staged`` into the mirror with ``found`` merged in (module doc)."""
    snap = found.snap
    result = DeltaResult(
        users=found.users.upserts(found.gone),
        state=dict(state),
        complete=snap.complete,
        incomplete_reasons=list(snap.incomplete_reasons),
        limits=list(snap.limits),
    )
    if found.listed is not None:  # else the mirror's groups and edges stay as staged
        old_groups = {group.source_id: group for group in staged.groups}
        new_groups = {group.source_id: group for group in snap.groups}
        result.groups = [g for k, g in new_groups.items() if old_groups.get(k) != g]
        added, removed = _edges(staged, found, found.listed, set(old_groups))
        result.added = sorted(added)
        if snap.complete:
            result.removed = sorted(removed)
            result.removed_groups = [k for k in old_groups if k not in new_groups]
    if snap.complete:
        result.removed_users = found.users.removed(staged, found.gone)
    return result


def _edges(
    staged: Snapshot, found: Found, listed: set[str], known: set[str]
) -> tuple[set[Membership], set[Membership]]:
    """The edges added and removed: only edges whose presence may have changed are read.

    The re-listed groups and the groups gone from the listing are read whole; of a kept group
    the log's events touch, only the pairs the events name can change, so the staged edges of
    the users they name are read (a user's few groups, not a big group's every member).
    """
    stale, log, gone = found.stale, found.log_edges, found.gone
    kept = listed - stale
    reread = set(found.snap.memberships)
    groups = stale | (known - listed) | {e.group_id for e in reread}
    old = set(staged.edges_of_groups(groups)) if groups else set()
    if log is None:  # kept groups keep their staged members
        return reread - old, old - reread
    final: dict[tuple[str, str], bool] = {}  # each logged pair's last event wins
    for gid, uid, on in log:
        if gid in kept:
            final[(gid, uid)] = on
    named = {uid for _, uid in final} | set(gone)
    around = [e for e in staged.edges_of_members(named) if e.group_id in kept] if named else []
    staged_pairs = {(e.group_id, e.member_id) for e in around}
    added = {
        Membership(g, u)
        for (g, u), on in final.items()
        if on and u not in gone and (g, u) not in staged_pairs
    }
    removed = {
        e for e in around if e.member_id in gone or not final.get((e.group_id, e.member_id), True)
    }
    return (reread - old) | added, (old - reread) | removed
