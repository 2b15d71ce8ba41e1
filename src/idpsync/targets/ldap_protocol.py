"""LDAP target logic without I/O: DNs, filters, entries and how directory fields map to them.

Every value that goes into a DN is escaped with ``ldap3.utils.dn.escape_rdn`` (RFC 4514), every
value that goes into a search filter with ``ldap3.utils.conv.escape_filter_chars`` (RFC 4515),
so a login like ``*)(uid=*`` or ``a,b+c`` is stored and found as itself and never changes the
meaning of a DN or a filter. :mod:`idpsync.targets.ldap` sends the operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from idpsync.config import LdapOptions
from idpsync.photos import digest
from idpsync.targets.attributes import Held, UserRef, is_reference

FALLBACK_TO_LOGIN = ("cn", "sn")
"""Attributes ``inetOrgPerson`` requires: an empty field falls back to the login."""
DIRECTORY_FIELDS = ("login", "email", "display_name", "given_name", "family_name")


def eq(attribute: str, value: str) -> str:
    """``(attribute=value)`` with the value escaped for a filter."""
    return f"({attribute}={escape_filter_chars(value)})"


def all_of(*filters: str) -> str:
    """``(&…)`` of the given filters."""
    return "(&" + "".join(filters) + ")"


def any_of(filters: list[str]) -> str:
    """``(|…)`` of the given filters (or the one filter)."""
    return filters[0] if len(filters) == 1 else "(|" + "".join(filters) + ")"


def rdn(attribute: str, value: str) -> str:
    """``attribute=value`` with the value escaped for a DN."""
    return f"{attribute}={escape_rdn(value)}"


class Layout:
    """Where entries live and what they look like, from ``[targets.NAME.ldap]``."""

    def __init__(self, options: LdapOptions, bind_dn: str) -> None:
        self.options = options
        self.placeholder = options.placeholder_member or bind_dn
        self.member_attribute = (
            "uniqueMember" if options.group_object_class == "groupOfUniqueNames" else "member"
        )
        self.user_class = options.user_object_classes[0]
        self.rdn_field = options.user_attributes.get(options.user_rdn, "login")

    # -- users ---------------------------------------------------------------------------------

    def user_parent(self, active: bool) -> str:
        """The subtree a user belongs in (the disabled subtree when inactive in move mode)."""
        o = self.options
        if not active and o.deactivate == "move" and o.disabled_dn:
            return o.disabled_dn
        return o.users_dn

    def user_rdn(self, fields: Mapping[str, Any]) -> str:
        """The user's RDN (``uid=<login>`` by default)."""
        return rdn(self.options.user_rdn, str(self.values(fields)[self.options.user_rdn]))

    def values(self, fields: Mapping[str, Any]) -> dict[str, str | None]:
        """LDAP attribute → value for a directory user (``None``: the attribute is removed)."""
        out: dict[str, str | None] = {}
        for attribute, field in self.options.user_attributes.items():
            value = fields.get(field)
            if value in (None, "") and attribute in FALLBACK_TO_LOGIN:
                value = fields.get("login")
            out[attribute] = str(value) if value not in (None, "") else None
        return out

    def new_user(self, source_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes of a new user entry (object classes included)."""
        o = self.options
        attributes: dict[str, Any] = {"objectClass": list(o.user_object_classes)}
        attributes.update({k: v for k, v in self.values(fields).items() if v is not None})
        if o.source_id_attribute:
            attributes[o.source_id_attribute] = source_id
        if not fields.get("active", True) and o.deactivate == "attribute":
            attributes[o.disabled_attribute] = o.disabled_value
        return attributes

    def user_attributes(self) -> list[str]:
        """Attributes to read from a user entry."""
        o = self.options
        wanted = [*o.user_attributes, o.id_attribute, o.disabled_attribute]
        if o.source_id_attribute:
            wanted.append(o.source_id_attribute)
        return list(dict.fromkeys(wanted))

    def fields_of(self, dn: str, entry: Mapping[str, list[Any]]) -> dict[str, Any]:
        """A user entry's attributes → the directory's fields (as far as they are mapped)."""
        o = self.options
        fields: dict[str, Any] = dict.fromkeys(DIRECTORY_FIELDS)
        first = {k.lower(): (v[0] if v else None) for k, v in entry.items()}
        login_attribute = self._attribute_of("login")
        login = first.get(login_attribute.lower()) if login_attribute else None
        for attribute, field in sorted(
            o.user_attributes.items(), key=lambda item: item[0] in FALLBACK_TO_LOGIN
        ):
            value = first.get(attribute.lower())
            if fields.get(field) is not None:
                continue
            if attribute in FALLBACK_TO_LOGIN and value == login and field != "login":
                value = None  # filled with the login because the field was empty
            fields[field] = str(value) if value not in (None, "") else None
        if o.deactivate == "move" and o.disabled_dn:
            fields["active"] = not dn_key(dn).endswith("," + dn_key(o.disabled_dn))
        else:
            flags = [str(v).casefold() for v in entry.get(o.disabled_attribute) or []]
            fields["active"] = o.disabled_value.casefold() not in flags
        return fields

    def _attribute_of(self, field: str) -> str | None:
        return next((a for a, f in self.options.user_attributes.items() if f == field), None)

    def user_filters(self, source_id: str, fields: Mapping[str, Any]) -> list[str]:
        """Filters to find a directory user, in order: source id, login, e-mail."""
        o = self.options
        found = []
        if o.source_id_attribute:
            found.append(eq(o.source_id_attribute, source_id))
        for field in ("login", "email"):
            attribute, value = self._attribute_of(field), fields.get(field)
            if attribute and value:
                found.append(eq(attribute, str(value)))
        return [all_of(eq("objectClass", self.user_class), f) for f in found]

    # -- groups --------------------------------------------------------------------------------

    def group_dn(self, name: str) -> str:
        """The DN of a group called ``name``."""
        return f"{rdn('cn', name)},{self.options.groups_dn}"

    def new_group(self, name: str) -> dict[str, Any]:
        """Attributes of a new (empty) group: the placeholder is its only member."""
        return {
            "objectClass": [self.options.group_object_class],
            "cn": name,
            self.member_attribute: [self.placeholder],
        }

    def group_filter(self, name: str | None = None) -> str:
        """Groups of the configured class (called ``name`` when given)."""
        kind = eq("objectClass", self.options.group_object_class)
        return all_of(kind, eq("cn", name)) if name is not None else kind


def held_values(
    entry: Mapping[str, list[Any]], keys: Sequence[str], ids_by_dn: Mapping[str, str]
) -> dict[str, Held]:
    """The mapped attributes an entry holds (names compared without case, as LDAP does).

    A reference (``manager``) holds DNs: one of a known user becomes a :class:`UserRef` to
    its id (``ids_by_dn`` is keyed by :func:`dn_key`), any other stays the DN's text.
    """
    lower = {k.lower(): v for k, v in entry.items()}
    held: dict[str, Held] = {}
    for key in keys:
        values = [str(v) for v in lower.get(key.lower()) or []]
        if is_reference(key):
            held[key] = tuple(
                UserRef(ids_by_dn[dn_key(v)]) if dn_key(v) in ids_by_dn else v for v in values
            )
        else:
            held[key] = tuple(values)
    return held


def held_photos(entry: Mapping[str, list[Any]]) -> tuple[str, ...]:
    """The digests of an entry's ``jpegPhoto`` values (the name compared without case)."""
    lower = {k.lower(): v for k, v in entry.items()}
    values = lower.get("jpegphoto") or []
    return tuple(digest(v if isinstance(v, bytes) else str(v).encode()) for v in values)


def dn_key(dn: str) -> str:
    """A DN in a form two spellings of the same DN share (escapes decoded, case folded)."""
    return ",".join(_rdn_key(part) for part in _split(dn, ","))


def parent_of(dn: str) -> str:
    """The DN one level up."""
    parts = _split(dn, ",")
    return ",".join(parts[1:])


def _split(text: str, separator: str) -> list[str]:
    """Split on a separator that is not escaped with a backslash."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _rdn_key(part: str) -> str:
    attribute, _, value = part.partition("=")
    return f"{attribute.strip().lower()}={_unescape(_trim(value)).casefold()}"


def _trim(value: str) -> str:
    """Drop the spaces around a value that are not escaped."""
    value = value.lstrip(" ")
    while value.endswith(" ") and not value.endswith("\\ "):
        value = value[:-1]
    return value


def _unescape(value: str) -> str:
    """Decode backslash escapes of a DN value (a character, or two hex digits of UTF-8)."""
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out.extend(value[i + 1].encode())
            i += 2
            continue
        out.extend(char.encode())
        i += 1
    return out.decode("utf-8", errors="replace")
