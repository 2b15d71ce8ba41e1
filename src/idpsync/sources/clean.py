"""One normalisation step for every source's records before they are staged.

Whatever the IdP sent, a record that reaches the store holds only values both stores accept
alike (SQLite and PostgreSQL), within the same size limits for every source:

- **Text** (every string field, attribute values and keys): NUL and the other C0 control
  characters except tab, line feed and carriage return are removed; a lone surrogate (an
  unpaired surrogate escape in JSON) becomes U+FFFD. A login, e-mail or group name holding
  one is not altered but makes the record skipped (a name is an identity). PostgreSQL
  refuses NUL in text and neither store can encode a lone surrogate, so one such value used
  to fail every run.
- **Numbers in attributes** that JSON cannot carry (NaN, ±Infinity, integers of more than
  4,300 digits) are stored as ``null``; the attribute itself is kept.
- **Sizes** (:data:`CAPS`, the file source's limits): a field over its cap, attributes nested
  deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_ATTRIBUTE_BYTES` as JSON, or a field
  of the wrong type (a list where text belongs) make the record *skipped*: it is reported in
  the run's ``skipped`` list with the reason, and the directory keeps what it holds for it.
- **Ids**: a user or group whose id is empty, too long or holds control characters cannot be
  reported or kept by id; a membership edge with such an id is dropped. Either marks the
  snapshot incomplete, so the run removes nobody. A skipped *group* marks it incomplete too:
  leaving a group out could take its members out of a required group's scope.

The cost follows what must be checked: each distinct id is checked once a run
(:class:`IdTable`), text and attributes that need no change are recognised on a fast path and
their record is kept as it is, and the edges are checked per distinct id in their
:class:`~idpsync.model.EdgeList` (which holds one string per id, however many copies the
source parsed).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from idpsync.model import EdgeList, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import EdgeSink
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
    if not isinstance(group.attributes, Mapping):
        raise BadValue(f"attributes are {_kind(group.attributes)}, expected an object")
    attributes = _storable(group.attributes) if group.attributes else group.attributes
    if attributes is not group.attributes:
        fields["attributes"] = attributes
    return replace(group, **fields) if fields else group


def _changed(record: SourceUser | SourceGroup, names: tuple[str, ...]) -> dict[str, Any]:
    """The cleaned text fields that differ from ``record``'s (raises :class:`BadValue`)."""
    fields: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name)
        plain = type(value) is str and value.isprintable() and len(value) <= CAPS[name]
        if plain and (name not in _REQUIRED or value.strip()):
            continue  # the common case: stored as it is, no need of the careful checks
        text = _field(name, value)
        if text is not value:
            fields[name] = text
    return fields


def _storable(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``attributes`` itself when a store holds it as it is; else a cleaned copy."""
    if _flat_bound(attributes) <= MAX_ATTRIBUTE_BYTES:
        return attributes  # the common case: flat, nothing to clean, surely small enough
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
    """Clean every record of ``snap`` in place (see the module docstring); returns ``snap``.

    Each distinct id is checked once per run (:class:`IdTable`); the edges are held in an
    :class:`~idpsync.model.EdgeList`, whose id table shares one string per id already, so
    checking them costs one look-up per distinct id and drops only edges naming an unusable
    one (the list is kept as it is when there is none). The reasons are reported in the order
    users, groups, edges all the same.
    """
    ids = IdTable()
    edges = ids.shared_edges(snap.memberships)
    dropped = len(snap.memberships) - len(edges)
    clean_users(snap, ids)
    groups: list[SourceGroup] = []
    for group in snap.groups:
        gid = ids.usable(group.source_id)
        if gid is None:
            snap.mark_incomplete(f"a group record has an unusable id {_short(group.source_id)}")
            continue
        try:
            groups.append(clean_group(group))
        except BadValue as exc:
            snap.skip("group", gid, _key(group.name, gid), f"group {gid}: {exc}")
            snap.mark_incomplete(f"group {gid} was skipped ({exc}); nothing is removed this run")
    if dropped:
        snap.mark_incomplete(_dropped_edges(dropped))
    snap.groups, snap.memberships = groups, edges
    return snap


Prepared = tuple[str | None, SourceUser | BadValue]
"""A user cleaned ahead (:func:`prepare`): its usable id (``None``: none) and the cleaned user or
why it cannot be stored."""


def prepare(user: SourceUser, ids: IdTable | None = None) -> Prepared:
    """What :func:`clean_users` makes of ``user``, worked out ahead (as its page comes)."""
    uid = usable_id(user.source_id) if ids is None else ids.usable(user.source_id)
    if uid is None:
        return None, user
    try:
        return uid, clean_user(user)
    except BadValue as exc:
        return uid, exc


def clean_users(
    snap: Snapshot,
    ids: IdTable | None = None,
    ahead: Callable[[SourceUser], Prepared | None] | None = None,
) -> None:
    """Clean the users of ``snap`` past :meth:`~Snapshot.users_cleaned` as :func:`normalise` does.

    A user with an unusable id marks ``snap`` incomplete, one that cannot be stored is skipped
    with the reason, in the users' order. ``ahead`` gives a user's :func:`prepare` made earlier
    (``None``: not made, it is worked out now). Afterwards every user counts as cleaned.
    """
    done = snap.users_cleaned()
    users = snap.users[:done]
    for user in snap.users[done:]:
        ready = None if ahead is None else ahead(user)
        uid, got = prepare(user, ids) if ready is None else ready
        if uid is None:
            snap.mark_incomplete(f"a user record has an unusable id {_short(user.source_id)}")
        elif isinstance(got, BadValue):
            snap.skip("user", uid, _key(user.login, uid), f"user {uid}: {got}")
        else:
            users.append(got)
    snap.users, snap.cleaned_users, snap.cleaned_of = users, len(users), users


def _dropped_edges(count: int) -> str:
    return f"{count} membership edge(s) name an unusable id"


class CheckedEdges:
    """A sink of streamed edges that passes on those whose ids are usable (as :func:`normalise`).

    The edges a streamed read hands over never reach :func:`normalise`: each batch is checked
    here (each distinct id once for the whole read: a Keycloak user is a member of about ten
    groups, each listing a batch) and the count of edges dropped is reported by
    :meth:`mark`, after :func:`normalise` has reported the records, in the same words.
    """

    __slots__ = ("dropped", "ids", "sink")

    def __init__(self, sink: EdgeSink) -> None:
        self.sink = sink
        self.dropped = 0
        """Edges dropped so far."""
        self.ids = IdTable()
        """Each id's verdict, kept from batch to batch."""

    def edges(self, batch: Iterable[Membership]) -> None:
        """Pass on the edges of ``batch`` whose group and member ids are usable."""
        edges = EdgeList.of(batch)
        kept = self.ids.shared_edges(edges)
        self.dropped += len(edges) - len(kept)
        self.sink.edges(kept)

    def withdraw(self, batch: Iterable[Membership]) -> None:
        """Take back edges handed over: those dropped uncount, the others leave the sink."""
        edges = EdgeList.of(batch)
        kept = self.ids.shared_edges(edges)
        self.dropped -= len(edges) - len(kept)
        self.sink.withdraw(kept)

    def discard(self) -> None:
        """Take back every edge handed over (and forget those dropped)."""
        self.dropped = 0
        self.sink.discard()

    def mark(self, snap: Snapshot) -> Snapshot:
        """Mark ``snap`` incomplete if any edge was dropped; returns it."""
        if self.dropped:
            snap.mark_incomplete(_dropped_edges(self.dropped))
        return snap


class IdTable:
    """The ids of one run: each distinct id string checked once and held as one object.

    :meth:`usable` is :func:`usable_id` with its verdict kept per id string (an id that is
    not a string, rare and only from malformed data, is checked every time: ``True == 1``
    must not share a verdict). For a usable string it returns the first object seen with that
    value, so the records and edges built from its answers share one copy of each id.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, str | None] = {}
        """Usable ids by value (the value the first object seen), unusable ones to ``None``."""

    def usable(self, value: object) -> str | None:
        """``value`` as an id (the shared object), or ``None`` when it cannot be one."""
        if type(value) is not str:
            return usable_id(value)
        try:
            return self._seen[value]
        except KeyError:
            found = self._seen[value] = usable_id(value)
            return found

    def shared_edges(self, edges: EdgeList) -> EdgeList:
        """The edges whose ids are both usable (each distinct id of ``edges`` checked once).

        The list holds one object per distinct id already: checked first, those objects are
        the ones :meth:`usable` hands out for the records' ids too.
        """
        return edges.kept(lambda value: self.usable(value) is not None)


def _flat_bound(attributes: Mapping[str, Any]) -> float:
    """At least the JSON size of flat attributes a store holds as they are; else infinity.

    Flat: text keys, values that are printable text, booleans, ``None``, integers within
    64 bits or finite floats. A printable character takes at most 4 bytes as UTF-8 or as an
    escape (a quote or a backslash: 2); a number at most 24; the quotes of a key and its
    separators 6 an item.
    """
    size = 2
    for key, value in attributes.items():
        if type(key) is not str or not key.isprintable():
            return math.inf
        kind = type(value)
        if kind is str:
            if not value.isprintable():
                return math.inf
            size += 4 * len(value) + 2
        elif value is None or kind is bool:
            size += 5
        elif (kind is int and -_INT_LIMIT < value < _INT_LIMIT) or (
            kind is float and math.isfinite(value)
        ):
            size += 24
        else:
            return math.inf
        size += 4 * len(key) + 6
    return size


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


def _key(value: object, fallback: str) -> str:
    if isinstance(value, str):
        text = printable(value)  # controls shown as escapes: the name as the IdP sent it
        return text if len(text) <= 80 else text[:79] + "…"
    return fallback


def _short(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits
        text = f"<{type(value).__name__} too long to show>"
    return text if len(text) <= 60 else text[:59] + "…"
