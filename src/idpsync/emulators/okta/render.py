"""Okta's JSON shapes: users, groups and errors, plus the version → timestamp convention.

``lastUpdated`` and ``lastMembershipUpdated`` come from the tenant's change log: an object last
changed at version ``v`` shows ``ORIGIN + v`` seconds, so "updated since" filters are exact and
deterministic (never compare them with the wall clock).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from idpsync.emulators.tenant import Tenant, TenantGroup, TenantUser

ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)
USER_TYPE_ID = "oty1emulatordefault0"

NULLABLE = frozenset(
    {
        "firstName",
        "lastName",
        "displayName",
        "title",
        "managerId",
        "manager",
        "secondEmail",
        "mobilePhone",
    }
)
ERROR_CODES = {
    400: ("E0000001", "Api validation failed"),
    401: ("E0000011", "Invalid token provided"),
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found: Resource not found"),
    405: ("E0000022", "The endpoint does not support the provided HTTP method"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
    500: ("E0000009", "Internal Server Error"),
}


def stamp(version: int) -> str:
    """The timestamp of a change-log version (see module docstring)."""
    moment = ORIGIN + timedelta(seconds=version)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso(text: str) -> str:
    """A tenant ISO 8601 time in Okta's millisecond form."""
    return text.replace("Z", ".000Z") if text.endswith("Z") and "." not in text else text


def error_body(code: str, summary: str) -> dict[str, Any]:
    """Okta's error object."""
    error_id = "oae" + secrets.token_hex(10)
    return {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": error_id,
        "errorCauses": [],
    }


def error_for(status: int, detail: str | None = None) -> dict[str, Any]:
    """The error object Okta sends with ``status`` (``detail`` refines the summary)."""
    code, summary = ERROR_CODES.get(status, ERROR_CODES[500] if status >= 500 else ERROR_CODES[400])
    return error_body(code, f"{summary}: {detail}" if detail else summary)


def user(tenant: Tenant, u: TenantUser, status: str, version: int, base: str) -> dict[str, Any]:
    """A user as ``GET /api/v1/users`` returns it."""
    login = tenant.login(u)
    manager = tenant.users.get(u.manager_id) if u.manager_id else None
    active = status not in ("STAGED", "PROVISIONED")
    return {
        "id": u.id,
        "status": status,
        "created": iso(u.created),
        "activated": iso(u.created) if active else None,
        "statusChanged": stamp(version) if version else iso(u.created),
        "lastLogin": None,
        "lastUpdated": stamp(version),
        "passwordChanged": iso(u.created) if active else None,
        "type": {"id": USER_TYPE_ID},
        "profile": _profile(
            {
                "login": login,
                "email": u.mail or login,
                "firstName": u.given_name,
                "lastName": u.surname,
                "displayName": u.display_name,
                "title": u.job_title,
                "department": u.department,
                "employeeNumber": u.employee_id,
                "costCenter": u.cost_center,
                "division": u.division,
                "organization": u.company,
                "userType": u.employee_type,
                "managerId": u.manager_id,
                "manager": manager.display_name if manager else None,
                "secondEmail": None,
                "mobilePhone": None,
                **custom_profile(u),
            }
        ),
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {"self": {"href": f"{base}/api/v1/users/{u.id}"}},
    }


def custom_profile(u: TenantUser) -> dict[str, Any]:
    """The user's custom attributes as custom profile properties (Okta has no sets)."""
    return {k: v for fields in u.custom.values() for k, v in fields.items()}


def _profile(values: dict[str, Any]) -> dict[str, Any]:
    """Okta leaves out unset attributes that are not nullable (``department``, …)."""
    return {k: v for k, v in values.items() if v is not None or k in NULLABLE}


def flat_user(tenant: Tenant, u: TenantUser, status: str, version: int) -> dict[str, str | None]:
    """The attributes ``filter`` / ``search`` compare, flattened (``profile.login`` …)."""
    login = tenant.login(u)
    return {
        "id": u.id,
        "status": status,
        "lastUpdated": stamp(version),
        "created": iso(u.created),
        "profile.login": login,
        "profile.email": u.mail or login,
        "profile.firstName": u.given_name,
        "profile.lastName": u.surname,
        "profile.displayName": u.display_name,
        "profile.department": u.department,
        "profile.title": u.job_title,
        "profile.employeeNumber": u.employee_id,
        **{f"profile.{k}": v if isinstance(v, str) else None for k, v in custom_profile(u).items()},
    }


def group(
    g: TenantGroup, kind: str, version: int, members_version: int, base: str
) -> dict[str, Any]:
    """A group as ``GET /api/v1/groups`` returns it."""
    object_class = "okta:windows_security_principal" if kind == "APP_GROUP" else "okta:user_group"
    return {
        "id": g.id,
        "created": iso(g.created),
        "lastUpdated": stamp(version),
        "lastMembershipUpdated": stamp(members_version),
        "objectClass": [object_class],
        "type": kind,
        "profile": {"name": g.name, "description": g.description},
        "_links": {
            "self": {"href": f"{base}/api/v1/groups/{g.id}"},
            "users": {"href": f"{base}/api/v1/groups/{g.id}/users"},
        },
    }


def flat_group(
    g: TenantGroup, kind: str, version: int, members_version: int
) -> dict[str, str | None]:
    """The attributes a groups ``filter`` / ``search`` compares."""
    return {
        "id": g.id,
        "type": kind,
        "lastUpdated": stamp(version),
        "lastMembershipUpdated": stamp(members_version),
        "created": iso(g.created),
        "profile.name": g.name,
        "profile.description": g.description,
    }
