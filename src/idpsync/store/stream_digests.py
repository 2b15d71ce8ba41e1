"""Each member's edge digest summed as a streamed read hands its edges over (issue #21).

A streamed full read (:mod:`idpsync.store.stream`) never holds its edges, and a member's edges
may come in many listings (Keycloak, Okta and Entra list members per group): they are whole
only at the read's end. The digest of :mod:`idpsync.store.edge_digests` is a sum of one value
per edge, so it does not depend on the order the edges come in: :class:`StreamSums` adds each
edge's value to its member's sum as the edge is handed over, takes it off again when the edge
is taken back (``withdraw``: each copy; ``discard``: all), and so holds, at the read's end, the
same sums a read of the same edges held in memory makes (``MemberDigests.of``: the edges as
read, repeats counted).

At staging (:func:`idpsync.store.stage_edges.stage_edges`), a complete streamed read that
skipped no record compares its sums with the staged digests (:meth:`StreamSums.changed`): only
the edges of the members whose sum differs, or who are staged or read but not both, are
compared with the stage (the anti-joins restricted to them), and only their digests are
rewritten. Every other streamed read (incomplete, or with skipped records) drops the
connector's digests, as any such read held in memory does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.store.edge_digests import edge_value, forget, source_edge_digests
from idpsync.store.store import bulk_insert, raw_rows


class StreamSums:
    """Per member id, the sum of the values of its edges handed over (less those taken back)."""

    __slots__ = ("_values", "sums")

    def __init__(self) -> None:
        self.sums: dict[str, int] = {}
        """By member id (as the stage holds it: text), its digest as an integer (0: none)."""
        self._values: dict[tuple[str, str], int] = {}
        """Each (group id, kind value)'s value, computed once."""

    def add(self, rows: Iterable[tuple[object, str, object]], sign: int = 1) -> None:
        """Add (``sign`` 1) or take off (-1) the values of ``rows`` (group id, kind, member id)."""
        sums, values = self.sums, self._values
        for group, kind, member in rows:
            at = (str(group), kind)
            value = values.get(at)
            if value is None:
                value = values[at] = edge_value(*at)
            name = str(member)
            sums[name] = sums.get(name, 0) + sign * value

    def clear(self) -> None:
        """Forget every edge (all were taken back)."""
        self.sums.clear()

    def changed(self, conn: Connection, connector: str) -> list[str] | None:
        """The members whose staged edges may differ, in id order (``None``: none staged).

        Those whose sum differs from the staged digest, staged and not read, or read and not
        staged.
        """
        moves = self.moves(conn, connector)
        return None if moves is None else sorted(moves)

    def moves(self, conn: Connection, connector: str) -> dict[str, int] | None:
        """Of each member :meth:`changed` names, its sum less its staged digest.

        ``None``: none staged. A member not staged moves by its sum, one not read by minus its
        staged digest.
        """
        c = source_edge_digests.c
        query = sa.select(c.member_id, c.digest).where(c.connector == connector)
        sums = self.sums
        seen: set[str] = set()
        found: dict[str, int] = {}
        for member_id, digest in raw_rows(conn, query):
            seen.add(member_id)
            move = sums.get(member_id, 0) - int(digest, 16)
            if move:
                found[member_id] = move
        if not seen:
            return None
        found.update((m, value) for m, value in sums.items() if value and m not in seen)
        return found

    def single_edges(self) -> dict[int, tuple[str, str]]:
        """What one edge adds to a sum: the edge's (group id, kind), by that value.

        For every (group, kind) of the edges handed over.
        """
        return {value: at for at, value in self._values.items()}

    def rows(self, members: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """Digest rows (member id, digest) of ``members`` (``None``: of every member)."""
        sums = self.sums
        found = sums.items() if members is None else ((m, sums.get(m, 0)) for m in members)
        return ((m, format(value, "x")) for m, value in found if value)

    def store(
        self,
        conn: Connection,
        connector: str,
        members: list[str] | None = None,
        of: sa.Select[tuple[str]] | None = None,
    ) -> None:
        """Write the digests of ``members`` (``None``: replace all of the connector's).

        ``of``: a select of the same ids (a temporary table's), by which theirs are deleted in
        one statement; required with ``members``.
        """
        c = source_edge_digests.c
        if members is None:
            forget(conn, connector)
        else:
            if of is None:
                raise ValueError("StreamSums.store: members need the select of their ids")
            conn.execute(
                source_edge_digests.delete().where(c.connector == connector, c.member_id.in_(of))
            )
        columns = ("member_id", "digest")
        rows = self.rows(members)
        bulk_insert(conn, source_edge_digests, columns, rows, same={"connector": connector})
