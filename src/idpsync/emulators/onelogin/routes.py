"""Dispatch of ``/api/1/…`` and ``/api/2/…`` reads, and the account's control routes.

* ``POST /_emulator/account/{operation}`` with JSON keyword arguments, for the
  :class:`~idpsync.emulators.onelogin.account.Account` methods in :data:`OPERATIONS`;
* ``GET /_emulator/ground-truth`` → counts of users, groups, roles and assignments.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idpsync.emulators.onelogin import api
from idpsync.emulators.onelogin.account import Account, AccountError

OPERATIONS = frozenset(
    {
        "add_user",
        "update_user",
        "delete_user",
        "add_group",
        "rename_group",
        "add_role",
        "assign_role",
        "remove_role",
    }
)

Answer = tuple[Any, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Handler:
    """One API request: the account, ``1`` or ``2``, path segments after it, query, host."""

    account: Account
    version: str
    segments: list[str]
    params: dict[str, str]
    root: str

    @property
    def url(self) -> str:
        """The request's URL without query."""
        return f"{self.root}/api/{self.version}/" + "/".join(self.segments)


def dispatch(h: Handler) -> Answer:
    """Route a read to its handler (404 in the version's envelope for anything else)."""
    seg, v2 = h.segments, h.version == "2"
    if seg[0] == "users" and len(seg) == 1:
        return users_v2(h) if v2 else users_v1(h)
    if seg[0] == "users" and len(seg) == 2:
        user = api.render_user(api.get_user(h.account, seg[1], v2=v2), v2=v2)
        return (user, {}) if v2 else (api.v1_ok([user]), {})
    if seg[0] == "users" and len(seg) == 3 and seg[2] == "roles" and not v2:
        return api.v1_ok([list(api.get_user(h.account, seg[1]).role_ids)]), {}
    if seg[0] == "groups" and not v2:
        return groups_v1(h)
    if seg[0] == "roles" and v2:
        return roles_v2(h)
    raise api.ApiError(404, f"No route for /api/{h.version}/{'/'.join(seg)}", "NotFoundError")


def users_v2(h: Handler) -> Answer:
    """``GET /api/2/users``: filters, ``fields``, cursor paging in headers."""
    query = api.page_query(h.params, "cursor")
    users = api.list_users(h.account, query, v2=True)
    page = api.paginate(users, h.params, cursor_key="cursor")
    body = [api.project(api.render_user(u, v2=True), query.get("fields")) for u in page.items]
    if not h.account.v2_role_ids:
        for item in body:
            item.pop("role_ids", None)
    return body, api.v2_headers(page, h.url)


def users_v1(h: Handler) -> Answer:
    """``GET /api/1/users``: envelope, ``after_cursor`` paging, 50 per page."""
    query = api.page_query(h.params, "after_cursor")
    users = api.list_users(h.account, query, v2=False)
    page = api.paginate(users, h.params, cursor_key="after_cursor", fixed=True)
    data = [api.project(api.render_user(u, v2=False), query.get("fields")) for u in page.items]
    return api.v1_body(page, h.url, data), {}


def groups_v1(h: Handler) -> Answer:
    """``GET /api/1/groups`` (paged, 50 per page) and ``/api/1/groups/{id}``."""
    account = h.account
    if len(h.segments) == 2:
        key = h.segments[1]
        group = account.groups.get(int(key)) if key.isdigit() else None
        if group is None:
            raise api.ApiError(404, f"Group for id {key} was not found")
        return api.v1_ok([api.render_group(group)]), {}
    groups = [account.groups[i] for i in sorted(account.groups)]
    page = api.paginate(groups, h.params, cursor_key="after_cursor", fixed=True)
    return api.v1_body(page, h.url, [api.render_group(g) for g in page.items]), {}


def roles_v2(h: Handler) -> Answer:
    """``GET /api/2/roles``, ``/api/2/roles/{id}`` and ``/api/2/roles/{id}/users``."""
    account, seg = h.account, h.segments
    if len(seg) == 1:
        query = api.page_query(h.params, "cursor")
        roles = [account.roles[i] for i in sorted(account.roles)]
        if query.get("name") or query.get("role_name"):
            pattern = query.get("name") or query.get("role_name") or ""
            roles = [r for r in roles if fnmatch.fnmatchcase(r.name.lower(), pattern.lower())]
        page = api.paginate(roles, h.params, cursor_key="cursor")
        return [api.render_role(r) for r in page.items], api.v2_headers(page, h.url)
    role = account.roles.get(int(seg[1])) if seg[1].isdigit() else None
    if role is None:
        raise api.ApiError(404, api.NOT_FOUND_V2, "NotFoundError")
    if len(seg) == 2:
        return api.render_role(role), {}
    if len(seg) == 3 and seg[2] == "users":
        page = api.paginate(account.role_users(role.id), h.params, cursor_key="cursor")
        return [api.render_role_user(u) for u in page.items], api.v2_headers(page, h.url)
    raise api.ApiError(404, f"No route for /api/2/{'/'.join(seg)}", "NotFoundError")


def account_routes(account: Account) -> list[Route]:
    """The account's control routes (see module docstring)."""

    async def operate(request: Request) -> Response:
        operation = request.path_params["operation"]
        if operation not in OPERATIONS:
            return JSONResponse({"error": f"unknown operation {operation!r}"}, 404)
        args: dict[str, Any] = await request.json()
        try:
            result = getattr(account, operation)(**args)
        except (AccountError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "id": getattr(result, "id", None)})

    async def truth(request: Request) -> Response:
        t = account.truth()
        body = {
            "users": len(t.users),
            "groups": len(t.groups),
            "roles": len(t.roles),
            "group_memberships": len(t.group_members()),
            "role_memberships": len(t.role_members()),
        }
        return JSONResponse(body)

    return [
        Route("/_emulator/account/{operation}", operate, methods=["POST"]),
        Route("/_emulator/ground-truth", truth, methods=["GET"]),
    ]
