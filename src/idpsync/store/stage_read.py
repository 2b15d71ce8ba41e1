"""Reading the stage back: the staged snapshot, its counts, the last read of a staged user.

:func:`load_stage` reads the mirror; with ``edges`` given, the memberships are read only when
first used (:class:`LazyEdgesSnapshot`), so a source whose ``delta()`` needs only the staged
users and groups never loads the tenant's edges. :mod:`idpsync.store.stage` writes the stage
(and re-exports these).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import EdgeList, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import schema as t
from idpsync.store.store import raw_rows

__all__ = [
    "STAGING_MODES",
    "LazyEdgesSnapshot",
    "last_read",
    "load_edges",
    "load_groups",
    "load_stage",
    "load_users",
    "staged_counts",
]

_KINDS = {kind.value: kind for kind in MemberKind}

_MEMBERSHIPS: Any = Snapshot.__dict__["memberships"]
"""The property of :attr:`Snapshot.memberships` (read and set past the lazy property)."""


class LazyEdgesSnapshot(Snapshot):
    """A staged snapshot whose memberships are read from the store when first used."""

    __slots__ = ("_load_edges",)

    def __init__(
        self,
        users: list[SourceUser],
        groups: list[SourceGroup],
        load_edges: Callable[[], Iterable[Membership]],
    ) -> None:
        self._load_edges: Callable[[], Iterable[Membership]] | None = None
        super().__init__(users, groups)
        self._load_edges = load_edges

    @property
    def memberships(self) -> EdgeList:
        """The staged edges (read on first use)."""
        if self._load_edges is not None:
            load, self._load_edges = self._load_edges, None
            _MEMBERSHIPS.__set__(self, load())
        return cast(EdgeList, _MEMBERSHIPS.__get__(self))

    @memberships.setter
    def memberships(self, edges: Iterable[Membership]) -> None:
        self._load_edges = None
        _MEMBERSHIPS.__set__(self, edges)

    @property
    def edges_loaded(self) -> bool:
        """Whether the memberships were read (or set)."""
        return self._load_edges is None


def load_stage(
    conn: Connection, connector: str, edges: Callable[[], Iterable[Membership]] | None = None
) -> Snapshot:
    """The connector's staged snapshot; ``edges``: read the memberships with it when first used."""
    users, groups = load_users(conn, connector), load_groups(conn, connector)
    if edges is not None:
        return LazyEdgesSnapshot(users, groups, edges)
    return Snapshot(users, groups, load_edges(conn, connector))


def load_users(conn: Connection, connector: str) -> list[SourceUser]:
    """The connector's staged users."""
    c = t.source_users.c
    return [
        SourceUser(**row.data)
        for row in conn.execute(sa.select(c.data).where(c.connector == connector))
    ]


def load_groups(conn: Connection, connector: str) -> list[SourceGroup]:
    """The connector's staged groups."""
    c = t.source_groups.c
    return [
        SourceGroup(**row.data)
        for row in conn.execute(sa.select(c.data).where(c.connector == connector))
    ]


def staged_counts(conn: Connection, connector: str) -> tuple[int, int]:
    """How many users and groups the connector's stage holds."""

    def count(table: sa.Table) -> int:
        query = sa.select(sa.func.count()).where(table.c.connector == connector)
        return int(conn.execute(query).scalar_one())

    return count(t.source_users), count(t.source_groups)


STAGING_MODES = ("full", "incremental", "shadow")
"""``runs.mode`` of the runs that stage what they read (a sync-user run does not)."""


def last_read(conn: Connection, connector: str, source_id: str) -> int | None:
    """The last run whose read covered staged user ``source_id``; ``None``: not staged.

    The record's own ``run_id`` (the run that staged its values), or a later complete run that
    staged: a complete read, or a complete delta, covers every record it leaves staged.
    """
    s, r = t.source_users.c, t.runs.c
    staged_by = conn.execute(
        sa.select(s.run_id).where(s.connector == connector, s.source_id == source_id)
    ).scalar()
    if staged_by is None:
        return None
    later = conn.execute(
        sa.select(sa.func.max(r.id)).where(
            r.connector == connector,
            r.id > staged_by,
            r.mode.in_(STAGING_MODES),
            r.complete.is_(True),
            r.dry_run.is_(False),
            r.status == "succeeded",
        )
    ).scalar()
    return int(later) if later is not None else int(staged_by)


def load_edges(conn: Connection, connector: str) -> EdgeList:
    """The connector's staged membership edges."""
    m = t.source_memberships.c
    return EdgeList(
        Membership(group_id, member_id, _KINDS[kind])
        for group_id, member_id, kind in raw_rows(
            conn, sa.select(m.group_id, m.member_id, m.member_kind).where(m.connector == connector)
        )
    )
