"""The staged mirror a source's ``delta()`` gets: each part read from the store when first used.

An incremental read needs little of the connector's mirror (Entra: each user's manager; most
sources: the staged ids; Okta and OneLogin: the records and edges of what changed), and at a
million users the whole mirror is more than a gigabyte of records. :class:`StagedMirror`
therefore reads its users, groups and memberships only when a source first touches ``users``,
``groups`` or ``memberships``, and answers the narrow reads of :class:`~idpsync.model.Snapshot`
(``user_ids()``, ``group_ids()``, ``managers()``, ``users_of()``, ``user_ids_with()``,
``user_attribute_values()``, ``group_attribute_values()``, ``edges_of_members()``,
``edges_of_groups()``) with selects of the columns and rows they need, without building any
other record, as long as the part was not read whole.

**One committed stage.** ``delta()`` runs after the read transaction would otherwise have
ended, and its parts are read at different times. :func:`staged_mirror` holds one read
transaction open for as long as the source may use the mirror, and pins its view of the
store at once, so every part is read from the same committed stage, never from a stage
another run is writing or has written meanwhile: on SQLite a deferred ``BEGIN`` in WAL mode,
whose snapshot the first select fixes (writers go on; they never wait for it); on PostgreSQL a
``REPEATABLE READ``, ``READ ONLY`` transaction, whose snapshot the first statement fixes. A
part first touched after the block ended raises :class:`MirrorClosed`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import schema as t
from idpsync.store.stage_read import LazyEdgesSnapshot, load_edges, load_groups, load_users
from idpsync.store.store import Store

__all__ = ["MirrorClosed", "StagedMirror", "staged_mirror"]

log = logging.getLogger(__name__)

_USERS: Any = Snapshot.__dict__["users"]
"""The slot that holds :attr:`Snapshot.users` (read and set past the lazy property)."""
_GROUPS: Any = Snapshot.__dict__["groups"]
"""The slot that holds :attr:`Snapshot.groups`."""

IN_BATCH = 500
"""Ids per ``IN`` list of a narrow edge read (SQLite caps a statement's parameters)."""

_KINDS = {kind.value: kind for kind in MemberKind}


class MirrorClosed(RuntimeError):
    """A part of the staged mirror was first used after its read transaction ended."""


class StagedMirror(LazyEdgesSnapshot):
    """A connector's staged snapshot whose users, groups and memberships are read when used.

    Every read goes through ``conn``, the read transaction :func:`staged_mirror` holds open.
    ``users_loaded``, ``groups_loaded`` and ``edges_loaded`` tell which parts were read whole
    (or set); the narrow reads never set them.
    """

    __slots__ = ("_conn", "_connector", "_groups_pending", "_users_pending")

    def __init__(self, conn: Connection, connector: str) -> None:
        self._conn: Connection | None = None
        self._users_pending = self._groups_pending = False
        super().__init__([], [], lambda: load_edges(self._connection(), connector))
        self._conn, self._connector = conn, connector
        self._users_pending = self._groups_pending = True

    def _connection(self) -> Connection:
        if self._conn is None:
            raise MirrorClosed(
                f"the staged mirror of connector {self._connector!r} was first used after its "
                "read transaction ended: a source must read it within delta()"
            )
        return self._conn

    def __repr__(self) -> str:
        """Which parts were read (a repr never reads one)."""
        read = {"users": self.users_loaded, "groups": self.groups_loaded}
        read["edges"] = self.edges_loaded
        parts = ", ".join(name for name, done in read.items() if done)
        return f"StagedMirror({self._connector!r}, read: {parts or 'nothing'})"

    def close(self) -> None:
        """Forget the connection: a part not read by now can no longer be (see module doc)."""
        self._conn = None

    @property
    def users(self) -> list[SourceUser]:
        """The staged users (read on first use)."""
        if self._users_pending:
            _USERS.__set__(self, load_users(self._connection(), self._connector))
            self._users_pending = False
        return cast(list[SourceUser], _USERS.__get__(self))

    @users.setter
    def users(self, users: list[SourceUser]) -> None:
        self._users_pending = False
        _USERS.__set__(self, users)

    @property
    def groups(self) -> list[SourceGroup]:
        """The staged groups (read on first use)."""
        if self._groups_pending:
            _GROUPS.__set__(self, load_groups(self._connection(), self._connector))
            self._groups_pending = False
        return cast(list[SourceGroup], _GROUPS.__get__(self))

    @groups.setter
    def groups(self, groups: list[SourceGroup]) -> None:
        self._groups_pending = False
        _GROUPS.__set__(self, groups)

    @property
    def users_loaded(self) -> bool:
        """Whether the users were read whole (or set)."""
        return not self._users_pending

    @property
    def groups_loaded(self) -> bool:
        """Whether the groups were read whole (or set)."""
        return not self._groups_pending

    def user_ids(self) -> list[str]:
        """The staged users' ids (one select of the id column unless the users were read)."""
        if not self._users_pending:
            return super().user_ids()
        return self._ids(t.source_users)

    def group_ids(self) -> list[str]:
        """The staged groups' ids (one select of the id column unless the groups were read)."""
        if not self._groups_pending:
            return super().group_ids()
        return self._ids(t.source_groups)

    def managers(self) -> dict[str, str | None]:
        """Every staged user's manager id by user id, from one select of two values a row.

        The manager is taken out of the record's JSON by the database (``data ->>
        'manager_id'`` on PostgreSQL, ``json_extract`` on SQLite); equal manager ids are one
        string in the answer.
        """
        if not self._users_pending:
            return super().managers()
        c = t.source_users.c
        query = sa.select(c.source_id, c.data["manager_id"].as_string())
        rows = self._connection().execute(query.where(c.connector == self._connector))
        shared: dict[str, str] = {}
        return {
            user_id: None if manager is None else shared.setdefault(manager, manager)
            for user_id, manager in rows
        }

    def users_of(self, ids: Collection[str]) -> list[SourceUser]:
        """The staged users ``ids`` (those staged), by the key: one select per batch of ids."""
        if not self._users_pending:
            return super().users_of(ids)
        c, conn, ordered = t.source_users.c, self._connection(), sorted(set(ids))
        found: list[SourceUser] = []
        for start in range(0, len(ordered), IN_BATCH):
            query = sa.select(c.data).where(
                c.connector == self._connector, c.source_id.in_(ordered[start : start + IN_BATCH])
            )
            found.extend(SourceUser(**data) for data in conn.execute(query).scalars())
        return found

    def user_ids_with(self, attribute: str, value: str) -> list[str]:
        """The staged users whose ``attributes[attribute]`` is ``value``: one select of ids.

        The database reads the attribute out of each record's JSON (a scan of the connector's
        users, which builds no record in Python).
        """
        if not self._users_pending:
            return super().user_ids_with(attribute, value)
        c = t.source_users.c
        query = sa.select(c.source_id).where(
            c.connector == self._connector,
            c.data[("attributes", attribute)].as_string() == value,
        )
        return list(self._connection().execute(query).scalars())

    def user_attribute_values(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every staged user's ``attributes`` named ``names``: one select of those values a row.

        The database takes them out of each record's JSON (as :meth:`managers` does); no
        record is built (Google's delta: every user's primary e-mail and aliases).
        """
        if not self._users_pending:
            return super().user_attribute_values(names)
        return self._attribute_values(t.source_users, names)

    def group_attribute_values(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every staged group's ``attributes`` named ``names``: one select, as for the users.

        Google's delta: every group's e-mail, which also gives every staged group's id.
        """
        if not self._groups_pending:
            return super().group_attribute_values(names)
        return self._attribute_values(t.source_groups, names)

    def _attribute_values(self, table: sa.Table, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        c = table.c
        values = [c.data[("attributes", name)] for name in names]
        query = sa.select(c.source_id, *values).where(c.connector == self._connector)
        return {
            row[0]: {n: v for n, v in zip(names, row[1:], strict=True) if v is not None}
            for row in self._connection().execute(query)
        }

    def edges_of_members(self, ids: Collection[str]) -> list[Membership]:
        """The staged edges whose member is one of ``ids``, unless the edges were read whole.

        One select per :data:`IN_BATCH` ids, each an index range a member (the index by member
        ``ix_source_memberships_member``; the key starts with the group).
        """
        if self.edges_loaded:
            return super().edges_of_members(ids)
        return self._edges(t.source_memberships.c.member_id, ids)

    def edges_of_groups(self, ids: Collection[str]) -> list[Membership]:
        """The staged edges of the groups ``ids`` (the key's prefix: an index range a batch)."""
        if self.edges_loaded:
            return super().edges_of_groups(ids)
        return self._edges(t.source_memberships.c.group_id, ids)

    def _edges(self, column: sa.Column[str], ids: Collection[str]) -> list[Membership]:
        m = t.source_memberships.c
        conn, ordered = self._connection(), sorted(set(ids))
        found: list[Membership] = []
        for start in range(0, len(ordered), IN_BATCH):
            query = sa.select(m.group_id, m.member_id, m.member_kind).where(
                m.connector == self._connector, column.in_(ordered[start : start + IN_BATCH])
            )
            found.extend(
                Membership(group_id, member_id, _KINDS[kind])
                for group_id, member_id, kind in conn.execute(query)
            )
        return found

    def _ids(self, table: sa.Table) -> list[str]:
        query = sa.select(table.c.source_id).where(table.c.connector == self._connector)
        return list(self._connection().execute(query).scalars())


@contextmanager
def staged_mirror(store: Store, connector: str) -> Iterator[StagedMirror]:
    """The connector's :class:`StagedMirror`, its parts readable until the block ends.

    The block holds one read transaction (see the module doc); keep it to the source's
    ``delta()`` and what uses the mirror right after it.
    """
    with store.read() as conn:
        if conn.dialect.name == "postgresql":  # one snapshot for every statement, no writes
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        known = sa.select(t.connectors.c.name).where(t.connectors.c.name == connector)
        conn.execute(known)  # the first select: it fixes the transaction's view of the store
        mirror = StagedMirror(conn, connector)
        try:
            yield mirror
        finally:
            mirror.close()
            _end_quietly(conn, connector)


def _end_quietly(conn: Connection, connector: str) -> None:
    """End the mirror's read transaction; one the server ended already costs the run nothing.

    ``delta()`` waits on the network while the transaction is open: a PostgreSQL server with
    ``idle_in_transaction_session_timeout`` (or an administrator) may end the session
    meanwhile. The transaction wrote nothing, so its end is no failure; a part of the mirror
    read after that fails as a store error, as any read does.
    """
    try:
        conn.rollback()
    except sa.exc.DBAPIError as exc:
        log.warning(
            "the staged mirror of connector %r: its read transaction had ended already (%s); "
            "it wrote nothing",
            connector,
            type(exc.orig).__name__,
        )
        conn.invalidate()
