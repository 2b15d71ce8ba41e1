"""An emulated Atlassian Crowd server: the ``/rest/usermanagement/1`` resources idpsync uses.

An ASGI app (Starlette) following ``shared/reference/targets.md`` §1:

- **Application authentication**: HTTP Basic with an application's name and password; a wrong
  or missing one answers **401** with a plain-text body.
- **JSON** users and groups with hyphenated keys; errors as ``{"reason", "message"}``.
- ``PUT /user`` takes the whole user: fields the body leaves out are **blanked** (and an
  omitted ``active`` becomes false), as Crowd does.
- Direct memberships: ``POST`` answers 201, **409 MEMBERSHIP_ALREADY_EXISTS** for a present
  one, 400 when the entity named in the body is missing and 404 when the one in the query
  string is.
- Lists page with ``start-index``/``max-results`` (capped at :attr:`CrowdEmulator.max_results`)
  and carry no total.
- ``GET /group/membership`` answers the whole membership graph as **XML only**.
- Faults for tests: :attr:`CrowdEmulator.down` answers 503 to everything; ``read_only``
  answers 403 ``APPLICATION_PERMISSION_DENIED`` to every write.
- **Licence seats**: :attr:`CrowdEmulator.seats` is the licence's user count. As in Crowd, the
  application API neither shows it nor refuses a user past it: the write succeeds and the
  licence is silently exceeded (Crowd logs "License resource limit has been reached" and the
  extra users cannot log in; bitwarden/directory-connector #28). The emulator records the most
  active users it ever held (:attr:`CrowdEmulator.peak_active`) so a test can see an excess.

Run it with ``uvicorn`` or hand :attr:`CrowdEmulator.app` to ``httpx.ASGITransport``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from idpsync.emulators.crowd_state import CrowdError, CrowdState, attributes_json, matches

PREFIX = "/rest/usermanagement/1"
Handler = Callable[[Request], Awaitable[Response]]


class CrowdEmulator:
    """One emulated Crowd server with its applications and directory."""

    def __init__(self, applications: dict[str, str], max_results: int = 1000) -> None:
        self.applications = dict(applications)
        """Application name → password accepted for Basic authentication."""
        self.state = CrowdState()
        """The directory (ground truth for tests)."""
        self.max_results = max_results
        """Server cap on ``max-results``."""
        self.down = False
        """Answer 503 to every request."""
        self.read_only = False
        """Answer 403 ``APPLICATION_PERMISSION_DENIED`` to every write."""
        self.membership_xml = True
        """Offer ``GET /group/membership`` (else 404, as some servers do)."""
        self.requests: list[str] = []
        """``METHOD path?query`` of every request received."""
        self.seats: int | None = None
        """The licence's seat count (active users); ``None``: unlimited."""
        self.peak_active = 0
        """The most active users the directory held after any request (counted when
        :attr:`seats` is set)."""
        self.app = Starlette(routes=self._routes())

    def _routes(self) -> list[Route]:
        table: list[tuple[str, list[str], Handler]] = [
            ("/user", ["GET", "POST", "PUT", "DELETE"], self.user),
            ("/user/rename", ["POST"], self.rename),
            ("/user/attribute", ["GET", "POST", "DELETE"], self.user_attribute),
            ("/user/group/direct", ["GET", "POST", "DELETE"], self.user_groups),
            ("/group", ["GET", "POST", "PUT", "DELETE"], self.group),
            ("/group/user/direct", ["GET", "POST", "DELETE"], self.group_users),
            ("/group/child-group/direct", ["GET", "POST", "DELETE"], self.group_children),
            ("/group/membership", ["GET"], self.memberships),
            ("/search", ["GET"], self.search),
        ]
        return [
            Route(PREFIX + path, self._guard(handler), methods=methods)
            for path, methods, handler in table
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            query = f"?{request.url.query}" if request.url.query else ""
            self.requests.append(f"{request.method} {request.url.path}{query}")
            if self.down:
                return PlainTextResponse("Service Unavailable", status_code=503)
            if not self._authenticated(request):
                return PlainTextResponse(
                    "Application failed to authenticate",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="Crowd REST Service"'},
                )
            if self.read_only and request.method != "GET":
                return error(
                    CrowdError(
                        403,
                        "APPLICATION_PERMISSION_DENIED",
                        "The application's directory does not allow this operation",
                    )
                )
            try:
                return await handler(request)
            except CrowdError as exc:
                return error(exc)
            finally:
                if self.seats is not None:
                    self.peak_active = max(self.peak_active, self.active_users())

        return guarded

    def active_users(self) -> int:
        """Active users of the directory (what the licence counts)."""
        return sum(1 for u in self.state.users.values() if u.active)

    @property
    def licence_exceeded(self) -> bool:
        """Whether the directory ever held more active users than :attr:`seats`."""
        return self.seats is not None and self.peak_active > self.seats

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return name in self.applications and self.applications[name] == password

    def base(self, request: Request) -> str:
        """The REST base URL, for links."""
        return str(request.base_url).rstrip("/") + PREFIX

    # -- users ---------------------------------------------------------------------------------

    async def user(self, request: Request) -> Response:
        """``/user``: get, create, replace, delete."""
        state, base = self.state, self.base(request)
        if request.method == "POST":
            user = state.add_user(await body(request))
            location = f"{base}/user?username={user.name}"
            return JSONResponse(user.json(base), 201, headers={"Location": location})
        name = param(request, "username")
        if request.method == "GET":
            expand = "attributes" in request.query_params.get("expand", "")
            return JSONResponse(state.user(name).json(base, expand))
        if request.method == "PUT":
            state.replace_user(name, await body(request))
        else:
            state.remove_user(name)
        return Response(status_code=204)

    async def rename(self, request: Request) -> Response:
        """``POST /user/rename?username=U`` with ``{"new-name": N}``."""
        new_name = str((await body(request)).get("new-name") or "")
        user = self.state.rename_user(param(request, "username"), new_name)
        return JSONResponse(user.json(self.base(request)))

    async def user_attribute(self, request: Request) -> Response:
        """``/user/attribute``: read, store (per attribute name), delete one."""
        user = self.state.user(param(request, "username"))
        if request.method == "GET":
            return JSONResponse(attributes_json(user.attributes))
        if request.method == "DELETE":
            user.attributes.pop(param(request, "attributename"), None)
            return Response(status_code=204)
        for item in (await body(request)).get("attributes") or []:
            values = [str(v) for v in item.get("values") or []]
            user.attributes[str(item["name"])] = values
        return Response(status_code=204)

    async def user_groups(self, request: Request) -> Response:
        """``/user/group/direct``: a user's groups; add or remove a membership."""
        state = self.state
        name = param(request, "username")
        if request.method == "POST":
            group = str((await body(request)).get("name") or "")
            state.add_member(group, name, child=False, body_is_member=False)
            return Response(status_code=201)
        if request.method == "DELETE":
            state.remove_member(param(request, "groupname"), name, child=False)
            return Response(status_code=204)
        folded = state.user(name).name.casefold()
        groups = [g for g in state.groups.values() if folded in g.users]
        return self.page(request, "group", [g.json(self.base(request)) for g in groups])

    # -- groups --------------------------------------------------------------------------------

    async def group(self, request: Request) -> Response:
        """``/group``: get, create, update, delete."""
        state, base = self.state, self.base(request)
        if request.method == "POST":
            group = state.add_group(await body(request))
            location = f"{base}/group?groupname={group.name}"
            return JSONResponse(group.json(base), 201, headers={"Location": location})
        name = param(request, "groupname")
        if request.method == "GET":
            return JSONResponse(state.group(name).json(base))
        if request.method == "PUT":
            group, data = state.group(name), await body(request)
            group.description = str(data.get("description") or "")
            group.active = bool(data.get("active", False))
        else:
            state.remove_group(name)
        return Response(status_code=204)

    async def group_users(self, request: Request) -> Response:
        """``/group/user/direct``: members, membership test, add, remove."""
        return await self._members(request, child=False)

    async def group_children(self, request: Request) -> Response:
        """``/group/child-group/direct``: nested groups."""
        return await self._members(request, child=True)

    async def _members(self, request: Request, child: bool) -> Response:
        state, base = self.state, self.base(request)
        name = param(request, "groupname")
        if request.method == "POST":
            member = str((await body(request)).get("name") or "")
            state.add_member(name, member, child=child, body_is_member=True)
            return Response(status_code=201)
        wanted = request.query_params.get("child-groupname" if child else "username")
        if request.method == "DELETE":
            state.remove_member(name, wanted or "", child=child)
            return Response(status_code=204)
        group = state.group(name)
        if child:
            items = [state.groups[c].json(base) for c in sorted(group.children)]
        else:
            items = [state.users[u].json(base) for u in sorted(group.users)]
        if wanted is not None:
            found = [i for i in items if i["name"].casefold() == wanted.casefold()]
            if not found:
                raise CrowdError(404, "MEMBERSHIP_NOT_FOUND", f"<{wanted}> is not a member")
            return JSONResponse(found[0])
        return self.page(request, "group" if child else "user", items)

    async def memberships(self, request: Request) -> Response:
        """``GET /group/membership``: every group's direct members, as XML only."""
        if not self.membership_xml:
            raise CrowdError(404, "OPERATION_FAILED", "Not supported by this server")
        accept = request.headers.get("Accept", "*/*")
        if "xml" not in accept and "*/*" not in accept:
            return PlainTextResponse("Not Acceptable: XML only", status_code=406)
        state = self.state
        parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?><memberships>']
        for folded in sorted(state.groups):
            group = state.groups[folded]
            users = "".join(f"<user name={quoteattr(state.users[u].name)}/>" for u in group.users)
            kids = "".join(
                f"<group name={quoteattr(state.groups[c].name)}/>" for c in group.children
            )
            parts.append(
                f"<membership group={quoteattr(group.name)}><users>{users}</users>"
                f"<groups>{kids}</groups></membership>"
            )
        parts.append("</memberships>")
        return Response("".join(parts), media_type="application/xml")

    async def search(self, request: Request) -> Response:
        """``GET /search?entity-type=user|group&restriction=CQL``."""
        entity = request.query_params.get("entity-type")
        if entity not in ("user", "group"):
            raise CrowdError(400, "ILLEGAL_ARGUMENT", "entity-type must be user or group")
        restriction = request.query_params.get("restriction", "")
        base = self.base(request)
        if entity == "user":
            items = [u.json(base) for _, u in sorted(self.state.users.items())]
        else:
            items = [g.json(base) for _, g in sorted(self.state.groups.items())]
        found = [i for i in items if matches(restriction, i)]
        if entity not in request.query_params.get("expand", ""):
            found = [{"link": i["link"], "name": i["name"]} for i in found]
        return self.page(request, entity, found)

    def page(self, request: Request, entity: str, items: list[dict[str, Any]]) -> Response:
        """One page of a list: ``start-index`` (0-based), ``max-results`` (capped), no total."""
        try:
            start = int(request.query_params.get("start-index", "0"))
            size = int(request.query_params.get("max-results", str(self.max_results)))
        except ValueError:
            raise CrowdError(400, "ILLEGAL_ARGUMENT", "start-index/max-results") from None
        size = max(0, min(size, self.max_results))
        return JSONResponse({"expand": entity, f"{entity}s": items[start : start + size]})


def param(request: Request, name: str) -> str:
    """A required query parameter (400 ``ILLEGAL_ARGUMENT`` when missing)."""
    value = request.query_params.get(name)
    if not value:
        raise CrowdError(400, "ILLEGAL_ARGUMENT", f"The query parameter {name} is required")
    return value


async def body(request: Request) -> dict[str, Any]:
    """The JSON body (400 when it is not a JSON object)."""
    if "json" not in request.headers.get("Content-Type", ""):
        raise CrowdError(415, "UNSUPPORTED_OPERATION", "Send Content-Type: application/json")
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise CrowdError(400, "ILLEGAL_ARGUMENT", "The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise CrowdError(400, "ILLEGAL_ARGUMENT", "The body must be a JSON object")
    return data


def error(exc: CrowdError) -> Response:
    """Crowd's error body."""
    return JSONResponse({"reason": exc.reason, "message": exc.message}, exc.status)
