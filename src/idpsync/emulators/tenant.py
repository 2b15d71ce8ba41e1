"""The generic tenant every emulator serves: users, groups, other directory objects and edges.

An emulator renders this model in its IdP's wire format; tests compare what a connector stored
against :meth:`Tenant.ground_truth`. Mutations go through the control methods here, which keep
the indexes (sorted ids, reverse membership, per-group member lists) and an append-only change
log current, so a page is served in O(page) and a delta in O(changes).

Nothing here knows about HTTP or about any IdP.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from idpsync.emulators.tenant_photos import PhotoControl

OtherKind = Literal["servicePrincipal", "device", "orgContact"]
ObjectKind = Literal["user", "group", "servicePrincipal", "device", "orgContact"]
ChangeKind = Literal["user", "group"]


@dataclass(slots=True)
class TenantUser:
    """A person in the tenant."""

    id: str
    """Immutable object id (a GUID string)."""
    alias: str
    """Local part of the login (``alias@domain``); guests carry ``…#EXT#``."""
    display_name: str
    """Full name as shown."""
    given_name: str | None
    """First name (may be absent)."""
    surname: str | None
    """Last name (may be absent)."""
    mail: str | None
    """Primary e-mail address."""
    job_title: str | None = None
    """Job title."""
    department: str | None = None
    """Department."""
    employee_id: str | None = None
    """HR number."""
    enabled: bool = True
    """False when the account is disabled."""
    guest: bool = False
    """True for an external (guest) account."""
    created: str = "2020-01-01T00:00:00Z"
    """Creation time, ISO 8601."""
    manager_id: str | None = None
    """Id of the manager (a user), if any."""
    photo_version: int = 0
    """0 = no photo; otherwise a counter that changes whenever the photo changes."""
    photo: tuple[bytes, str] | None = None
    """A test's own photo, bytes and declared type (:mod:`.tenant_photos`); else a stand-in."""
    company: str | None = None
    """Company name."""
    office: str | None = None
    """Office location."""
    employee_type: str | None = None
    """Kind of employment (``Employee``, ``Contractor`` …)."""
    cost_center: str | None = None
    """Cost centre."""
    division: str | None = None
    """Division."""
    custom: dict[str, dict[str, str | list[str]]] = field(default_factory=dict)
    """Custom attributes, by set then name (``{"HR": {"badge": "B-7"}}``), a list for a
    multi-valued one. Each emulator serves them its IdP's way: Google custom schemas (the set
    is the schema), Keycloak user attributes, Okta profile properties, Entra directory
    extensions (``extension_<appId>_<name>``; names ``extensionAttribute1``…``15`` go to
    ``onPremisesExtensionAttributes``); the set's name only matters to Google."""


@dataclass(slots=True)
class TenantGroup:
    """A group; ``members`` keeps insertion order and gives O(1) membership tests."""

    id: str
    """Immutable object id."""
    name: str
    """Display name."""
    description: str | None = None
    """Free text."""
    mail_nickname: str = ""
    """Mail alias (without domain)."""
    unified: bool = False
    """True for a Microsoft 365 / collaboration group, False for a security group."""
    created: str = "2020-01-01T00:00:00Z"
    """Creation time, ISO 8601."""
    members: dict[str, None] = field(default_factory=dict)
    """Direct member ids in insertion order (users, groups and other objects)."""


@dataclass(slots=True)
class TenantObject:
    """A directory object that is neither user nor group (service principal, device, contact)."""

    id: str
    """Immutable object id."""
    kind: OtherKind
    """What it is."""
    display_name: str
    """Shown name."""


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """One entry of the membership log (for delta queries)."""

    version: int
    group_id: str
    member_id: str
    added: bool


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """A frozen copy of the tenant for assertions: what a perfect sync would hold."""

    users: dict[str, TenantUser]
    """Users by id (copies)."""
    groups: dict[str, TenantGroup]
    """Groups by id (copies, ``members`` included)."""
    others: dict[str, TenantObject]
    """Non-user, non-group objects by id."""
    memberships: frozenset[tuple[str, str]]
    """Direct ``(group_id, member_id)`` edges, members of every kind."""

    def user_memberships(self) -> frozenset[tuple[str, str]]:
        """Direct edges whose member is a user."""
        return frozenset(e for e in self.memberships if e[1] in self.users)


class TenantError(KeyError):
    """A control call named an object that does not exist (or already exists)."""


class Tenant(PhotoControl):
    """Users, groups, objects and edges with the indexes emulators need. See module docstring."""

    def __init__(self, tenant_id: str, domain: str) -> None:
        self.tenant_id = tenant_id
        self.domain = domain
        self.users: dict[str, TenantUser] = {}
        self.groups: dict[str, TenantGroup] = {}
        self.others: dict[str, TenantObject] = {}
        self.member_of: dict[str, dict[str, None]] = {}
        self.by_login: dict[str, str] = {}
        self.user_ids: list[str] = []
        self.group_ids: list[str] = []
        self.version = 0
        self.changes: list[tuple[int, ChangeKind, str]] = []
        self.membership_log: list[MembershipChange] = []
        self.manager_log: list[tuple[int, str, str | None]] = []
        """(version, user id, the manager before that change) for every change of manager."""
        self.removed: dict[str, Literal["changed", "deleted"]] = {}
        self._member_lists: dict[str, list[str]] = {}
        self._transitive: dict[str, list[str]] = {}

    # ---- lookups -------------------------------------------------------------------------

    def login(self, user: TenantUser) -> str:
        """The user's login (``alias@domain``)."""
        return f"{user.alias}@{self.domain}"

    def kind_of(self, object_id: str) -> ObjectKind | None:
        """What ``object_id`` is, or ``None`` if it does not exist."""
        if object_id in self.users:
            return "user"
        if object_id in self.groups:
            return "group"
        other = self.others.get(object_id)
        return other.kind if other else None

    def find_user(self, key: str) -> TenantUser | None:
        """A user by id or by login (case-insensitive)."""
        user = self.users.get(key)
        if user is None and "@" in key:
            user_id = self.by_login.get(key.lower())
            user = self.users.get(user_id) if user_id else None
        return user

    def member_list(self, group_id: str) -> list[str]:
        """Direct members of a group as a list (cached until the group changes)."""
        cached = self._member_lists.get(group_id)
        if cached is None:
            cached = list(self.groups[group_id].members)
            self._member_lists[group_id] = cached
        return cached

    def transitive_members(self, group_id: str) -> list[str]:
        """All members reached through nesting (no duplicates, group itself excluded), cached."""
        cached = self._transitive.get(group_id)
        if cached is not None:
            return cached
        seen: dict[str, None] = {}
        stack = [group_id]
        visited = {group_id}
        while stack:
            for member in self.groups[stack.pop()].members:
                if member not in seen and member != group_id:
                    seen[member] = None
                if member in self.groups and member not in visited:
                    visited.add(member)
                    stack.append(member)
        self._transitive[group_id] = result = list(seen)
        return result

    def direct_groups(self, object_id: str) -> list[str]:
        """Groups that list ``object_id`` as a direct member."""
        return list(self.member_of.get(object_id, ()))

    def transitive_groups(self, object_id: str) -> list[str]:
        """Groups that contain ``object_id`` directly or through nesting."""
        seen: dict[str, None] = {}
        stack = list(self.member_of.get(object_id, ()))
        while stack:
            group_id = stack.pop()
            if group_id in seen:
                continue
            seen[group_id] = None
            stack.extend(self.member_of.get(group_id, ()))
        return list(seen)

    def changes_between(self, after: int, upto: int) -> list[tuple[ChangeKind, str]]:
        """Objects changed in ``(after, upto]``, first change first, each object once."""
        lo = bisect.bisect_right(self.changes, after, key=lambda c: c[0])
        hi = bisect.bisect_right(self.changes, upto, key=lambda c: c[0])
        seen: dict[tuple[ChangeKind, str], None] = {}
        for _, kind, object_id in self.changes[lo:hi]:
            seen[(kind, object_id)] = None
        return list(seen)

    def member_changes(self, after: int, upto: int) -> dict[str, dict[str, bool]]:
        """Net membership changes in ``(after, upto]`` (group id → member id → added)."""
        lo = bisect.bisect_right(self.membership_log, after, key=lambda c: c.version)
        hi = bisect.bisect_right(self.membership_log, upto, key=lambda c: c.version)
        net: dict[str, dict[str, bool]] = {}
        for change in self.membership_log[lo:hi]:
            net.setdefault(change.group_id, {})[change.member_id] = change.added
        return net

    def ground_truth(self) -> GroundTruth:
        """A frozen copy of everything, for comparing with what a connector stored."""
        groups = {gid: replace(g, members=dict(g.members)) for gid, g in self.groups.items()}
        edges = frozenset((gid, m) for gid, g in self.groups.items() for m in g.members)
        return GroundTruth(
            users={uid: replace(u) for uid, u in self.users.items()},
            groups=groups,
            others=dict(self.others),
            memberships=edges,
        )

    # ---- bulk building (generator) -------------------------------------------------------

    def load(
        self,
        users: Iterable[TenantUser],
        groups: Iterable[TenantGroup],
        others: Iterable[TenantObject],
    ) -> None:
        """Fill an empty tenant in one go (no change log: this is the initial state)."""
        for user in users:
            self.users[user.id] = user
            self.by_login[self.login(user).lower()] = user.id
        for group in groups:
            self.groups[group.id] = group
            for member in group.members:
                self.member_of.setdefault(member, {})[group.id] = None
        for other in others:
            self.others[other.id] = other
        self.user_ids = sorted(self.users)
        self.group_ids = sorted(self.groups)

    # ---- change bookkeeping --------------------------------------------------------------

    def _touch(self, kind: ChangeKind, object_id: str) -> int:
        self.version += 1
        self.changes.append((self.version, kind, object_id))
        return self.version

    def _invalidate(self, group_id: str | None = None) -> None:
        self._transitive.clear()
        if group_id is None:
            self._member_lists.clear()
        else:
            self._member_lists.pop(group_id, None)

    def _require_user(self, user_id: str) -> TenantUser:
        user = self.users.get(user_id)
        if user is None:
            raise TenantError(f"no user {user_id!r} in tenant {self.tenant_id}")
        return user

    def _require_group(self, group_id: str) -> TenantGroup:
        group = self.groups.get(group_id)
        if group is None:
            raise TenantError(f"no group {group_id!r} in tenant {self.tenant_id}")
        return group

    # ---- control API (user side) ---------------------------------------------------------

    def add_user(self, user: TenantUser) -> TenantUser:
        """Create a user; its id and login must be new."""
        if user.id in self.users or self.login(user).lower() in self.by_login:
            raise TenantError(f"user {user.id!r} / {self.login(user)!r} already exists")
        self.users[user.id] = user
        self.by_login[self.login(user).lower()] = user.id
        bisect.insort(self.user_ids, user.id)
        self.removed.pop(user.id, None)
        version = self._touch("user", user.id)
        if user.manager_id is not None:
            self.manager_log.append((version, user.id, None))
        return user

    def update_user(self, user_id: str, **fields: object) -> TenantUser:
        """Change attributes of a user (``display_name=…``, ``enabled=False``, ``alias=…``…)."""
        user = self._require_user(user_id)
        old_login, old_manager = self.login(user).lower(), user.manager_id
        for name, value in fields.items():
            if not hasattr(user, name) or name == "id":
                raise TenantError(f"users have no settable attribute {name!r}")
            setattr(user, name, value)
        self.by_login.pop(old_login, None)
        self.by_login[self.login(user).lower()] = user.id
        version = self._touch("user", user_id)
        if user.manager_id != old_manager:
            self.manager_log.append((version, user_id, old_manager))
        return user

    def delete_user(self, user_id: str, *, permanent: bool = False) -> None:
        """Delete a user (soft: delta says ``changed``; permanent: ``deleted``) and its edges."""
        user = self._require_user(user_id)
        for group_id in list(self.member_of.get(user_id, ())):
            self.remove_member(group_id, user_id)
        for other in self.users.values():
            if other.manager_id == user_id:
                other.manager_id = None
                self.manager_log.append((self._touch("user", other.id), other.id, user_id))
        del self.users[user_id]
        self.by_login.pop(self.login(user).lower(), None)
        self.user_ids.pop(bisect.bisect_left(self.user_ids, user_id))
        self.removed[user_id] = "deleted" if permanent else "changed"
        self._touch("user", user_id)

    def set_manager(self, user_id: str, manager_id: str | None) -> None:
        """Give a user a new manager (or none)."""
        if manager_id is not None:
            self._require_user(manager_id)
        self.update_user(user_id, manager_id=manager_id)

    # ---- control API (group side) --------------------------------------------------------

    def add_group(self, group: TenantGroup) -> TenantGroup:
        """Create a group (with optional initial members)."""
        if group.id in self.groups:
            raise TenantError(f"group {group.id!r} already exists")
        members, group.members = list(group.members), {}
        self.groups[group.id] = group
        bisect.insort(self.group_ids, group.id)
        self.removed.pop(group.id, None)
        self._touch("group", group.id)
        for member in members:
            self.add_member(group.id, member)
        return group

    def rename_group(self, group_id: str, name: str) -> None:
        """Change a group's display name."""
        self._require_group(group_id).name = name
        self._touch("group", group_id)

    def delete_group(self, group_id: str, *, permanent: bool = False) -> None:
        """Delete a group, its edges both ways."""
        group = self._require_group(group_id)
        for member in list(group.members):
            self.remove_member(group_id, member)
        for parent in list(self.member_of.get(group_id, ())):
            self.remove_member(parent, group_id)
        del self.groups[group_id]
        self.group_ids.pop(bisect.bisect_left(self.group_ids, group_id))
        self.removed[group_id] = "deleted" if permanent else "changed"
        self._touch("group", group_id)
        self._invalidate(group_id)

    def add_member(self, group_id: str, member_id: str) -> None:
        """Add a direct member (user, group or other object); refuses cycles."""
        group = self._require_group(group_id)
        if self.kind_of(member_id) is None:
            raise TenantError(f"no object {member_id!r} to add to group {group_id!r}")
        if member_id == group_id or (
            member_id in self.groups and group_id in self.transitive_members(member_id)
        ):
            raise TenantError(f"adding {member_id!r} to {group_id!r} would make a cycle")
        if member_id in group.members:
            return
        group.members[member_id] = None
        self.member_of.setdefault(member_id, {})[group_id] = None
        version = self._touch("group", group_id)
        self.membership_log.append(MembershipChange(version, group_id, member_id, True))
        self._invalidate(group_id)

    def remove_member(self, group_id: str, member_id: str) -> None:
        """Remove a direct member (no-op when absent)."""
        group = self._require_group(group_id)
        if member_id not in group.members:
            return
        del group.members[member_id]
        self.member_of.get(member_id, {}).pop(group_id, None)
        version = self._touch("group", group_id)
        self.membership_log.append(MembershipChange(version, group_id, member_id, False))
        self._invalidate(group_id)

    def move_member(self, member_id: str, from_group: str, to_group: str) -> None:
        """Move a member from one group to another."""
        self.remove_member(from_group, member_id)
        self.add_member(to_group, member_id)
