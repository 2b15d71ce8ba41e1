"""Google additions to the generic tenant: ids, admins, aliases, archived and deleted users.

Google ids are not GUIDs: users have 21-digit numeric ids, groups 15-character hex ids starting
with ``0``. :class:`GoogleTenant` derives them from the generic tenant's ids (stable, so tests
can translate with :meth:`GoogleTenant.gid`) and keeps what Google has and the generic tenant
has not: super admins, e-mail aliases, archived users and recently deleted users (answered with
412 and listed by ``showDeleted=true``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Self

from idpsync.emulators.google.activity import ActivityLog
from idpsync.emulators.tables import StampedTables
from idpsync.emulators.tenant import Tenant, TenantError, TenantGroup, TenantUser


def _hex(object_id: str) -> str:
    try:
        return uuid.UUID(object_id).hex
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_OID, object_id).hex


class GoogleBase(Tenant):
    """A :class:`Tenant` plus Google's extra state (see module docstring)."""

    def __init__(self, tenant_id: str, domain: str) -> None:
        super().__init__(tenant_id, domain)
        self.customer_id = "C0" + _hex(tenant_id)[:7]
        self.admins: set[str] = set()
        self.archived: set[str] = set()
        self.aliases: dict[str, str] = {}
        """Alias e-mail (lower case) → user id."""
        self.deleted: dict[str, tuple[TenantUser, str]] = {}
        """Recently deleted users: id → (copy, deletionTime)."""
        self._google: dict[str, str] = {}
        self._generic: dict[str, str] = {}
        self.listed: dict[tuple[str, bool], tuple[list[str], list[str]]] = {}
        """A group's member list as the members listing pages it, by (group, derived): the
        tenant's cached member list it was made from (:meth:`member_list`, replaced when the
        group changes) and the list made once from it (a page of a 100,000-member group went
        through all of them: 30 ms a page)."""
        self.texts = StampedTables()
        """Resources' JSON texts by table, as of the tenant's stamp (see :mod:`.texts`)."""
        self.marks = 0
        """Changes not in the tenant's log (a super admin made or unmade): part of the texts'
        stamp, since a user's resource shows ``isAdmin``."""

    @classmethod
    def adopt(cls, tenant: Tenant) -> Self:
        """A Google tenant holding a generated tenant's objects; its first user is super admin."""
        google = cls(tenant.tenant_id, tenant.domain)
        users = [_googlish(u) for u in tenant.users.values()]
        google.load(users, tenant.groups.values(), tenant.others.values())
        if tenant.user_ids:
            google.admins.add(next(iter(tenant.users)))
        return google

    # ---- ids -----------------------------------------------------------------------------

    def gid(self, object_id: str) -> str:
        """Google's id of a tenant object (users: 21 digits; others: ``0`` + 14 hex)."""
        found = self._google.get(object_id)
        if found is None:
            digest = _hex(object_id)
            if object_id in self.users or object_id in self.deleted:
                found = str(10**20 + int(digest, 16) % (9 * 10**20))
            else:
                found = "0" + digest[:14]
            self._google[object_id] = found
            self._generic[found] = object_id
        return found

    def generic(self, google_id: str) -> str | None:
        """The tenant id behind a Google id (``None`` if unknown)."""
        if google_id not in self._generic:
            for object_id in [*self.users, *self.groups, *self.others, *self.deleted]:
                self.gid(object_id)
        return self._generic.get(google_id)

    # ---- lookups -------------------------------------------------------------------------

    def resolve_user(self, key: str) -> TenantUser | None:
        """A live user by primary e-mail, alias or Google id."""
        key = key.strip()
        if "@" in key:
            user = self.find_user(key)
            if user is None and key.lower() in self.aliases:
                user = self.users.get(self.aliases[key.lower()])
            return user
        object_id = self.generic(key)
        return self.users.get(object_id) if object_id else None

    def resolve_deleted(self, key: str) -> TenantUser | None:
        """A recently deleted user by e-mail or Google id."""
        for user, _ in self.deleted.values():
            if key.lower() == self.login(user).lower() or key == self.gid(user.id):
                return user
        return None

    def group_email(self, group_id: str) -> str:
        """A group's e-mail address."""
        group = self.groups[group_id]
        return f"{group.mail_nickname or 'group-' + self.gid(group_id)}@{self.domain}"

    def resolve_group(self, key: str) -> str | None:
        """A group id by e-mail or Google id."""
        key = key.strip()
        if "@" in key:
            wanted = key.lower()
            return next((g for g in self.groups if self.group_email(g).lower() == wanted), None)
        object_id = self.generic(key)
        return object_id if object_id in self.groups else None

    # ---- control API ---------------------------------------------------------------------

    def set_archived(self, user_id: str, archived: bool = True) -> None:
        """Archive (or unarchive) a user."""
        self._require_user(user_id)
        (self.archived.add if archived else self.archived.discard)(user_id)
        self._touch("user", user_id)

    def add_alias(self, user_id: str, alias: str) -> None:
        """Give a user an extra e-mail address."""
        self._require_user(user_id)
        if alias.lower() in self.aliases or alias.lower() in self.by_login:
            raise TenantError(f"address {alias!r} is taken")
        self.aliases[alias.lower()] = user_id
        self._touch("user", user_id)

    def make_admin(self, user_id: str, admin: bool = True) -> None:
        """Make a user super admin (or not)."""
        self._require_user(user_id)
        (self.admins.add if admin else self.admins.discard)(user_id)
        self.marks += 1

    def delete_user(self, user_id: str, *, permanent: bool = False) -> None:
        """Delete a user; unless ``permanent`` it stays "recently deleted" (412, showDeleted)."""
        user = self._require_user(user_id)
        self.gid(user_id)
        if not permanent:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            self.deleted[user_id] = (replace(user), stamp)
        for alias in [a for a, uid in self.aliases.items() if uid == user_id]:
            del self.aliases[alias]
        self.archived.discard(user_id)
        self.admins.discard(user_id)
        super().delete_user(user_id, permanent=permanent)


def _googlish(user: TenantUser) -> TenantUser:
    """Google has no ``#EXT#`` guests: a generated guest becomes an ordinary account."""
    if "#EXT#" in user.alias:
        return replace(user, alias=user.alias.split("_", 1)[0] + ".ext")
    return user


class GoogleTenant(GoogleBase):
    """A :class:`GoogleBase` that records each control change in :attr:`activity`.

    The event names and parameters are those of Google's admin audit log (``USER_SETTINGS``
    and ``GROUP_SETTINGS`` events; see :mod:`idpsync.emulators.google.activity`).
    """

    def __init__(self, tenant_id: str, domain: str) -> None:
        super().__init__(tenant_id, domain)
        self.activity = ActivityLog()

    def add_user(self, user: TenantUser) -> TenantUser:  # noqa: D102 - see Tenant
        added = super().add_user(user)
        self.activity.user("CREATE_USER", self.login(added))
        return added

    def update_user(self, user_id: str, **fields: object) -> TenantUser:  # noqa: D102
        before = self.login(self._require_user(user_id))
        user = super().update_user(user_id, **fields)
        after = self.login(user)
        for name in fields:
            if name == "enabled":
                self.activity.user("UNSUSPEND_USER" if user.enabled else "SUSPEND_USER", after)
            elif name in ("alias", "mail") and before != after:
                self.activity.user("RENAME_USER", before, NEW_VALUE=after)
            else:
                self.activity.user(_USER_EVENTS.get(name, "CHANGE_USER_CUSTOM_FIELD"), after)
        return user

    def delete_user(self, user_id: str, *, permanent: bool = False) -> None:  # noqa: D102
        email = self.login(self._require_user(user_id))
        super().delete_user(user_id, permanent=permanent)
        self.activity.user("DELETE_USER", email)

    def set_archived(self, user_id: str, archived: bool = True) -> None:  # noqa: D102
        super().set_archived(user_id, archived)
        name = "ARCHIVE_USER" if archived else "UNARCHIVE_USER"
        self.activity.user(name, self.login(self.users[user_id]))

    def add_alias(self, user_id: str, alias: str) -> None:  # noqa: D102
        super().add_alias(user_id, alias)
        self.activity.user("ADD_NICKNAME", self.login(self.users[user_id]), USER_NICKNAME=alias)

    def add_group(self, group: TenantGroup) -> TenantGroup:  # noqa: D102
        members, group.members = dict(group.members), {}
        added = super().add_group(group)
        self.activity.group("CREATE_GROUP", self.group_email(added.id))
        for member in members:
            self.add_member(added.id, member)
        return added

    def rename_group(self, group_id: str, name: str) -> None:  # noqa: D102
        super().rename_group(group_id, name)
        self.activity.group("CHANGE_GROUP_NAME", self.group_email(group_id), NEW_VALUE=name)

    def delete_group(self, group_id: str, *, permanent: bool = False) -> None:  # noqa: D102
        email = self.group_email(group_id) if group_id in self.groups else ""
        super().delete_group(group_id, permanent=permanent)
        self.activity.group("DELETE_GROUP", email)

    def add_member(self, group_id: str, member_id: str) -> None:  # noqa: D102
        present = member_id in self._require_group(group_id).members
        super().add_member(group_id, member_id)
        if not present:
            self._member_event("ADD_GROUP_MEMBER", group_id, member_id)

    def remove_member(self, group_id: str, member_id: str) -> None:  # noqa: D102
        present = member_id in self._require_group(group_id).members
        super().remove_member(group_id, member_id)
        if present:
            self._member_event("REMOVE_GROUP_MEMBER", group_id, member_id)

    def _member_event(self, name: str, group_id: str, member_id: str) -> None:
        if member_id in self.users:
            member = self.login(self.users[member_id])
        elif member_id in self.groups:
            member = self.group_email(member_id)
        else:
            member = f"{member_id}@partner.example"
        self.activity.group(name, self.group_email(group_id), USER_EMAIL=member)


_USER_EVENTS = {
    "given_name": "CHANGE_FIRST_NAME",
    "surname": "CHANGE_LAST_NAME",
    "display_name": "CHANGE_FIRST_NAME",
    "manager_id": "CHANGE_USER_RELATION",
    "photo_version": "CHANGE_USER_PHOTO",
    "job_title": "CHANGE_USER_ORGANIZATION",
    "department": "CHANGE_USER_ORGANIZATION",
}
"""Generic tenant fields → the admin event Google logs for such a change (others: a custom
field change)."""
