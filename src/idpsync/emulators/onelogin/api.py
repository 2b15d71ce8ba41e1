"""OneLogin's read API over an :class:`Account`: v1 envelopes, v2 bare arrays, cursors, filters.

v1 (``/api/1/…``)::

    {"status": {"error": false, "code": 200, "type": "success", "message": "Success"},
     "pagination": {"before_cursor": null, "after_cursor": "bGltaXQ9NTAmcGFnZT0y",
                    "previous_link": null, "next_link": "https://…/api/1/users?after_cursor=…"},
     "data": [{…}, …]}

v2 (``/api/2/…``): a bare JSON array; paging in headers (``After-Cursor``, ``Before-Cursor``,
``Total-Count``, ``Total-Pages``, ``Current-Page``, ``Page-Items``, ``Link``).

A cursor is standard base64 of the listing's query (``limit=50&page=2&…``), so it carries the
filters. It is accepted single- or double-URL-encoded (the 4.x SDK encodes it again) and a
``+`` that a query parser turned into a space is put back.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload
from urllib.parse import parse_qsl, quote, unquote, urlencode

from idpsync.emulators.onelogin.account import (
    Account,
    OneLoginGroup,
    OneLoginRole,
    OneLoginUser,
    parse_time,
)

PAGE_SIZE = 50
"""Default and largest page (v1 is fixed at 50; a larger v2 ``limit`` is capped to 50)."""
V2_USER_FILTERS = ("email", "username", "firstname", "lastname", "samaccountname", "external_id")
V1_USER_FILTERS = ("email", "username", "firstname", "lastname", "id")


class ApiError(Exception):
    """An error answer; rendered in the v1 or v2 envelope by the caller."""

    def __init__(self, status: int, message: str, name: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status, self.message, self.name = status, message, name


NOT_FOUND_V2 = "The resource with the given id could not be found"
V1_TYPES = {400: "bad request", 401: "Unauthorized", 404: "not found", 429: "Too Many Requests"}


def v1_error(error: ApiError) -> dict[str, Any]:
    """``{"status": {"error": true, "code", "type", "message"}}``."""
    kind = V1_TYPES.get(error.status, "error")
    status = {"error": True, "code": error.status, "type": kind, "message": error.message}
    return {"status": status}


def v2_error(error: ApiError) -> dict[str, Any]:
    """``{"statusCode", "name", "message"}``."""
    return {"statusCode": error.status, "name": error.name, "message": error.message}


# ---- cursors --------------------------------------------------------------------------


def encode_cursor(query: dict[str, str]) -> str:
    """A cursor for a listing's query (page included)."""
    return base64.b64encode(urlencode(query).encode()).decode()


def decode_cursor(value: str) -> dict[str, str]:
    """The query a cursor stands for; single- or double-encoded, spaces read as ``+``."""
    text = value.strip()
    if "%" in text:
        text = unquote(text)
    text = text.replace(" ", "+")
    try:
        raw = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(400, f"Invalid cursor: {value[:40]}") from None
    query = dict(parse_qsl(raw))
    if not query.get("page", "").isdigit():
        raise ApiError(400, f"Invalid cursor: {value[:40]}")
    return query


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing and what the paging headers/links need."""

    items: list[Any]
    query: dict[str, str]
    page: int
    limit: int
    total: int

    @property
    def pages(self) -> int:
        """Total pages (at least 1)."""
        return max(1, math.ceil(self.total / self.limit))

    def cursor(self, page: int) -> str | None:
        """The cursor of another page, ``None`` outside 1…pages."""
        if page < 1 or page > self.pages:
            return None
        return encode_cursor({**self.query, "limit": str(self.limit), "page": str(page)})


def paginate(
    items: Sequence[Any], params: dict[str, str], *, cursor_key: str, fixed: bool = False
) -> Page:
    """Cut a listing into a page from ``cursor``/``page``/``limit`` (see module docstring)."""
    if params.get(cursor_key):
        query = decode_cursor(params[cursor_key])
    else:
        query = {k: v for k, v in params.items() if k not in ("page", "limit", cursor_key)}
        query["page"] = params.get("page", "1")
        query["limit"] = params.get("limit", str(PAGE_SIZE))
    limit, page = _int(query.pop("limit", str(PAGE_SIZE)), "limit"), _int(query.pop("page"), "page")
    limit = PAGE_SIZE if fixed else min(limit, PAGE_SIZE)
    if limit < 1 or page < 1:
        raise ApiError(400, "limit and page must be positive integers")
    start = (page - 1) * limit
    return Page(list(items[start : start + limit]), query, page, limit, len(items))


def _int(value: str, name: str) -> int:
    if not value.lstrip("-").isdigit():
        raise ApiError(400, f"{name} must be an integer, not {value!r}")
    return int(value)


def page_query(params: dict[str, str], cursor_key: str) -> dict[str, str]:
    """The filters a listing uses: from the cursor when one is given, else from the query."""
    if params.get(cursor_key):
        return decode_cursor(params[cursor_key])
    return params


def v2_headers(page: Page, url: str) -> dict[str, str]:
    """The paging headers of a v2 listing, with a ``Link`` header."""
    headers = {
        "Total-Count": str(page.total),
        "Total-Pages": str(page.pages),
        "Current-Page": str(page.page),
        "Page-Items": str(page.limit),
    }
    links = []
    after, before = page.cursor(page.page + 1), page.cursor(page.page - 1)
    if after:
        headers["After-Cursor"] = quote(after, safe="")
        links.append(f'<{url}?cursor={quote(after, safe="")}>; rel="next"')
    if before:
        headers["Before-Cursor"] = quote(before, safe="")
        links.append(f'<{url}?cursor={quote(before, safe="")}>; rel="prev"')
    first = page.cursor(1)
    if first:
        links.append(f'<{url}?cursor={quote(first, safe="")}>; rel="first"')
    headers["Link"] = ", ".join(links)
    return headers


def v1_body(page: Page, url: str, data: list[Any]) -> dict[str, Any]:
    """A v1 envelope with ``pagination``."""
    after, before = page.cursor(page.page + 1), page.cursor(page.page - 1)
    return {
        "status": {"error": False, "code": 200, "type": "success", "message": "Success"},
        "pagination": {
            "before_cursor": before,
            "after_cursor": after,
            "previous_link": f"{url}?before_cursor={quote(before, safe='')}" if before else None,
            "next_link": f"{url}?after_cursor={quote(after, safe='')}" if after else None,
        },
        "data": data,
    }


def v1_ok(data: list[Any]) -> dict[str, Any]:
    """A v1 envelope for a single resource (``data`` is always a list)."""
    return {
        "status": {"error": False, "code": 200, "type": "success", "message": "Success"},
        "data": data,
    }


# ---- rendering and filtering ------------------------------------------------------------


def render_user(user: OneLoginUser, *, v2: bool) -> dict[str, Any]:
    """A user as v2 (with ``role_ids``) or v1 (without) shows it."""
    body = asdict(user)
    body |= {
        "comment": None,
        "directory_id": None,
        "manager_ad_id": None,
        "samaccountname": None,
        "member_of": None,
        "userprincipalname": None,
        "distinguished_name": None,
        "activated_at": user.created_at if user.status != 0 else None,
        "last_login": None,
        "invalid_login_attempts": 0,
        "locked_until": None,
        "password_changed_at": None,
        "invitation_sent_at": None,
        "trusted_idp_id": None,
        "preferred_locale_code": None,
    }
    if not v2:
        body.pop("role_ids")
    return body


def project(body: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Keep only ``fields`` (comma-separated; ``id`` always stays)."""
    if not fields:
        return body
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id"}
    return {k: v for k, v in body.items() if k in wanted}


def _match(pattern: str, value: object) -> bool:
    text = "" if value is None else str(value)
    return fnmatch.fnmatchcase(text.lower(), pattern.lower())


def _since(name: str, value: str) -> float:
    try:
        return parse_time(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 time, not {value!r}") from None


def user_filter(query: dict[str, str], names: Sequence[str]) -> Callable[[OneLoginUser], bool]:
    """A predicate for the attribute filters (``*`` wildcards) and the time filters."""
    attrs = {n: query[n] for n in names if query.get(n)}
    bounds = {
        k: _since(k, query[k])
        for k in ("updated_since", "updated_until", "created_since", "created_until")
        if query.get(k)
    }
    user_ids = {int(x) for x in query.get("user_ids", "").split(",") if x.strip().isdigit()}
    times = [
        ("updated_at" if key.startswith("updated") else "created_at", key.endswith("since"), bound)
        for key, bound in bounds.items()
    ]

    def keep(user: OneLoginUser) -> bool:
        if user_ids and user.id not in user_ids:
            return False
        if attrs and any(not _match(p, getattr(user, n, None)) for n, p in attrs.items()):
            return False
        for field, since, bound in times:
            moment = _moment(getattr(user, field))
            if (moment < bound) if since else (moment > bound):
                return False
        return True

    return keep


_moment = functools.lru_cache(maxsize=1 << 18)(parse_time)
""":func:`parse_time` remembered by its text: a time-filtered listing (``updated_since``) tests
every user of the account on every page: at 100,000 users that cost the emulator 0.14 s of
CPU a page, 0.06 s with this and the precomputed bounds of :func:`user_filter` (50 pages of
one incremental read: seconds of its single core that the real API, with its own index, does
not spend)."""


class AllUsers(Sequence[OneLoginUser]):
    """Every user by id, sliced without copying the whole account (an unfiltered listing)."""

    def __init__(self, account: Account) -> None:
        self.account = account

    def __len__(self) -> int:
        return len(self.account.user_ids)

    @overload
    def __getitem__(self, index: int) -> OneLoginUser: ...
    @overload
    def __getitem__(self, index: slice) -> list[OneLoginUser]: ...
    def __getitem__(self, index: int | slice) -> OneLoginUser | list[OneLoginUser]:
        users = self.account.users
        if isinstance(index, slice):
            return [users[i] for i in self.account.user_ids[index]]
        return users[self.account.user_ids[index]]


def list_users(account: Account, query: dict[str, str], *, v2: bool) -> Sequence[OneLoginUser]:
    """Users matching a listing's filters, by id (a view of all users when nothing filters)."""
    names = V2_USER_FILTERS if v2 else V1_USER_FILTERS
    filters = (*names, "updated_since", "updated_until", "created_since", "created_until")
    if not any(query.get(n) for n in (*filters, "user_ids")):
        return AllUsers(account)
    keep = user_filter(query, names)
    return [u for u in (account.users[i] for i in account.user_ids) if keep(u)]


def get_user(account: Account, key: str, *, v2: bool = False) -> OneLoginUser:
    """One user by id, or a 404 :class:`ApiError` (v1 and v2 word it differently)."""
    user = account.find_user(key)
    if user is None:
        if v2:
            raise ApiError(404, NOT_FOUND_V2, "NotFoundError")
        raise ApiError(404, f"User for id {key} was not found", "NotFoundError")
    return user


def render_group(group: OneLoginGroup) -> dict[str, Any]:
    """A group as v1 shows it."""
    return {"id": group.id, "name": group.name, "reference": group.reference}


def render_role(role: OneLoginRole) -> dict[str, Any]:
    """A role as v2 lists it."""
    return {"id": role.id, "name": role.name}


def render_role_user(user: OneLoginUser) -> dict[str, Any]:
    """A user as ``/api/2/roles/{id}/users`` lists it."""
    name = " ".join(p for p in (user.firstname, user.lastname) if p)
    return {
        "id": user.id,
        "name": name,
        "email": user.email,
        "username": user.username,
        "assigned": True,
    }
