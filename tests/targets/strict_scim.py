"""A strict in-process SCIM 2.0 server (ASGI) for the rules scim2-server does not enforce.

targets.md §6.4: scim2-server accepts duplicate group names, unknown or empty member ids, JSON
without the SCIM media type, keeps deleted users in groups and answers PATCH with 204. This
double refuses or does each the way stricter servers (Atlassian Cloud among them) do, and can
act as Atlassian (``atlassian=True``): DELETE of a user deactivates it, group names cannot be
changed, one ``eq`` filter (groups: ``displayName`` only), at most 100 per page.
Every request is logged in ``requests`` as ``METHOD path``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ScimFail(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


class StrictScim:
    def __init__(self, *, atlassian: bool = False, max_members_per_patch: int = 10) -> None:
        self.atlassian = atlassian
        self.max_members = max_members_per_patch
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.requests: list[str] = []
        self.reject: Callable[[str, str, Any], ScimFail | None] = lambda m, p, b: None

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"].removeprefix("/scim")
        query = parse_qs(scope["query_string"].decode())
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(f"{method} {path}")
        try:
            status, payload, extra = self.handle(method, path, query, headers, body)
        except ScimFail as exc:
            status, extra = exc.status, {}
            payload = {"schemas": [ERROR], "status": str(exc.status), "detail": exc.detail}
            if exc.scim_type:
                payload["scimType"] = exc.scim_type
        data = json.dumps(payload).encode() if payload is not None else b""
        hdrs = [(b"content-type", b"application/scim+json")]
        hdrs += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": data})

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        if parts == ["ServiceProviderConfig"] and method == "GET":
            features = {
                "patch": {"supported": True},
                "etag": {"supported": True},
                "filter": {"supported": True, "maxResults": 100},
                "bulk": {"supported": False},
            }
            return 200, features, {}
        if not parts or parts[0] not in ("Users", "Groups"):
            raise ScimFail(404, f"no resource at {path}")
        store = self.users if parts[0] == "Users" else self.groups
        data = None
        if method in ("POST", "PUT", "PATCH"):
            if not headers.get("content-type", "").startswith("application/scim+json"):
                raise ScimFail(415, "use Content-Type: application/scim+json")
            data = json.loads(body)
        failure = self.reject(method, path, data)
        if failure:
            raise failure
        if len(parts) == 1 and method == "GET":
            return 200, self.search(parts[0], store, query), {}
        if len(parts) == 1 and method == "POST":
            return self.create(parts[0], store, data)
        if len(parts) != 2 or parts[1] not in store:
            raise ScimFail(404, f"{path} not found")
        rid = parts[1]
        version = f'W/"{self.versions[rid]}"'
        if "if-match" in headers and headers["if-match"] not in ("*", version):
            raise ScimFail(412, "resource changed", "invalidVers")
        if method == "GET":
            return 200, store[rid], {"ETag": version}
        if method == "DELETE":
            return self.delete(parts[0], rid)
        if method == "PATCH":
            self.patch(parts[0], store[rid], data)
            self.bump(store[rid])
            return 200, store[rid], {"ETag": f'W/"{self.versions[rid]}"'}
        raise ScimFail(405, f"{method} not supported")

    # -- operations -------------------------------------------------------------------------

    def bump(self, resource: dict[str, Any]) -> None:
        rid = resource["id"]
        self.versions[rid] = self.versions.get(rid, 0) + 1
        resource["meta"]["version"] = f'W/"{self.versions[rid]}"'

    def create(self, kind: str, store: dict[str, Any], data: Any) -> tuple[int, Any, dict]:
        if kind == "Users":
            if not data.get("userName"):
                raise ScimFail(400, "userName is required", "invalidValue")
            if any(u["userName"].casefold() == data["userName"].casefold() for u in store.values()):
                raise ScimFail(409, "userName is taken", "uniqueness")
        else:
            if any(
                g["displayName"].casefold() == data.get("displayName", "").casefold()
                for g in store.values()
            ):
                raise ScimFail(409, "a group with this name exists", "uniqueness")
            self.check_members(data.get("members") or [])
        rid = uuid.uuid4().hex
        resource = {**data, "id": rid, "meta": {"resourceType": kind[:-1]}}
        resource.setdefault("active", True) if kind == "Users" else None
        store[rid] = resource
        self.bump(resource)
        return 201, resource, {"ETag": resource["meta"]["version"], "Location": f"/{kind}/{rid}"}

    def delete(self, kind: str, rid: str) -> tuple[int, Any, dict]:
        if kind == "Users" and self.atlassian:
            self.users[rid]["active"] = False
            return 204, None, {}
        (self.users if kind == "Users" else self.groups).pop(rid)
        for group in self.groups.values():
            group["members"] = [m for m in group.get("members", []) if m["value"] != rid]
        return 204, None, {}

    def check_members(self, members: list[dict[str, Any]]) -> None:
        if len(members) > self.max_members:
            raise ScimFail(400, f"at most {self.max_members} members per request", "tooMany")
        for member in members:
            value = member.get("value")
            if not value or (value not in self.users and value not in self.groups):
                raise ScimFail(400, f"member {value!r} does not exist", "invalidValue")

    def patch(self, kind: str, resource: dict[str, Any], data: Any) -> None:
        if data.get("schemas") != ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]:
            raise ScimFail(400, "not a PatchOp", "invalidSyntax")
        for op in data["Operations"]:
            name, path, value = op["op"], op.get("path"), op.get("value")
            if name not in ("add", "remove", "replace"):
                raise ScimFail(400, f"bad op {name}", "invalidSyntax")
            if kind == "Groups" and path == "members":
                self.check_members(value or [])
                have = {m["value"] for m in resource.setdefault("members", [])}
                resource["members"] += [m for m in value if m["value"] not in have]
            elif kind == "Groups" and path and path.startswith("members["):
                match = re.fullmatch(r'members\[value eq "([^"]+)"\]', path)
                if not match:
                    raise ScimFail(400, f"bad path {path}", "invalidPath")
                resource["members"] = [
                    m for m in resource.get("members", []) if m["value"] != match.group(1)
                ]
            elif path == "displayName" and kind == "Groups" and self.atlassian:
                raise ScimFail(400, "displayName of a synced group cannot change", "mutability")
            elif path is None:
                raise ScimFail(400, "path required", "noTarget")
            else:
                self.set_path(resource, path, name, value)

    @staticmethod
    def set_path(resource: dict[str, Any], path: str, op: str, value: Any) -> None:
        head, _, tail = path.partition(".")
        target = resource.setdefault(head, {}) if tail else resource
        key = tail or head
        if op == "remove":
            target.pop(key, None)
        else:
            target[key] = value

    def search(self, kind: str, store: dict[str, Any], query: dict[str, list[str]]) -> Any:
        items = list(store.values())
        if "filter" in query:
            match = re.fullmatch(r'(\w+(?:\.\w+)?) eq "((?:[^"\\]|\\.)*)"', query["filter"][0])
            if not match:
                raise ScimFail(400, "only one eq filter is supported", "invalidFilter")
            attr, value = match.group(1), match.group(2).replace('\\"', '"')
            allowed = {
                "Users": {"userName", "externalId", "emails.value"},
                "Groups": {"externalId", "displayName"},
            }[kind]
            if self.atlassian:
                allowed = {"Users": {"userName", "externalId"}, "Groups": {"displayName"}}[kind]
            if attr not in allowed:
                raise ScimFail(400, f"cannot filter on {attr}", "invalidFilter")
            items = [r for r in items if _matches(r, attr, value)]
        start = max(1, int(query.get("startIndex", ["1"])[0]))
        count = int(query.get("count", ["100"])[0])
        if self.atlassian:
            count = min(count, 100)
        page = items[start - 1 : start - 1 + count]
        return {
            "schemas": [LIST],
            "totalResults": len(items),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }


def _matches(resource: dict[str, Any], attr: str, value: str) -> bool:
    if attr == "emails.value":
        return any(e["value"].casefold() == value.casefold() for e in resource.get("emails", []))
    have = resource.get(attr)
    if attr in ("userName", "displayName"):
        return have is not None and have.casefold() == value.casefold()
    return bool(have == value)
