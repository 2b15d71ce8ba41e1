"""Cleanup: what happens to owned users who left the IdP or the connector's scope.

``policy.deprovision`` decides: ``deactivate`` (default), ``delete``, ``anonymise`` (personal
fields replaced, row and identity kept, so a returning user gets them back) or ``keep``.
``remove_memberships`` also takes them out of the connector's groups (local memberships are
never touched). ``grace_runs`` / ``grace_days`` wait until the user has been missing from that
many complete runs in a row and/or for that long (both, when both are set) before acting;
until then the user is left exactly as they are.

An incomplete snapshot never deprovisions: every missing user is left as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from idpsync.config_policy import PolicySettings
from idpsync.model import DirectoryState, DirUser, MemberKind, Membership

ANONYMOUS_NAME = "Anonymised user"
"""Display name of an anonymised user."""


@dataclass(frozen=True, slots=True)
class Missing:
    """How long an owned user has been missing (``users.missing_since`` / ``missing_runs``)."""

    since: datetime | None = None
    """When a complete run first did not find the user in scope."""
    runs: int = 0
    """Complete runs in a row that did not find the user in scope."""


@dataclass
class Cleanup:
    """The outcome of :func:`cleanup`."""

    reasons: dict[str, str] = field(default_factory=dict)
    """Why each deprovisioned user is deprovisioned (for the plan's ops)."""
    anonymised: set[str] = field(default_factory=set)
    """Users whose personal fields are replaced."""
    waiting: dict[str, str] = field(default_factory=dict)
    """Users missing but still within the grace period, with a note."""
    missing: dict[str, Missing] = field(default_factory=dict)
    """The new missing-tracking values of every owned user missing in this run."""
    with_edges: set[str] = field(default_factory=set)
    """Users put back together with their directory memberships (not stripped)."""


def anonymous_login(connector: str, source_id: str) -> str:
    """A stable, non-personal login for an anonymised user."""
    digest = hashlib.sha256(f"{connector}\0{source_id}".encode()).hexdigest()[:16]
    return f"anon-{digest}"


def anonymise(user: DirUser, connector: str) -> DirUser:
    """``user`` with its personal fields replaced (identity and source id kept)."""
    return replace(
        user,
        login=anonymous_login(connector, user.source_id),
        email=None,
        display_name=ANONYMOUS_NAME,
        given_name=None,
        family_name=None,
        active=False,
        manager_id=None,
        photo_ref=None,
        attributes={},
    )


def cleanup(
    desired: DirectoryState,
    current: DirectoryState,
    settings: PolicySettings,
    *,
    complete: bool,
    missing: Mapping[str, Missing],
    why_gone: Mapping[str, str],
    now: datetime,
    connector: str = "",
) -> Cleanup:
    """Decide about every owned user absent from ``desired``; updates ``desired`` in place.

    ``why_gone`` names why a user of the snapshot is out of scope (others are missing from
    the IdP). Users left in ``desired`` keep or change their state; a user not put back into
    ``desired`` is deleted by the planner.
    """
    out = Cleanup()
    gone = sorted(current.users.keys() - desired.users.keys())
    edges: dict[str, list[Membership]] = {}
    for edge in current.memberships if gone else ():  # only the gone users' edges are needed
        if edge.member_kind is MemberKind.USER:
            edges.setdefault(edge.member_id, []).append(edge)

    def keep(sid: str, *, strip: bool) -> None:
        if not strip:
            out.with_edges.add(sid)
        _keep(desired, current, sid, edges.get(sid, []), strip=strip)

    for sid in gone:
        user = current.users[sid]
        if not complete:
            keep(sid, strip=False)
            continue
        before = missing.get(sid, Missing())
        track = Missing(before.since or now, before.runs + 1)
        out.missing[sid] = track
        reason = why_gone.get(sid, "missing from the IdP")
        wait = _grace(settings, track, now)
        if wait:
            out.waiting[sid] = f"{reason}; {wait}"
            keep(sid, strip=False)
            continue
        mode = settings.deprovision
        if mode == "delete":
            out.reasons[sid] = reason
            continue
        if mode == "keep":
            keep(sid, strip=settings.remove_memberships)
            continue
        target = anonymise(user, connector) if mode == "anonymise" else replace(user, active=False)
        if mode == "anonymise":
            out.anonymised.add(sid)
        keep(sid, strip=settings.remove_memberships)
        desired.users[sid] = target
        out.reasons[sid] = reason
    return out


def _grace(settings: PolicySettings, track: Missing, now: datetime) -> str:
    """Why the user still waits (empty: the grace period is over)."""
    waits = []
    if settings.grace_runs and track.runs < settings.grace_runs:
        waits.append(f"missing for {track.runs} of {settings.grace_runs} runs")
    if settings.grace_days and track.since is not None:
        due = track.since + timedelta(days=settings.grace_days)
        if now < due:
            waits.append(f"deprovisioned from {due:%Y-%m-%d %H:%M} UTC")
    return "; ".join(waits) and "grace period: " + "; ".join(waits)


def _keep(
    desired: DirectoryState,
    current: DirectoryState,
    sid: str,
    edges: list[Membership],
    *,
    strip: bool,
) -> None:
    """Put the user back as they are, with their memberships (``edges``) unless ``strip``."""
    desired.users[sid] = current.users[sid]
    if strip:
        return
    for edge in edges:
        if edge.group_id in desired.groups:
            desired.memberships.add(edge)
