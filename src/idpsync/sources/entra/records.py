"""Graph objects as idpsync records for the Entra source: fields read, types, conversion.

The endpoint table is in :mod:`idpsync.sources.entra.endpoints`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from idpsync.http.errors import HttpError
from idpsync.model import MemberKind, SourceGroup, SourceUser
from idpsync.sources.clean import usable_id
from idpsync.sources.shape import FLAG, LIST, OBJECT, TEXT, Schema, check

USER_FIELDS = (
    "id",
    "userPrincipalName",
    "mail",
    "otherMails",
    "displayName",
    "givenName",
    "surname",
    "accountEnabled",
    "userType",
    "employeeId",
    "employeeType",
    "jobTitle",
    "department",
    "companyName",
    "officeLocation",
    "employeeOrgData",
)
"""What the entra mapping preset reads, ``accountEnabled``, ``userType``, and the HR
properties Graph returns only when selected (``employeeOrgData`` holds ``division`` and
``costCenter``)."""
GROUP_FIELDS = ("id", "displayName", "description")
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
_ATTRIBUTE = re.compile(r"attributes\.([A-Za-z_][A-Za-z0-9_]*)")
_NOT_ATTRIBUTES = {"manager", "@odata.type", "@odata.context"}


def user_select(templates: Iterable[str | None], extra: Iterable[str] = ()) -> list[str]:
    """``$select`` of users: the fixed fields, ``extra`` ones and those templates read.

    :data:`USER_FIELDS`, the ``extra`` properties (the source's ``user_attributes``), and
    every ``attributes.X`` a template reads.
    """
    names = list(dict.fromkeys([*USER_FIELDS, *extra]))
    for template in templates:
        for name in _ATTRIBUTE.findall(template or ""):
            if name not in names:
                names.append(name)
    return names


USER_SCHEMA: Schema = {
    "userPrincipalName": TEXT,
    "mail": TEXT,
    "otherMails": LIST,
    "displayName": TEXT,
    "givenName": TEXT,
    "surname": TEXT,
    "accountEnabled": FLAG,
    "userType": TEXT,
    "manager": OBJECT,
}
"""The types of the user properties the source reads (others are kept as attributes)."""
GROUP_SCHEMA: Schema = {"displayName": TEXT, "description": TEXT}


def checked_user(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` when it matches :data:`USER_SCHEMA` (else :class:`BadRecord`)."""
    check(raw, USER_SCHEMA)
    return raw


def to_user(raw: Mapping[str, Any], manager_id: str | None, photo_ref: str | None) -> SourceUser:
    """A Graph user object as a :class:`SourceUser` (every read property kept as an attribute)."""
    check(raw, USER_SCHEMA)
    other = [m for m in raw.get("otherMails") or [] if isinstance(m, str)]
    upn = str(raw.get("userPrincipalName") or raw["id"])
    return SourceUser(
        source_id=str(raw["id"]),
        login=upn,
        email=raw.get("mail") or (other[0] if other else None),
        display_name=raw.get("displayName"),
        given_name=raw.get("givenName"),
        family_name=raw.get("surname"),
        active=raw.get("accountEnabled") is not False,
        manager_id=manager_id,
        photo_ref=photo_ref,
        attributes={k: v for k, v in raw.items() if k not in _NOT_ATTRIBUTES},
    )


def to_group(raw: Mapping[str, Any]) -> SourceGroup:
    """A Graph group object as a :class:`SourceGroup`."""
    check(raw, GROUP_SCHEMA)
    return SourceGroup(
        source_id=str(raw["id"]),
        name=str(raw.get("displayName") or raw["id"]),
        description=raw.get("description"),
    )


def member_kind(item: Mapping[str, Any]) -> MemberKind | None:
    """User or group; ``None`` for service principals, devices, contacts (not synced)."""
    kind = item.get("@odata.type")
    if kind == USER_TYPE:
        return MemberKind.USER
    if kind == GROUP_TYPE:
        return MemberKind.GROUP
    return None


def manager_of(raw: Mapping[str, Any]) -> str | None:
    """The id of an expanded ``manager``, if any."""
    manager = raw.get("manager")
    return usable_id(manager.get("id")) if isinstance(manager, Mapping) else None


def photo_etag(body: Mapping[str, Any]) -> str | None:
    """The photo's version from its metadata."""
    etag = body.get("@odata.mediaEtag") if isinstance(body, Mapping) else None
    return etag if isinstance(etag, str) and etag else None


def is_missing(exc: HttpError, *codes: str) -> bool:
    """Whether a 404 means "there is none" (no manager, no photo) rather than a failure."""
    said = f"{exc.cause} {exc.body or ''}"
    return exc.status == 404 and any(code in said for code in codes)


def upn(raw: dict[str, Any]) -> object:
    """A raw user's ``userPrincipalName`` (what a skipped record is named by)."""
    return raw.get("userPrincipalName")
