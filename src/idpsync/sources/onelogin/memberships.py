"""Putting a read together: users, the groups and roles read, and the edges between them.

A OneLogin user record carries its one ``group_id`` and its ``role_ids``, so the membership
edges come with the users at no extra call. An edge is kept only when its group or role was
read or is known to the staged mirror (a group neither is not invented), and, when roles'
members had to be listed per role, only for users that were read.

A streamed full read (:class:`PagedEdges`) hands each users page's edges to the run's sink as
the page comes, before the groups and roles are known: every edge of each user record the
listing keeps, its roles' edges included. :func:`assemble` then takes back (``withdraw``)
those the read does not keep (a record that makes no user, a group or role not read, role
edges when roles' members are listed per role) and hands over the per-role edges, so the sink
ends up holding exactly the edges an in-memory read holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idpsync.model import EdgeMaker, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import EdgeSink
from idpsync.sources.clean import usable_id
from idpsync.sources.onelogin.endpoints import USERS
from idpsync.sources.onelogin.records import group_id, role_id
from idpsync.sources.shape import CONVERT_ERRORS, records


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


def handed(item: Mapping[str, Any], *, groups: bool, roles: bool) -> list[Membership]:
    """The edges :class:`PagedEdges` hands over for a record: its roles' from the record."""
    return edges(item, groups=groups, roles=roles, roles_from_user=True)


class PagedEdges:
    """The users listing's :class:`~idpsync.sources.onelogin.paged.PageSink` in a streamed read.

    Each page's user records that the listing keeps (``check`` passes them, as ``records``
    decides) hand their edges (their group's, their roles') to ``sink``; a listing that starts
    over takes them all back.
    """

    __slots__ = ("check", "groups", "roles", "sink")

    def __init__(
        self,
        sink: EdgeSink,
        check: Callable[[dict[str, Any]], object],
        *,
        groups_from: str,
    ) -> None:
        self.sink, self.check = sink, check
        self.groups, self.roles = _wanted(groups_from)

    def page(self, items: list[Any]) -> None:
        """Hand over the edges of the records of ``items`` the listing keeps."""
        found: list[Membership] = []
        for item in items:
            if self.kept(item):
                found += handed(item, groups=self.groups, roles=self.roles)
        self.sink.edges(found)

    def restart(self) -> None:
        """Take back every edge handed over (only the users listing hands any)."""
        self.sink.discard()

    def kept(self, item: object) -> bool:
        """Whether the listing keeps ``item`` (an object with a usable id that ``check`` passes)."""
        if not isinstance(item, dict) or usable_id(item.get("id")) is None:
            return False
        try:
            self.check(item)
        except CONVERT_ERRORS:
            return False
        return True


def assemble(
    snap: Snapshot,
    items: list[dict[str, Any]],
    read: tuple[list[SourceGroup], list[SourceGroup]],
    role_members: list[Membership] | None,
    *,
    user: Callable[[dict[str, Any]], SourceUser],
    groups_from: str,
    staged: frozenset[str] = frozenset(),
    sink: EdgeSink | None = None,
) -> None:
    """Add the users (``user`` converts a record), the groups and roles ``read`` and the edges.

    ``role_members`` are the edges listed per role (``None``: the user records carry them).
    ``staged``: groups not read but known to exist (the staged mirror's, for an incremental
    read that lists no groups), whose edges are kept too. ``sink``: the users' edges went
    there page by page (:class:`PagedEdges`); those not kept are taken back and the per-role
    edges go there too, none into ``snap``. ``items`` are then exactly the records whose edges
    were handed over.
    """
    groups, roles = read
    known = {g.source_id for g in groups} | {r.source_id for r in roles} | staged
    snap.groups.extend(groups)
    snap.groups.extend(roles)
    wants_groups, wants_roles = _wanted(groups_from)
    from_user = role_members is None
    users: list[SourceUser] = []
    taken_back: list[Membership] = []
    for item in items:
        made = records(snap, USERS.label, "user", [item], user)
        if not made:
            if sink is not None:  # handed over, but no user: every edge of it goes back
                taken_back += handed(item, groups=wants_groups, roles=wants_roles)
            continue
        users += made
        carried = edges(
            item,
            groups=wants_groups,
            roles=wants_roles,
            roles_from_user=from_user,
            make=snap.edge,
        )
        if sink is None:
            snap.memberships.extend(e for e in carried if e.group_id in known)
            continue
        taken_back += (e for e in carried if e.group_id not in known)
        if not from_user and wants_roles:  # handed over, but the per-role listings decide
            taken_back += handed(item, groups=False, roles=True)
    snap.users.extend(users)
    if sink is not None:
        sink.withdraw(taken_back)
    if role_members:
        ids = {u.source_id for u in users}
        kept = [e for e in role_members if e.member_id in ids]
        if sink is None:
            snap.memberships.extend(kept)
        else:
            sink.edges(kept)


def _wanted(groups_from: str) -> tuple[bool, bool]:
    """Whether groups, and whether roles, become directory groups."""
    return groups_from in ("groups", "both"), groups_from in ("roles", "both")
