"""The normalisation as it was before ids were checked once a run: the oracle of
``tests/engine/test_normalise_same.py``. An unchanged copy of ``idpsync.sources.clean`` at
b5e2d5e, kept here and nowhere else; do not change it with the module.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.textsafety import printable

ID_CAP = 255
"""Longest id (user, group, manager, photo reference), as the file source allows."""
CAPS: dict[str, int] = {
    "login": 512,
    "email": 512,
    "display_name": 4096,
    "given_name": 4096,
    "family_name": 4096,
    "manager_id": ID_CAP,
    "photo_ref": ID_CAP,
    "name": 512,
    "description": 4096,
}
"""Longest value of each text field, in characters."""
MAX_DEPTH = 32
"""Deepest nesting of lists and objects in a user's attributes."""
MAX_ATTRIBUTE_BYTES = 64 * 1024
"""Largest size of a user's attributes as JSON."""
_INT_LIMIT = 2**63
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_USER_TEXT = ("login", "email", "display_name", "given_name", "family_name", "manager_id")
_GROUP_TEXT = ("name", "description")
_REQUIRED = frozenset({"login", "name"})
_NAMES = frozenset({"login", "email", "name"})
"""Fields that name someone or something: a control character there skips the record."""


class BadValue(ValueError):
    """A field cannot be stored; ``str()`` is the reason for the skipped record."""


def clean_text(value: str) -> str:
    """``value`` without control characters (tab, LF, CR kept) and lone surrogates."""
    if value.isprintable():  # the common case, at C speed
        return value
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return value


def usable_id(value: object) -> str | None:
    """``value`` as an id, or ``None`` when it cannot be one (see the module docstring)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value) if isinstance(value, str) else str(value) if abs(value) < _INT_LIMIT else ""
    if not text.strip() or len(text) > ID_CAP or clean_text(text) != text:
        return None
    return text


def _field(name: str, value: object) -> str | None:
    if value is None and name not in _REQUIRED:
        return None
    if not isinstance(value, str):
        raise BadValue(f"{name} is {_kind(value)}, expected text")
    text = clean_text(value)
    if name in _NAMES and text != value:  # a name is an identity: never altered silently
        raise BadValue(f"{name} holds a control character ({_first_control(value)})")
    cap = CAPS[name]
    if len(text) > cap:
        raise BadValue(f"{name} is {len(text):,} characters long, more than the {cap:,} allowed")
    if name in _REQUIRED and not text.strip():
        raise BadValue(f"{name} is empty")
    return text


def _first_control(value: str) -> str:
    found = _CONTROL.search(value) or _SURROGATE.search(value)
    return f"U+{ord(found.group()):04X}" if found else "?"


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "missing"}.get(
        type(value), f"a {type(value).__name__}"
    )


def clean_attributes(value: Any, depth: int = 0) -> Any:
    """A JSON value with text cleaned and unstorable numbers as ``None``; raises BadValue."""
    if depth > MAX_DEPTH:
        raise BadValue(f"attributes are nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_INT_LIMIT < value < _INT_LIMIT or _writable(value) else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_attributes(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_attributes(v, depth + 1) for v in value]
    return clean_text(str(value))


def _writable(value: int) -> bool:
    """Whether Python can write ``value`` in decimal (its digit limit, 4,300 by default)."""
    try:
        repr(value)
    except ValueError:
        return False
    return True


def clean_user(user: SourceUser) -> SourceUser:
    """``user`` with storable values; raises :class:`BadValue` with the reason otherwise."""
    fields = _changed(user, (*_USER_TEXT, "photo_ref"))
    if not isinstance(user.active, bool):
        raise BadValue(f"active is {_kind(user.active)}, expected true or false")
    if not isinstance(user.attributes, Mapping):
        raise BadValue(f"attributes are {_kind(user.attributes)}, expected an object")
    attributes = _storable(user.attributes)
    if attributes is not user.attributes:
        fields["attributes"] = attributes
    return replace(user, **fields) if fields else user


def clean_group(group: SourceGroup) -> SourceGroup:
    """``group`` with storable values; raises :class:`BadValue` with the reason otherwise."""
    fields = _changed(group, _GROUP_TEXT)
    return replace(group, **fields) if fields else group


def _changed(record: SourceUser | SourceGroup, names: tuple[str, ...]) -> dict[str, Any]:
    """The cleaned text fields that differ from ``record``'s (raises :class:`BadValue`)."""
    fields: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name)
        text = _field(name, value)
        if text is not value:
            fields[name] = text
    return fields


def _storable(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``attributes`` itself when a store holds it as it is; else a cleaned copy."""
    size = _plain_size(attributes)
    cleaned = attributes
    if size is None:  # something to clean, or nested deeply: the careful walk
        cleaned = clean_attributes(attributes)
        size = len(json.dumps(cleaned, ensure_ascii=False).encode("utf-8", "replace"))
    if size > MAX_ATTRIBUTE_BYTES:
        raise BadValue(
            f"attributes are {size:,} bytes as JSON, more than the {MAX_ATTRIBUTE_BYTES:,} allowed"
        )
    return cleaned


def normalise(snap: Snapshot) -> Snapshot:
    """Clean every record of ``snap`` in place (see the module docstring); returns ``snap``."""
    users: list[SourceUser] = []
    for user in snap.users:
        uid = usable_id(user.source_id)
        if uid is None:
            snap.mark_incomplete(f"a user record has an unusable id {_short(user.source_id)}")
            continue
        try:
            users.append(clean_user(user))
        except BadValue as exc:
            snap.skip("user", uid, _key(user.login, uid), f"user {uid}: {exc}")
    groups: list[SourceGroup] = []
    for group in snap.groups:
        gid = usable_id(group.source_id)
        if gid is None:
            snap.mark_incomplete(f"a group record has an unusable id {_short(group.source_id)}")
            continue
        try:
            groups.append(clean_group(group))
        except BadValue as exc:
            snap.skip("group", gid, _key(group.name, gid), f"group {gid}: {exc}")
            snap.mark_incomplete(f"group {gid} was skipped ({exc}); nothing is removed this run")
    edges = [m for m in snap.memberships if _edge_ok(m)]
    if len(edges) < len(snap.memberships):
        dropped = len(snap.memberships) - len(edges)
        snap.mark_incomplete(f"{dropped} membership edge(s) name an unusable id")
    snap.users, snap.groups, snap.memberships = users, groups, edges
    return snap


def _plain_size(attributes: Mapping[str, Any]) -> int | None:
    """The JSON size of attributes a store holds as they are; ``None``: they need cleaning.

    Controls show as ``u00..`` escapes in the JSON text, lone surrogates fail its UTF-8
    encoding, NaN and over-long integers fail the encoding itself. More than
    :data:`MAX_DEPTH` brackets *may* mean too deep a nesting: the careful walk measures it.
    """
    try:
        text = json.dumps(attributes, ensure_ascii=False, allow_nan=False)
        data = text.encode()
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    if "\\u00" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        return None
    return len(data)


def _edge_ok(edge: Membership) -> bool:
    return usable_id(edge.group_id) is not None and usable_id(edge.member_id) is not None


def _key(value: object, fallback: str) -> str:
    if isinstance(value, str):
        text = printable(value)  # controls shown as escapes: the name as the IdP sent it
        return text if len(text) <= 80 else text[:79] + "…"
    return fallback


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
