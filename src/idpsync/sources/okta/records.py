"""Okta's user and group records: the types the source reads, checked, then converted.

See :mod:`idpsync.sources.shape` for what a record of the wrong type leads to.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from idpsync.model import Snapshot, SourceGroup, SourceUser
from idpsync.sources.okta.endpoints import GROUPS, USERS
from idpsync.sources.shape import OBJECT, TEXT, Schema, check, records

USER_SCHEMA: Schema = {"status": TEXT, "profile": OBJECT, "lastUpdated": TEXT}
PROFILE_SCHEMA: Schema = {
    "login": TEXT,
    "email": TEXT,
    "firstName": TEXT,
    "lastName": TEXT,
    "displayName": TEXT,
    "managerId": TEXT,
}
"""The types of the user fields the source reads (the rest of ``profile`` is an attribute)."""
GROUP_SCHEMA: Schema = {
    "type": TEXT,
    "profile": OBJECT,
    "lastUpdated": TEXT,
    "lastMembershipUpdated": TEXT,
}
GROUP_PROFILE_SCHEMA: Schema = {"name": TEXT, "description": TEXT}


def checked_user(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` when it and its profile match the schemas (else ``BadRecord``)."""
    check(raw, USER_SCHEMA)
    check(raw.get("profile") or {}, PROFILE_SCHEMA)
    return raw


def checked_group(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` when it and its profile match the group schemas (else ``BadRecord``)."""
    check(raw, GROUP_SCHEMA)
    check(raw.get("profile") or {}, GROUP_PROFILE_SCHEMA)
    return raw


def login_of(raw: dict[str, Any]) -> object:
    """The login to report for a skipped user (``profile.login``)."""
    profile = raw.get("profile")
    return profile.get("login") if isinstance(profile, dict) else None


def name_of(raw: dict[str, Any]) -> object:
    """The name to report for a skipped group (``profile.name``)."""
    profile = raw.get("profile")
    return profile.get("name") if isinstance(profile, dict) else None


def checked_users(
    snap: Snapshot,
    items: list[Any] | None,
    check: Callable[[dict[str, Any]], dict[str, Any]] = checked_user,
) -> list[dict[str, Any]]:
    """The usable user objects of a listing (see :func:`~idpsync.sources.shape.records`).

    ``check``: :func:`checked_user`, or one that knows the records already checked.
    """
    return records(snap, USERS.label, "user", items or [], check, login_of)


def checked_groups(snap: Snapshot, items: list[Any] | None) -> list[dict[str, Any]]:
    """The usable group objects of a listing."""
    return records(snap, GROUPS.label, "group", items or [], checked_group, name_of)


def to_user(raw: dict[str, Any], active: Collection[str]) -> SourceUser:
    """An Okta user object as a :class:`SourceUser`, active when its status is in ``active``."""
    checked_user(raw)
    profile = raw.get("profile") or {}
    status = str(raw.get("status", ""))
    first, last = profile.get("firstName"), profile.get("lastName")
    name = profile.get("displayName") or " ".join(p for p in (first, last) if p) or None
    return SourceUser(
        source_id=str(raw["id"]),
        login=str(profile.get("login") or raw["id"]),
        email=profile.get("email"),
        display_name=name,
        given_name=first,
        family_name=last,
        active=status in active,
        manager_id=profile.get("managerId"),
        attributes={"status": status, "profile": _present(profile)},
    )


def to_group(raw: dict[str, Any]) -> SourceGroup:
    """An Okta group object as a :class:`SourceGroup`."""
    checked_group(raw)
    profile = raw.get("profile") or {}
    return SourceGroup(
        source_id=str(raw["id"]),
        name=str(profile.get("name") or raw["id"]),
        description=profile.get("description"),
    )


def _present(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile without its empty (``null``) fields."""
    return {k: v for k, v in profile.items() if v is not None}
