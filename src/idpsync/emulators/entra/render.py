"""Tenant objects in Microsoft Graph's JSON shape (user, group, directory objects, photos)."""

from __future__ import annotations

import hashlib
from typing import Any

from idpsync.emulators.tenant import Tenant, TenantGroup, TenantObject, TenantUser

USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
USER_PROPS = frozenset(
    {
        *USER_DEFAULT,
        "accountEnabled",
        "department",
        "employeeId",
        "userType",
        "createdDateTime",
        "otherMails",
        "onPremisesSyncEnabled",
        "onPremisesImmutableId",
        "deletedDateTime",
        "manager",
        "memberOf",
    }
)
GROUP_PROPS = frozenset(
    {
        "id",
        "displayName",
        "description",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "groupTypes",
        "membershipRule",
        "createdDateTime",
        "visibility",
        "deletedDateTime",
        "members",
    }
)
ODATA_TYPE = {
    "user": "#microsoft.graph.user",
    "group": "#microsoft.graph.group",
    "servicePrincipal": "#microsoft.graph.servicePrincipal",
    "device": "#microsoft.graph.device",
    "orgContact": "#microsoft.graph.orgContact",
}
PHOTO_SIZES = (48, 64, 96, 120, 240)


def user_json(tenant: Tenant, user: TenantUser) -> dict[str, Any]:
    """Every property of a user (projection happens in :func:`project`)."""
    return {
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": user.surname,
        "userPrincipalName": tenant.login(user),
        "accountEnabled": user.enabled,
        "department": user.department,
        "employeeId": user.employee_id,
        "userType": "Guest" if user.guest else "Member",
        "createdDateTime": user.created,
        "otherMails": [],
        "onPremisesSyncEnabled": None,
        "onPremisesImmutableId": None,
        "deletedDateTime": None,
    }


def group_json(tenant: Tenant, group: TenantGroup) -> dict[str, Any]:
    """Every property of a group."""
    return {
        "id": group.id,
        "displayName": group.name,
        "description": group.description,
        "mail": f"{group.mail_nickname}@{tenant.domain}" if group.unified else None,
        "mailEnabled": group.unified,
        "mailNickname": group.mail_nickname,
        "securityEnabled": not group.unified,
        "groupTypes": ["Unified"] if group.unified else [],
        "membershipRule": None,
        "createdDateTime": group.created,
        "visibility": "Private" if group.unified else None,
        "deletedDateTime": None,
    }


def other_json(other: TenantObject) -> dict[str, Any]:
    """A service principal, device or contact, as it appears in member lists."""
    return {"id": other.id, "displayName": other.display_name}


def project(
    full: dict[str, Any], select: tuple[str, ...] | None, default: tuple[str, ...]
) -> dict[str, Any]:
    """Keep the selected properties (or the type's default set)."""
    names = select or default
    return {
        name: full.get(name) for name in names if name not in ("manager", "memberOf", "members")
    }


def directory_object(
    tenant: Tenant, object_id: str, select: tuple[str, ...] | None
) -> dict[str, Any] | None:
    """A member / memberOf entry with its ``@odata.type`` (``None`` if it vanished)."""
    kind = tenant.kind_of(object_id)
    if kind is None:
        return None
    if kind == "user":
        body = project(user_json(tenant, tenant.users[object_id]), select, USER_DEFAULT)
    elif kind == "group":
        group = tenant.groups[object_id]
        body = project(group_json(tenant, group), select, tuple(sorted(GROUP_PROPS - {"members"})))
    else:
        body = other_json(tenant.others[object_id])
    return {"@odata.type": ODATA_TYPE[kind], **body}


def photo_bytes(user: TenantUser, size: int = 240) -> bytes:
    """A deterministic stand-in JPEG for a user's current photo (SOI … EOI markers)."""
    digest = hashlib.sha256(f"{user.id}:{user.photo_version}:{size}".encode()).digest()
    return b"\xff\xd8\xff\xe0" + digest * (4 + size // 48) + b"\xff\xd9"


def photo_meta(user: TenantUser, size: int = 240) -> dict[str, Any]:
    """ProfilePhoto metadata for one size."""
    etag = hashlib.sha256(f"{user.id}:{user.photo_version}".encode()).hexdigest()[:16]
    return {
        "@odata.mediaContentType": "image/jpeg",
        "@odata.mediaEtag": f'W/"{etag}"',
        "id": f"{size}X{size}",
        "height": size,
        "width": size,
    }
