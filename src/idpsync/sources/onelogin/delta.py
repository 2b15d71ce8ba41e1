"""Incremental reads of the ``onelogin`` source: users updated since the last read.

OneLogin's ``GET /api/2/users?updated_since=…`` lists the users changed since a time; groups
and roles are listed whole (they are few pages). A delta is built from that against the
connector's staged mirror: changed users are upserted whole, each changed user's membership
edges are replaced by those its record now carries, and groups or roles missing from a complete
listing are removed. OneLogin lists no deletions, so a deleted user is never seen here: the
scheduled full read (``full_sync_every_hours``) settles leavers.

The saved state is ``{"since": …, "full_at": …}``: ``since`` is the start of the last complete
read (the server's ``Date`` of its first answer, else the local clock before reading) minus
:data:`SAFETY_MARGIN`, so clock skew and users changed while the read ran are read again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from idpsync.model import Snapshot
from idpsync.sources.base import DeltaResult

SAFETY_MARGIN = timedelta(minutes=5)
"""Subtracted from the start of a read, so a later ``updated_since`` overlaps it."""


def server_time(date_header: str | None) -> datetime | None:
    """A response's ``Date`` header as an aware UTC time (``None`` if absent or unreadable)."""
    if not date_header:
        return None
    try:
        moment = parsedate_to_datetime(date_header)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def stamp(moment: datetime) -> str:
    """An ``updated_since`` value (UTC, whole seconds)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_state(started: datetime, full_at: str) -> dict[str, Any]:
    """The state to save after a complete read that started at ``started``."""
    return {"since": stamp(started - SAFETY_MARGIN), "full_at": full_at}


def saved_since(state: dict[str, Any]) -> datetime | None:
    """The ``since`` of a saved state, or ``None`` when it is missing or unreadable."""
    try:
        moment = datetime.fromisoformat(str(state.get("since")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def full_is_due(state: dict[str, Any], every_hours: float) -> bool:
    """Whether the last full read (``full_at``) is older than ``every_hours`` (or unknown)."""
    if saved_since(state) is None:
        return True
    try:
        last = datetime.fromisoformat(str(state.get("full_at")))
    except ValueError:
        return True
    last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
    return datetime.now(UTC) - last >= timedelta(hours=every_hours)


def build_delta(
    staged: Snapshot, snap: Snapshot, state: dict[str, Any], *, keep: str | None = None
) -> DeltaResult:
    """The delta from an ``updated_since`` read ``snap`` against the ``staged`` mirror.

    ``keep``: the prefix of staged group ids the read did not list (``group:`` for
    ``incremental_groups = "named"``); none of them is removed.
    """
    changed = {u.source_id for u in snap.users}
    old = set(staged.edges_of_members(changed))  # only the changed users' staged edges
    new = {e for e in snap.memberships if e.member_id in changed}
    listed = {g.source_id for g in snap.groups}
    gone = [
        group_id
        for group_id in staged.group_ids()
        if group_id not in listed and not (keep and group_id.startswith(keep))
    ]
    return DeltaResult(
        users=list(snap.users),
        groups=list(snap.groups),
        added=sorted(new - old),
        removed=sorted(old - new),
        removed_groups=gone if snap.complete else [],
        state=state,
        complete=snap.complete,
        incomplete_reasons=list(snap.incomplete_reasons),
        limits=list(snap.limits),
    )


__all__ = ["SAFETY_MARGIN", "build_delta", "full_is_due", "new_state", "server_time", "stamp"]
