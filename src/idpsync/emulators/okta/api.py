"""The Okta API routes the emulator serves (reads only) and its token endpoint.

``GET /api/v1/users`` (``limit`` ≤ 200, default 200; ``after``; ``filter``; ``search``; plain
lists omit ``DEPROVISIONED`` users), ``/api/v1/users/{id|login}``,
``/api/v1/users/{id}/groups``, ``/api/v1/groups`` (``limit`` ≤ 10000; ``filter`` on ``id``,
``type``, ``lastUpdated``, ``lastMembershipUpdated``; ``search``), ``/api/v1/groups/{id}``,
``/api/v1/groups/{id}/users`` (``limit`` ≤ 1000), ``/api/v1/logs`` (the System Log, see
:mod:`idpsync.emulators.okta.logs_api`), ``POST /oauth2/v1/token``. Lists are bare
JSON arrays paged by ``Link`` headers (``rel="self"`` then ``rel="next"``); a larger ``limit``
is cut to the maximum, as Okta does.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idpsync.emulators.okta import logs_api, query, render
from idpsync.emulators.okta.auth import OAuthError

if TYPE_CHECKING:
    from idpsync.emulators.okta.emulator import OktaEmulator

USER_FILTER = frozenset(
    {
        "status",
        "lastUpdated",
        "id",
        "profile.login",
        "profile.email",
        "profile.firstName",
        "profile.lastName",
    }
)
GROUP_FILTER = frozenset({"id", "type", "lastUpdated", "lastMembershipUpdated"})
USERS_SCOPE, GROUPS_SCOPE = "okta.users.read", "okta.groups.read"
LOGS_SCOPE = "okta.logs.read"
Handler = Callable[[Request], Any]


class ApiError(Exception):
    """An Okta error answer."""

    def __init__(
        self, status: int, detail: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def routes(emu: OktaEmulator) -> list[Route]:
    """Every API route, bound to one emulator."""

    def guarded(scope: str, handler: Callable[[Request], Response]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _authorize(emu, request, scope)
                return handler(request)
            except ApiError as exc:
                body = render.error_for(exc.status, exc.detail)
                return JSONResponse(body, exc.status, headers=exc.headers)
            except query.QueryError as exc:
                body = render.error_body("E0000031", str(exc))
                return JSONResponse(body, 400)
            except logs_api.BadLogQuery as exc:
                return logs_api.error(exc)

        return endpoint

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        url = f"{_base(request)}/oauth2/v1/token"
        try:
            return JSONResponse(emu.credentials.token_request(form, url))
        except OAuthError as exc:
            body = {"error": exc.error, "error_description": exc.description}
            return JSONResponse(body, exc.status)

    return [
        Route("/oauth2/v1/token", token, methods=["POST"]),
        Route("/api/v1/users", guarded(USERS_SCOPE, lambda r: list_users(emu, r))),
        Route("/api/v1/users/{key}", guarded(USERS_SCOPE, lambda r: get_user(emu, r))),
        Route("/api/v1/users/{key}/groups", guarded(GROUPS_SCOPE, lambda r: user_groups(emu, r))),
        Route("/api/v1/groups", guarded(GROUPS_SCOPE, lambda r: list_groups(emu, r))),
        Route("/api/v1/groups/{gid}", guarded(GROUPS_SCOPE, lambda r: get_group(emu, r))),
        Route("/api/v1/groups/{gid}/users", guarded(GROUPS_SCOPE, lambda r: group_users(emu, r))),
        Route("/api/v1/logs", guarded(LOGS_SCOPE, lambda r: logs_api.list_logs(emu, r))),
    ]


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _authorize(emu: OktaEmulator, request: Request, scope: str) -> None:
    granted = emu.credentials.authorize(request.headers.get("authorization"))
    if granted is None:
        raise ApiError(401)
    if scope not in granted:
        challenge = (
            f'Bearer authorization_uri="{_base(request)}/oauth2/v1/authorize", '
            f'realm="IdpMyAccountAPI", scope="{scope}", error="insufficient_scope", '
            'error_description="The access token provided does not contain the required '
            f'scopes.", resource="{request.url.path}"'
        )
        raise ApiError(403, f"missing scope {scope}", {"WWW-Authenticate": challenge})


def _limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or int(raw) < 1:
        raise ApiError(400, f"limit: {raw!r} is not a positive number")
    return min(int(raw), maximum)


def _page(
    request: Request, items: Iterator[Any], limit: int, cursor: Callable[[Any], str]
) -> tuple[list[Any], list[str]]:
    """Take ``limit`` items and build the ``Link`` headers (next only if more remain)."""
    page: list[Any] = []
    for item in items:
        if len(page) == limit:
            params = dict(request.query_params)
            return page, query.link_headers(_url(request), params, cursor(page[-1]))
        page.append(item)
    return page, query.link_headers(_url(request), dict(request.query_params), None)


def _url(request: Request) -> str:
    return f"{_base(request)}{request.url.path}"


def _respond(body: Any, links: Iterable[str]) -> Response:
    return _linked(JSONResponse(body), links)


def _linked(response: Response, links: Iterable[str]) -> Response:
    """``response`` with a ``Link`` header for each of ``links``."""
    for link in links:
        response.raw_headers.append((b"link", link.encode("latin-1")))
    return response


def _user_json(emu: OktaEmulator, uid: str, base: str) -> dict[str, Any]:
    user = emu.tenant.users[uid]
    return render.user(emu.tenant, user, emu.status_of(uid), emu.versions(uid)[0], base)


def _user_text(emu: OktaEmulator, uid: str, base: str) -> bytes:
    """A user's JSON text as :class:`JSONResponse` encodes it, once per version and status.

    Every tenant change is a new tenant version; the status and the base URL are in the key.
    """
    key = (emu.tenant.version, emu.status_of(uid), base)
    held = emu.user_texts.get(uid)
    if held is not None and held[0] == key:
        return held[1]
    text = bytes(JSONResponse(_user_json(emu, uid, base)).body)
    emu.user_texts[uid] = (key, text)
    return text


def _users_page(emu: OktaEmulator, page: list[str], base: str, links: Iterable[str]) -> Response:
    """A page of users, the bytes :func:`_respond` would send, joined from each one's text."""
    body = b"[" + b",".join([_user_text(emu, uid, base) for uid in page]) + b"]"
    return _linked(Response(body, media_type="application/json"), links)


def list_users(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/users``."""
    t, params = emu.tenant, request.query_params
    limit = _limit(request, 200, 200)
    expression = params.get("filter") or params.get("search")
    if params.get("filter") and params.get("search"):
        raise ApiError(400, "filter and search cannot be combined")
    keep: Callable[[str], bool]
    if expression:
        allowed = USER_FILTER if "filter" in params else frozenset(USER_FILTER | {"created"})
        matches = query.matcher(query.parse(expression, allowed, search="search" in params))

        def keep(uid: str) -> bool:
            u = t.users[uid]
            return matches(render.flat_user(t, u, emu.status_of(uid), emu.versions(uid)[0]))
    else:

        def keep(uid: str) -> bool:
            return emu.status_of(uid) != "DEPROVISIONED"

    start = bisect.bisect_right(t.user_ids, params["after"]) if "after" in params else 0
    ids = (uid for uid in t.user_ids[start:] if keep(uid))
    page, links = _page(request, ids, limit, lambda uid: uid)
    base = _base(request)
    return _users_page(emu, page, base, links)


def get_user(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/users/{id|login}``."""
    key = request.path_params["key"]
    user = emu.tenant.find_user(key)
    if user is None:
        raise ApiError(404, f"{key} (User)")
    return JSONResponse(_user_json(emu, user.id, _base(request)))


def _group_json(emu: OktaEmulator, gid: str, base: str) -> dict[str, Any]:
    version, members = emu.versions(gid)
    return render.group(emu.tenant.groups[gid], emu.group_type(gid), version, members, base)


def user_groups(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/users/{id}/groups`` (not paged)."""
    key = request.path_params["key"]
    user = emu.tenant.find_user(key)
    if user is None:
        raise ApiError(404, f"{key} (User)")
    base = _base(request)
    groups = sorted(emu.tenant.direct_groups(user.id))
    return JSONResponse([_group_json(emu, gid, base) for gid in groups])


def list_groups(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/groups``."""
    t, params = emu.tenant, request.query_params
    limit = _limit(request, 10000, 10000)
    expression = params.get("filter") or params.get("search")
    ids: Iterator[str]
    start = bisect.bisect_right(t.group_ids, params["after"]) if "after" in params else 0
    if expression:
        matches = query.matcher(
            query.parse(expression, GROUP_FILTER | {"created"}, search="search" in params)
        )
        ids = (
            gid
            for gid in t.group_ids[start:]
            if matches(render.flat_group(t.groups[gid], emu.group_type(gid), *emu.versions(gid)))
        )
    else:
        ids = iter(t.group_ids[start:])
    page, links = _page(request, ids, limit, lambda gid: gid)
    base = _base(request)
    return _respond([_group_json(emu, gid, base) for gid in page], links)


def get_group(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/groups/{id}``."""
    gid = request.path_params["gid"]
    if gid not in emu.tenant.groups:
        raise ApiError(404, f"{gid} (UserGroup)")
    return JSONResponse(_group_json(emu, gid, _base(request)))


def group_users(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/groups/{id}/users`` (``after`` is an opaque offset)."""
    gid = request.path_params["gid"]
    if gid not in emu.tenant.groups:
        raise ApiError(404, f"{gid} (UserGroup)")
    limit = _limit(request, 1000, 1000)
    after = request.query_params.get("after", "")
    start = int(after) if after.isdigit() else 0
    members = emu.tenant.member_list(gid)
    ids = iter(members[start:])
    page, links = _page(request, ids, limit, lambda _: str(start + limit))
    base = _base(request)
    return _users_page(emu, page, base, links)
