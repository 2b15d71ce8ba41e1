"""OneLogin protocol logic without I/O: endpoints, pagination, records, the hourly budget.

The source (:mod:`idpsync.sources.onelogin.reader`) sends the requests; everything here is a plain
function or a small class over responses, so it is tested without a network.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx

from idpsync.errors import SourceError
from idpsync.http.endpoint import Endpoint
from idpsync.model import JSONValue, SourceGroup, SourceUser
from idpsync.sources.shape import ID, LIST, OBJECT, TEXT, BadRecord, Schema, ShapeError, check

PAGE_SIZE = 50
"""OneLogin's page: v1 is fixed at 50 and v2 ``/api/2/users`` returns at most 50."""
SAME_HOUR_SLACK = 60.0
"""Budget readings whose reset times differ by less than this (seconds) are from one hour."""

TOKEN = Endpoint("token", "POST", "/auth/oauth2/v2/token", "obtain an access token", token=True)
RATE_LIMIT = Endpoint(
    "rate_limit", "GET", "/auth/rate_limit", "read the account's remaining hourly API calls"
)
USERS = Endpoint(
    "list_users", "GET", "/api/2/users", "list users (with group_id and role_ids)",
    permission="Read users",
)  # fmt: skip
USER = Endpoint(
    "get_user", "GET", "/api/2/users/{id}", "read one user (sync-user)", permission="Read users"
)
GROUPS = Endpoint(
    "list_groups", "GET", "/api/1/groups", "list groups (groups_from = groups | both)",
    permission="Read users",
)  # fmt: skip
ROLES = Endpoint(
    "list_roles", "GET", "/api/2/roles", "list roles (groups_from = roles | both)",
    permission="Read All",
)  # fmt: skip
GROUP = Endpoint(
    "get_group", "GET", "/api/1/groups/{id}", "read one group (sync-user)", permission="Read users"
)
ROLE = Endpoint(
    "get_role", "GET", "/api/2/roles/{id}", "read one role (sync-user)", permission="Read All"
)
ROLE_USERS = Endpoint(
    "role_users", "GET", "/api/2/roles/{id}/users",
    "list a role's users (only when user records lack role_ids)", permission="Read All",
)  # fmt: skip
ENDPOINTS = (TOKEN, RATE_LIMIT, USERS, USER, GROUPS, ROLES, GROUP, ROLE, ROLE_USERS)
"""Every call the source can make (``idpsync endpoints`` lists the ones a configuration uses)."""

USER_FIELDS = (
    "id,username,email,firstname,lastname,title,department,company,phone,group_id,role_ids,"
    "status,state,manager_user_id,external_id,updated_at,custom_attributes"
)
"""The ``fields`` a listing asks for (what the records below read, nothing more)."""

STATUS_NAMES = {
    0: "unactivated",
    1: "active",
    2: "suspended",
    3: "locked",
    4: "password expired",
    5: "awaiting password reset",
    7: "password pending",
    8: "security questions required",
}
STATE_NAMES = {0: "unapproved", 1: "approved", 2: "rejected", 3: "unlicensed"}


class HeaderCursor:
    """v2 paging: the next page is ``cursor=<After-Cursor>``; no ``After-Cursor`` ends it.

    A response carries ``After-Cursor: bGltaXQ9NTAmcGFnZT0y`` (sometimes URL-encoded, e.g.
    ``…%3D``) and a bare JSON array. The value is decoded once here, so the HTTP layer's own
    encoding of the query does not encode it a second time. A cursor seen before is an error.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def next(self, response: httpx.Response) -> str | None:
        """The next cursor, or ``None`` at the end."""
        raw = response.headers.get("after-cursor")
        if not raw:
            return None
        cursor = unquote(raw.strip())
        if cursor in self.seen:
            raise SourceError(
                f"OneLogin returned the cursor {cursor[:24]}… twice for "
                f"{response.request.url.path}; the listing would never end. Remedy: retry the "
                "sync later; report it to OneLogin support if it persists"
            )
        self.seen.add(cursor)
        return cursor


class BodyCursor(HeaderCursor):
    """v1 paging: ``{"pagination": {"after_cursor": "…"}, "data": […]}``; null ends it."""

    def next(self, response: httpx.Response) -> str | None:
        """The next ``after_cursor``, or ``None`` at the end."""
        body = parse_json(response)
        paging = body.get("pagination") if isinstance(body, dict) else None
        cursor = paging.get("after_cursor") if isinstance(paging, dict) else None
        if not cursor:
            return None
        if cursor in self.seen:
            raise SourceError(
                f"OneLogin returned after_cursor {str(cursor)[:24]}… twice for "
                f"{response.request.url.path}; the listing would never end. Remedy: retry later"
            )
        self.seen.add(str(cursor))
        return str(cursor)


def parse_json(response: httpx.Response) -> Any:
    """The JSON body of an answer; :class:`ShapeError` when it is not JSON (cut off?)."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # cut off, not JSON, or nested too deeply
        raise ShapeError(
            f"GET {response.request.url.path}: the answer is not JSON (cut off?); retry later"
        ) from None


def page_items(body: Any, *, v1: bool) -> list[Any]:
    """The records of a page: v1 ``data``, v2 the bare array (items checked by the caller)."""
    items = body.get("data") if v1 and isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ShapeError("OneLogin answered a listing without a list of records")
    return items


@dataclass(frozen=True, slots=True)
class Activity:
    """Which integer ``status`` and ``state`` codes count as an active account."""

    statuses: frozenset[int]
    states: frozenset[int]

    def active(self, item: Mapping[str, Any]) -> bool:
        """Whether a user record counts as active (missing codes count as OneLogin's 1)."""
        status, state = item.get("status"), item.get("state")
        return (1 if status is None else int(status)) in self.statuses and (
            1 if state is None else int(state)
        ) in self.states


def group_id(raw: object) -> str:
    """The source id of a OneLogin group (``group:<id>``)."""
    return f"group:{raw}"


def role_id(raw: object) -> str:
    """The source id of a role used as a group (``role:<id>``)."""
    return f"role:{raw}"


USER_SCHEMA: Schema = {
    "username": TEXT,
    "email": TEXT,
    "firstname": TEXT,
    "lastname": TEXT,
    "status": (int,),
    "state": (int,),
    "manager_user_id": ID,
    "group_id": ID,
    "role_ids": LIST,
    "custom_attributes": OBJECT,
}
"""The types of the user fields the source reads."""
GROUP_SCHEMA: Schema = {"name": TEXT}


def checked_user(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` when it matches :data:`USER_SCHEMA` (else ``BadRecord``)."""
    check(item, USER_SCHEMA)
    return item


def to_user(item: Mapping[str, Any], activity: Activity) -> SourceUser:
    """A :class:`SourceUser` from a v2 user record (raw attributes kept for the mapping)."""
    check(item, USER_SCHEMA)
    first, last = item.get("firstname") or None, item.get("lastname") or None
    display = " ".join(p for p in (first, last) if p) or None
    login = item.get("username") or item.get("email")
    if not login:
        raise BadRecord("the user has no username and no email")
    manager = item.get("manager_user_id")
    status, state = item.get("status"), item.get("state")
    attributes: dict[str, JSONValue] = {
        key: item[key] for key in _RAW_ATTRIBUTES if item.get(key) not in (None, "")
    }
    attributes["status"] = STATUS_NAMES.get(status, str(status)) if status is not None else None
    attributes["state"] = STATE_NAMES.get(state, str(state)) if state is not None else None
    for key, value in (item.get("custom_attributes") or {}).items():
        if value not in (None, ""):
            attributes[f"custom_attributes.{key}"] = value
    return SourceUser(
        source_id=str(item["id"]),
        login=str(login),
        email=item.get("email") or None,
        display_name=display,
        given_name=first,
        family_name=last,
        active=activity.active(item),
        manager_id=str(manager) if manager not in (None, "", 0) else None,
        attributes=attributes,
    )


_RAW_ATTRIBUTES = (
    "username", "email", "firstname", "lastname", "title", "department", "company", "phone",
    "external_id", "group_id", "role_ids",
)  # fmt: skip


def to_group(item: Mapping[str, Any]) -> SourceGroup:
    """A :class:`SourceGroup` from a v1 group record."""
    check(item, GROUP_SCHEMA)
    return SourceGroup(group_id(item["id"]), str(item.get("name") or item["id"]))


def to_role(item: Mapping[str, Any], prefix: str) -> SourceGroup:
    """A :class:`SourceGroup` from a v2 role record (name with ``role_prefix``)."""
    check(item, GROUP_SCHEMA)
    return SourceGroup(role_id(item["id"]), prefix + str(item.get("name") or item["id"]))


@dataclass
class CallBudget:
    """The account's hourly budget as the last response told it (``X-RateLimit-*``).

    ``reset`` is OneLogin's "seconds left in the hour"; :attr:`reset_at` turns it into a time.
    With listings running side by side, answers can arrive out of order: within one hour a
    reading never raises ``remaining`` again, and the calls still in flight count as spent.
    """

    minimum: int
    """Stop when the remaining calls are at or below this (``min_remaining_calls``)."""
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    in_flight: int = 0
    """Calls sent and not answered yet (the source counts them around each request)."""

    def observe_headers(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Update from a response's ``X-RateLimit-Limit/Remaining/Reset`` headers."""
        self.observe(
            headers.get("x-ratelimit-limit"),
            headers.get("x-ratelimit-remaining"),
            headers.get("x-ratelimit-reset"),
            now,
        )

    def observe(self, limit: object, remaining: object, reset: object, now: float | None) -> None:
        """Update from the three values (any may be missing)."""
        moment = time.time() if now is None else now
        # Seconds to the hourly reset; a bogus huge value is capped at a day.
        reset_at = moment + min(int(str(reset)), 86400) if _is_int(reset) else None
        if _is_int(limit):
            self.limit = int(str(limit))
        if _is_int(remaining):
            value = int(str(remaining))
            if self.remaining is not None and self._same_hour(reset_at):
                value = min(value, self.remaining)  # a late answer to an earlier call
            self.remaining = value
        if reset_at is not None:
            self.reset_at = reset_at

    def _same_hour(self, reset_at: float | None) -> bool:
        """Whether a reading resetting at ``reset_at`` is from the hour already known."""
        if reset_at is None or self.reset_at is None:
            return False
        return abs(reset_at - self.reset_at) < SAME_HOUR_SLACK

    @property
    def low(self) -> bool:
        """Whether the remaining calls, less those in flight, are at or below the minimum."""
        return self.remaining is not None and self.remaining - self.in_flight <= self.minimum

    def message(self, before: str) -> str:
        """The administrator's message when the sync stops to spare the budget."""
        left = "none" if not self.remaining else f"only {self.remaining}"
        of = f" of {self.limit}" if self.limit else ""
        return (
            f"OneLogin API budget: {left}{of} calls left this hour, at or below "
            f"min_remaining_calls = {self.minimum}; stopped before {before} to leave them to "
            f"other integrations of the account. The budget resets {self.reset_text()}. "
            "Nothing was removed; the next sync after the reset reads what this one could not"
        )

    def reset_text(self, now: float | None = None) -> str:
        """``at 17:45 UTC (in 23 min)`` or ``within the hour``."""
        if self.reset_at is None:
            return "within the hour"
        moment = datetime.fromtimestamp(self.reset_at, UTC)
        minutes = max(0, round((self.reset_at - (time.time() if now is None else now)) / 60))
        return f"at {moment:%H:%M} UTC (in {minutes} min)"


def _is_int(value: object) -> bool:
    # ASCII only: "²".isdigit() is true, and int("²") raises.
    return value is not None and re.fullmatch(r"-?[0-9]{1,18}", str(value).strip()) is not None
