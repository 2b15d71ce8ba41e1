"""OneLogin records without I/O: users, groups and roles as the directory sees them.

The reader (:mod:`idpsync.sources.onelogin.reader`) sends the requests; everything here is a
plain function or a small class over decoded records, so it is tested without a network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idpsync.model import JSONValue, SourceGroup, SourceUser
from idpsync.sources.shape import ID, LIST, OBJECT, TEXT, BadRecord, Schema, check

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
    custom = {k: v for k, v in (item.get("custom_attributes") or {}).items() if v not in (None, "")}
    if custom:
        attributes["custom_attributes"] = dict(sorted(custom.items()))
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
