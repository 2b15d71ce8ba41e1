"""Listings of the directory for ``idpsync users`` and ``idpsync groups``, streamed.

A listing reads its rows in batches from the database (a server-side cursor on PostgreSQL)
and hands them on one by one, so printing 100,000 users needs the memory of one batch, not
of the whole directory. ``--members`` merges the groups with two streams of member edges
sorted the same way (by the group's name key and id), so even a group of every user is never
held in memory at once.

The queries of one listing share one snapshot, so a sync that commits meanwhile never shows
up half: ``REPEATABLE READ`` on PostgreSQL; on SQLite the store's deferred read transaction
(:meth:`Store.read`, WAL), which never holds a sync up while a slow reader
(``idpsync users --json | less``) takes its time.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from idpsync.store import schema as t
from idpsync.store.store import Store, fold

BATCH = 1000
"""Rows fetched from the database at a time."""


@contextmanager
def reading(store: Store) -> Iterator[Connection]:
    """A connection whose queries see one snapshot of the store, for streamed listings."""
    with store.read() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _user_filter(query: sa.Select[Any], search: str | None, connector: str | None) -> Any:
    u = t.users.c
    if connector:
        query = query.where(u.connector == connector)
    if search:
        pattern = _like(search.casefold())
        query = query.where(
            sa.or_(
                u.login_key.like(pattern, escape="\\"),
                sa.func.lower(u.email).like(pattern, escape="\\"),
                sa.func.lower(u.display_name).like(pattern, escape="\\"),
            )
        )
    return query


def _group_filter(query: sa.Select[Any], search: str | None, connector: str | None) -> Any:
    g = t.groups.c
    if connector:
        query = query.where(g.connector == connector)
    if search:
        query = query.where(g.name_key.like(_like(fold(search)), escape="\\"))
    return query


def count_users(conn: Connection, search: str | None, connector: str | None) -> int:
    """How many users match (what a listing without limit would return)."""
    query = _user_filter(sa.select(sa.func.count()).select_from(t.users), search, connector)
    return int(conn.execute(query).scalar_one())


def count_groups(conn: Connection, search: str | None, connector: str | None) -> int:
    """How many groups match (what a listing without limit would return)."""
    query = _group_filter(sa.select(sa.func.count()).select_from(t.groups), search, connector)
    return int(conn.execute(query).scalar_one())


def _stream(conn: Connection, query: sa.Select[Any]) -> Generator[RowMapping]:
    result = conn.execution_options(yield_per=BATCH).execute(query)
    try:
        yield from result.mappings()
    finally:
        result.close()


def users(
    conn: Connection,
    search: str | None,
    connector: str | None,
    limit: int | None = None,
    offset: int = 0,
) -> Generator[RowMapping]:
    """Matching users by login (``limit`` ``None``: all of them), as they are read."""
    query = _user_filter(sa.select(t.users), search, connector)
    query = query.order_by(t.users.c.login_key, t.users.c.id).limit(limit).offset(offset)
    return _stream(conn, query)


def groups(
    conn: Connection,
    search: str | None,
    connector: str | None,
    limit: int | None = None,
    offset: int = 0,
) -> Generator[RowMapping]:
    """Matching groups by name (``limit`` ``None``: all of them), as they are read."""
    return _stream(conn, _groups_query(search, connector, limit, offset))


def _groups_query(search: str | None, connector: str | None, limit: int | None, offset: int) -> Any:
    query = _group_filter(sa.select(t.groups), search, connector)
    return query.order_by(t.groups.c.name_key, t.groups.c.id).limit(limit).offset(offset)


def groups_with_members(
    conn: Connection,
    search: str | None,
    connector: str | None,
    limit: int | None = None,
    offset: int = 0,
) -> Generator[tuple[RowMapping, Iterator[dict[str, Any]]]]:
    """Matching groups, each with an iterator over its direct members (users, then groups).

    Consume each group's members before asking for the next group; members left unread are
    skipped.
    """
    picked = _groups_query(search, connector, limit, offset).subquery("picked")
    m = t.memberships.c
    u = t.users.c
    child = t.groups.alias("child")
    user_edges = (
        sa.select(m.group_id, u.login, u.source_id)
        .join(picked, picked.c.id == m.group_id)
        .join(t.users, sa.and_(m.member_kind == "user", m.member_id == u.id))
        .order_by(picked.c.name_key, picked.c.id, u.login_key, u.id)
    )
    group_edges = (
        sa.select(m.group_id, child.c.name, child.c.source_id)
        .join(picked, picked.c.id == m.group_id)
        .join(child, sa.and_(m.member_kind == "group", m.member_id == child.c.id))
        .order_by(picked.c.name_key, picked.c.id, child.c.name_key, child.c.id)
    )
    user_stream = _Edges(_stream(conn, user_edges))
    group_stream = _Edges(_stream(conn, group_edges))
    for group in groups(conn, search, connector, limit, offset):
        gid = group["id"]
        members = _members(gid, user_stream, group_stream)
        yield group, members
        for _ in members:  # whatever the caller left unread
            pass
    if not (user_stream.done and group_stream.done):  # the two orders disagreed: say so
        raise RuntimeError("member edges were read out of order; the listing is incomplete")


def _members(gid: int, user_stream: _Edges, group_stream: _Edges) -> Iterator[dict[str, Any]]:
    for edge in user_stream.take(gid):
        yield {"type": "user", "login": edge["login"], "source_id": edge["source_id"]}
    for edge in group_stream.take(gid):
        yield {"type": "group", "name": edge["name"], "source_id": edge["source_id"]}


class _Edges:
    """A stream of member edges sorted by group, read one group at a time."""

    def __init__(self, rows: Iterator[RowMapping]) -> None:
        self._rows = rows
        self._next: RowMapping | None = next(rows, None)

    @property
    def done(self) -> bool:
        """Every edge has been taken."""
        return self._next is None

    def take(self, group_id: int) -> Iterator[RowMapping]:
        """The edges of ``group_id`` (the groups before it must have been taken)."""
        while self._next is not None and self._next["group_id"] == group_id:
            yield self._next
            self._next = next(self._rows, None)
