"""Okta's user and group records: the types the source reads, checked before conversion.

See :mod:`idpsync.sources.shape` for what a record of the wrong type leads to.
"""

from __future__ import annotations

from typing import Any

from idpsync.sources.shape import OBJECT, TEXT, Schema, check

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
