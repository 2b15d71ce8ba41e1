"""Putting a read together: users, the groups and roles read, and the edges between them.

A OneLogin user record carries its one ``group_id`` and its ``role_ids``, so the membership
edges come with the users at no extra call. An edge is kept only when its group or role was
read or is known to the staged mirror (a group neither is not invented), and, when roles'
members had to be listed per role, only for users that were read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idpsync.model import EdgeMaker, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.onelogin.endpoints import USERS
from idpsync.sources.onelogin.records import group_id, role_id
from idpsync.sources.shape import records


def edges(
    item: Mapping[str, Any],
    *,
    groups: bool,
    roles: bool,
    roles_from_user: bool,
    make: EdgeMaker = Membership,
) -> list[Membership]:
    """The edges a user record carries: its group (``groups``), its roles (``roles``).

    ``make`` builds each edge (:meth:`Snapshot.edge` shares the ids among the edges).
    """
    user = str(item["id"])
    found = []
    if groups and item.get("group_id"):
        found.append(make(group_id(item["group_id"]), user, MemberKind.USER))
    if roles and roles_from_user:
        found.extend(make(role_id(r), user, MemberKind.USER) for r in item.get("role_ids") or ())
    return found


def assemble(
    snap: Snapshot,
    items: list[dict[str, Any]],
    read: tuple[list[SourceGroup], list[SourceGroup]],
    role_members: list[Membership] | None,
    *,
    user: Callable[[dict[str, Any]], SourceUser],
    groups_from: str,
    staged: frozenset[str] = frozenset(),
) -> None:
    """Add the users (``user`` converts a record), the groups and roles ``read`` and the edges.

    ``role_members`` are the edges listed per role (``None``: the user records carry them).
    ``staged``: groups not read but known to exist (the staged mirror's, for an incremental
    read that lists no groups), whose edges are kept too.
    """
    groups, roles = read
    known = {g.source_id for g in groups} | {r.source_id for r in roles} | staged
    snap.groups.extend(groups)
    snap.groups.extend(roles)
    wants_groups, wants_roles = groups_from in ("groups", "both"), groups_from in ("roles", "both")
    users: list[SourceUser] = []
    for item in items:
        made = records(snap, USERS.label, "user", [item], user)
        if not made:
            continue
        users += made
        carried = edges(
            item,
            groups=wants_groups,
            roles=wants_roles,
            roles_from_user=role_members is None,
            make=snap.edge,
        )
        snap.memberships.extend(e for e in carried if e.group_id in known)
    snap.users.extend(users)
    if role_members:
        ids = {u.source_id for u in users}
        snap.memberships.extend(e for e in role_members if e.member_id in ids)
