"""Membership events of the admin activity log applied to the staged mirror's edges.

``ADD_GROUP_MEMBER`` / ``REMOVE_GROUP_MEMBER`` (``GROUP_SETTINGS``) name the group
(``GROUP_EMAIL``) and the member (``USER_EMAIL``). For each (group, member) pair the latest
event (the activity's ``id.time``) says whether the edge exists now; the events that came
before it in the read window, and any replay of them, change nothing. The member's address is
resolved to a user id through the mirror's users (primary e-mail and aliases) and the users
read in the same run. A group's whole member listing is read again instead when the log does
not say for sure what its edges are:

- the group is not in the mirror (created in the window) or has a group event other than
  these and :data:`SAFE` (a setting, an event this code does not know: read it all rather
  than guess what it implies);
- an event without a time or member, or two events of one pair at the same time that disagree;
- a member address that no user of the mirror or of this run holds (a nested group, an
  outside address, a user outside ``domain``), or that the mirror and this run give to two
  different users (an address reused); an addition of a user deleted in the window (its
  removals are applied: the user is gone either way).

Each group read again carries the first reason found (:data:`Reasons`), for the run's stats.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from idpsync.model import MemberKind, Membership

ADD, REMOVE = "ADD_GROUP_MEMBER", "REMOVE_GROUP_MEMBER"
SAFE = frozenset({"CHANGE_GROUP_NAME", "CHANGE_GROUP_DESCRIPTION"})
"""Group events that change the group's own record (read anyway) and never its members."""
Reasons = dict[str, str]
"""Group e-mail → why its member listing is read again."""
NO_TIME = "an event without a time"
NO_MEMBER = "a member event without USER_EMAIL"
TIE = "events of one member at the same time disagree"
NEW_GROUP = "a group the mirror does not hold"
UNRESOLVED = "a group address not read this run (outside domain)"
UNKNOWN_MEMBER = "a member address that is not one known user"
DELETED_ADDED = "the addition of a user deleted in the window"


def other_event(name: str) -> str:
    """The reason for a group event that is neither a member event nor in :data:`SAFE`."""
    return f"group event {name}"


@dataclass
class MemberLog:
    """What the log says of each group's members."""

    latest: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)
    """``(group e-mail, member e-mail)`` → (time, added) of the latest event."""
    reread: Reasons = field(default_factory=dict)
    """Group e-mails whose listing must be read again, and why."""
    touched: set[str] = field(default_factory=set)
    """Group e-mails with an event other than the member events (their records are read)."""
    tied: set[tuple[str, str]] = field(default_factory=set)
    """Pairs whose latest events disagree at the same time (:data:`TIE`, :mod:`.ties`)."""


def _when(item: Mapping[str, Any]) -> float | None:
    ident = item.get("id")
    raw = ident.get("time") if isinstance(ident, dict) else None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_log(items: list[Any]) -> MemberLog:
    """The latest membership event per pair, and the groups to read again (module docstring)."""
    log = MemberLog()
    ties: set[tuple[tuple[str, str], float]] = set()
    for item in items:
        when = _when(item) if isinstance(item, dict) else None
        for event in (item.get("events") or []) if isinstance(item, dict) else []:
            if not isinstance(event, dict) or event.get("type") != "GROUP_SETTINGS":
                continue
            params = {
                str(p.get("name")): str(p.get("value", ""))
                for p in event.get("parameters") or []
                if isinstance(p, dict)
            }
            group, member = params.get("GROUP_EMAIL", "").lower(), params.get("USER_EMAIL", "")
            name = str(event.get("name", ""))
            if name not in (ADD, REMOVE):
                log.touched.add(group)
            if name in SAFE:
                continue
            if name not in (ADD, REMOVE) or when is None or not member:
                why = other_event(name) if name not in (ADD, REMOVE) else None
                log.reread.setdefault(group, why or (NO_TIME if when is None else NO_MEMBER))
                continue
            pair, added = (group, member.lower()), name == ADD
            before = log.latest.get(pair)
            if before is not None and before[0] == when and before[1] != added:
                ties.add((pair, when))
            if before is None or when >= before[0]:
                log.latest[pair] = (when, added)
    for pair, when in sorted(ties):
        if log.latest[pair][0] == when:
            log.reread.setdefault(pair[0], TIE)
            log.tied.add(pair)
    return log


def apply(
    log: MemberLog,
    group_ids: Mapping[str, str],
    mirror_groups: set[str],
    member_ids: Mapping[str, str | None],
    edges: set[Membership],
    deleted: Set[str] = frozenset(),
) -> tuple[set[Membership], set[Membership], Reasons]:
    """Edges to add and to remove, and the group e-mails to read again with their reasons.

    ``group_ids`` maps the named groups' e-mails to ids (read this run); ``member_ids`` maps a
    member address to its user id, or to ``None`` when it is not sure; ``deleted`` holds the
    addresses of users deleted in the window (module docstring). :data:`TIE` stays a group's
    reason only when it has no other (:mod:`.ties` may settle those groups without a listing).
    """
    reread = {group: why for group, why in log.reread.items() if why != TIE}
    for (group, member), (_, present) in log.latest.items():
        gid = group_ids.get(group)
        if gid is None or gid not in mirror_groups:
            reread.setdefault(group, UNRESOLVED if gid is None else NEW_GROUP)
        elif member_ids.get(member) is None:
            reread.setdefault(group, UNKNOWN_MEMBER)
        elif present and member in deleted:
            reread.setdefault(group, DELETED_ADDED)
    for group, why in log.reread.items():
        if why == TIE:
            reread.setdefault(group, TIE)
    added: set[Membership] = set()
    removed: set[Membership] = set()
    for (group, member), (_, present) in log.latest.items():
        if group in reread:
            continue
        edge = Membership(group_ids[group], str(member_ids[member]), MemberKind.USER)
        if present and edge not in edges:
            added.add(edge)
        elif not present and edge in edges:
            removed.add(edge)
    return added, removed, reread
