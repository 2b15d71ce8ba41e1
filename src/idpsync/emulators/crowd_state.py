"""The Crowd emulator's data: users, groups, direct memberships, and the errors Crowd reports.

Names are compared case-insensitively (as Crowd does) and kept in the casing they were given.
:class:`CrowdState` is also the ground truth tests read (:meth:`CrowdState.snapshot`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

USER_FIELDS = ("first-name", "last-name", "display-name", "email")
"""String fields of a user that ``PUT /user`` blanks when the body leaves them out."""


class CrowdError(Exception):
    """An error answered as ``{"reason": ..., "message": ...}`` with an HTTP status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def key(name: str) -> str:
    """How Crowd compares names: case-insensitively."""
    return name.casefold()


@dataclass
class CrowdUser:
    """A user of the emulated directory."""

    name: str
    first_name: str = ""
    last_name: str = ""
    display_name: str = ""
    email: str = ""
    active: bool = True
    password: str = ""
    key: str = field(default_factory=lambda: f"32769:{uuid.uuid4()}")
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def json(self, base: str, expand_attributes: bool = False) -> dict[str, Any]:
        """The user as Crowd's JSON shows it (hyphenated keys, no password)."""
        body: dict[str, Any] = {
            "link": {"href": f"{base}/user?username={self.name}", "rel": "self"},
            "name": self.name,
            "key": self.key,
            "first-name": self.first_name,
            "last-name": self.last_name,
            "display-name": self.display_name,
            "email": self.email,
            "active": self.active,
            "password": {"link": {"href": f"{base}/user/password?username={self.name}"}},
        }
        if expand_attributes:
            body["attributes"] = attributes_json(self.attributes)
        return body


@dataclass
class CrowdGroup:
    """A group of the emulated directory."""

    name: str
    description: str = ""
    active: bool = True
    users: set[str] = field(default_factory=set)
    """Folded names of direct user members."""
    children: set[str] = field(default_factory=set)
    """Folded names of direct child groups."""

    def json(self, base: str) -> dict[str, Any]:
        """The group as Crowd's JSON shows it."""
        return {
            "link": {"href": f"{base}/group?groupname={self.name}", "rel": "self"},
            "name": self.name,
            "description": self.description,
            "type": "GROUP",
            "active": self.active,
        }


def attributes_json(attributes: dict[str, list[str]]) -> dict[str, Any]:
    """Attributes in the shape of Crowd's acceptance samples (``{"attributes": [...]}``)."""
    return {"attributes": [{"name": k, "values": v} for k, v in sorted(attributes.items())]}


class CrowdState:
    """Users, groups and memberships of one emulated Crowd directory."""

    def __init__(self) -> None:
        self.users: dict[str, CrowdUser] = {}
        self.groups: dict[str, CrowdGroup] = {}

    # -- lookups -------------------------------------------------------------------------------

    def user(self, name: str, status: int = 404) -> CrowdUser:
        """The user, or ``USER_NOT_FOUND`` with ``status`` (404 in the URL, 400 in a body)."""
        found = self.users.get(key(name))
        if found is None:
            raise CrowdError(status, "USER_NOT_FOUND", f"User <{name}> does not exist")
        return found

    def group(self, name: str, status: int = 404) -> CrowdGroup:
        """The group, or ``GROUP_NOT_FOUND`` with ``status``."""
        found = self.groups.get(key(name))
        if found is None:
            raise CrowdError(status, "GROUP_NOT_FOUND", f"Group <{name}> does not exist")
        return found

    # -- users ---------------------------------------------------------------------------------

    def add_user(self, body: dict[str, Any]) -> CrowdUser:
        """``POST /user``: a new user; the name must be free and a password given."""
        name = str(body.get("name") or "").strip()
        if not name:
            raise CrowdError(400, "INVALID_USER", "User name must not be empty")
        password = (body.get("password") or {}).get("value")
        if not password:
            raise CrowdError(400, "INVALID_CREDENTIAL", "A password is required for a new user")
        if key(name) in self.users:
            raise CrowdError(400, "INVALID_USER", f"User <{name}> already exists")
        user = CrowdUser(name=name, password=str(password))
        self._write_fields(user, body)
        self.users[key(name)] = user
        return user

    def replace_user(self, name: str, body: dict[str, Any]) -> None:
        """``PUT /user``: every field is taken from the body; omitted ones become blank."""
        user = self.user(name)
        if key(str(body.get("name") or "")) != key(user.name):
            raise CrowdError(
                400, "INVALID_USER", "The user name in the body does not match the username"
            )
        self._write_fields(user, body)

    @staticmethod
    def _write_fields(user: CrowdUser, body: dict[str, Any]) -> None:
        email = str(body.get("email") or "")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            raise CrowdError(400, "INVALID_EMAIL", f"<{email}> is not a valid e-mail address")
        user.first_name = str(body.get("first-name") or "")
        user.last_name = str(body.get("last-name") or "")
        user.display_name = str(body.get("display-name") or "")
        user.email = email
        user.active = bool(body.get("active", False))

    def rename_user(self, name: str, new_name: str) -> CrowdUser:
        """``POST /user/rename``: the new name must be free (or the same user's)."""
        user = self.user(name)
        new_name = new_name.strip()
        if not new_name:
            raise CrowdError(400, "INVALID_USER", "The new user name must not be empty")
        if key(new_name) != key(user.name) and key(new_name) in self.users:
            raise CrowdError(400, "INVALID_USER", f"User <{new_name}> already exists")
        old = key(user.name)
        del self.users[old]
        user.name = new_name
        self.users[key(new_name)] = user
        for group in self.groups.values():
            if old in group.users:
                group.users.discard(old)
                group.users.add(key(new_name))
        return user

    def remove_user(self, name: str) -> None:
        """``DELETE /user``: the user and its memberships."""
        user = self.user(name)
        del self.users[key(user.name)]
        for group in self.groups.values():
            group.users.discard(key(user.name))

    # -- groups --------------------------------------------------------------------------------

    def add_group(self, body: dict[str, Any]) -> CrowdGroup:
        """``POST /group``: a new group; the name must be free."""
        name = str(body.get("name") or "").strip()
        if not name:
            raise CrowdError(400, "INVALID_GROUP", "Group name must not be empty")
        if key(name) in self.groups:
            raise CrowdError(400, "INVALID_GROUP", f"Group <{name}> already exists")
        group = CrowdGroup(
            name=name,
            description=str(body.get("description") or ""),
            active=bool(body.get("active", True)),
        )
        self.groups[key(name)] = group
        return group

    def remove_group(self, name: str) -> None:
        """``DELETE /group``: the group and every membership in or of it."""
        group = self.group(name)
        del self.groups[key(group.name)]
        for other in self.groups.values():
            other.children.discard(key(group.name))

    # -- memberships ---------------------------------------------------------------------------

    def add_member(self, group_name: str, member: str, child: bool, body_is_member: bool) -> None:
        """Add a direct member (409 ``MEMBERSHIP_ALREADY_EXISTS`` when present).

        A missing entity named in the body answers 400, one named in the query string 404.
        """
        group = self.group(group_name, 404 if body_is_member else 400)
        member_status = 400 if body_is_member else 404
        if child:
            name = key(self.group(member, member_status).name)
            members, what = group.children, "Group"
        else:
            name = key(self.user(member, member_status).name)
            members, what = group.users, "User"
        if name in members:
            raise CrowdError(
                409,
                "MEMBERSHIP_ALREADY_EXISTS",
                f"{what} <{member}> is already a direct member of <{group.name}>",
            )
        members.add(name)

    def remove_member(self, group_name: str, member: str, child: bool) -> None:
        """Remove a direct membership (404 ``MEMBERSHIP_NOT_FOUND`` when absent)."""
        group = self.group(group_name)
        if child:
            self.group(member)
            members = group.children
        else:
            self.user(member)
            members = group.users
        if key(member) not in members:
            raise CrowdError(
                404,
                "MEMBERSHIP_NOT_FOUND",
                f"<{member}> is not a direct member of <{group.name}>",
            )
        members.discard(key(member))

    # -- ground truth --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What the directory holds: users (fields) and groups (member names, sorted)."""
        return {
            "users": {
                u.name: {
                    "first-name": u.first_name,
                    "last-name": u.last_name,
                    "display-name": u.display_name,
                    "email": u.email,
                    "active": u.active,
                    "attributes": dict(u.attributes),
                }
                for u in self.users.values()
            },
            "groups": {
                g.name: sorted(self.users[m].name for m in g.users)
                + sorted(f"group:{self.groups[c].name}" for c in g.children)
                for g in self.groups.values()
            },
        }


def matches(restriction: str, entity: dict[str, Any]) -> bool:
    """Whether an entity matches a small CQL subset: ``a=v`` terms joined by ``and``.

    Values may be quoted and end with ``*`` (prefix match); comparisons ignore case.
    """
    if not restriction.strip():
        return True
    for term in re.split(r"\s+and\s+", restriction.strip(), flags=re.IGNORECASE):
        found = re.fullmatch(r'\s*([A-Za-z-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s"]+)\s*', term)
        if not found:
            raise CrowdError(400, "ILLEGAL_ARGUMENT", f"Cannot parse the restriction <{term}>")
        attr = CQL_ATTRIBUTES.get(found.group(1).lower())
        if attr is None:
            raise CrowdError(400, "ILLEGAL_ARGUMENT", f"Unknown property <{found.group(1)}>")
        wanted = found.group(3) if found.group(3) is not None else found.group(2)
        wanted = re.sub(r"\\(.)", r"\1", wanted).casefold()
        have = str(entity.get(attr, "")).casefold()
        if wanted.endswith("*") and not have.startswith(wanted[:-1]):
            return False
        if not wanted.endswith("*") and have != wanted:
            return False
    return True


CQL_ATTRIBUTES = {
    "name": "name",
    "email": "email",
    "firstname": "first-name",
    "lastname": "last-name",
    "displayname": "display-name",
    "active": "active",
    "description": "description",
}
"""CQL property → entity key."""
