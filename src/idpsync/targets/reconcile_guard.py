"""The reconcile guard: refuse a reconcile that would switch off a large share of a target.

Before a reconcile writes anything it counts the target users it would deactivate or delete:
users idpsync maps to a directory user who is gone, and, with ``unmanaged = "deactivate"``,
active target users idpsync neither manages nor can match to a directory user (by
``externalId``, ``userName`` or e-mail). More than ``max_reconcile_remove_share`` of the
target's active users (from ``min_reconcile_removals_for_share`` on) or more than
``max_reconcile_remove_count`` raises :class:`ReconcileRefused`; the delivery ends ``guarded``
and nothing is sent. ``idpsync deliver NAME --reconcile --allow-deletes`` confirms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from idpsync.config import TargetOptions
from idpsync.model import DirectoryState
from idpsync.store.store import fold
from idpsync.targets.base import RemoteUser

Key = tuple[str, str]


class ReconcileRefused(Exception):
    """A reconcile was stopped before any write; the message says why and how to confirm."""


def would_remove(
    remote: Iterable[RemoteUser],
    mapped: Mapping[Key, str],
    directories: Mapping[str, DirectoryState],
    *,
    unmanaged: bool,
) -> tuple[int, int]:
    """``(removals, active target users)`` a reconcile of these directories would make."""
    users = list(remote)
    active = {u.id for u in users if u.fields.get("active", True)}
    removals = {
        rid
        for (connector, sid), rid in mapped.items()
        if connector in directories and rid in active and sid not in directories[connector].users
    }
    if unmanaged:
        known_ids: set[str] = set()
        known_names: set[str] = set()
        for directory in directories.values():
            for sid, user in directory.users.items():
                known_ids.add(sid)
                known_names.add(fold(user.login))
                if user.email:
                    known_names.add(fold(user.email))
        managed = set(mapped.values())
        for u in users:
            if u.id not in active or u.id in managed or (u.external_id in known_ids):
                continue
            names = {fold(str(u.fields.get(k) or "")) for k in ("login", "email")} - {""}
            if not names & known_names:
                removals.add(u.id)
    return len(removals), len(active)


def check(
    options: TargetOptions,
    remote: Iterable[RemoteUser],
    mapped: Mapping[Key, str],
    directories: Mapping[str, DirectoryState],
) -> None:
    """Raise :class:`ReconcileRefused` when the reconcile would remove too many target users."""
    removals, active = would_remove(
        remote, mapped, directories, unmanaged=options.unmanaged == "deactivate"
    )
    if removals == 0:
        return
    problems = []
    limit = options.max_reconcile_remove_count
    if limit is not None and removals > limit:
        problems.append(f"more than the limit of {limit}")
    share = removals / max(active, 1)
    if (
        removals >= options.min_reconcile_removals_for_share
        and share > options.max_reconcile_remove_share
    ):
        problems.append(
            f"{share:.0%} of the target's {active} active users, above the limit of "
            f"{options.max_reconcile_remove_share:.0%}"
        )
    if problems:
        raise ReconcileRefused(
            f"reconcile refused: it would deactivate or delete {removals} target users "
            f"({'; '.join(problems)}). Nothing was sent. Check the target's connectors and its "
            "'unmanaged' option; if this is intended, run 'idpsync deliver NAME --reconcile "
            "--allow-deletes'."
        )
