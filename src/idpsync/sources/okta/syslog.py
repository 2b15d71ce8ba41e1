"""Membership changes from Okta's System Log for incremental reads (``incremental = "system_log"``).

Instead of re-listing every group whose ``lastMembershipUpdated`` moved, an incremental read asks
``GET /api/v1/logs`` for the events since the saved mark ``log_since`` (minus
``log_overlap_seconds``: the log is eventually consistent, so the window is read again a little
and replays are harmless) up to now, ``limit=1000`` a page (Okta's maximum), with::

    filter=eventType eq "group.user_membership.add" or eventType eq "group.user_membership.remove"
           or eventType eq "user.lifecycle.delete.initiated"

Every request sends ``until``, so it is a *bounded* query whose ``Link: rel="next"`` stops at the
last page (a *polling* query, without ``until``, always has a next link and must be read until
an empty page). The log has its own rate-limit bucket (``/api/v1/logs``), which the pacer
tracks like the others.

Each membership event names its user and group in ``target`` (one entry of ``type`` ``User``
and one of ``type`` ``UserGroup``, found by type, not position). :func:`interpret` turns events
into ordered edge changes; a group with any event it cannot read is re-listed instead, and an
event that names no group makes the whole log unusable (the read falls back to re-listing every
moved group, the ``timestamps`` way). A ``user.lifecycle.delete.initiated`` user is dropped only
after ``GET /api/v1/users/{id}`` answers 404.

The log is not used (the ``timestamps`` path runs) when: the setting says ``timestamps``; an
OAuth app lacks the ``okta.logs.read`` scope; there is no ``log_since`` mark yet; the mark is
older than the log's 90-day retention (less a day); or the listing fails in any way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.sources.base import Event
from idpsync.sources.okta.endpoints import LOGS, USER

if TYPE_CHECKING:
    from idpsync.sources.base import Progress
    from idpsync.sources.okta.reader import OktaSource

ADD, REMOVE = "group.user_membership.add", "group.user_membership.remove"
DELETED = "user.lifecycle.delete.initiated"
FILTER = " or ".join(f'eventType eq "{kind}"' for kind in (ADD, REMOVE, DELETED))
"""The ``filter`` of the System Log read."""
LOG_PAGE = 1000
"""``limit`` of the System Log read (Okta's maximum)."""
RETENTION = timedelta(days=89)
"""Okta keeps 90 days of events; a mark older than this (a day of margin) is not trusted."""
STAMP = "%Y-%m-%dT%H:%M:%S.000Z"


@dataclass
class LogChanges:
    """What the log says changed, in the order it happened."""

    edges: list[tuple[str, str, bool]] = field(default_factory=list)
    """``(group id, user id, added)`` in log order."""
    unreadable: set[str] = field(default_factory=set)
    """Groups with an event that could not be read: re-list them."""
    deleted: set[str] = field(default_factory=set)
    """Users whose deletion was logged (still to be confirmed)."""
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


class Reader:
    """:func:`interpret` a page at a time, as pages arrive: only the edge changes are kept."""

    def __init__(self) -> None:
        self.changes: LogChanges | None = LogChanges()
        """What the events so far say; ``None`` once one made the log unusable."""

    def __call__(self, events: Iterable[Any]) -> None:
        """Take one page's events."""
        if self.changes is not None and not _absorb(self.changes, events):
            self.changes = None


def interpret(events: Iterable[Any]) -> LogChanges | None:
    """Edge changes and deletions from log events; ``None`` when the log cannot be used."""
    changes = LogChanges()
    return changes if _absorb(changes, events) else None


def _absorb(changes: LogChanges, events: Iterable[Any]) -> bool:
    """Add ``events`` to ``changes``; ``False`` when one makes the log unusable."""
    for event in events:
        changes.events += 1
        if not isinstance(event, dict):
            return False
        kind, outcome = event.get("eventType"), event.get("outcome")
        result = outcome.get("result") if isinstance(outcome, dict) else None
        if kind == DELETED:
            uid = _target(event, "User")
            if uid is None:
                return False
            if result == "SUCCESS":
                changes.deleted.add(uid)
            continue
        if kind not in (ADD, REMOVE):
            return False  # the filter asked for three types only: something is off
        gid, uid = _target(event, "UserGroup"), _target(event, "User")
        if gid is None:
            return False
        if uid is None or result not in ("SUCCESS", "FAILURE", "SKIPPED", "DENY"):
            changes.unreadable.add(gid)
        elif result == "SUCCESS":
            changes.edges.append((gid, uid, kind == ADD))
    return True


async def read(
    source: OktaSource, state: dict[str, Any], progress: Progress
) -> tuple[LogChanges | None, str | None]:
    """The log's changes since the mark, and the new mark (``(None, mark)``: not usable)."""
    until = log_mark(source.started)
    mark = usable_mark(source, state)
    extra = source.stats.extra
    if mark is None or until is None:
        extra["system_log"] = "not used"
        return None, until
    since = mark - timedelta(seconds=source.settings.log_overlap_seconds)
    params = {
        "since": since.strftime(STAMP),
        "until": until,
        "filter": FILTER,
        "limit": str(LOG_PAGE),
        "sortOrder": "ASCENDING",
    }
    progress(Event("fetch", f"reading the Okta System Log since {params['since']}"))
    reader = Reader()  # each page interpreted as it comes: the events themselves are not kept
    try:
        await source.listing(LOGS, params, each=reader)
    except SourceError as exc:  # any failure (403 without okta.logs.read …): the old way
        extra["system_log"] = f"failed, re-listing moved groups instead: {exc}"
        return None, until
    changes = reader.changes
    extra["system_log"] = "unusable" if changes is None else f"{changes.events} events"
    return changes, until


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
