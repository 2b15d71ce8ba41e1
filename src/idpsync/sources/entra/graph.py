"""Microsoft Graph for the Entra source: the endpoint table, paging and record conversion.

The endpoint table drives the fetching code, ``idpsync endpoints`` and ``idpsync check``; each
endpoint names the application permission a 403 means is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from idpsync.check_reads import Read
from idpsync.http import Endpoint, HttpClient
from idpsync.http.errors import HttpError
from idpsync.model import MemberKind, SourceGroup, SourceUser
from idpsync.sources.clean import usable_id
from idpsync.sources.shape import (
    FLAG,
    LIST,
    OBJECT,
    TEXT,
    Schema,
    check,
    optional_text,
    page_items,
)

GRAPH = "https://graph.microsoft.com"
LOGIN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
PAGE = "999"
"""Graph's largest page for directory listings."""

TOKEN = Endpoint("token", "POST", LOGIN, "obtain an access token", token=True)
USERS = Endpoint("list_users", "GET", "/users", "list users", permission="User.Read.All")
USER = Endpoint("get_user", "GET", "/users/{id}", "read one user", permission="User.Read.All")
MANAGER = Endpoint(
    "manager", "GET", "/users/{id}/manager", "read a user's manager", permission="User.Read.All"
)
MEMBER_OF = Endpoint(
    "member_of",
    "GET",
    "/users/{id}/memberOf",
    "groups a user is directly in (single-user sync)",
    permission="GroupMember.Read.All",
)
GROUP_MEMBER_OF = Endpoint(
    "group_member_of",
    "GET",
    "/groups/{id}/memberOf",
    "groups a group is in (single-user sync with nested groups)",
    permission="GroupMember.Read.All",
)
PHOTO = Endpoint(
    "photo",
    "GET",
    "/users/{id}/photo",
    "photo metadata (its etag is the photo's version)",
    permission="ProfilePhoto.Read.All",
)
GROUPS = Endpoint("list_groups", "GET", "/groups", "list groups", permission="GroupMember.Read.All")
MEMBERS = Endpoint(
    "members",
    "GET",
    "/groups/{id}/members",
    "list a group's direct members",
    permission="GroupMember.Read.All",
)
USERS_DELTA = Endpoint(
    "users_delta", "GET", "/users/delta", "changed users since the last run",
    permission="User.Read.All",
)  # fmt: skip
GROUPS_DELTA = Endpoint(
    "groups_delta", "GET", "/groups/delta", "changed groups and memberships since the last run",
    permission="GroupMember.Read.All",
)  # fmt: skip
_ONE = {"$top": "1", "$select": "id"}
READS = {
    USERS.name: Read(_ONE, gives="user"),
    GROUPS.name: Read(_ONE, gives="group"),
    MEMBERS.name: Read(_ONE, needs={"id": "group"}),
    USERS_DELTA.name: Read({"$deltatoken": "latest", "$select": "id"}),
    GROUPS_DELTA.name: Read({"$deltatoken": "latest", "$select": "displayName"}),
    USER.name: Read({"$select": "id"}, needs={"id": "user"}),
    MEMBER_OF.name: Read(_ONE, needs={"id": "user"}),
    GROUP_MEMBER_OF.name: Read(_ONE, needs={"id": "group"}),
    MANAGER.name: Read({"$select": "id"}, needs={"id": "user"}, absent="this user has no manager"),
    PHOTO.name: Read(needs={"id": "user"}, absent="this user has no photo"),
}
"""How ``idpsync check`` reads each endpoint (the delta links are the cheap "latest" ones)."""
PERMISSIONS = ("User.Read.All", "GroupMember.Read.All", "ProfilePhoto.Read.All")
"""Application permissions (with admin consent); ProfilePhoto.Read.All only with photos."""

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
)
"""What the entra mapping preset reads, plus ``accountEnabled`` and ``userType``."""
GROUP_FIELDS = ("id", "displayName", "description")
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
_ATTRIBUTE = re.compile(r"attributes\.([A-Za-z_][A-Za-z0-9_]*)")
_NOT_ATTRIBUTES = {"manager", "@odata.type", "@odata.context"}


class RepeatedLink(Exception):
    """The IdP answered a next-page link it had already given: paging would never end."""


def user_select(templates: Iterable[str | None]) -> list[str]:
    """``$select`` of users: the preset's fields plus every ``attributes.X`` a template reads."""
    names = list(USER_FIELDS)
    for template in templates:
        for name in _ATTRIBUTE.findall(template or ""):
            if name not in names:
                names.append(name)
    return names


async def list_all(
    http: HttpClient,
    endpoint: Endpoint,
    values: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every item of a listing: follows ``@odata.nextLink`` to the end, empty pages included.

    A next link seen before raises :class:`RepeatedLink`; HTTP failures raise ``HttpError``;
    a page of the wrong shape raises :class:`~idpsync.sources.shape.ShapeError`.
    """
    page = await http.get_json(endpoint, values, params=params)
    items: list[dict[str, Any]] = list(page_items(page, "value", endpoint.label))
    seen: set[str] = set()
    while link := optional_text(page, "@odata.nextLink", endpoint.label):
        if link in seen:
            raise RepeatedLink(f"{endpoint.label}: the server repeated a next-page link")
        seen.add(link)
        page = await http.get_json(endpoint, values, url=link)
        items.extend(page_items(page, "value", endpoint.label))
    return items


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
