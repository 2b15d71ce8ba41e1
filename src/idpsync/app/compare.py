"""Compare two connectors before a move between IdPs: who in the old one is who in the new one.

The *old* connector's people are its users in the directory (the rows it owns); the *new*
connector's people are its staged users (what its IdP last returned, usually staged by a run
in shadow mode, see ``shadow_of`` in docs/configuration.md). :func:`compare` pairs them by
keys tried in order (``email``, ``login``, ``attributes.employeeId``, …):

- under each key, a value held by exactly one remaining old user and exactly one remaining new
  user pairs them (a :class:`Match`, with the key that matched and the attributes that differ);
- a value held by several people on either side is an :class:`Ambiguity` (one old to many
  new, or many old to one new): those people are set aside and not tried with later keys, so
  an ambiguous person is never paired by guessing;
- people without a value for a key, or whose value finds nobody, are tried with the next key;
- whoever is left is *only old* or *only new*.

E-mail addresses and logins are compared case-insensitively (NFKC, case-folded, trimmed);
attribute values likewise, after turning numbers into text. An attribute stored under different
names by the two IdPs is given as a pair, old name first: ``attributes.profile.employeeNumber=
attributes.employeeId`` (Okta's HR number against Entra ID's).

With a ``mapper`` (the new connector's mapping, :func:`mapper_for`), the staged users are seen
as the directory would hold them after the move: login, e-mail, names and attributes mapped
(a user whose mapping fails is compared as staged). Nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from idpsync.config import ConnectorSettings
from idpsync.engine.mapping import Mapper, MappingError
from idpsync.errors import IdpsyncError
from idpsync.model import SourceUser
from idpsync.sources.registry import preset
from idpsync.store import schema as t
from idpsync.store.store import Store, fold

__all__ = [
    "COMPARED_FIELDS",
    "Ambiguity",
    "CompareError",
    "Comparison",
    "Difference",
    "Match",
    "OldUser",
    "compare",
    "differences",
    "mapper_for",
    "match_people",
    "parse_keys",
]

COMPARED_FIELDS = ("display_name", "email", "login", "active")
"""The fields whose differences a match reports (old directory value, new staged value)."""

_PLAIN_KEYS = frozenset({"email", "login"})


class CompareError(IdpsyncError):
    """The comparison cannot be made (unknown key, a connector never staged); ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class OldUser:
    """A directory user owned by the old connector, as the comparison sees it."""

    id: int
    """The directory id (``users.id``): it stays the same through a handover."""
    source_id: str
    """The old IdP's id of the user."""
    login: str
    email: str | None
    display_name: str | None
    active: bool
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Difference:
    """One field that differs between a matched pair: the directory's value and the new IdP's."""

    field: str
    old: str | bool | None
    new: str | bool | None


@dataclass(frozen=True, slots=True)
class Match:
    """An old directory user and the new connector's staged user that is the same person."""

    old_user_id: int
    new_source_id: str
    key: str
    """The key that paired them (``email``, ``login``, ``attributes.employeeId``, ``OLD=NEW``)."""
    differences: tuple[Difference, ...] = ()


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """A key value held by several people on one side or both: nobody here is paired."""

    key: str
    value: str
    """The folded value they share."""
    old_user_ids: tuple[int, ...]
    new_source_ids: tuple[str, ...]

    @property
    def kind(self) -> str:
        """``one old to many new``, ``many old to one new`` or ``many to many``."""
        if len(self.old_user_ids) == 1:
            return "one old to many new"
        if len(self.new_source_ids) == 1:
            return "many old to one new"
        return "many to many"


@dataclass
class Comparison:
    """The result of :func:`compare`, with both sides' people for display."""

    old: str
    new: str
    keys: tuple[str, ...]
    matched: list[Match] = field(default_factory=list)
    only_old: list[int] = field(default_factory=list)
    """Directory ids of old users nobody in the new IdP matched."""
    only_new: list[str] = field(default_factory=list)
    """Source ids of staged new users nobody in the directory matched."""
    ambiguous: list[Ambiguity] = field(default_factory=list)
    old_users: dict[int, OldUser] = field(default_factory=dict)
    new_users: dict[str, SourceUser] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many people fall in each category (ambiguous: groups of candidates)."""
        return {
            "matched": len(self.matched),
            "changed": sum(1 for m in self.matched if m.differences),
            "only_old": len(self.only_old),
            "only_new": len(self.only_new),
            "ambiguous": len(self.ambiguous),
        }


def _valid(path: str) -> bool:
    if path in _PLAIN_KEYS:
        return True
    parts = path.split(".")
    return len(parts) > 1 and parts[0] == "attributes" and all(parts[1:])


def parse_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """Check the match keys (``email``, ``login``, ``attributes.NAME``, ``OLD=NEW``), in order."""
    result: list[str] = []
    for raw in keys:
        key = "=".join(part.strip() for part in raw.strip().split("="))
        if all(_valid(side) for side in key.split("=")) and key.count("=") <= 1:
            if key not in result:
                result.append(key)
            continue
        raise CompareError(
            f"unknown match key {raw!r}: use email, login or attributes.NAME (e.g. "
            "attributes.employeeId), or OLD=NEW when the IdPs name it differently"
        )
    if not result:
        raise CompareError("give at least one match key (email, login or attributes.NAME)")
    return tuple(result)


def mapper_for(settings: ConnectorSettings) -> Mapper:
    """The mapping of a connector (its ``policy.mapping`` over its source type's preset)."""
    return Mapper.build(settings.policy.mapping, preset(settings.source.type))


def compare(
    store: Store, old: str, new: str, keys: Sequence[str], *, mapper: Mapper | None = None
) -> Comparison:
    """Compare ``old``'s directory users with ``new``'s staged users by ``keys``, in order.

    ``mapper``: the new connector's mapping (:func:`mapper_for`), to compare the staged users
    as the directory would hold them. Raises :class:`CompareError` when the two are the same
    connector, when ``new`` has never staged anything, or for an unknown key.
    """
    chosen = parse_keys(keys)
    if old == new:
        raise CompareError(f"compare {old!r} with another connector, not with itself")
    with store.read() as conn:
        if not _has_run(conn, new):
            raise CompareError(
                f"connector {new!r} has not staged any users yet: run `idpsync sync {new}` "
                "(in shadow mode) first"
            )
        old_users = _old_users(conn, old)
        new_users = _new_users(conn, new)
    if mapper is not None:
        new_users = [_mapped(mapper, u) for u in new_users]
    result = match_people(old_users, new_users, chosen)
    result.old, result.new = old, new
    return result


def match_people(
    old_users: Sequence[OldUser], new_users: Sequence[SourceUser], keys: Sequence[str]
) -> Comparison:
    """Pair ``old_users`` with ``new_users`` by ``keys`` in order (what :func:`compare` does)."""
    chosen = parse_keys(keys)
    result = Comparison(
        old="",
        new="",
        keys=chosen,
        old_users={u.id: u for u in old_users},
        new_users={u.source_id: u for u in new_users},
    )
    old_left = dict(result.old_users)
    new_left = dict(result.new_users)
    for key in chosen:
        _match_by(key, old_left, new_left, result)
    result.matched.sort(key=lambda m: m.old_user_id)
    result.only_old = sorted(old_left)
    result.only_new = sorted(new_left)
    return result


def _match_by(
    key: str, old_left: dict[int, OldUser], new_left: dict[str, SourceUser], result: Comparison
) -> None:
    """Pair, or set aside as ambiguous, everyone still left whose ``key`` value is shared."""
    olds: dict[str, list[int]] = defaultdict(list)
    news: dict[str, list[str]] = defaultdict(list)
    old_key, _, new_key = key.partition("=")
    new_key = new_key or old_key
    for oid, ou in old_left.items():
        value = _key_value(_field(ou.login, ou.email, ou.attributes, old_key))
        if value is not None:
            olds[value].append(oid)
    for sid, nu in new_left.items():
        value = _key_value(_field(nu.login, nu.email, nu.attributes, new_key))
        if value is not None:
            news[value].append(sid)
    for value in sorted(olds.keys() & news.keys()):
        old_ids, new_ids = olds[value], news[value]
        for oid in old_ids:
            del old_left[oid]
        for sid in new_ids:
            del new_left[sid]
        if len(old_ids) == 1 and len(new_ids) == 1:
            ou, nu = result.old_users[old_ids[0]], result.new_users[new_ids[0]]
            result.matched.append(Match(ou.id, nu.source_id, key, differences(ou, nu)))
        else:
            result.ambiguous.append(
                Ambiguity(key, value, tuple(sorted(old_ids)), tuple(sorted(new_ids)))
            )


def _mapped(mapper: Mapper, user: SourceUser) -> SourceUser:
    """``user`` with the fields the directory would hold (as staged when mapping fails)."""
    try:
        d = mapper.map_user(user)
    except MappingError:
        return user
    return replace(
        user,
        login=d.login,
        email=d.email,
        display_name=d.display_name,
        given_name=d.given_name,
        family_name=d.family_name,
        attributes=d.attributes,
    )


def _field(login: str, email: str | None, attributes: Mapping[str, Any], key: str) -> Any:
    if key == "login":
        return login
    if key == "email":
        return email
    value: Any = attributes
    for part in key.split(".")[1:]:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _key_value(value: Any) -> str | None:
    """The folded comparison form of a key value; ``None`` when it cannot match anybody."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    folded = fold(value.strip())
    return folded or None


def differences(old: OldUser, new: SourceUser) -> tuple[Difference, ...]:
    """The compared fields (:data:`COMPARED_FIELDS`) whose values differ, old then new."""
    found: list[Difference] = []
    for name in COMPARED_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            found.append(Difference(name, before, after))
    return tuple(found)


def _has_run(conn: sa.Connection, connector: str) -> bool:
    staged = conn.execute(
        sa.select(t.source_users.c.source_id).where(t.source_users.c.connector == connector)
    ).first()
    if staged is not None:
        return True
    ran = conn.execute(
        sa.select(t.runs.c.id).where(
            t.runs.c.connector == connector,
            t.runs.c.dry_run == sa.false(),
            t.runs.c.status == "succeeded",
        )
    ).first()
    return ran is not None


def _old_users(conn: sa.Connection, connector: str) -> list[OldUser]:
    u = t.users.c
    rows = conn.execute(
        sa.select(
            u.id, u.source_id, u.login, u.email, u.display_name, u.active, u.attributes
        ).where(u.connector == connector)
    )
    return [
        OldUser(
            id=int(r.id),
            source_id=r.source_id,
            login=r.login,
            email=r.email,
            display_name=r.display_name,
            active=bool(r.active),
            attributes=dict(r.attributes or {}),
        )
        for r in rows
    ]


def _new_users(conn: sa.Connection, connector: str) -> list[SourceUser]:
    rows = conn.execute(
        sa.select(t.source_users.c.data).where(t.source_users.c.connector == connector)
    )
    return [SourceUser(**row.data) for row in rows]
