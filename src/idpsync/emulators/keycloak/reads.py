"""The handlers of the Admin API reads, one per route of :data:`emulator.NEEDS`.

Each takes the emulator, the path segments after ``/admin/realms/{realm}/`` and the query
parameters, and returns the JSON body or raises :class:`~.api.AdminError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from idpsync.emulators.keycloak import api
from idpsync.emulators.keycloak.api import AdminError, truthy, window

if TYPE_CHECKING:
    from idpsync.emulators.keycloak.emulator import KeycloakEmulator
    from idpsync.emulators.tenant import TenantUser

Handler = Callable[["KeycloakEmulator", list[str], dict[str, str]], Any]
USER_NOT_FOUND = {"error": "User not found"}
GROUP_NOT_FOUND = {"error": "Could not find group by id"}


def list_users(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET users``: filtered, sorted by username, ``first``/``max`` (default 100)."""
    match = api.user_filter(params)
    ranks = [i for i, u in enumerate(emu.sorted_users()) if match(u)]
    brief = truthy(params.get("briefRepresentation"), False)
    return users_json(emu, window(ranks, params, api.DEFAULT_MAX), brief)


def count_users(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET users/count``: an integer."""
    match = api.user_filter(params)
    return sum(1 for u in emu.sorted_users() if match(u))


def get_user(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET users/{id}``."""
    user = emu.tenant.users.get(seg[1])
    if user is None:
        raise AdminError(404, USER_NOT_FOUND)
    return api.render_user(user, brief=False)


def user_groups(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET users/{id}/groups``: direct groups only, with ``path``; brief by default."""
    if seg[1] not in emu.tenant.users:
        raise AdminError(404, USER_NOT_FOUND)
    t, tree = emu.tenant, emu.tree()
    gids = [g for g in t.direct_groups(seg[1]) if g in t.groups]
    search = (params.get("search") or "").lower()
    gids = [g for g in gids if search in t.groups[g].name.lower()]
    gids.sort(key=lambda g: (t.groups[g].name.lower(), g))
    brief = truthy(params.get("briefRepresentation"), True)
    return [
        api.render_group(t, tree, g, brief=brief, shape=emu.shape, counts=False)
        for g in window(gids, params, None)
    ]


def list_groups(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET groups``: top-level groups (with ``search``: the branches leading to matches)."""
    t, tree = emu.tenant, emu.tree()
    brief = truthy(params.get("briefRepresentation"), True)
    search = params.get("search")
    if not search:
        roots = window(tree.children.get(None, []), params, api.DEFAULT_MAX)
        return [api.render_group(t, tree, g, brief=brief, shape=emu.shape) for g in roots]
    exact = truthy(params.get("exact"), False)
    hits = {g for g in tree.parent if api.text_match(t.groups[g].name, search, exact)}
    keep = set()
    for gid in hits:
        node: str | None = gid
        while node is not None:
            keep.add(node)
            node = tree.parent[node]
    roots = [g for g in tree.children.get(None, []) if g in keep]
    return [_branch(emu, tree, g, keep, brief) for g in window(roots, params, api.DEFAULT_MAX)]


def _branch(emu: KeycloakEmulator, tree: api.Tree, gid: str, keep: set[str], brief: bool) -> Any:
    body = api.render_group(emu.tenant, tree, gid, brief=brief, shape=emu.shape)
    body["subGroups"] = [
        _branch(emu, tree, k, keep, brief) for k in tree.children.get(gid, []) if k in keep
    ]
    return body


def count_groups(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET groups/count``: ``{"count": n}``; sub-groups included unless ``top=true``."""
    t, tree = emu.tenant, emu.tree()
    gids = tree.children.get(None, []) if truthy(params.get("top"), False) else list(tree.parent)
    search = (params.get("search") or "").lower()
    return {"count": sum(1 for g in gids if search in t.groups[g].name.lower())}


def _group(emu: KeycloakEmulator, gid: str) -> str:
    if gid not in emu.tenant.groups:
        raise AdminError(404, GROUP_NOT_FOUND)
    return gid


def get_group(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET groups/{id}``: the full representation."""
    gid = _group(emu, seg[1])
    return api.render_group(emu.tenant, emu.tree(), gid, brief=False, shape=emu.shape)


def children(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET groups/{id}/children`` (Keycloak ≥ 23): sub-groups by name, default ``max`` 10."""
    if emu.shape < 23:
        raise AdminError(405, {"error": "HTTP 405 Method Not Allowed"})
    gid = _group(emu, seg[1])
    tree = emu.tree()
    brief = truthy(params.get("briefRepresentation"), False)
    kids = window(tree.children.get(gid, []), params, api.CHILDREN_MAX)
    return [api.render_group(emu.tenant, tree, k, brief=brief, shape=emu.shape) for k in kids]


def members(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET groups/{id}/members``: direct user members by username, default ``max`` 100."""
    gid = _group(emu, seg[1])
    ranks = member_ranks(emu, gid)
    brief = truthy(params.get("briefRepresentation"), False)
    return users_json(emu, window(ranks, params, api.DEFAULT_MAX), brief)


def users_json(emu: KeycloakEmulator, ranks: list[int], brief: bool) -> api.Rendered:
    """The JSON text of the users at these positions of the user order, as an answer's rows.

    Positions are in :meth:`~KeycloakEmulator.sorted_users`; each user is rendered once per
    tenant version, however many answers list it (a million member rows at L).
    """
    users = emu.sorted_users()
    texts: list[bytes | None] = emu.cached(
        "brief" if brief else "full", lambda: [None] * len(users)
    )
    rows = list(map(texts.__getitem__, ranks))
    if None in rows:  # users listed for the first time in this version: render them once
        for i in [i for i, text in enumerate(rows) if text is None]:
            rank = ranks[i]
            text = texts[rank]
            if text is None:  # (a user listed twice in one answer is rendered once)
                body = api.render_user(users[rank], brief)
                text = texts[rank] = json.dumps(body, ensure_ascii=False).encode()
            rows[i] = text
    return api.Rendered(cast(list[bytes], rows))


def member_ranks(emu: KeycloakEmulator, gid: str) -> list[int]:
    """A group's direct user members in Keycloak's order (username), cached per version.

    As positions in :meth:`~KeycloakEmulator.sorted_users`: sorting them is sorting integers.
    """
    lists: dict[str, list[int]] = emu.cached("members", dict)
    found = lists.get(gid)
    if found is None:
        maybe = list(map(_user_rank(emu).get, emu.tenant.member_list(gid)))
        # groups and other objects are no user rows
        ranks = [r for r in maybe if r is not None] if None in maybe else cast(list[int], maybe)
        ranks.sort()
        found = lists[gid] = ranks
    return found


def sorted_members(emu: KeycloakEmulator, gid: str) -> list[TenantUser]:
    """A group's direct user members in Keycloak's order (username), cached per version."""
    users = emu.sorted_users()
    return [users[r] for r in member_ranks(emu, gid)]


def _user_rank(emu: KeycloakEmulator) -> dict[str, int]:
    """Each user's position in :meth:`KeycloakEmulator.sorted_users` (cached per version)."""
    rank: dict[str, int] = emu.cached(
        "rank", lambda: {u.id: i for i, u in enumerate(emu.sorted_users())}
    )
    return rank


def by_path(emu: KeycloakEmulator, seg: list[str], params: dict[str, str]) -> Any:
    """``GET group-by-path/{path}``."""
    wanted = "/" + "/".join(s for s in seg[1:] if s)
    tree = emu.tree()
    for gid, path in tree.paths.items():
        if path == wanted:
            return api.render_group(emu.tenant, tree, gid, brief=False, shape=emu.shape)
    raise AdminError(404, {"error": "Group path does not exist"})


HANDLERS: dict[str, Handler] = {
    "users": list_users,
    "users/count": count_users,
    "users/{id}": get_user,
    "users/{id}/groups": user_groups,
    "groups": list_groups,
    "groups/count": count_groups,
    "groups/{id}": get_group,
    "groups/{id}/children": children,
    "groups/{id}/members": members,
    "group-by-path": by_path,
}
