"""Membership changes from Okta's System Log for incremental reads (``incremental = "system_log"``).

Instead of re-listing every group whose ``lastMembershipUpdated`` moved, an incremental read asks
``GET /api/v1/logs`` for the events since the saved mark ``log_since`` (minus
``log_overlap_seconds``: the log is eventually consistent, so the window is read again a little
and replays are harmless) up to ``until``, this machine's clock + :data:`LEAD` (the log waits
for no answer; the mark saved is never later than the server's, see :func:`next_mark`),
``limit=1000`` a page (Okta's maximum). Every request sends ``since`` and ``until``, so it is a
*bounded* query whose ``Link: rel="next"`` stops at the last page (a *polling* query, without
``until``, always has a next link and must be read until an empty page). Two filters
(``eventType eq "group.user_membership.add"``, and ``…remove`` or
``user.lifecycle.delete.initiated``) are each read from both ends of the window at once,
stopping where the chains are proven to meet (:mod:`~idpsync.sources.okta.logsplit`). The log
has its own rate-limit bucket (``/api/v1/logs``), which the pacer tracks like the others.

Each membership event names its user and group in ``target`` (one entry of ``type`` ``User``
and one of ``type`` ``UserGroup``, found by type, not position). :func:`interpret` turns events
into ordered edge changes; a group with any event it cannot read is re-listed instead, and an
event that names no group makes the whole log unusable (the read falls back to re-listing every
moved group, the ``timestamps`` way). An add and a remove of one pair in one millisecond (the
two filters cannot order them) are settled by the user's groups (:func:`settle_ties`). A
``user.lifecycle.delete.initiated`` user is dropped only after ``GET /api/v1/users/{id}``
answers 404.

The log is not used (the ``timestamps`` path runs) when: the setting says ``timestamps``; an
OAuth app lacks the ``okta.logs.read`` scope; there is no ``log_since`` mark yet; the mark is
older than the log's 90-day retention (less a day); the listing fails in any way; or the
window's ``until`` (this machine's clock + :data:`LEAD`) falls short of the server's time of the
read's first answer (:func:`behind`: a clock that far behind Okta's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.http.paging import LinkHeader
from idpsync.sources.base import Event
from idpsync.sources.okta import logsplit
from idpsync.sources.okta.endpoints import USER, USER_GROUPS

if TYPE_CHECKING:
    from idpsync.sources.base import Progress
    from idpsync.sources.okta.reader import OktaSource

ADD, REMOVE, DELETED = logsplit.ADD, logsplit.REMOVE, logsplit.DELETED
LOG_PAGE = 1000
"""``limit`` of the System Log read (Okta's maximum)."""
RETENTION = timedelta(days=89)
"""Okta keeps 90 days of events; a mark older than this (a day of margin) is not trusted."""
STAMP = "%Y-%m-%dT%H:%M:%S.000Z"
LEAD = 10.0
"""Seconds the log's ``until`` is set ahead of this machine's clock (see :func:`local_until`)."""


@dataclass
class LogChanges:
    """What the log says changed, in the order it happened."""

    edges: list[tuple[str, str, bool]] = field(default_factory=list)
    """``(group id, user id, added)`` in log order."""
    unreadable: set[str] = field(default_factory=set)
    """Groups with an event that could not be read: re-list them."""
    deleted: set[str] = field(default_factory=set)
    """Users whose deletion was logged (still to be confirmed)."""
    tied: set[tuple[str, str]] = field(default_factory=set)
    """``(group, user)`` pairs whose last add and remove share a millisecond (order unknown):
    settled by the user's groups (:func:`settle_ties`)."""
    events: int = 0
    """Events read."""

    def groups(self) -> set[str]:
        """Groups the log explains (some event names them)."""
        return {gid for gid, _, _ in self.edges} | self.unreadable


def _parse(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def log_mark(started: str | None) -> str | None:
    """The ``until`` of a log read begun at ``started`` (server time − 1 s): two seconds later."""
    moment = _parse(started) if started else None
    return (moment + timedelta(seconds=2)).strftime(STAMP) if moment else None


def usable_mark(source: OktaSource, state: dict[str, Any]) -> datetime | None:
    """The saved ``log_since`` when the log may be read from it, else ``None`` (see docstring)."""
    if not source.settings.reads_system_log():
        return None
    mark = _parse(str(state.get("log_since", "")))
    now = _parse(source.started or "") or datetime.now(UTC)
    if mark is None or now - mark > RETENTION:
        return None
    return mark


def _target(event: dict[str, Any], kind: str) -> str | None:
    """The id of the one ``target`` of type ``kind`` (``None`` when absent or ambiguous)."""
    targets = event.get("target")
    if not isinstance(targets, list):
        return None
    ids = [t.get("id") for t in targets if isinstance(t, dict) and t.get("type") == kind]
    return ids[0] if len(ids) == 1 and isinstance(ids[0], str) and ids[0] else None


def classify(event: dict[str, Any]) -> logsplit.Change:
    """What one event says (see :data:`~idpsync.sources.okta.logsplit.Change`).

    :class:`~idpsync.sources.okta.logsplit.Unusable` when it makes the whole log unusable (an
    event that names no group, a deletion that names no user, a type the filter did not ask).
    """
    kind, outcome = event.get("eventType"), event.get("outcome")
    result = outcome.get("result") if isinstance(outcome, dict) else None
    if kind == DELETED:
        uid = _target(event, "User")
        if uid is None:
            raise logsplit.Unusable("a deletion that names no user")
        return ("deleted" if result == "SUCCESS" else "skip", "", uid, False)
    if kind not in (ADD, REMOVE):
        raise logsplit.Unusable(f"an event of a type not asked for: {kind!r}")
    gid, uid = _target(event, "UserGroup"), _target(event, "User")
    if gid is None:
        raise logsplit.Unusable("a membership event that names no group")
    if uid is None or result not in ("SUCCESS", "FAILURE", "SKIPPED", "DENY"):
        return ("unreadable", gid, "", False)
    return ("edge" if result == "SUCCESS" else "skip", gid, uid, kind == ADD)


def changes_of(entries: Iterable[logsplit.Entry], ordered: bool = True) -> LogChanges:
    """The changes of events in ``published`` order.

    Unless one chain read them all (``ordered``: the server's own order), an add and a remove of
    one (group, user) pair published in the same millisecond have no known order (they come
    from different filters): the pair is :attr:`~LogChanges.tied` unless a later event of it
    follows.
    """
    changes = LogChanges()
    last: dict[tuple[str, str], tuple[datetime, bool]] = {}
    for entry in entries:
        changes.events += 1
        kind, gid, uid, added = entry.change
        if kind == "deleted":
            changes.deleted.add(uid)
        elif kind == "unreadable":
            changes.unreadable.add(gid)
        elif kind == "edge":
            before = last.get((gid, uid))
            if before is not None and before[0] == entry.at:
                if before[1] != added and not ordered:
                    changes.tied.add((gid, uid))
            else:  # a later millisecond orders this event after every earlier one
                changes.tied.discard((gid, uid))
            last[gid, uid] = (entry.at, added)
            changes.edges.append((gid, uid, added))
    return changes


def interpret(events: Iterable[Any]) -> LogChanges | None:
    """Edge changes and deletions from log events in order; ``None`` when the log cannot be used."""
    try:
        changes = [classify(e) if isinstance(e, dict) else _bad() for e in events]
    except logsplit.Unusable:
        return None
    stamp = datetime.min.replace(tzinfo=UTC)
    return changes_of(
        logsplit.Entry(stamp + timedelta(microseconds=i), str(i), c) for i, c in enumerate(changes)
    )


def _bad() -> logsplit.Change:
    raise logsplit.Unusable("an event that is not an object")


def local_until(now: float | None = None) -> str:
    """The ``until`` of a log read begun now, by this machine's clock: :data:`LEAD` seconds on.

    The window must reach the server's time of the read's first answer (the ``until`` the log
    had when it waited for that answer, :func:`log_mark`): a change made before the read may be
    published by then. The lead covers that and a clock a little behind Okta's; a later
    ``until`` costs nothing (:func:`next_mark`), and :func:`behind` tells when it fell short.
    """
    moment = datetime.fromtimestamp((time.time() if now is None else now) + LEAD, UTC)
    return moment.strftime(STAMP)


def next_mark(until: str, started: str | None) -> str:
    """The ``log_since`` to save after reading up to ``until``: never later than the server's.

    ``until`` came from this machine's clock; the read's first answer (``started``, server time
    − 1 s) gives :func:`log_mark`. The earlier of the two is saved: the next window starts
    ``log_overlap_seconds`` before it, so whatever this window's end went past (events
    published during the read, a clock ahead of Okta's) is read again; replays are harmless.
    """
    server = log_mark(started)
    return min(until, server) if server else until


def behind(until: str, started: str | None) -> float:
    """Seconds by which ``until`` falls short of :func:`log_mark` (the server's), or 0."""
    server, local = _parse(log_mark(started) or ""), _parse(until)
    if server is None or local is None:
        return 0.0
    return max(0.0, (server - local).total_seconds())


async def read(
    source: OktaSource, state: dict[str, Any], progress: Progress, until: str
) -> LogChanges | None:
    """The log's changes from the mark to ``until`` (``None``: not usable, see docstring)."""
    mark = usable_mark(source, state)
    extra = source.stats.extra
    if mark is None:
        extra["system_log"] = "not used"
        return None
    since = mark - timedelta(seconds=source.settings.log_overlap_seconds)
    params = {"since": since.strftime(STAMP), "until": until, "limit": str(LOG_PAGE)}
    progress(Event("fetch", f"reading the Okta System Log since {params['since']}"))
    try:  # each filter's window from both ends (logsplit): compact entries, not the events
        entries, costs = await logsplit.read_windows(source, params, classify)
    except SourceError as exc:  # any failure (403 without okta.logs.read …): the old way
        extra["system_log"] = f"failed, re-listing moved groups instead: {exc}"
        return None
    except logsplit.Unusable as exc:
        extra["system_log"] = f"unusable: {exc}"
        return None
    changes = changes_of(entries, ordered=False)
    extra["system_log"] = f"{changes.events} events"
    extra["system_log_chains"] = costs
    if changes.tied:
        await settle_ties(source, changes)
    return changes


async def settle_ties(source: OktaSource, changes: LogChanges) -> None:
    """Each tied pair's state now, from its user's groups (one request a user, side by side).

    Appended to :attr:`~LogChanges.edges` as the pair's last change. A user whose groups cannot
    be read leaves its tied groups to be re-listed (:attr:`~LogChanges.unreadable`).
    """
    by_user: dict[str, set[str]] = {}
    for gid, uid in changes.tied:
        by_user.setdefault(uid, set()).add(gid)

    async def groups_of(uid: str) -> set[str] | None:
        found: set[str] = set()
        try:
            async for page in source.http.pages(USER_GROUPS, {"id": uid}, paginator=LinkHeader()):
                found |= {str(g["id"]) for g in page.records if isinstance(g, dict) and "id" in g}
        except SourceError:
            return None
        return found

    uids = sorted(by_user)
    answers = await asyncio.gather(*(groups_of(uid) for uid in uids))
    for uid, groups in zip(uids, answers, strict=True):
        for gid in sorted(by_user[uid]):
            if groups is None:
                changes.unreadable.add(gid)
            else:
                changes.edges.append((gid, uid, gid in groups))
    source.stats.extra["system_log_ties"] = len(uids)


async def confirm_deleted(source: OktaSource, user_ids: Iterable[str]) -> set[str]:
    """The users among ``user_ids`` that Okta no longer knows (``GET`` answers 404)."""
    gone: set[str] = set()
    for uid in sorted(user_ids):
        try:
            response = await source.http.request(USER, {"id": uid}, accept=USER.absent)
        except SourceError:
            continue  # not confirmed: keep the user (the next full read decides)
        if response.status_code in USER.absent:
            gone.add(uid)
    return gone
