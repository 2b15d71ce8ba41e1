"""Incremental reads of the ``keycloak`` source from the realm's admin events (``admin_events``).

Keycloak keeps no change timestamps on users or groups, but a realm can save an *admin event*
for every change made through the Admin API (realm setting ``adminEventsEnabled``, off by
default; reading them needs the realm-management role ``view-events``). An incremental read:

1. ``GET …/events/config``, beside the event listing: stop (read everything) unless
   ``adminEventsEnabled``; its ``Date`` header, less the time since both were sent, is a
   server time ``S`` no later than the listing (:func:`clock_since`): the next mark;
2. ``GET …/admin-events?dateFrom=D&resourceTypes=USER&resourceTypes=GROUP&resourceTypes=
   GROUP_MEMBERSHIP&resourceTypes=REALM&first=…&max=100000``, every page. Keycloak 23 takes
   ``dateFrom`` as a ``yyyy-MM-dd`` date in the *server's* time zone (epoch milliseconds only
   from Keycloak 26), so ``D`` is the UTC day before the saved mark and events older than the
   mark (``time``, epoch ms) are dropped here. Pages come newest first; an event written while
   paging pushes the rest one place down, which repeats an event (harmless), never skips one;
3. each user named by a ``USER`` event, or by a membership event but unknown to the mirror, is
   read once (``GET …/users/{id}``; 404: deleted); a ``GROUP`` event re-reads the group tree
   (a rename changes every path below it); a ``GROUP_MEMBERSHIP`` event
   (``users/{uid}/groups/{gid}``, ``CREATE``/``DELETE``) adds or removes that edge, the latest
   event of each pair winning; when a pair's latest events share a millisecond and disagree,
   that user's groups are read (``GET …/users/{id}/groups``) to settle it.

Requests: ``1 + (⌊E/100000⌋ + 1) + C + A`` (and the tree read when a group changed) with ``E``
events in the window, ``C`` users to read and ``A`` users with a same-millisecond tie. Replays
are harmless (users are read as they are now; the latest event of a pair is the pair's present
state), so the window starts ``events_overlap_seconds`` before the last read began.

A full read is made instead (``None``) when: events are off on the realm, ``view-events`` is
missing, the event listing or a read fails or does not reach its end, an event cannot be
interpreted (an unknown path or operation, a group unknown without a group event), or admin
events were turned on again after the last read (a ``REALM`` event on ``events/config``:
events may be missing in between). What admin events never show: changes made outside the
Admin API (user federation imports and syncs, self-registration, a user editing their own
profile, first broker logins), and events deleted by an administrator or by expiry. Those
wait for the scheduled full read (``full_sync_every_hours``); a missed change is never a
removal.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from idpsync.errors import ShapeError
from idpsync.http import HttpError, json_body
from idpsync.http import errors as e
from idpsync.model import MemberKind, Membership, Snapshot, SourceUser
from idpsync.sources.base import DeltaResult, Event, Progress
from idpsync.sources.keycloak.auth import missing_role
from idpsync.sources.keycloak.endpoints import (
    ADMIN_EVENTS,
    BRIEF,
    EVENTS_CONFIG,
    USER,
    USER_GROUPS,
    offset,
)
from idpsync.sources.lanes import both, gather
from idpsync.sources.shape import BadRecord

if TYPE_CHECKING:
    from idpsync.sources.keycloak.reader import KeycloakSource

log = logging.getLogger(__name__)

TYPES = ("USER", "GROUP", "GROUP_MEMBERSHIP", "REALM")
"""The resource types asked for (``REALM`` only for ``events/config``)."""
EVENTS_PAGE = 100_000
"""``max`` of an admin-events page (Keycloak takes any; one page for most windows)."""
DAY_MS = 86_400_000


class Unusable(Exception):
    """The events cannot be trusted for a delta; ``str()`` says why (a full read follows)."""


@dataclass
class Changes:
    """What the events in the window say changed."""

    users: set[str] = field(default_factory=set)
    """Users to read again."""
    tree: bool = False
    """Whether a group was created, renamed, moved or deleted."""
    edges: dict[tuple[str, str], bool] = field(default_factory=dict)
    """``(group id, user id)`` → added (the pair's latest event)."""
    unsure: set[tuple[str, str]] = field(default_factory=set)
    """Pairs whose latest events share a millisecond but disagree: the user's groups tell."""
    events: int = 0
    """Events in the window."""


ATTRIBUTES = "user_attributes"
"""State key: whether the read that saved the marks kept user attributes (absent: no)."""


def new_state(
    server_ms: int, overlap_s: int, full_at: float, attributes: bool = False
) -> dict[str, Any]:
    """The state saved after a complete read that started at server time ``server_ms``."""
    marks = {"since_ms": server_ms - overlap_s * 1000, "read_ms": server_ms, "full_at": full_at}
    return marks | ({ATTRIBUTES: True} if attributes else {})


def reads_attributes(source: KeycloakSource) -> bool:
    """Whether ``source`` keeps user attributes (its user list is the full representation)."""
    return source.user_params.get("briefRepresentation") == "false"


def usable(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` holds the marks a delta read starts from."""
    marks = (state.get("since_ms"), state.get("read_ms"), state.get("full_at"))
    return all(isinstance(m, int | float) and not isinstance(m, bool) for m in marks)


def full_is_due(state: Mapping[str, Any], source: KeycloakSource, now: float | None = None) -> bool:
    """Whether the next read must be a full one.

    True without usable marks, when the last full read is ``full_sync_every_hours`` old, or
    when ``user_attributes`` changed since (users no event names would keep the old form).
    """
    if not usable(state) or bool(state.get(ATTRIBUTES)) != reads_attributes(source):
        return True
    now = time.time() if now is None else now
    return now - float(state["full_at"]) >= source.settings.full_sync_every_hours * 3600


def server_ms(date_header: str | None) -> int:
    """A response's ``Date`` (whole seconds, so never later than the server's clock) in ms."""
    try:
        moment = parsedate_to_datetime(date_header or "")
    except (TypeError, ValueError, IndexError, OverflowError):
        return int(time.time() * 1000)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return int(moment.timestamp() * 1000)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


async def events_clock(source: KeycloakSource) -> int | None:
    """The server's time if the realm saves admin events, else ``None`` (why is logged)."""
    try:
        response = await source.http.request(EVENTS_CONFIG, source.values)
        config = json_body(response, EVENTS_CONFIG)
    except e.Forbidden as exc:
        _fallback(source, str(missing_role(exc, source.settings)))
        return None
    except (HttpError, ShapeError) as exc:
        _fallback(source, f"the realm's events settings could not be read: {exc}")
        return None
    if not isinstance(config, dict) or config.get("adminEventsEnabled") is not True:
        _fallback(source, f"realm {source.settings.realm} does not save admin events")
        return None
    return server_ms(response.headers.get("date"))


async def clock_since(source: KeycloakSource, sent: float) -> int | None:
    """:func:`events_clock`, asked beside reads sent from ``sent`` (``time.monotonic()``) on.

    The answer's ``Date`` is at most the server's time when it answered, and the server
    answered no later than its arrival here, so ``Date`` minus the local time since ``sent``
    is at most the server's time when the reads began: a mark no later than any of them,
    without a round trip of its own before them.
    """
    server = await events_clock(source)
    if server is None:
        return None
    return server - math.ceil((time.monotonic() - sent) * 1000)


def _fallback(source: KeycloakSource, why: str) -> None:
    source.stats.extra["admin_events"] = f"unusable: {why}"
    log.warning("keycloak admin events: %s; reading everything", why)


def interpret(events: list[Any], since_ms: int, read_ms: int) -> Changes:
    """The changes the admin events at or after ``since_ms`` describe (``Unusable``: none)."""
    out = Changes()
    latest: dict[tuple[str, str], tuple[int, set[str]]] = {}
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("time"), int):
            raise Unusable("an admin event has no time")
        moment = event["time"]
        if moment < since_ms or event.get("error"):
            continue
        kind, op = event.get("resourceType"), event.get("operationType")
        parts = str(event.get("resourcePath") or "").strip("/").split("/")
        out.events += 1
        if kind == "REALM":
            if parts == ["events", "config"] and moment >= read_ms:
                raise Unusable("admin events were turned on again since the last read")
        elif kind == "USER":
            if len(parts) < 2 or parts[0] != "users" or not parts[1]:
                raise Unusable(f"a USER event on {'/'.join(parts)!r}")
            out.users.add(parts[1])
        elif kind == "GROUP":
            out.tree = True
        elif kind == "GROUP_MEMBERSHIP":
            if len(parts) != 4 or parts[0] != "users" or parts[2] != "groups":
                raise Unusable(f"a membership event on {'/'.join(parts)!r}")
            if op not in ("CREATE", "DELETE"):
                raise Unusable(f"a membership event with operation {op!r}")
            pair = (parts[3], parts[1])
            seen = latest.get(pair)
            if seen is None or moment > seen[0]:
                latest[pair] = (moment, {str(op)})
            elif moment == seen[0]:
                seen[1].add(str(op))
    for pair, (_, ops) in latest.items():
        if len(ops) > 1:
            out.unsure.add(pair)
        else:
            out.edges[pair] = ops == {"CREATE"}
    return out


async def _events(source: KeycloakSource, since_ms: int) -> list[Any]:
    params = {"dateFrom": _day(since_ms - DAY_MS), "resourceTypes": list(TYPES)}
    pages = source.http.pages(
        ADMIN_EVENTS, source.values, params=params, paginator=offset(EVENTS_PAGE)
    )
    found: list[Any] = []
    async for page in pages:
        found.extend(page.records)
    return found


async def _user(source: KeycloakSource, uid: str) -> SourceUser | None:
    raw = await source.http.get_json(USER, {**source.values, "id": uid})
    if raw is None:
        return None
    try:
        return source.user_record(raw)
    except (BadRecord, KeyError, TypeError, ValueError) as exc:
        raise Unusable(f"user {uid} cannot be read ({type(exc).__name__})") from None


async def _groups_of(source: KeycloakSource, uid: str) -> tuple[str, set[str] | None]:
    """A user's direct groups now (``None``: the user is gone)."""
    size = source.settings.page_size
    found: set[str] = set()
    pages = source.http.pages(
        USER_GROUPS, {**source.values, "id": uid}, params=BRIEF, paginator=offset(size)
    )
    try:
        async for page in pages:
            found.update(str(g["id"]) for g in page.records if isinstance(g, dict) and "id" in g)
    except e.NotFound:
        return uid, None
    return uid, found


async def read_delta(
    source: KeycloakSource, state: Mapping[str, Any], staged: Snapshot, progress: Progress
) -> DeltaResult | None:
    """The delta since the saved marks (see module docstring); ``None``: read everything."""
    if not source.settings.admin_events or not usable(state):
        return None
    since, read = int(state["since_ms"]), int(state["read_ms"])
    progress(Event("fetch", f"reading admin events of realm {source.settings.realm}"))
    try:
        # the clock (which also says whether events are saved) beside the listing
        started, listed = await both(clock_since(source, time.monotonic()), _events(source, since))
        if started is None:
            return None
        changes = interpret(listed, since, read)
        result = await _apply(source, changes, staged)
    except e.Forbidden as exc:
        if exc.target.endpoint.permission == "view-events":
            _fallback(source, str(missing_role(exc, source.settings)))
            return None
        raise missing_role(exc, source.settings) from exc
    except (e.Unauthorized, e.TokenError):
        raise
    except (Unusable, HttpError, ShapeError) as exc:
        _fallback(source, str(exc))
        return None
    overlap = source.settings.events_overlap_seconds
    result.state = new_state(started, overlap, float(state["full_at"]), reads_attributes(source))
    source.stats.extra |= {
        "admin_events": changes.events,
        "users_read": len(changes.users),
        "tree_read": changes.tree,
    }
    return result


async def _apply(source: KeycloakSource, changes: Changes, staged: Snapshot) -> DeltaResult:
    known_users = set(staged.user_ids())
    group_ids = set(staged.group_ids())
    result = DeltaResult()
    if changes.tree:
        snap = Snapshot()
        tree = await source._tree(snap)
        if not snap.complete:
            raise Unusable("; ".join(snap.incomplete_reasons) or "the group tree is incomplete")
        result.groups = tree.groups(source.settings.group_name)
        group_ids = {g.source_id for g in result.groups}
        result.removed_groups = [g for g in staged.group_ids() if g not in group_ids]
        old = {m for m in staged.memberships if m.member_kind is MemberKind.GROUP}
        new = set(tree.memberships({}, False))
        result.added, result.removed = sorted(new - old), sorted(old - new)
    named = {u for _, u in [*changes.edges, *changes.unsure]}
    wanted = changes.users | {u for u in named if u not in known_users}
    ids = sorted(wanted)
    users = await gather(*(_user(source, uid) for uid in ids))
    gone = {uid for uid, user in zip(ids, users, strict=True) if user is None}
    result.users = [u for u in users if u is not None]
    result.removed_users = sorted(gone)
    settled = await gather(*(_groups_of(source, u) for u in sorted({u for _, u in changes.unsure})))
    direct = {u: gids for u, gids in settled if gids is not None}
    gone |= {u for u, gids in settled if gids is None}
    result.removed_users = sorted(gone)
    edges = {**changes.edges, **{(g, u): g in direct.get(u, set()) for g, u in changes.unsure}}
    for (gid, uid), added in sorted(edges.items()):
        if gid not in group_ids:
            if changes.tree:
                continue  # the group is gone: its edges went with it
            raise Unusable(f"a membership event names group {gid}, which was never read")
        if uid in gone:
            continue
        edge = Membership(gid, uid, MemberKind.USER)
        (result.added if added else result.removed).append(edge)
    return result
