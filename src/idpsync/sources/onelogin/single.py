"""Reading one user for ``idpsync sync-user``: the user, then their group and roles one by one.

Costs 1 call for the user by id (by name: 1, or 2 when the first filter misses), 1 for their
group when they have one and groups are read, and 1 per role when roles are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idpsync.errors import SourceError
from idpsync.http import Endpoint, HttpClient
from idpsync.http.shape import json_list, page_items
from idpsync.model import Snapshot, SourceGroup
from idpsync.sources.onelogin.budget import BudgetStop
from idpsync.sources.onelogin.endpoints import (
    GROUP,
    PAGE_SIZE,
    ROLE,
    USER,
    USER_FIELDS,
    USERS,
    V1_RECORDS,
)
from idpsync.sources.onelogin.records import to_group
from idpsync.sources.shape import records


async def fetch_one(
    http: HttpClient,
    snap: Snapshot,
    key: str,
    *,
    groups: bool,
    role: Callable[[dict[str, Any]], SourceGroup] | None,
) -> tuple[dict[str, Any], tuple[list[SourceGroup], list[SourceGroup]]] | None:
    """The user record for ``key`` with its group and roles (``None``: no such user).

    ``groups``: read the user's group; ``role`` converts a role (``None``: roles are not read).
    A budget stop marks ``snap`` incomplete and keeps what was read.
    """
    item = await find_user(http, key.strip())
    if item is None:
        return None
    if not isinstance(item, dict) or not isinstance(item.get("role_ids") or [], list):
        raise SourceError(f"{USERS.label}: the answer for {key!r} is not a usable user")
    group_list: list[SourceGroup] = []
    roles: list[SourceGroup] = []
    try:
        if groups and item.get("group_id"):
            group_list = await read_one(http, snap, GROUP, item["group_id"], to_group, v1=True)
        if role is not None:
            for raw in item.get("role_ids") or ():
                roles += await read_one(http, snap, ROLE, raw, role, v1=False)
    except BudgetStop as stop:
        snap.mark_incomplete(str(stop))
    return item, (group_list, roles)


async def find_user(http: HttpClient, key: str) -> Any:
    """The user record for an id, a username or an e-mail address (``None``: not found).

    A name is looked up as a username first (as an e-mail address first when it has an ``@``),
    then as the other; only an exact match, ignoring case, counts.
    """
    if key.isdigit():
        return await http.get_json(USER, {"id": key})
    for attribute in ("username", "email") if "@" not in key else ("email", "username"):
        params = {attribute: key, "limit": PAGE_SIZE, "fields": USER_FIELDS}
        body = await http.get_json(USERS, params=params)
        for item in json_list(body, USERS.label):
            if not isinstance(item, dict):
                continue
            if str(item.get(attribute, "")).casefold() == key.casefold():
                return item
    return None


async def read_one(
    http: HttpClient,
    snap: Snapshot,
    endpoint: Endpoint,
    raw: object,
    convert: Callable[[dict[str, Any]], SourceGroup],
    *,
    v1: bool,
) -> list[SourceGroup]:
    """One group (``v1``: its record inside ``data``) or role; not found marks ``snap``."""
    body = await http.get_json(endpoint, {"id": str(raw)})
    if body is None:
        snap.mark_incomplete(f"{endpoint.label}: {raw} was not found")
        return []
    items = page_items(body, V1_RECORDS, endpoint.label, required=True) if v1 else [body]
    return records(snap, endpoint.label, "group", items, convert)
