"""Incremental reads for the Okta source: a complete snapshot from the last one plus changes.

Okta has no delta tokens, but it filters on timestamps: ``filter=lastUpdated gt "T"`` on
``/api/v1/users`` returns every user changed since ``T`` (deprovisioned ones included), and
every group carries ``lastMembershipUpdated``. So, given the staged snapshot of the last
*complete* run (the mirror) and the high-water marks saved with it, an incremental read:

1. lists the users changed since ``users_since`` and replaces them in the mirror;
2. lists all groups (one page of up to 10,000: renames, new and deleted groups show up here);
3. re-reads the members of the groups that are new or whose ``lastMembershipUpdated`` is after
   ``groups_since``; every other group keeps the mirror's members.

The changed users, the System Log (below) and the groups listing are read side by side from
the read's start: three chains of pages, each page naming the next (the log's window ends by
this machine's clock, :func:`~idpsync.sources.okta.syslog.next_mark`). Request count:
``p(C, 200) + p(G, groups_page_size) + Σ_{g changed} p(m_g, 1000)`` with ``C``
changed users. What it cannot see: a user *deleted* outright (Okta only deletes deactivated
users, so the user was already inactive); the scheduled full reconcile
(``full_reconcile_hours``) drops such leftovers. Any failed listing marks the snapshot
incomplete and leaves the marks where they were.

With ``incremental = "system_log"`` (the default) step 3 changes: the System Log's membership
events since the mark ``log_since`` are applied to the mirror's members directly, and only the
groups the log does not explain are re-listed (:mod:`~idpsync.sources.okta.syslog`; logged
deletions are confirmed and dropped). Request count::

    p(C, 200) + L + p(G, groups_page_size) + Σ_{g re-listed} p(m_g, 1000) + D

``L`` the log's requests: 2 when each filter's events (overlap included) fit a page, else
about ``p(E, 1000) + 2``, each filter read from both ends (:mod:`~idpsync.sources.okta.logsplit`)
in about half the round trips; ``D`` logged deletions of known users and one request a user
with a tied add and remove (its groups), re-listed groups = new groups + moved groups without
events + groups with unreadable events. Whenever the log cannot be used, the read is the one
above.

Of the staged mirror the read uses only what the change touches (see
:mod:`~idpsync.sources.okta.delta`, which turns what :func:`read_changes` found into the delta).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from idpsync.model import Snapshot
from idpsync.sources.base import Event, Progress
from idpsync.sources.lanes import both
from idpsync.sources.okta import syslog
from idpsync.sources.okta.delta import Found, Users, stale_from_log
from idpsync.sources.okta.endpoints import GROUPS, USERS, USERS_PAGE
from idpsync.sources.okta.records import checked_groups, checked_users, to_group
from idpsync.sources.shape import records

if TYPE_CHECKING:
    from idpsync.sources.okta.reader import OktaSource


def marks(
    users: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    old: Mapping[str, Any],
    started: str | None = None,
) -> dict[str, Any]:
    """New high-water marks: the latest ``lastUpdated`` / ``lastMembershipUpdated`` seen.

    Never later than ``started`` (the server time the read began, one second early), so a change
    made to an already-read page during a long read is picked up next time.
    """
    user_times = [str(u.get("lastUpdated", "")) for u in users]
    group_times = [
        str(g.get(k, "")) for g in groups for k in ("lastMembershipUpdated", "lastUpdated")
    ]
    users_since = max([str(old.get("users_since", "")), *user_times])
    groups_since = max([str(old.get("groups_since", "")), *group_times])
    if started:
        users_since, groups_since = min(users_since, started), min(groups_since, started)
    return {**old, "users_since": users_since, "groups_since": groups_since}


def server_time(response: httpx.Response) -> str | None:
    """The response's ``Date`` minus one second, in Okta's timestamp format."""
    try:
        moment = parsedate_to_datetime(response.headers["date"]) - timedelta(seconds=1)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (KeyError, TypeError, ValueError, OverflowError):  # absent or garbage: no mark
        return None


def due_for_full(state: Mapping[str, Any], hours: float, now: float | None = None) -> bool:
    """True when there are no marks yet or the last full read is older than ``hours``."""
    if not state.get("users_since") or not state.get("groups_since"):
        return True
    full_at = state.get("full_at")
    now = time.time() if now is None else now
    return not isinstance(full_at, (int, float)) or now - full_at >= hours * 3600


async def read_changes(
    source: OktaSource, mirror: Snapshot, state: Mapping[str, Any], progress: Progress
) -> tuple[Found, dict[str, Any] | None]:
    """Every change since the marks, against the staged ``mirror`` (see module docstring).

    Also the new marks, or ``None`` when the read is incomplete (the old marks stay).
    :func:`~idpsync.sources.okta.delta.build_delta` turns the result into the delta.
    """
    snap = Snapshot()
    params = {"limit": str(source.settings.groups_page_size)}
    until = syslog.local_until()  # the log's window ends by this machine's clock: no wait

    async def log_changes() -> syslog.LogChanges | None:
        return await syslog.read(source, dict(state), progress, until)

    # three chains (each page names the next) that need nothing of each other: all at once
    (changed, log), listed = await both(
        both(_changed_users(source, snap, state, progress), log_changes()),
        source.read_listing(snap, "groups", GROUPS, params),
    )
    late = syslog.behind(until, source.started)
    if log is not None and late > 0:  # the window ended before the server's time: not used
        source.stats.extra["system_log"] = f"unusable: this clock is {late:.0f} s behind Okta's"
        log = None
    log_until = syslog.next_mark(until, source.started)
    asked = (
        ({uid for _, uid, added in log.edges if added} | log.deleted) if log is not None else set()
    )
    users = Users(mirror, snap.users, source.settings.include_deprovisioned, asked)
    if listed is None:
        return Found(snap, users, None), None
    groups = [g for g in checked_groups(snap, listed) if source.wanted(g)]
    known = {g.source_id for g in mirror.groups}
    mark = str(state["groups_since"])
    moved = {
        str(g["id"])
        for g in groups
        if g["id"] not in known or str(g.get("lastMembershipUpdated", "")) > mark
    }
    ids = {str(g["id"]) for g in groups}
    snap.groups = records(snap, GROUPS.label, "group", groups, to_group)
    found = Found(snap, users, ids, stale=moved)
    if log is not None:
        found.log_edges = log.edges
        found.stale = stale_from_log(log.edges, log.unreadable, moved - known, moved, ids, users)
        deleted = {uid for uid in log.deleted if users.present(uid)}
        found.gone = await syslog.confirm_deleted(source, deleted) if deleted else set()
    await source.read_members(snap, sorted(found.stale), progress)
    for bad in snap.skipped:  # an incremental read cannot hold a record back: read it again
        snap.mark_incomplete(bad.reason)
    if not snap.complete:
        return found, None
    new = marks(changed, groups, state, source.started)
    return found, {**new, "log_since": log_until}


async def _changed_users(
    source: OktaSource,
    snap: Snapshot,
    state: Mapping[str, Any],
    progress: Progress,
) -> list[dict[str, Any]]:
    """Users changed since ``users_since``: their records into ``snap.users``, raw returned."""
    since = str(state["users_since"])
    progress(Event("fetch", f"reading Okta users changed since {since}"))
    params = {"limit": str(USERS_PAGE), "filter": f'lastUpdated gt "{since}"'}
    read = await source.read_listing(snap, "changed users", USERS, params)
    changed = checked_users(snap, read)
    source.stats.extra["changed_users"] = len(changed)  # the chain's length, for the benchmarks
    snap.users = records(snap, USERS.label, "user", changed, source.to_user)
    return changed
