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

The pages come while the groups' chain is still read (the read's longest wait), so
:class:`PagedEdges` also makes each record's user as its page comes and notes the members it
handed over by group and role, and cleans each user as the run's ``normalise`` would: at the
end :func:`assemble` takes those users as they are, decides their edges per group or role read
or not (not per record), and reports the users that cannot be stored in the users' order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from idpsync.model import EdgeMaker, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import EdgeSink
from idpsync.sources.clean import Prepared, clean_users, prepare, usable_id
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
    over takes them all back. Each such record is also made a user (``user``) as its page
    comes: :attr:`made` and :attr:`members` are what :func:`assemble` needs of it at the end.
    """

    __slots__ = ("check", "groups", "made", "members", "ready", "roles", "sink", "user")

    def __init__(
        self,
        sink: EdgeSink,
        check: Callable[[dict[str, Any]], object],
        *,
        groups_from: str,
        user: Callable[[dict[str, Any]], SourceUser] | None = None,
    ) -> None:
        self.sink, self.check, self.user = sink, check, user
        self.groups, self.roles = _wanted(groups_from)
        self.made: dict[int, tuple[dict[str, Any], SourceUser]] = {}
        """Each record handed over that made a user, and the user, by the record's ``id()``
        (the record is held, so its ``id()`` is never another's)."""
        self.members: dict[tuple[str, bool], list[str]] = {}
        """The member ids of the edges handed over for the users of :attr:`made`, by group or
        role id and whether it is a role (one id per copy handed)."""
        self.ready: dict[int, tuple[SourceUser, Prepared]] = {}
        """Each user of :attr:`made` cleaned ahead (:func:`~idpsync.sources.clean.prepare`),
        by the user's ``id()``."""

    def page(self, items: list[Any]) -> None:
        """Hand over the edges of the records of ``items`` the listing keeps (and make users)."""
        found: list[Membership] = []
        for item in items:
            if self.kept(item):
                group = edges(item, groups=self.groups, roles=False, roles_from_user=True)
                roles = edges(item, groups=False, roles=self.roles, roles_from_user=True)
                found += group + roles
                self.make(item, group, roles)
        self.sink.edges(found)

    def make(self, item: dict[str, Any], group: list[Membership], roles: list[Membership]) -> None:
        """Make ``item``'s user and note its edges by group and role.

        A record that makes no user is left to :func:`assemble` (it converts it again and
        reports why).
        """
        if self.user is None:
            return
        try:
            user = self.user(item)
        except CONVERT_ERRORS:
            return
        self.made[id(item)] = (item, user)
        self.ready[id(user)] = (user, prepare(user))
        for role, carried in ((False, group), (True, roles)):
            for edge in carried:
                self.members.setdefault((edge.group_id, role), []).append(edge.member_id)

    def restart(self) -> None:
        """Take back every edge handed over (only the users listing hands any)."""
        self.made.clear()
        self.members.clear()
        self.ready.clear()
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

    def ahead(self, user: SourceUser) -> Prepared | None:
        """``user`` cleaned ahead, if it is one of :attr:`made`."""
        entry = self.ready.get(id(user))
        return entry[1] if entry is not None and entry[0] is user else None

    def taken_back(self, known: Collection[str], *, per_role: bool) -> list[Membership]:
        """The edges handed over for the users of :attr:`made` that the read does not keep.

        Those of a group or role not in ``known``, and every role edge when ``per_role`` (the
        roles' members are listed per role).
        """
        return [
            Membership(group, member, MemberKind.USER)
            for (group, role), members in self.members.items()
            if group not in known or (per_role and role)
            for member in members
        ]


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
    pages: PagedEdges | None = None,
) -> None:
    """Add the users (``user`` converts a record), the groups and roles ``read`` and the edges.

    ``role_members`` are the edges listed per role (``None``: the user records carry them).
    ``staged``: groups not read but known to exist (the staged mirror's, for an incremental
    read that lists no groups), whose edges are kept too. ``sink``: the users' edges went
    there page by page (``pages``, the :class:`PagedEdges` of ``sink``); those not kept are
    taken back and the per-role edges go there too, none into ``snap``. ``items`` are then
    exactly the records whose edges were handed over; the users ``pages`` made of them are
    taken as they are, their edges decided per group or role, and every user is cleaned as
    :func:`~idpsync.sources.clean.normalise` would (:func:`~idpsync.sources.clean.clean_users`,
    with what ``pages`` worked out ahead).
    """
    groups, roles = read
    known = {g.source_id for g in groups} | {r.source_id for r in roles} | staged
    snap.groups.extend(groups)
    snap.groups.extend(roles)
    wants_groups, wants_roles = _wanted(groups_from)
    from_user = role_members is None
    users: list[SourceUser] = []
    taken_back: list[Membership] = []
    made = {} if pages is None else pages.made
    for item in items:
        early = made.get(id(item))
        if early is not None and early[0] is item:  # made as its page came
            users.append(early[1])
            continue
        converted = records(snap, USERS.label, "user", [item], user)
        if not converted:
            if sink is not None:  # handed over, but no user: every edge of it goes back
                taken_back += handed(item, groups=wants_groups, roles=wants_roles)
            continue
        users += converted
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
    if pages is not None:  # cleaned as normalise would, mostly as the pages came
        clean_users(snap, ahead=pages.ahead)
    if sink is not None:
        if pages is not None:
            taken_back += pages.taken_back(known, per_role=not from_user)
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
