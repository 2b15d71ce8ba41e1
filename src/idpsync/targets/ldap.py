"""The LDAP target: users and groups written into an LDAPv3 directory (OpenLDAP and alike).

- A user's and a group's remote id is its ``entryUUID`` (``ldap.id_attribute``): it survives
  renames and moves, so the object map never goes stale. Each run resolves ids to DNs once.
- Users are entries of ``ldap.user_object_classes`` under ``ldap.users_dn``, named by
  ``ldap.user_rdn`` (``uid=<login>``); attributes follow ``ldap.user_attributes``.
- A login change renames the entry (modify DN) and every group's member value that named the
  old DN is replaced by the new one; so does a move into or out of ``ldap.disabled_dn``
  (``deactivate = "move"``). With ``deactivate = "attribute"`` an inactive user carries
  ``disabled_attribute = disabled_value``.
- Groups are ``groupOfNames`` (``member``) or ``groupOfUniqueNames`` (``uniqueMember``) under
  ``ldap.groups_dn``, named ``cn=<name>``. Both classes need at least one member, so an empty
  group holds the placeholder DN (``ldap.placeholder_member``, default the bind DN), which is
  removed again when a real member arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import ldap3

from idpsync.config import LdapOptions, TargetOptions, TargetSettings
from idpsync.photos import Photo
from idpsync.targets import ldap_protocol as proto
from idpsync.targets.attributes import UserRef, Value
from idpsync.targets.base import Member, RemoteGroup, RemoteUser
from idpsync.targets.errors import NotFound, Rejected
from idpsync.targets.ldap_link import LdapLink

ADD, DELETE, REPLACE = ldap3.MODIFY_ADD, ldap3.MODIFY_DELETE, ldap3.MODIFY_REPLACE
JPEG_ONLY = frozenset({"image/jpeg"})
"""``jpegPhoto`` (RFC 2798) holds JPEG images only."""


class LdapTarget:
    """An LDAP directory, reached through :class:`~idpsync.targets.ldap_link.LdapLink`."""

    def __init__(self, link: LdapLink, options: TargetOptions, ldap: LdapOptions) -> None:
        self.link = link
        self.options = options
        self.ldap = ldap
        self.layout = proto.Layout(ldap, link.bind_dn)
        self._dns: dict[str, str] = {}
        """entryUUID → DN, as far as this run has seen."""

    @classmethod
    def from_settings(cls, settings: TargetSettings, *, dry_run: bool = False) -> LdapTarget:
        """The target of an ``ldap`` target's settings."""
        assert settings.ldap is not None and settings.bind_dn and settings.password
        link = LdapLink(
            settings.url,
            settings.bind_dn,
            settings.password.get_secret_value(),
            timeout=settings.options.timeout,
            dry_run=dry_run,
            ca_file=settings.ldap.ca_file,
            page_size=settings.ldap.page_size,
        )
        return cls(link, settings.options, settings.ldap)

    async def close(self) -> None:
        """Close the connection."""
        await self.link.close()

    # -- ids and DNs ----------------------------------------------------------------------------

    def _id_of(self, dn: str, entry: Mapping[str, list[Any]]) -> str:
        values = entry.get(self.ldap.id_attribute) or []
        if not values:
            raise Rejected(
                f"LDAP entry {dn} has no {self.ldap.id_attribute}; set ldap.id_attribute to an "
                "operational attribute the server keeps for every entry"
            )
        remote_id = str(values[0])
        self._dns[remote_id] = dn
        return remote_id

    async def _dn(self, remote_id: str) -> str:
        if remote_id not in self._dns:
            await self._resolve([remote_id])
        if remote_id not in self._dns:
            raise NotFound(f"LDAP: no entry with {self.ldap.id_attribute} {remote_id}", 32)
        return self._dns[remote_id]

    async def _resolve(self, remote_ids: Sequence[str]) -> None:
        missing = [r for r in dict.fromkeys(remote_ids) if r not in self._dns]
        for start in range(0, len(missing), 100):
            part = missing[start : start + 100]
            query = proto.any_of([proto.eq(self.ldap.id_attribute, r) for r in part])
            for dn, entry in await self.link.search(
                self.ldap.base_dn, query, [self.ldap.id_attribute]
            ):
                self._id_of(dn, entry)

    async def _read(self, remote_id: str, attributes: list[str]) -> tuple[str, dict[str, Any]]:
        dn = await self._dn(remote_id)
        found = await self.link.search(dn, "(objectClass=*)", attributes, scope=ldap3.BASE)
        if not found:
            raise NotFound(f"LDAP: entry {dn} is gone", 32)
        return found[0]

    # -- users ----------------------------------------------------------------------------------

    def _user(self, dn: str, entry: Mapping[str, list[Any]]) -> RemoteUser:
        source = self.ldap.source_id_attribute
        values = entry.get(source) or [] if source else []
        return RemoteUser(
            id=self._id_of(dn, entry),
            external_id=str(values[0]) if values else None,
            fields=self.layout.fields_of(dn, entry),
        )

    async def find_user(self, source_id: str, fields: Mapping[str, Any]) -> RemoteUser | None:
        """By the source-id attribute, then login, then e-mail (escaped filters)."""
        for query in self.layout.user_filters(source_id, fields):
            found = await self.link.search(self.ldap.base_dn, query, self.layout.user_attributes())
            if found:
                return self._user(*found[0])
        return None

    async def create_user(
        self,
        source_id: str,
        fields: Mapping[str, Any],
        values: Mapping[str, Value] | None = None,
        photo: Photo | None = None,
    ) -> str:
        """Add the entry with the mapped ``values`` and the ``photo`` (JPEG); return its id.

        An inactive user goes into the disabled subtree in move mode.
        """
        parent = self.layout.user_parent(bool(fields.get("active", True)))
        dn = f"{self.layout.user_rdn(fields)},{parent}"
        entry = self.layout.new_user(source_id, fields)
        mapped = await self._mapped(values or {})
        entry.update({k: v for k, v in mapped.items() if v is not None})
        if photo is not None:
            entry["jpegPhoto"] = [photo.data]
        await self.link.add(dn, entry)
        found = await self.link.search(
            dn, "(objectClass=*)", [self.ldap.id_attribute], scope=ldap3.BASE
        )
        return self._id_of(*found[0])

    async def update_user(self, remote_id: str, changed: Mapping[str, Any]) -> str | None:
        """Move/rename the entry if its RDN or subtree changes, then replace changed values.

        The remote id (``entryUUID``) stays, so this always returns ``None``.
        """
        dn, entry = await self._read(remote_id, self.layout.user_attributes())
        current = self.layout.fields_of(dn, entry)
        wanted = {**current, **{k: v for k, v in changed.items() if k in current}}
        new_rdn = self.layout.user_rdn(wanted)
        parent = self.layout.user_parent(bool(wanted.get("active", True)))
        old_rdn = self.layout.user_rdn(current)
        moved = proto.dn_key(parent) != proto.dn_key(proto.parent_of(dn))
        if proto.dn_key(new_rdn) != proto.dn_key(old_rdn) or moved:
            new_dn = f"{new_rdn},{parent}"
            await self.link.move(dn, new_rdn, parent if moved else None)
            self._dns[remote_id] = new_dn
            await self._repoint(dn, new_dn)
            dn = new_dn
        changes = self._user_changes(entry, wanted, changed)
        await self.link.modify(dn, changes)
        return None

    def _user_changes(
        self, entry: Mapping[str, list[Any]], wanted: Mapping[str, Any], changed: Mapping[str, Any]
    ) -> dict[str, list[tuple[str, list[Any]]]]:
        o = self.ldap
        have = {k.lower(): [str(v) for v in values] for k, values in entry.items()}
        changes: dict[str, list[tuple[str, list[Any]]]] = {}
        for attribute, value in self.layout.values(wanted).items():
            if attribute == o.user_rdn:
                continue  # set by the modify DN
            target = [value] if value is not None else []
            if have.get(attribute.lower(), []) != target:
                changes[attribute] = [(REPLACE, target)]
        if "external_id" in changed and o.source_id_attribute:
            changes[o.source_id_attribute] = [(REPLACE, [str(changed["external_id"])])]
        if o.deactivate == "attribute":
            flag = [] if wanted.get("active", True) else [o.disabled_value]
            if [v.casefold() for v in have.get(o.disabled_attribute.lower(), [])] != [
                v.casefold() for v in flag
            ]:
                changes[o.disabled_attribute] = [(REPLACE, flag)]
        return changes

    def _owned(self) -> set[str]:
        """Attributes the target manages itself (lower case): never set by the mapping."""
        o = self.ldap
        owned = {a.lower() for a in (*o.user_attributes, o.id_attribute, o.disabled_attribute)}
        if o.source_id_attribute:
            owned.add(o.source_id_attribute.lower())
        owned.add("objectclass")
        return owned

    async def _mapped(self, values: Mapping[str, Value]) -> dict[str, str | None]:
        """The mapped values this target sets: owned attributes left out, references as DNs."""
        owned = self._owned()
        out: dict[str, str | None] = {}
        for attribute, value in values.items():
            if attribute.lower() not in owned:
                out[attribute] = (
                    await self._dn(value.remote_id) if isinstance(value, UserRef) else value
                )
        return out

    async def set_attributes(self, remote_id: str, values: Mapping[str, Value]) -> None:
        """Replace each mapped attribute (``None``: remove it); a reference becomes a DN.

        Attributes the target itself manages (``ldap.user_attributes``, the source-id, id and
        disabled attributes) are left alone: the core fields and the deactivation own them.
        """
        mapped = await self._mapped(values)
        changes: dict[str, list[tuple[str, list[Any]]]] = {
            a: [(REPLACE, [v] if v is not None else [])] for a, v in mapped.items()
        }
        if changes:
            await self.link.modify(await self._dn(remote_id), changes)

    def photo_types(self) -> frozenset[str]:
        """JPEG only: what ``jpegPhoto`` may hold."""
        return JPEG_ONLY

    async def set_photo(self, remote_id: str, photo: Photo | None) -> None:
        """Replace ``jpegPhoto`` with the photo's bytes (``None``: remove the attribute)."""
        values = [photo.data] if photo is not None else []
        await self.link.modify(await self._dn(remote_id), {"jpegPhoto": [(REPLACE, values)]})

    async def remove_user(self, remote_id: str) -> None:
        """Delete the entry with ``delete_users`` (and its member values); else deactivate."""
        if not self.options.delete_users:
            await self.update_user(remote_id, {"active": False})
            return
        dn = await self._dn(remote_id)
        await self.link.delete(dn)
        await self._repoint(dn, None)

    async def _repoint(self, old_dn: str, new_dn: str | None) -> None:
        """Replace (or drop) ``old_dn`` in every group that lists it as a member."""
        attribute = self.layout.member_attribute
        groups = await self.link.search(
            self.ldap.base_dn,
            proto.all_of(self.layout.group_filter(), proto.eq(attribute, old_dn)),
            [attribute],
        )
        for group_dn, entry in groups:
            remaining = [
                m for m in entry.get(attribute, []) if proto.dn_key(m) != proto.dn_key(old_dn)
            ]
            ops: list[tuple[str, list[Any]]] = [(DELETE, [old_dn])]
            if new_dn is not None:
                ops.append((ADD, [new_dn]))
            elif not remaining:
                ops.append((ADD, [self.layout.placeholder]))
            await self.link.modify(group_dn, {attribute: ops})

    # -- groups ---------------------------------------------------------------------------------

    def _group(
        self, dn: str, entry: Mapping[str, list[Any]], by_dn: Mapping[str, str]
    ) -> RemoteGroup:
        members = entry.get(self.layout.member_attribute) or []
        placeholder = proto.dn_key(self.layout.placeholder)
        ids = frozenset(
            by_dn.get(proto.dn_key(m), proto.dn_key(m))
            for m in members
            if proto.dn_key(m) != placeholder
        )
        name = str((entry.get("cn") or [""])[0])
        return RemoteGroup(id=self._id_of(dn, entry), external_id=None, name=name, members=ids)

    async def find_group(self, source_id: str, name: str) -> RemoteGroup | None:
        """``cn=<name>`` under ``groups_dn`` (names compare without case, as ``cn`` does)."""
        found = await self.link.search(
            self.ldap.groups_dn,
            self.layout.group_filter(name),
            ["cn", self.ldap.id_attribute],
            scope=ldap3.LEVEL,
        )
        if not found:
            return None
        return self._group(found[0][0], found[0][1], {})

    async def create_group(self, source_id: str, name: str) -> str:
        """Add the group with the placeholder as its only member; return its id."""
        dn = self.layout.group_dn(name)
        await self.link.add(dn, self.layout.new_group(name))
        found = await self.link.search(
            dn, "(objectClass=*)", [self.ldap.id_attribute], scope=ldap3.BASE
        )
        return self._id_of(*found[0])

    async def rename_group(self, remote_id: str, source_id: str, name: str) -> str:
        """Modify DN to ``cn=<name>`` and repoint parent groups; the id stays."""
        dn = await self._dn(remote_id)
        new_rdn = proto.rdn("cn", name)
        if proto.dn_key(new_rdn) == proto.dn_key(dn.split(",", 1)[0]):
            return remote_id  # a change of case alone: cn matches without case anyway
        new_dn = f"{new_rdn},{self.ldap.groups_dn}"
        await self.link.move(dn, new_rdn)
        self._dns[remote_id] = new_dn
        await self._repoint(dn, new_dn)
        return remote_id

    async def delete_group(self, remote_id: str) -> None:
        """Delete the group and drop it from groups it was nested in."""
        dn = await self._dn(remote_id)
        await self.link.delete(dn)
        self._dns.pop(remote_id, None)
        await self._repoint(dn, None)

    async def add_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """Add absent member DNs (and drop the placeholder) in one modify."""
        await self._resolve([m for m, _ in members])
        lost = [m for m, _ in members if m not in self._dns]
        if lost:
            raise Rejected(
                f"LDAP: members {', '.join(lost)} no longer exist in the directory (removed "
                "there?); 'idpsync deliver NAME --reconcile' re-creates them"
            )
        attribute = self.layout.member_attribute
        dn, entry = await self._read(remote_id, [attribute])
        have = {proto.dn_key(v) for v in entry.get(attribute) or []}
        new = [self._dns[m] for m, _ in members if proto.dn_key(self._dns[m]) not in have]
        new = list(dict.fromkeys(new))
        if not new:
            return
        ops: list[tuple[str, list[Any]]] = [(ADD, new)]
        placeholder = proto.dn_key(self.layout.placeholder)
        if placeholder in have:
            ops.append((DELETE, [v for v in entry[attribute] if proto.dn_key(v) == placeholder]))
        await self.link.modify(dn, {attribute: ops})

    async def remove_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """Remove present member DNs; an emptied group gets the placeholder back."""
        await self._resolve([m for m, _ in members])
        attribute = self.layout.member_attribute
        dn, entry = await self._read(remote_id, [attribute])
        gone = {proto.dn_key(self._dns[m]) for m, _ in members if m in self._dns}
        values = list(entry.get(attribute) or [])
        drop = [v for v in values if proto.dn_key(v) in gone]
        if not drop:
            return
        ops: list[tuple[str, list[Any]]] = [(DELETE, drop)]
        if len(drop) == len(values):
            ops.insert(0, (ADD, [self.layout.placeholder]))
        await self.link.modify(dn, {attribute: ops})

    # -- reconcile ------------------------------------------------------------------------------

    async def _users(self, extra: Sequence[str] = ()) -> list[tuple[str, dict[str, list[Any]]]]:
        query = proto.eq("objectClass", self.layout.user_class)
        bases = [self.ldap.users_dn]
        if self.ldap.deactivate == "move" and self.ldap.disabled_dn:
            bases.append(self.ldap.disabled_dn)
        wanted = list(dict.fromkeys([*self.layout.user_attributes(), *extra]))
        found = []
        for base in bases:
            found += await self.link.search(base, query, wanted)
        return found

    async def list_users(
        self, mapped: Sequence[str] = (), photos: bool = False
    ) -> list[RemoteUser]:
        """Every user entry under the users (and disabled) subtree.

        With the ``mapped`` attributes this target sets (a reference's DN becomes the user's id)
        and, with ``photos``, the digests of each entry's ``jpegPhoto`` values.
        """
        owned = self._owned()
        readable = [k for k in mapped if k.lower() not in owned]
        found = await self._users([*readable, *(["jpegPhoto"] if photos else [])])
        users = [self._user(dn, entry) for dn, entry in found]
        if photos:
            users = [
                replace(user, photos=proto.held_photos(entry))
                for (_, entry), user in zip(found, users, strict=True)
            ]
        if not mapped:
            return users
        by_dn = {proto.dn_key(dn): user.id for (dn, _), user in zip(found, users, strict=True)}
        return [
            replace(user, attributes=proto.held_values(entry, readable, by_dn))
            for (_, entry), user in zip(found, users, strict=True)
        ]

    async def list_groups(self) -> list[RemoteGroup]:
        """Every group under ``groups_dn`` with member DNs turned into ids."""
        attribute = self.layout.member_attribute
        groups = await self.link.search(
            self.ldap.groups_dn,
            self.layout.group_filter(),
            ["cn", attribute, self.ldap.id_attribute],
            scope=ldap3.LEVEL,
        )
        by_dn = {proto.dn_key(dn): self._id_of(dn, e) for dn, e in await self._users()}
        by_dn.update({proto.dn_key(dn): self._id_of(dn, e) for dn, e in groups})
        return [self._group(dn, entry, by_dn) for dn, entry in groups]
