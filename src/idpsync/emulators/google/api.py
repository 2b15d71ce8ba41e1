"""Directory API v1 reads: users, a user, a user's photo, groups, a group's members.

Each handler takes the :class:`GoogleTenant` and the query parameters and returns a JSON-able
dict (resources drawn by :mod:`idpsync.emulators.google.resources`) or raises
:class:`ApiError` (rendered in Google's error envelope by the emulator). Lists page by an
opaque ``pageToken`` holding an offset and a fingerprint of the query, so a page costs
O(page); a token reused with other parameters is refused like Google does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from idpsync.emulators.google import texts
from idpsync.emulators.google.resources import (
    etag,
    photo_etag,
    render_group,
    render_member,
    render_user,
)
from idpsync.emulators.google.tenant import GoogleTenant
from idpsync.emulators.tenant import TenantUser

USER_MAX, GROUP_MAX = 500, 200
ROUTES: dict[str, tuple[str, frozenset[str]]] = {
    "directory.users.list": (
        "admin/directory/v1/users",
        frozenset(
            {"customer", "domain", "maxResults", "pageToken", "projection", "query",
             "showDeleted", "orderBy", "sortOrder", "viewType", "customFieldMask"}
        ),
    ),
    "directory.users.get": (
        "admin/directory/v1/users/{userKey}",
        frozenset({"projection", "viewType", "customFieldMask"}),
    ),
    "directory.users.photos.get": (
        "admin/directory/v1/users/{userKey}/photos/thumbnail", frozenset()
    ),
    "directory.groups.list": (
        "admin/directory/v1/groups",
        frozenset({"customer", "domain", "userKey", "maxResults", "pageToken", "query", "orderBy",
                   "sortOrder"}),
    ),
    "directory.groups.get": ("admin/directory/v1/groups/{groupKey}", frozenset()),
    "directory.members.list": (
        "admin/directory/v1/groups/{groupKey}/members",
        frozenset({"maxResults", "pageToken", "roles", "includeDerivedMembership"}),
    ),
    "directory.members.get": (
        "admin/directory/v1/groups/{groupKey}/members/{memberKey}", frozenset()
    ),
}  # fmt: skip
"""Discovery method id → (path, query parameters served); checked against the discovery doc."""
STANDARD = frozenset(
    {"alt", "fields", "prettyPrint", "quotaUser", "key", "access_token", "$.xgafv"}
)
"""Standard parameters every method takes (ignored here: the answer is always JSON)."""


class ApiError(Exception):
    """An API error: status, ``reason`` and message for Google's envelope."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _token(offset: int, fingerprint: str, hop: int = 0) -> str:
    data: dict[str, Any] = {"o": offset, "f": fingerprint}
    if hop:
        data["h"] = hop
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def fingerprint(params: Mapping[str, str]) -> str:
    """What a page token is bound to: the listing's parameters (not paging, not standard)."""
    kept = sorted((k, v) for k, v in params.items() if k != "pageToken" and k not in STANDARD)
    return hashlib.sha1(repr(kept).encode()).hexdigest()[:12]


def hop_token(params: Mapping[str, str]) -> str:
    """A fresh token for the very page ``params`` asked for (an empty page's next token)."""
    token = params.get("pageToken")
    hop, offset = 1, 0
    if token:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        hop, offset = int(data.get("h", 0)) + 1, int(data["o"])
    return _token(offset, fingerprint(params), hop)


def _offset(params: Mapping[str, str], fingerprint: str) -> int:
    token = params.get("pageToken")
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["f"] != fingerprint:
            raise ValueError("other query")
        return int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "invalid", "Invalid Input: pageToken") from None


def page_size(params: Mapping[str, str], default: int, top: int) -> int:
    """``maxResults`` checked against Google's range."""
    raw = params.get("maxResults", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise ApiError(
            400, "invalid", f"Invalid value '{raw}'. Values must be within the range: [1, {top}]"
        )
    return int(raw)


def paged(
    ids: Sequence[str],
    params: Mapping[str, str],
    size: int,
    render: Callable[[str], str],
    kind: str,
    key: str,
) -> dict[str, Any]:
    """One page: ``kind``, ``etag``, ``key`` (omitted when empty), ``nextPageToken``.

    ``render`` gives an item's JSON text; the items are a :class:`texts.Rendered` list.
    """
    bound = fingerprint(params)
    offset = _offset(params, bound)
    chunk = ids[offset : offset + size]
    body: dict[str, Any] = {"kind": kind, "etag": etag(kind, offset, len(ids))}
    if chunk:
        body[key] = texts.Rendered(render(i) for i in chunk)
    if offset + size < len(ids):
        body["nextPageToken"] = _token(offset + size, bound)
    return body


# ---- handlers ------------------------------------------------------------------------------


def _scope(t: GoogleTenant, params: Mapping[str, str]) -> None:
    customer, domain = params.get("customer"), params.get("domain")
    if not customer and not domain:
        raise ApiError(400, "badRequest", "Bad Request")
    if customer and customer not in ("my_customer", t.customer_id):
        raise ApiError(400, "badRequest", "Bad Request")
    if domain and not customer and domain.lower() != t.domain.lower():
        raise ApiError(400, "notFound", "Domain not found.")


def _projection(params: Mapping[str, str]) -> frozenset[str] | None:
    """The custom schemas a user answer includes (``None``: every one).

    None for ``basic`` (the default), those of ``customFieldMask`` for ``custom`` (400
    without one; the exact message is unverified), every one for ``full``.
    """
    projection = params.get("projection", "basic")
    if projection not in ("basic", "custom", "full"):
        raise ApiError(400, "invalid", f"Invalid value '{params['projection']}'.")
    if projection == "full":
        return None
    if projection == "basic":
        return frozenset()
    mask = frozenset(s.strip() for s in params.get("customFieldMask", "").split(",") if s.strip())
    if not mask:
        raise ApiError(400, "invalid", "Invalid Input: customFieldMask is required.")
    return mask


_CLAUSE = re.compile(r"(\w+)\s*([=:])\s*('([^']*)'|\"([^\"]*)\"|\S+)")


def _matcher(t: GoogleTenant, query: str) -> Callable[[TenantUser], bool]:
    tests: list[Callable[[TenantUser], bool]] = []
    for match in _CLAUSE.finditer(query):
        field, op = match.group(1), match.group(2)
        value = (match.group(4) or match.group(5) or match.group(3)).lower()
        tests.append(_clause(t, field, op, value))
    if query.strip() and not tests:
        raise ApiError(400, "invalid", "Invalid Input")
    return lambda user: all(test(user) for test in tests)


def _clause(t: GoogleTenant, field: str, op: str, value: str) -> Callable[[TenantUser], bool]:
    flags = {
        "isSuspended": lambda u: not u.enabled,
        "isArchived": lambda u: u.id in t.archived,
        "isAdmin": lambda u: u.id in t.admins,
    }
    if field in flags:
        return lambda u: flags[field](u) == (value == "true")
    texts: dict[str, Callable[[TenantUser], str]] = {
        "email": lambda u: t.login(u),
        "name": lambda u: u.display_name,
        "givenName": lambda u: u.given_name or "",
        "familyName": lambda u: u.surname or "",
        "orgDepartment": lambda u: u.department or "",
        "orgTitle": lambda u: u.job_title or "",
        "externalId": lambda u: u.employee_id or "",
    }
    if field not in texts:
        raise ApiError(400, "invalid", "Invalid Input: " + field)
    get = texts[field]
    if value.endswith("*"):
        return lambda u: get(u).lower().startswith(value[:-1])
    if op == ":":
        return lambda u: value in get(u).lower().split() or get(u).lower() == value
    return lambda u: get(u).lower() == value


def list_users(t: GoogleTenant, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET users``."""
    _scope(t, params)
    schemas = _projection(params)
    size = page_size(params, 100, USER_MAX)
    if params.get("showDeleted", "false").lower() == "true":
        return paged(
            sorted(t.deleted), params, size,
            lambda i: texts.ENCODE(render_user(t, t.deleted[i][0], t.deleted[i][1], schemas)),
            "admin#directory#users", "users",
        )  # fmt: skip
    ids: Sequence[str] = t.user_ids
    if params.get("query"):
        keep = _matcher(t, params["query"])
        ids = [i for i in ids if keep(t.users[i])]
    if params.get("orderBy") == "email":
        ids = sorted(ids, key=lambda i: t.login(t.users[i]).lower())
        if params.get("sortOrder", "").upper() == "DESCENDING":
            ids.reverse()
    return paged(
        ids, params, size, lambda i: texts.user(t, i, schemas),
        "admin#directory#users", "users",
    )  # fmt: skip


def get_user(t: GoogleTenant, key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET users/{userKey}``: 412 for a recently deleted user, 404 for an unknown one."""
    schemas = _projection(params)
    user = t.resolve_user(key)
    if user is None:
        if t.resolve_deleted(key) is not None:
            raise ApiError(412, "conditionNotMet", "User is deleted")
        raise ApiError(404, "notFound", "Resource Not Found: userKey")
    return render_user(t, user, None, schemas)


def get_photo(t: GoogleTenant, key: str) -> dict[str, Any]:
    """``GET users/{userKey}/photos/thumbnail``: JSON with web-safe base64 ``photoData``."""
    user = t.resolve_user(key)
    if user is None or not user.photo_version:
        raise ApiError(404, "notFound", "Resource Not Found: userKey")
    seed = f"{user.id}:{user.photo_version}".encode()
    stand_in = b"\xff\xd8\xff\xe0" + hashlib.sha256(seed).digest() * 8 + b"\xff\xd9"
    data, kind = user.photo or (stand_in, "image/jpeg")  # a test's own picture, or the stand-in
    return {
        "kind": "admin#directory#user#photo",
        "id": t.gid(user.id),
        "etag": photo_etag(t, user),
        "primaryEmail": t.login(user),
        "mimeType": kind,
        "width": 96,
        "height": 96,
        "photoData": base64.urlsafe_b64encode(data).decode(),
    }


def list_groups(t: GoogleTenant, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET groups`` for the customer / domain, or a user's direct groups (``userKey``)."""
    size = page_size(params, GROUP_MAX, GROUP_MAX)
    user_key = params.get("userKey")
    if user_key:
        if params.get("customer"):
            raise ApiError(400, "badRequest", "Bad Request")
        member = t.resolve_user(user_key)
        member_id = member.id if member else t.resolve_group(user_key)
        if member_id is None:
            raise ApiError(404, "notFound", "Resource Not Found: userKey")
        ids: Sequence[str] = sorted(t.direct_groups(member_id))
    else:
        _scope(t, params)
        ids = t.group_ids
    if params.get("orderBy") == "email":
        ids = sorted(ids, key=lambda g: t.group_email(g).lower())
    return paged(ids, params, size, lambda g: texts.group(t, g), "admin#directory#groups", "groups")


def get_group(t: GoogleTenant, key: str) -> dict[str, Any]:
    """``GET groups/{groupKey}``."""
    group_id = t.resolve_group(key)
    if group_id is None:
        raise ApiError(404, "notFound", "Resource Not Found: groupKey")
    return render_group(t, group_id)


def _one_customer(t: GoogleTenant, ids: list[str]) -> list[str]:
    """``ids`` with the whole customer as one member, however many devices stand for it."""
    customer_seen = False
    unique = []
    for member in ids:
        if member in t.others and t.others[member].kind == "device":
            if customer_seen:
                continue
            customer_seen = True
        unique.append(member)
    return unique


def list_members(t: GoogleTenant, key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET groups/{groupKey}/members`` (``includeDerivedMembership``, ``roles``)."""
    group_id = t.resolve_group(key)
    if group_id is None:
        raise ApiError(404, "notFound", "Resource Not Found: groupKey")
    size = page_size(params, GROUP_MAX, GROUP_MAX)
    derived = params.get("includeDerivedMembership", "false").lower() == "true"
    ids = t.transitive_members(group_id) if derived else t.member_list(group_id)
    direct = t.member_list(group_id)
    owner = direct[0] if direct else None
    roles = {r.strip().upper() for r in params.get("roles", "").split(",") if r.strip()}
    if roles:
        kept = [i for i in ids if ("OWNER" if i == owner else "MEMBER") in roles]
        unique = _one_customer(t, kept)
    else:  # every page of a listing: the same list, made once while the group is unchanged
        listed = t.listed.get((group_id, derived))
        if listed is None or listed[0] is not ids:
            listed = t.listed[(group_id, derived)] = (ids, _one_customer(t, ids))
        unique = listed[1]
    return paged(
        unique,
        params,
        size,
        lambda m: texts.member(t, m, "OWNER" if m == owner else "MEMBER"),
        "admin#directory#members",
        "members",
    )


def _member_id(t: GoogleTenant, key: str) -> str | None:
    """The tenant id of a member key: a user's or group's e-mail or alias, or any Google id."""
    if "@" in key:
        user = t.resolve_user(key)
        return user.id if user is not None else t.resolve_group(key)
    return t.generic(key.strip())


def get_member(t: GoogleTenant, key: str, member_key: str) -> dict[str, Any]:
    """``GET groups/{groupKey}/members/{memberKey}``: a direct member's resource, else 404."""
    group_id = t.resolve_group(key)
    if group_id is None:
        raise ApiError(404, "notFound", "Resource Not Found: groupKey")
    member_id = _member_id(t, member_key)
    if member_id is None or member_id not in t.groups[group_id].members:
        raise ApiError(404, "notFound", "Resource Not Found: memberKey")
    direct = t.member_list(group_id)
    return render_member(t, member_id, "OWNER" if member_id == direct[0] else "MEMBER")
