"""Google Directory API v1 records, without I/O: resources in, idpsync records out.

Parsing turns Directory ``User``, ``Group`` and ``Member`` resources into
:class:`~idpsync.model.SourceUser` / :class:`~idpsync.model.SourceGroup` /
:class:`~idpsync.model.Membership` records; the calls themselves are declared in
:mod:`idpsync.sources.google.endpoints`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from idpsync.model import EdgeMaker, MemberKind, Membership, SourceGroup, SourceUser
from idpsync.photos import RawPhoto
from idpsync.sources.google.endpoints import PHOTO
from idpsync.sources.shape import (
    FLAG,
    LIST,
    OBJECT,
    TEXT,
    BadRecord,
    Schema,
    ShapeError,
    check,
    json_object,
)

VOLATILE = frozenset({"kind", "etag", "lastLoginTime", "thumbnailPhotoUrl"})
"""User fields not kept as attributes: they change without the person changing."""


def emails_of(user: Mapping[str, Any]) -> list[str]:
    """A user's primary e-mail and aliases, lower-cased (for manager look-ups)."""
    found = [str(user.get("primaryEmail", ""))]
    found += [str(a) for a in user.get("aliases", []) or []]
    return [e.lower() for e in found if e]


def manager_email(user: Mapping[str, Any]) -> str | None:
    """The e-mail in ``relations[type=manager]``, if any."""
    for relation in user.get("relations", []) or []:
        if isinstance(relation, dict) and relation.get("type") == "manager":
            value = relation.get("value")
            return str(value).lower() if value else None
    return None


USER_SCHEMA: Schema = {
    "primaryEmail": TEXT,
    "name": OBJECT,
    "aliases": LIST,
    "relations": LIST,
    "suspended": FLAG,
    "archived": FLAG,
    "thumbnailPhotoEtag": TEXT,
}
"""The types of the user fields the source reads (the rest is kept as attributes)."""
GROUP_SCHEMA: Schema = {"name": TEXT, "email": TEXT, "description": TEXT}


def checked_user(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` when it matches :data:`USER_SCHEMA` and has a ``primaryEmail``."""
    check(item, USER_SCHEMA)
    if not item.get("primaryEmail"):
        raise BadRecord("'primaryEmail' is missing")
    return item


def to_user(item: Mapping[str, Any], manager_id: str | None, photo_ref: str | None) -> SourceUser:
    """A Directory ``User`` as a :class:`SourceUser` (suspended or archived → inactive)."""
    check(item, USER_SCHEMA)
    name = item.get("name") or {}
    suspended, archived = bool(item.get("suspended")), bool(item.get("archived"))
    return SourceUser(
        source_id=str(item["id"]),
        login=str(item["primaryEmail"]),
        email=str(item["primaryEmail"]),
        display_name=name.get("fullName") or name.get("displayName"),
        given_name=name.get("givenName"),
        family_name=name.get("familyName"),
        active=not (suspended or archived),
        manager_id=manager_id,
        photo_ref=photo_ref,
        attributes={k: v for k, v in item.items() if k not in VOLATILE},
    )


def to_group(item: Mapping[str, Any]) -> SourceGroup:
    """A Directory ``Group`` as a :class:`SourceGroup` (name, else the e-mail).

    The primary ``email`` is kept in ``attributes``: the admin log names groups by it, and an
    incremental read finds their ids in the staged mirror (:mod:`.named`).
    """
    check(item, GROUP_SCHEMA)
    return SourceGroup(
        source_id=str(item["id"]),
        name=str(item.get("name") or item.get("email") or item["id"]),
        description=item.get("description") or None,
        attributes={"email": str(item["email"])} if item.get("email") else {},
    )


def member_counts(items: list[Any]) -> dict[str, int]:
    """``directMembersCount`` by group id, where it reads as a count.

    Google sends the int64 as a string. Only a hint for which listings to start first, never
    a completeness check; an item that is not an object is skipped here (``records`` reports it).
    """
    found: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        raw = item.get("directMembersCount")
        if isinstance(raw, (str, int)) and str(raw).isascii() and str(raw).isdigit():
            found[str(item.get("id"))] = int(raw)
    return found


MEMBER_KINDS = {"USER": MemberKind.USER, "GROUP": MemberKind.GROUP}
"""``Member.type`` values that can become edges (not ``CUSTOMER``, the whole organisation)."""


def to_membership(
    group_id: str, item: Mapping[str, Any], make: EdgeMaker = Membership
) -> Membership | None:
    """An edge for a ``USER`` or ``GROUP`` member; ``None`` for the ``CUSTOMER`` member.

    An external address is a ``USER`` too: :func:`listed` drops its edge once the users
    listing is known. ``make`` builds the edge (:meth:`Snapshot.edge` shares its ids).
    """
    kind = MEMBER_KINDS.get(str(item.get("type")))
    return make(group_id, str(item.get("id", "")), kind) if kind else None


def listed(users: set[str], groups: set[str]) -> Callable[[Any, MemberKind], bool]:
    """Whether a member (id, kind) is a listed user or group (external addresses are not)."""
    return lambda member, kind: member in (users if kind is MemberKind.USER else groups)


def photo_ref(photo: Mapping[str, Any]) -> str:
    """A content hash of a ``UserPhoto``'s web-safe base64 ``photoData`` (else ShapeError)."""
    return photo_raw(photo).version


def photo_raw(photo: Mapping[str, Any]) -> RawPhoto:
    """A ``UserPhoto``'s decoded ``photoData`` and ``mimeType``, its version the content hash."""
    body = json_object(photo, PHOTO.label)
    data = str(body.get("photoData", ""))
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except ValueError:
        raise ShapeError(f"{PHOTO.label}: photoData is not web-safe base64") from None
    version = "sha256:" + hashlib.sha256(raw).hexdigest()[:40]
    return RawPhoto(version, str(body.get("mimeType") or ""), raw)
