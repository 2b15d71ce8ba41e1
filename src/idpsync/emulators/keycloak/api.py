"""Keycloak Admin REST reads over the generic tenant: users, groups, children, members, counts.

Keycloak groups form a tree. The tenant's group-in-group edges are read as that tree: a group's
parent is the first group that lists it as a member (a group the tenant nests twice appears under
the first only). Users are sorted by username, groups and sub-groups by name, as Keycloak does.
Usernames are the tenant alias in lower case. Only users are members; other directory objects
are not rendered.

``shape`` 23 renders Keycloak ≥ 23 groups (``subGroupCount``, ``parentId``, empty
``subGroups``, children through ``/groups/{id}/children``, default ``max`` 10); ``shape`` 22
renders Keycloak ≤ 22 (the whole ``subGroups`` tree inline, no ``/children`` listing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idpsync.emulators.tenant import Tenant, TenantUser

DEFAULT_MAX = 100
CHILDREN_MAX = 10


class Rendered(list[bytes]):
    """A JSON array whose items are JSON text already (each rendered once, then reused).

    The emulator renders a user's representation once per tenant version instead of once
    per answer (a million member rows at L): what it saves is its own CPU, which on a small
    machine shares the cores with the client it serves. Its length is the rows it holds.
    """

    def body(self) -> bytes:
        """The array as the answer's body."""
        return b"[" + b",".join(self) + b"]"


class AdminError(Exception):
    """An Admin API error: status and Keycloak's JSON body."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(str(body))
        self.status, self.body = status, body


def truthy(value: str | None, default: bool) -> bool:
    """A boolean query parameter in any case (``True``, ``true``, ``TRUE``)."""
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def number(params: Mapping[str, str], name: str, default: int | None) -> int | None:
    """An integer query parameter; Keycloak answers 404 to one it cannot parse (JAX-RS)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise AdminError(404, {"error": "HTTP 404 Not Found"}) from None


def window(items: list[Any], params: Mapping[str, str], default_max: int | None) -> list[Any]:
    """``first``/``max`` exactly: a negative ``first`` is 0, a negative ``max`` means no limit."""
    first = max(0, number(params, "first", 0) or 0)
    limit = number(params, "max", default_max)
    if limit is None or limit < 0:
        return items[first:]
    return items[first : first + limit]


@dataclass
class Tree:
    """The group tree of one tenant version."""

    parent: dict[str, str | None]
    children: dict[str | None, list[str]]
    """Children by parent id (``None``: top level), sorted by name."""
    paths: dict[str, str]


def build_tree(tenant: Tenant) -> Tree:
    """Read the tenant's group nesting as a tree (see module docstring)."""
    parent: dict[str, str | None] = {}
    for gid in tenant.group_ids:
        owners = [g for g in tenant.member_of.get(gid, ()) if g in tenant.groups]
        parent[gid] = owners[0] if owners else None
    children: dict[str | None, list[str]] = {}
    for gid, up in parent.items():
        children.setdefault(up, []).append(gid)
    for kids in children.values():
        kids.sort(key=lambda g: (tenant.groups[g].name.lower(), g))
    paths: dict[str, str] = {}

    def path_of(gid: str) -> str:
        if gid not in paths:
            up = parent[gid]
            paths[gid] = (path_of(up) if up else "") + "/" + tenant.groups[gid].name
        return paths[gid]

    for gid in parent:
        path_of(gid)
    return Tree(parent, children, paths)


def created_ms(user: TenantUser) -> int:
    """``createdTimestamp``: epoch milliseconds."""
    return int(datetime.fromisoformat(user.created.replace("Z", "+00:00")).timestamp() * 1000)


def username(user: TenantUser) -> str:
    """Keycloak keeps usernames in lower case."""
    return user.alias.lower()


def render_user(user: TenantUser, brief: bool) -> dict[str, Any]:
    """A UserRepresentation (brief: no attributes, access, required actions)."""
    body: dict[str, Any] = {
        "id": user.id,
        "createdTimestamp": created_ms(user),
        "username": username(user),
        "enabled": user.enabled,
        "emailVerified": user.mail is not None,
    }
    for key, value in (("firstName", user.given_name), ("lastName", user.surname)):
        if value is not None:
            body[key] = value
    if user.mail is not None:
        body["email"] = user.mail.lower()
    if brief:
        return body
    attributes = {
        key: [value]
        for key, value in (
            ("department", user.department),
            ("jobTitle", user.job_title),
            ("employeeNumber", user.employee_id),
        )
        if value
    }
    for fields in user.custom.values():  # Keycloak has no attribute sets: one flat map
        attributes |= {k: list(v) if isinstance(v, list) else [v] for k, v in fields.items()}
    if attributes:
        body["attributes"] = dict(sorted(attributes.items()))
    body |= {
        "totp": False,
        "disableableCredentialTypes": [],
        "requiredActions": [],
        "notBefore": 0,
        "access": {
            "manageGroupMembership": True,
            "view": True,
            "mapRoles": True,
            "impersonate": False,
            "manage": True,
        },
    }
    return body


def render_group(
    tenant: Tenant, tree: Tree, gid: str, *, brief: bool, shape: int, counts: bool = True
) -> dict[str, Any]:
    """A GroupRepresentation in the shape of Keycloak ``shape`` (22 or 23)."""
    group = tenant.groups[gid]
    body: dict[str, Any] = {"id": gid, "name": group.name, "path": tree.paths[gid]}
    kids = tree.children.get(gid, [])
    if shape >= 23:
        if tree.parent[gid]:
            body["parentId"] = tree.parent[gid]
        if counts:
            body["subGroupCount"] = len(kids)
            body["subGroups"] = []
    elif counts:
        body["subGroups"] = [render_group(tenant, tree, k, brief=brief, shape=shape) for k in kids]
    if not brief:
        body |= {
            "attributes": {"description": [group.description]} if group.description else {},
            "realmRoles": [],
            "clientRoles": {},
            "access": {"view": True, "viewMembers": True, "manageMembers": True, "manage": True},
        }
    return body


# ---- user search ---------------------------------------------------------------------------


def text_match(value: str | None, wanted: str, exact: bool) -> bool:
    """Case-insensitive equality (``exact``) or containment."""
    value = (value or "").lower()
    return value == wanted.lower() if exact else wanted.lower() in value


def _search_matcher(search: str) -> Callable[[str], bool]:
    """Keycloak's ``search``: prefix by default, ``*`` wildcards, ``"…"`` exact."""
    if len(search) >= 2 and search.startswith('"') and search.endswith('"'):
        exact = search[1:-1].lower()
        return lambda value: value == exact
    pattern = re.escape(search.lower()).replace(r"\*", ".*")
    if not search.endswith("*"):
        pattern += ".*"
    regex = re.compile(pattern)
    return lambda value: regex.fullmatch(value) is not None


def user_filter(params: Mapping[str, str]) -> Callable[[TenantUser], bool]:
    """The predicate of ``users`` and ``users/count`` query parameters."""
    exact = truthy(params.get("exact"), False)
    checks: list[Callable[[TenantUser], bool]] = []
    search = params.get("search")
    if search and search.strip() != "*":
        match = _search_matcher(search.strip())
        checks.append(
            lambda u: any(
                match((v or "").lower()) for v in (username(u), u.mail, u.given_name, u.surname)
            )
        )
    fields: dict[str, Callable[[TenantUser], str | None]] = {
        "username": username,
        "email": lambda u: u.mail,
        "firstName": lambda u: u.given_name,
        "lastName": lambda u: u.surname,
    }
    for name, get in fields.items():
        if params.get(name):
            checks.append(_field_check(get, params[name], exact))
    if params.get("enabled"):
        checks.append(_flag_check(lambda u: u.enabled, truthy(params["enabled"], True)))
    if params.get("emailVerified"):
        flag = truthy(params["emailVerified"], True)
        checks.append(_flag_check(lambda u: u.mail is not None, flag))
    checks.extend(_attribute_checks(params.get("q", "")))
    return lambda u: all(check(u) for check in checks)


def _field_check(
    get: Callable[[TenantUser], str | None], wanted: str, exact: bool
) -> Callable[[TenantUser], bool]:
    return lambda u: text_match(get(u), wanted, exact)


def _flag_check(get: Callable[[TenantUser], bool], flag: bool) -> Callable[[TenantUser], bool]:
    return lambda u: get(u) == flag


def _getter(attr: str) -> Callable[[TenantUser], str | None]:
    def get(user: TenantUser) -> str | None:
        value: str | None = getattr(user, attr)
        return value

    return get


def _attribute_checks(query: str) -> list[Callable[[TenantUser], bool]]:
    names = {"department": "department", "jobTitle": "job_title", "employeeNumber": "employee_id"}
    checks: list[Callable[[TenantUser], bool]] = []
    for term in query.split():
        key, _, value = term.partition(":")
        attr = names.get(key)
        if attr is None:
            checks.append(lambda u: False)
        else:
            checks.append(_field_check(_getter(attr), value, True))
    return checks
