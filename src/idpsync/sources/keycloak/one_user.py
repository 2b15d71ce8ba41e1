"""One Keycloak user on demand (``idpsync user``): the user, direct groups and the groups above.

By id (``GET users/{id}``), else an exact ``username`` or ``email`` search; then the user's
direct groups (``GET users/{id}/groups``) and, for a nested one, an exact name search of the
group list (``GET groups?search=…&exact=true``) whose branches give the groups above it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.http import errors as e
from idpsync.model import EdgeList, Snapshot
from idpsync.sources.keycloak.auth import missing_role
from idpsync.sources.keycloak.endpoints import BRIEF, GROUPS, USER, USER_GROUPS, USERS
from idpsync.sources.keycloak.tree import GroupTree, chain
from idpsync.sources.shape import records

if TYPE_CHECKING:
    from idpsync.sources.keycloak.reader import KeycloakSource

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


async def fetch_user(source: KeycloakSource, key: str) -> Snapshot | None:
    """One user by id, username or e-mail, with direct groups and the groups above them."""
    await source.prepare()
    try:
        raw = await _find_user(source, key.strip())
    except e.Forbidden as exc:
        raise missing_role(exc, source.settings) from exc
    if raw is None:
        return None
    snap = Snapshot()
    snap.users = records(snap, USER.label, "user", [raw], source.user_record)
    if not snap.users:
        raise SourceError(f"{USER.label}: the answer for {key!r} is not a usable user")
    uid = snap.users[0].source_id
    size = source.settings.page_size
    direct = await source._pages(USER_GROUPS, {"id": uid}, size, snap, "the user's groups")
    tree = GroupTree()
    for group in direct:
        await _add_branch(source, tree, group, snap)
    snap.groups = tree.groups(source.settings.group_name)
    members = {str(g["id"]): [uid] for g in direct if str(g["id"]) in tree.nodes}
    snap.memberships = EdgeList(tree.memberships(members, source.settings.flatten_subgroups))
    return snap


async def _find_user(source: KeycloakSource, key: str) -> Any:
    if _UUID.fullmatch(key):
        found = await source.http.get_json(USER, {**source.values, "id": key})
        if found is not None:
            return found
    field = "email" if "@" in key else "username"
    for name in dict.fromkeys((field, "username")):
        params = {**source.user_params, name: key, "exact": "true"}
        hits = await source.http.get_json(USERS, source.values, params=params)
        if isinstance(hits, list) and hits:
            return hits[0]
    return None


async def _add_branch(
    source: KeycloakSource, tree: GroupTree, group: Mapping[str, Any], snap: Snapshot
) -> None:
    """Add a direct group and the groups above it (found by an exact name search)."""
    found = group.get("path")
    path = found if isinstance(found, str) else ""
    if path.count("/") <= 1:
        tree.add_or_mark({**group, "subGroups": []}, None, snap)
        return
    params = {**BRIEF, "search": str(group.get("name") or ""), "exact": "true"}
    branches = await source._pages(
        GROUPS, {}, source.settings.page_size, snap, "group search", params=params
    )
    nodes = chain(branches, str(group["id"]))
    if nodes is None:
        snap.mark_incomplete(f"the groups above {path} were not found")
        tree.add_or_mark({**group, "subGroups": []}, None, snap)
        return
    parent: str | None = None
    for node in nodes:
        bare = {k: v for k, v in node.items() if k not in ("subGroups", "subGroupCount")}
        tree.add_or_mark(bare, parent, snap)
        parent = str(node["id"])
