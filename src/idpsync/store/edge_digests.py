"""A digest of each member's staged edges, so that a full read diffs only the members that changed.

``source_edge_digests`` holds, per connector and member id, a digest of the edges staged with
that id as their member (a user, or a nested group): the sum of one BLAKE2b value (128 bits)
per edge, of its group id and member kind, plus the number of edges times 2**192, in hex. A
complete read held in memory makes the same digest of its own edges, member by member, in one
pass over its compact edges (:class:`~idpsync.model.EdgeList`: no :class:`Membership` made),
reads the staged digests (one select) and compares them (:meth:`MemberDigests.changed`). Only
the members whose digest differs, or who are staged or read but not both, are diffed, in Python
(:mod:`idpsync.store.digest_diff`): an unchanged member's edges never reach the database.

The table is a cache that every write of the stage keeps exact or drops. Either it holds a row
for each member with staged edges and for no other, whose digest is of edges that, each taken
once, are exactly that member's staged edges; or it holds no row of the connector, and the next
complete read diffs every edge (as before) and writes every digest. A complete read with no
skipped record, in memory or streamed (:mod:`idpsync.store.stream_digests`: the same sums,
added up as the edges are handed over), writes the digests of the members it diffed (of all of
them after a whole diff); every other write (an incomplete read, a delta, a read with skipped
records, whose staged edges may stay without being read) drops the connector's digests
(:func:`forget`).

A digest is of the edges as read, repeats counted: a read that repeats an edge digests
differently from one that does not, so its member is diffed (work wasted, nothing wrong), and
the digest staged is that read's, whose distinct edges are what is staged. Two different
readings share a digest only if their sums (mod nothing: Python integers) and counts are equal,
which no IdP's data gives by chance (the values are BLAKE2b's, 2**-128 per pair); the sum is not
a cryptographic hash of the whole, and need not be: the ids are the IdP's own, and whoever could
pick group ids to make two members' edge sets collide could change the memberships themselves.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.engine import Connection

from idpsync.model import EdgeList, MemberKind, Snapshot
from idpsync.store.schema import metadata
from idpsync.store.store import bulk_insert, raw_rows

ENABLED = True
"""Whether a complete read in memory is staged by digest (off: every edge diffed, as before)."""

source_edge_digests = Table(
    "source_edge_digests",
    metadata,
    Column("connector", String(64), ForeignKey("connectors.name"), primary_key=True),
    Column("member_id", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),
    sqlite_with_rowid=False,
)
"""Per connector and member id, the digest of the member's staged edges (migration 0015)."""

_COUNT = 1 << 192
"""Each edge adds this to its member's digest besides its value: the digest counts the edges."""
_KIND_VALUES = (MemberKind.USER.value, MemberKind.GROUP.value)
"""The kinds by :class:`EdgeList`'s codes."""


def edge_value(group_id: str, kind: str) -> int:
    """What an edge to ``group_id`` of a member of ``kind`` adds to its member's digest."""
    found = hashlib.blake2b(f"{kind}\0{group_id}".encode(), digest_size=16).digest()
    return _COUNT + int.from_bytes(found, "little")


@dataclass(frozen=True, slots=True)
class Changed:
    """The members whose edges a write diffs, and where the read has their edges."""

    members: list[str]
    """Ids of the members whose digest differs, or that are staged or read but not both."""
    positions: list[int]
    """The positions of their edges in the read's edges, in order."""
    moves: dict[int, int]
    """Of each of them the read names, by its position in the table of ids: its digest less
    the staged one (0 staged for a member not staged)."""
    gone: list[str]
    """Those of them staged and not in the read at all."""


@dataclass(frozen=True, slots=True)
class MemberDigests:
    """A complete read's edges and each member's digest of them."""

    edges: EdgeList
    sums: list[int]
    """By position in the edges' table of ids, the digest of the id's edges as a member (0:
    it is no edge's member)."""

    @classmethod
    def of(cls, snap: Snapshot, held: Mapping[str, Sequence[str]]) -> MemberDigests | None:
        """The digests of ``snap``'s edges; ``None`` when it is not staged by digest.

        It is when digests are :data:`ENABLED`, the read is complete, skipped no record
        (``held``: a skipped record's staged edges stay) and every id is a string.
        """
        if not ENABLED or not snap.complete or any(held.values()):
            return None
        ids, _, groups, members, kinds = snap.memberships.columns()
        if not all(type(value) is str for value in ids):
            return None
        values = [0] * len(ids)
        for group in set(groups):
            values[group] = edge_value(ids[group], _KIND_VALUES[0])
        sums = [0] * len(ids)
        for group, member in zip(groups, members, strict=True):
            sums[member] += values[group]
        codes = kinds.tobytes()
        at = codes.find(1)
        while at >= 0:  # the few edges of nested groups: a group member's value, not a user's
            group = groups[at]
            sums[members[at]] += edge_value(ids[group], _KIND_VALUES[1]) - values[group]
            at = codes.find(1, at + 1)
        return cls(snap.memberships, sums)

    def changed(self, conn: Connection, connector: str) -> Changed | None:
        """The members to diff: compared with the staged digests (``None``: none staged)."""
        ids, index, _, members, _ = self.edges.columns()
        sums = self.sums
        c = source_edge_digests.c
        query = sa.select(c.member_id, c.digest).where(c.connector == connector)
        seen, flags = bytearray(len(ids)), bytearray(len(ids))
        gone: list[str] = []  # staged members the read does not name at all
        moves: dict[int, int] = {}
        any_staged = False
        for member_id, digest in raw_rows(conn, query):
            any_staged = True
            at = index.get(member_id)
            if at is None:
                gone.append(member_id)
                continue
            seen[at] = 1
            move = sums[at] - int(digest, 16)
            if move:
                flags[at] = 1
                moves[at] = move
        if not any_staged:
            return None
        for at, value in enumerate(sums):
            if value and not seen[at]:  # read, not staged
                flags[at] = 1
                moves[at] = value
        positions = list(itertools.compress(itertools.count(), map(flags.__getitem__, members)))
        named = [ids[at] for at in itertools.compress(range(len(ids)), flags)]
        return Changed(sorted({*named, *gone}), positions, moves, gone)

    def single_edges(self) -> dict[int, tuple[int, int]]:
        """What one edge adds to a digest: the edge's (group, kind code), by that value.

        For every group the read names and either kind of member.
        """
        ids, _, groups, _, _ = self.edges.columns()
        return {
            edge_value(ids[group], value): (group, code)
            for group in set(groups)
            for code, value in enumerate(_KIND_VALUES)
        }

    def rows(self, members: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """Digest rows (member id, digest) of ``members`` (``None``: of every member)."""
        ids, index, *_ = self.edges.columns()
        sums = self.sums
        found: Iterable[tuple[str, int]] = (
            zip(ids, sums, strict=True)
            if members is None
            else ((m, sums[index[m]] if m in index else 0) for m in members)
        )
        return ((m, format(value, "x")) for m, value in found if value)


def store_all(conn: Connection, connector: str, digests: MemberDigests) -> None:
    """Replace the connector's digests with every member's of ``digests``."""
    forget(conn, connector)
    columns = ("member_id", "digest")
    bulk_insert(conn, source_edge_digests, columns, digests.rows(), same={"connector": connector})


def forget(conn: Connection, connector: str) -> None:
    """Drop the connector's digests (its next complete read in memory diffs every edge)."""
    c = source_edge_digests.c
    conn.execute(source_edge_digests.delete().where(c.connector == connector))
