"""Tenant objects in Microsoft Graph's JSON shape (user, group, directory objects, photos)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
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
        "employeeType",
        "employeeOrgData",
        "companyName",
        "onPremisesExtensionAttributes",
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
GROUP_DEFAULT = tuple(sorted(GROUP_PROPS - {"members"}))
"""A group's properties when ``$select`` names none."""
ODATA_TYPE = {
    "user": "#microsoft.graph.user",
    "group": "#microsoft.graph.group",
    "servicePrincipal": "#microsoft.graph.servicePrincipal",
    "device": "#microsoft.graph.device",
    "orgContact": "#microsoft.graph.orgContact",
}
PHOTO_SIZES = (48, 64, 96, 120, 240)
EXTENSION_APP = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
"""The app id (without dashes) that owns the emulated directory extension properties."""
NO_ON_PREMISES: dict[str, str | None] = {f"extensionAttribute{n}": None for n in range(1, 16)}
"""``onPremisesExtensionAttributes`` of a user without any (every one ``null``)."""
ON_PREMISES = frozenset(NO_ON_PREMISES)
"""Custom attribute names served in ``onPremisesExtensionAttributes``."""


def user_json(tenant: Tenant, user: TenantUser) -> dict[str, Any]:
    """Every property of a user (projection happens in :func:`project`).

    Custom attributes (:attr:`TenantUser.custom`, whatever their set) are directory extension
    properties of the app :data:`EXTENSION_APP`, except ``extensionAttribute1``…``15``: those
    are the on-premises extension attributes.
    """
    custom = {k: v for fields in user.custom.values() for k, v in fields.items()}
    on_premises = {k: v for k, v in custom.items() if k in ON_PREMISES} if custom else {}
    return {
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": user.office,
        "preferredLanguage": None,
        "surname": user.surname,
        "userPrincipalName": tenant.login(user),
        "accountEnabled": user.enabled,
        "department": user.department,
        "employeeId": user.employee_id,
        "employeeType": user.employee_type,
        "employeeOrgData": org_data(user),
        "companyName": user.company,
        "onPremisesExtensionAttributes": {**NO_ON_PREMISES, **on_premises},
        **{f"extension_{EXTENSION_APP}_{k}": v for k, v in custom.items() if k not in ON_PREMISES},
        "userType": "Guest" if user.guest else "Member",
        "createdDateTime": user.created,
        "otherMails": [],
        "onPremisesSyncEnabled": None,
        "onPremisesImmutableId": None,
        "deletedDateTime": None,
    }


def org_data(user: TenantUser) -> dict[str, Any] | None:
    """``employeeOrgData`` (``division``, ``costCenter``); ``None`` when neither is set."""
    if user.division is None and user.cost_center is None:
        return None
    return {"division": user.division, "costCenter": user.cost_center}


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
    names, extensions = _projection(select or default)
    if not extensions:
        return {name: full.get(name) for name in names}
    return {  # an extension property without a value is left out
        name: full.get(name) for name in names if name not in extensions or name in full
    }


@functools.lru_cache(maxsize=256)
def _projection(names: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The names a projection keeps (no relations), and the extension properties among them."""
    kept = tuple(n for n in names if n not in ("manager", "memberOf", "members"))
    return kept, frozenset(n for n in kept if n.startswith("extension_"))


def directory_object(
    tenant: Tenant,
    object_id: str,
    select: tuple[str, ...] | None,
    user: Callable[[Tenant, str], dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """A member / memberOf entry with its ``@odata.type`` (``None`` if it vanished).

    ``user`` gives a user's every property (default: :func:`user_json`, rendered now).
    """
    kind = tenant.kind_of(object_id)
    if kind is None:
        return None
    if kind == "user":
        full = user(tenant, object_id) if user else user_json(tenant, tenant.users[object_id])
        body = project(full, select, USER_DEFAULT)
    elif kind == "group":
        body = project(group_json(tenant, tenant.groups[object_id]), select, GROUP_DEFAULT)
    else:
        body = other_json(tenant.others[object_id])
    return {"@odata.type": ODATA_TYPE[kind], **body}


def photo_bytes(user: TenantUser, size: int = 240) -> bytes:
    """The bytes a test set, else a deterministic stand-in JPEG (SOI … EOI markers)."""
    if user.photo is not None:
        return user.photo[0]
    digest = hashlib.sha256(f"{user.id}:{user.photo_version}:{size}".encode()).digest()
    return b"\xff\xd8\xff\xe0" + digest * (4 + size // 48) + b"\xff\xd9"


def photo_type(user: TenantUser) -> str:
    """The declared type of the user's photo (the stand-in is a JPEG)."""
    return user.photo[1] if user.photo is not None else "image/jpeg"


def photo_meta(user: TenantUser, size: int = 240) -> dict[str, Any]:
    """ProfilePhoto metadata for one size."""
    etag = hashlib.sha256(f"{user.id}:{user.photo_version}".encode()).hexdigest()[:16]
    return {
        "@odata.mediaContentType": photo_type(user),
        "@odata.mediaEtag": f'W/"{etag}"',
        "id": f"{size}X{size}",
        "height": size,
        "width": size,
    }
