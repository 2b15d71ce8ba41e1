"""Membership edges, and :class:`EdgeList`: a snapshot's edges held compactly.

A tenant of a million users has ten million edges, and a run holds its snapshot from the read
to the staging. One :class:`Membership` object an edge costs about 64 bytes (the object and
its list slot, the ids shared); :class:`EdgeList` stores each edge as two indexes into a table
of ids (one string per distinct id, the first the list was given) and a kind, in ``array``
columns: 9 bytes an edge. It behaves as the list of edges it replaces (append, extend,
iteration, ``len``, sorting, equality with a list), making each :class:`Membership` when it is
read. :mod:`idpsync.model` re-exports everything here (the records live there); nothing here
imports anything else of ours.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class MemberKind(StrEnum):
    """What a membership edge points at."""

    USER = "user"
    GROUP = "group"


@dataclass(frozen=True, slots=True, order=True)
class Membership:
    """A direct edge: ``member`` is in ``group``."""

    group_id: str
    """``source_id`` of the containing group."""
    member_id: str
    """``source_id`` of the member (a user or a group)."""
    member_kind: MemberKind = MemberKind.USER
    """Whether the member is a user or a nested group."""


_KINDS = (MemberKind.USER, MemberKind.GROUP)
"""The kinds by their code in :attr:`EdgeList._kinds`."""
_CODES = {kind: code for code, kind in enumerate(_KINDS)}


class EdgeList:
    """Membership edges in the order given, 9 bytes an edge (see the module doc).

    An id is interned by value (a string) or by type and value (anything else, which only
    malformed data holds: ``1`` and ``True`` stay apart); an unhashable one is held as given.
    Reading an edge makes a :class:`Membership` holding the table's id objects, so every edge
    naming an id shares one string however many copies the source parsed.
    """

    __slots__ = ("_groups", "_ids", "_index", "_kinds", "_members")

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it replaces

    def __init__(self, edges: Iterable[Membership] = (), *, table: EdgeList | None = None) -> None:
        self._ids: list[Any] = [] if table is None else table._ids
        """Each distinct id once, in the order first given (shared with ``table``'s, if given)."""
        self._index: dict[Any, int] = {} if table is None else table._index
        """The position in :attr:`_ids` of each id (by its key, see the class doc)."""
        self._groups = array("I")
        """Each edge's group, as a position in :attr:`_ids`."""
        self._members = array("I")
        """Each edge's member, as a position in :attr:`_ids`."""
        self._kinds = array("B")
        """Each edge's kind, as a position in :data:`_KINDS`."""
        self.extend(edges)

    def part(self) -> EdgeList:
        """A new, empty list that interns its ids into this list's table.

        A reader that gathers edges piece by piece (one group's member listing, which may yet
        be dropped) keeps each piece as a part of the snapshot's list: 9 bytes an edge, every
        id stored once for all of them, and :meth:`extend_kept` moves a part's edges over
        without looking an id up again.
        """
        return EdgeList(table=self)

    def extend_kept(self, part: EdgeList, member_ok: Callable[[Any, MemberKind], bool]) -> int:
        """Append ``part``'s edges whose member passes ``member_ok``, each distinct edge once.

        ``member_ok(member_id, kind)`` is asked once per distinct member of ``part``. Returns
        how many of ``part``'s edges were left out (refused, or repeated). ``part`` is best one
        of this list's :meth:`part` lists (its indexes are then taken as they are).
        """
        if part._ids is not self._ids:  # another table: intern again, edge by edge
            part = EdgeList(part, table=self)
        ids, before = self._ids, len(self._kinds)
        verdicts: dict[tuple[int, int], bool] = {}
        seen: set[tuple[int, int, int]] = set()
        groups, members, kinds = self._groups, self._members, self._kinds
        for edge in zip(part._groups, part._members, part._kinds, strict=True):
            if edge in seen:
                continue
            seen.add(edge)
            _, member, kind = edge
            ok = verdicts.get((member, kind))
            if ok is None:
                ok = verdicts[member, kind] = bool(member_ok(ids[member], _KINDS[kind]))
            if ok:
                groups.append(edge[0])
                members.append(member)
                kinds.append(kind)
        return len(part) - (len(kinds) - before)

    def extend_part(self, part: EdgeList) -> None:
        """Append a :meth:`part` of this list's table as it is (no look-up, no check)."""
        if part._ids is not self._ids:
            raise ValueError("extend_part takes a part of this list's table")
        self._groups.extend(part._groups)
        self._members.extend(part._members)
        self._kinds.extend(part._kinds)

    def detached(self) -> EdgeList:
        """The same edges in a list with a table of its own, holding only the ids they name.

        A :meth:`part` shares the snapshot's whole table: what looks at every id of a list
        (:meth:`kept`) would look at all of them for a few edges. The edges are moved over as
        positions (no :class:`Membership` made), the ids are the same objects.
        """
        ids, index = self._ids, self._index
        first = dict.fromkeys(itertools.chain(self._groups, self._members))
        used = dict(zip(first, itertools.count()))  # old position -> new, in first-seen order
        out = EdgeList()
        out._ids = [ids[position] for position in used]
        for position, new in used.items():
            value = ids[position]
            key = value if type(value) is str else (type(value), value)
            try:
                interned = index.get(key) == position
            except TypeError:  # unhashable: held as given, never shared
                interned = False
            if interned:
                out._index[key] = new
        out._groups = array("I", map(used.__getitem__, self._groups))
        out._members = array("I", map(used.__getitem__, self._members))
        out._kinds = array("B", self._kinds)
        return out

    @classmethod
    def of(cls, edges: Iterable[Membership]) -> EdgeList:
        """``edges`` itself when it is an :class:`EdgeList`, else a new one holding them."""
        return edges if isinstance(edges, EdgeList) else cls(edges)

    @classmethod
    def fan(cls, group: str, members: Iterable[Any], kind: MemberKind) -> EdgeList:
        """``group``'s edge to each of ``members``, each once, in the order first given.

        The list ``EdgeList(Membership(group, m, kind) for m in dict.fromkeys(members))``
        holds, without making a :class:`Membership` an edge (one group's member listing).
        """
        edges = cls()
        ids, index = edges._ids, edges._index
        group_at = edges._id(group)
        positions: list[int] = []
        for member in dict.fromkeys(members):
            if type(member) is str and member not in index:  # the common case, inlined
                index[member] = len(ids)
                positions.append(len(ids))
                ids.append(member)
            else:
                positions.append(edges._id(member))
        edges._members = array("I", positions)
        edges._groups = array("I", [group_at]) * len(positions)
        edges._kinds = array("B", [_CODES[kind]]) * len(positions)
        return edges

    def _id(self, value: Any) -> int:
        key = value if type(value) is str else (type(value), value)
        try:
            return self._index[key]
        except KeyError:
            self._index[key] = found = len(self._ids)
        except TypeError:  # unhashable (malformed data): held as given, never shared
            found = len(self._ids)
        self._ids.append(value)
        return found

    def append(self, edge: Membership) -> None:
        """Add one edge at the end."""
        self._groups.append(self._id(edge.group_id))
        self._members.append(self._id(edge.member_id))
        self._kinds.append(_CODES[edge.member_kind])

    def extend(self, edges: Iterable[Membership]) -> None:
        """Add the edges at the end, in their order."""
        index, ids, codes = self._index, self._ids, _CODES
        groups, members, kinds = self._groups, self._members, self._kinds
        for edge in list(edges) if edges is self else edges:
            group, member = edge.group_id, edge.member_id
            if type(group) is str and type(member) is str:  # the common case, inlined
                g = index.get(group)
                if g is None:
                    g = index[group] = len(ids)
                    ids.append(group)
                m = index.get(member)
                if m is None:
                    m = index[member] = len(ids)
                    ids.append(member)
            else:
                g, m = self._id(group), self._id(member)
            groups.append(g)
            members.append(m)
            kinds.append(codes[edge.member_kind])

    def __iadd__(self, edges: Iterable[Membership]) -> EdgeList:
        self.extend(edges)
        return self

    def __len__(self) -> int:
        return len(self._kinds)

    def __bool__(self) -> bool:
        return bool(self._kinds)

    def __iter__(self) -> Iterator[Membership]:
        ids = self._ids
        for group, member, kind in zip(self._groups, self._members, self._kinds, strict=True):
            yield Membership(ids[group], ids[member], _KINDS[kind])

    def __getitem__(self, position: int) -> Membership:
        ids = self._ids
        return Membership(
            ids[self._groups[position]], ids[self._members[position]], _KINDS[self._kinds[position]]
        )

    def rows(self) -> Iterator[tuple[Any, str, Any]]:
        """Each edge as ``(group_id, kind value, member_id)``, no :class:`Membership` made."""
        ids, values = self._ids, [kind.value for kind in _KINDS]
        for group, member, kind in zip(self._groups, self._members, self._kinds, strict=True):
            yield ids[group], values[kind], ids[member]

    def columns(self) -> tuple[list[Any], dict[Any, int], array[int], array[int], array[int]]:
        """The list's own columns, not copied (for code that works on them in bulk).

        The table of ids, each id's position in it (by its key, see the class doc), and each
        edge's group, member (positions in the table) and kind (0: a user, 1: a group).
        """
        return self._ids, self._index, self._groups, self._members, self._kinds

    def sort(self) -> None:
        """Order the edges as ``sorted`` orders :class:`Membership` objects (ids, then kind)."""
        ids, groups, members, kinds = self._ids, self._groups, self._members, self._kinds
        order = sorted(
            range(len(kinds)),
            key=lambda i: (ids[groups[i]], ids[members[i]], _KINDS[kinds[i]].value),
        )
        self._groups = array("I", (groups[i] for i in order))
        self._members = array("I", (members[i] for i in order))
        self._kinds = array("B", (kinds[i] for i in order))

    def kept(self, usable: Callable[[Any], bool]) -> EdgeList:
        """The edges whose group and member ids are both ``usable`` (each id asked once).

        Returns this list itself when every id is usable (the common case: nothing is copied).
        """
        verdicts = [usable(value) for value in self._ids]
        if all(verdicts):
            return self
        kept = EdgeList()
        kept._ids, kept._index = list(self._ids), dict(self._index)
        for group, member, kind in zip(self._groups, self._members, self._kinds, strict=True):
            if verdicts[group] and verdicts[member]:
                kept._groups.append(group)
                kept._members.append(member)
                kept._kinds.append(kind)
        return kept

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EdgeList | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __repr__(self) -> str:
        return f"EdgeList({list(self)!r})"
