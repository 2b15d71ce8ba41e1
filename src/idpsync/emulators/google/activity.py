"""Admin SDK Reports API: the admin activity log of the emulated customer.

Every change made through the tenant's control methods (``/_emulator/tenant/…``) is recorded
as an admin activity with the event type, name and parameters Google's admin audit log uses
(``USER_SETTINGS`` events carry ``USER_EMAIL``, ``GROUP_SETTINGS`` events ``GROUP_EMAIL``, and
group member events both). :func:`list_activities` serves
``GET /admin/reports/v1/activity/users/all/applications/admin`` with ``startTime``,
``endTime``, ``eventName``, ``maxResults`` (1–1,000) and ``pageToken``, newest first as
Google answers. An activity becomes visible only ``lag`` seconds after it happened: Google
documents admin log events as "near real time (a couple of minutes)", with rare longer delays
(support.google.com/a/answer/7061566), so a reader must look back further than its last read.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

RETENTION_DAYS = 180
"""How far back Google keeps admin activities (the Reports API's maximum period)."""
PAGE_MAX = 1000
REPORTS_PATH = "/admin/reports/v1/activity/users/all/applications/admin"
PARAMS = frozenset(
    {"startTime", "endTime", "eventName", "maxResults", "pageToken", "filters", "actorIpAddress",
     "customerId", "orgUnitID", "groupIdFilter", "alt", "fields", "prettyPrint", "quotaUser",
     "key", "access_token", "$.xgafv"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Activity:
    """One admin activity: when, what (type and name) and its parameters."""

    when: float
    """Epoch seconds it happened."""
    kind: str
    """Event type, e.g. ``USER_SETTINGS``."""
    name: str
    """Event name, e.g. ``CREATE_USER``."""
    parameters: tuple[tuple[str, str], ...]
    """``(name, value)`` pairs, e.g. ``(("USER_EMAIL", "a@example.com"),)``."""
    seq: int


def stamp(when: float) -> str:
    """RFC 3339 with milliseconds, as the Reports API writes times."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> float:
    """Epoch seconds of an RFC 3339 time (``ValueError`` when it is not one)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ActivityLog:
    """Recorded admin activities with a reporting lag (``lag`` seconds)."""

    def __init__(self, clock: Callable[[], float] = time.time, lag: float = 0.0) -> None:
        self.clock, self.lag = clock, lag
        self.items: list[Activity] = []
        self.actor = "admin@example.com"

    def record(self, kind: str, name: str, **parameters: str) -> None:
        """Append one activity happening now."""
        pairs = tuple(sorted(parameters.items()))
        self.items.append(Activity(self.clock(), kind, name, pairs, len(self.items)))

    def user(self, name: str, email: str, **more: str) -> None:
        """A ``USER_SETTINGS`` activity about ``email``."""
        self.record("USER_SETTINGS", name, USER_EMAIL=email, **more)

    def group(self, name: str, email: str, **more: str) -> None:
        """A ``GROUP_SETTINGS`` activity about the group ``email``."""
        self.record("GROUP_SETTINGS", name, GROUP_EMAIL=email, **more)


class ReportsError(Exception):
    """A Reports API error: status, reason, message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _bad(message: str) -> ReportsError:
    return ReportsError(400, "invalid", message)


def _time(params: Mapping[str, str], key: str) -> float | None:
    raw = params.get(key)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise _bad(f"Invalid value '{raw}' for {key}") from None


def render(activity: Activity, customer: str, actor: str) -> dict[str, Any]:
    """An ``admin#reports#activity`` resource."""
    return {
        "kind": "admin#reports#activity",
        "id": {
            "time": stamp(activity.when),
            "uniqueQualifier": str(-(10**18) + activity.seq * 7919),
            "applicationName": "admin",
            "customerId": customer,
        },
        "etag": f'"act{activity.seq}"',
        "actor": {"callerType": "USER", "email": actor, "profileId": "100000000000000000001"},
        "ipAddress": "192.0.2.10",
        "events": [
            {
                "type": activity.kind,
                "name": activity.name,
                "parameters": [{"name": k, "value": v} for k, v in activity.parameters],
            }
        ],
    }


def list_activities(log: ActivityLog, customer: str, params: Mapping[str, str]) -> dict[str, Any]:
    """``activities.list`` for ``applicationName=admin`` (see the module docstring)."""
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise _bad(f"Invalid parameter: {unknown[0]}")
    now = log.clock()
    start, end = _time(params, "startTime"), _time(params, "endTime")
    if start is not None and start < now - RETENTION_DAYS * 86400:
        raise _bad("Start time must be within the last 180 days.")
    if start is not None and end is not None and end < start:
        raise _bad("Start time must be less than or equal to end time.")
    raw = params.get("maxResults", str(PAGE_MAX))
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise _bad(f"Invalid value '{raw}'. Values must be within the range: [1, {PAGE_MAX}]")
    size, name = int(raw), params.get("eventName")
    visible = [
        a
        for a in reversed(log.items)  # newest first
        if a.when + log.lag <= now
        and (start is None or a.when >= start)
        and (end is None or a.when < end)
        and (not name or a.name == name)
    ]
    offset = _offset(params.get("pageToken"), visible)
    chunk = visible[offset : offset + size]
    body: dict[str, Any] = {"kind": "admin#reports#activities", "etag": f'"{len(visible)}"'}
    if chunk:
        body["items"] = [render(a, customer, log.actor) for a in chunk]
    if offset + size < len(visible):
        top = visible[offset + size].seq
        token = json.dumps({"o": offset + size, "s": top}).encode()
        body["nextPageToken"] = base64.urlsafe_b64encode(token).decode().rstrip("=")
    return body


def _offset(token: str | None, visible: list[Activity]) -> int:
    """Where a page token continues: the position of the activity it points at."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        seq = int(data["s"])
    except (ValueError, KeyError, TypeError):
        raise _bad("Invalid pageToken") from None
    # activities that became visible meanwhile are newer: they sit before the token's one
    for index, activity in enumerate(visible):
        if activity.seq <= seq:
            return index
    return len(visible)
