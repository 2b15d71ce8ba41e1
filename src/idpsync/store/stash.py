"""Added membership edges kept in the store and written set-wise (a first load).

A connector's first load adds every desired edge: about a million at L, ten million at XL. As
Python objects (a ``Membership``, an ``Op`` with its key string, a change-log row tuple) they
cost ≈400 bytes each, ≈5 GiB at XL, and every one of them is built only to be written back to
the database it was read from. :class:`Stash` keeps them there instead:

1. the edge diff (:mod:`idpsync.store.edge_diff`) inserts the added edges (source ids) into a
   temporary table with one ``INSERT … SELECT`` and learns their number from it; they are
   inserted sorted (group, member, kind: Python's order, ``COLLATE "C"`` on PostgreSQL), so the
   table's serial ``n`` is that order and every later read follows ``n`` (SQLite reads a table
   by rowid without sorting; sorting the wide change-log rows cost more than the narrow ones);
2. below :data:`idpsync.store.edge_diff.BULK_FROM` edges the rows are read back as objects and
   the table dropped (the plan is as before); from there on, the plan holds the stash: its
   count (what the guards and the summary need) and a sorted :data:`SAMPLE` for display;
3. apply (:mod:`idpsync.store.apply`) writes ``memberships`` from it with one ``INSERT …
   SELECT`` joined to the connector's users and groups by source id, then the change log with
   one more from the memberships just written (their ids follow the stash's order), joined to
   their group and member by primary key (SQLite: read by rowid range, so in id order without
   a sort, and the members' logins from a narrow temporary copy of the connector's users),
   and drops the table. The change rows are the ones
   the object path writes: ``member.add``, the
   group's source id, the key ``group ← member`` from the names just written, the edge as JSON
   (formatted by the database: equal as JSON, not necessarily byte for byte), in the order
   group, member, kind.

On PostgreSQL the writes first ``ANALYZE`` the stash and the users and groups apply has just
written (:mod:`idpsync.store.stats`): counted as empty, ``users`` was rescanned per edge and a
first load at L spent ≈170 s in apply instead of ≈35 s.

The table is created in the run's transaction: a dry run's or guard's rollback discards it
(SQLite's temporary schema is transactional; on PostgreSQL it is ``ON COMMIT DROP`` as well).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import MemberKind, Membership
from idpsync.store import schema as t
from idpsync.store import stats
from idpsync.store.fk_sets import checked_set_wise
from idpsync.store.store import raw_rows

SAMPLE = 200
"""At most this many stashed edges are kept as objects, for the dry run's and report's display."""

_KINDS = {kind.value: kind for kind in MemberKind}
USER, GROUP = MemberKind.USER.value, MemberKind.GROUP.value


class Stash:
    """Added edges in a temporary table of ``conn``'s transaction (a ``StoredEdges``)."""

    def __init__(self, conn: Connection, table: sa.Table, count: int) -> None:
        self.conn = conn
        self.table = table
        self._count = count
        self._sample: list[Membership] | None = None
        self._written: tuple[int, int] | None = None
        """The ``memberships`` ids above the first and up to the second were written here."""

    @classmethod
    def create(cls, conn: Connection, edges: sa.Select[Any] | sa.CompoundSelect[Any]) -> Stash:
        """Stash the rows (``group_id``, ``member_kind``, ``member_id``) of ``edges``."""
        numbered = conn.dialect.name == "postgresql"  # ``n`` numbered by the select, no key
        table = sa.Table(
            f"idpsync_added_{uuid.uuid4().hex[:12]}",
            sa.MetaData(),
            sa.Column("n", sa.Integer, primary_key=not numbered, nullable=False),
            sa.Column("group_id", sa.String(255), nullable=False),
            sa.Column("member_kind", sa.String(8), nullable=False),
            sa.Column("member_id", sa.String(255), nullable=False),
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DROP",
        )
        table.create(conn)
        rows = edges.subquery("added")
        columns = (rows.c.group_id, rows.c.member_kind, rows.c.member_id)
        names = ("group_id", "member_kind", "member_id")
        if not numbered:  # SQLite: ``n`` is the rowid, in the order inserted
            ordered = sa.select(*columns).order_by(*_order(conn, rows.c))
            return cls(conn, table, _inserted(conn, table.insert().from_select(names, ordered)))
        number = sa.func.row_number().over(order_by=_order(conn, rows.c))
        with stats.bulk_memory(conn):  # its sort in memory (at L: 160 MB on disk otherwise)
            count = _inserted(
                conn, table.insert().from_select(("n", *names), sa.select(number, *columns))
            )
        return cls(conn, table, count)

    @property
    def count(self) -> int:
        """How many edges are stashed."""
        return self._count

    @property
    def sample(self) -> list[Membership]:
        """The first :data:`SAMPLE` edges by group, member and kind (read once)."""
        if self._sample is None:
            c = self.table.c
            query = sa.select(c.group_id, c.member_kind, c.member_id).order_by(c.n).limit(SAMPLE)
            if self.conn.dialect.name == "postgresql":  # ``n`` is 1…count: no sort of them all
                query = query.where(c.n <= SAMPLE)
            self._sample = _edges(self.conn, query)
        return self._sample

    def read(self) -> list[Membership]:
        """Every stashed edge as an object, sorted by group, member and kind."""
        c = self.table.c
        return _edges(self.conn, sa.select(c.group_id, c.member_kind, c.member_id).order_by(c.n))

    def drop(self) -> None:
        """Drop the table (in the transaction; a rollback would drop it too)."""
        self.table.drop(self.conn)

    def write_memberships(self, connector: str, stamp: Any) -> int:
        """Insert the edges into ``memberships`` by the connector's ids; returns how many.

        In the order of the object path (group, member, kind), so the rows get the same ids.
        """
        # PostgreSQL: the users and groups apply has just written (and the stash) still count
        # as empty to the planner, which would then rescan ``users`` for every edge.
        stats.refresh(self.conn, (self.table, t.users, t.groups))
        s = self.table.c
        group, user, member = _aliases()
        rows = (
            sa.select(
                sa.literal(connector, sa.String(64)),
                group.c.id,
                s.member_kind,
                sa.func.coalesce(user.c.id, member.c.id),
                sa.literal(stamp, t.memberships.c.created_at.type),
            )
            .select_from(_joins(self.table, connector, (group, user, member)))
            .where(group.c.id.is_not(None))
            .where(sa.or_(user.c.id.is_not(None), member.c.id.is_not(None)))
            .order_by(s.n)  # the stash's order: SQLite reads it by rowid, without a sort
        )
        names = ("connector", "group_id", "member_kind", "member_id", "created_at")
        floor = _highest_id(self.conn)
        m = t.memberships.c
        new = m.id > floor
        with (
            stats.bulk_memory(self.conn),  # its sort by ``n`` in memory, and the checks' too
            checked_set_wise(self.conn, t.memberships, new, self._count, {"connector": connector}),
        ):
            written = _inserted(self.conn, t.memberships.insert().from_select(names, rows))
            # PostgreSQL: counted as none, the million rows just written would be read by the
            # checks (a sort of their groups on disk) and the change log (a lookup of each
            # one's group and member by index) as if a few
            stats.refresh(self.conn, (t.memberships,))
        self._written = (floor, _highest_id(self.conn))
        if written != self._count:  # an edge whose group or member the plan did not create
            raise RuntimeError(
                f"{self._count - written} of {self._count} added memberships name a user or "
                "group the directory does not hold; nothing was changed"
            )
        return written

    def write_changes(self, run_id: int, connector: str, stamp: Any) -> int:
        """Insert one ``member.add`` change-log row per edge, in order; returns how many.

        After :meth:`write_memberships`: the rows are read back from the memberships it wrote
        (the connector's ids above the highest before it, in id order, which is the stash's),
        joined to their group and member by primary key, not by source id.
        """
        if self._written is None:
            raise RuntimeError("the stashed memberships must be written before their changes")
        floor, ceiling = self._written
        m = t.memberships.c
        group, user, member = _aliases()
        mine: tuple[Any, ...] = (m.connector == connector, m.id > floor, m.id <= ceiling)
        names = None
        if self.conn.dialect.name == "sqlite":
            # the memberships by their rowids (with the connector's unique key SQLite would
            # read them by connector and sort the finished ≈280-byte change rows by id), and
            # the members' logins from a narrow copy of the connector's users (the rows of
            # ``users`` are ≈10 times as wide): at L 3.8 → 2.8 CPU s
            mine = (sa.func.coalesce(m.connector, "") == connector, *mine[1:])
            names = _user_names(self.conn, connector)
            user = names.alias("u")
        edges: Any = (
            t.memberships.join(group, group.c.id == m.group_id)
            .outerjoin(user, sa.and_(m.member_kind == USER, user.c.id == m.member_id))
            .outerjoin(member, sa.and_(m.member_kind == GROUP, member.c.id == m.member_id))
        )
        e: Any = {
            "id": m.id,
            "group_id": group.c.source_id,
            "group_name": group.c.name,
            "member_name": sa.func.coalesce(user.c.login, member.c.name),
            "member_id": sa.func.coalesce(user.c.source_id, member.c.source_id),
            "member_kind": m.member_kind,
        }
        if self.conn.dialect.name == "postgresql":
            # sorted by id before the change rows are made of them: a sort of the narrow rows
            # (in memory at L), not of the ≈340-byte change rows (≈290 MB of temporary files)
            narrow = sa.select(*(c.label(name) for name, c in e.items())).select_from(edges)
            edges = narrow.where(*mine).order_by(m.id).subquery("e")
            e, mine = edges.c, ()
        key = e["group_name"] + sa.literal(" ← ") + e["member_name"]
        edge = _edge_json(self.conn, e["group_id"], e["member_id"], e["member_kind"])
        rows = (
            sa.select(
                sa.literal(run_id, t.changes.c.run_id.type),
                sa.literal(connector, sa.String(64)),
                sa.literal(stamp, t.changes.c.at.type),
                sa.literal("member.add", sa.String(32)),
                sa.literal("member", sa.String(8)),
                e["group_id"],
                key,
                _json(self.conn, sa.literal("null", sa.Text)),
                _json(self.conn, edge),
                sa.literal("member in the IdP", sa.Text),
            )
            .select_from(edges)
            .where(*mine)
            .order_by(e["id"])  # the stash's order: SQLite reads by rowid, PostgreSQL e's sort
        )
        columns = (
            "run_id", "connector", "at", "op", "object_type", "source_id", "object_key",
            "before", "after", "reason",
        )  # fmt: skip
        c = t.changes.c
        new = c.seq > _highest_id(self.conn, t.changes.c.seq)
        with (
            stats.bulk_memory(self.conn),  # its sort by id in memory
            checked_set_wise(self.conn, t.changes, new, self._count, {"run_id": run_id}),
        ):
            logged = _inserted(self.conn, t.changes.insert().from_select(columns, rows))
        if names is not None:
            names.drop(self.conn)
        if logged != self._count:  # a written membership gone again before the log: refuse
            raise RuntimeError(
                f"{logged} change-log rows for {self._count} added memberships; nothing was changed"
            )
        return logged


def _user_names(conn: Connection, connector: str) -> sa.Table:
    """A temporary table of the connector's users' ids, source ids and logins (SQLite).

    Keyed by ``id`` (its rowid): a change row's member is looked up in it as in ``users``.
    Made in the run's transaction (a rollback drops it) and dropped after its one use.
    """
    users = t.users.c
    table = sa.Table(
        f"idpsync_logins_{uuid.uuid4().hex[:12]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("login", sa.String(512), nullable=False),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    mine = sa.select(users.id, users.source_id, users.login).where(users.connector == connector)
    conn.execute(table.insert().from_select(("id", "source_id", "login"), mine.order_by(users.id)))
    return table


def _highest_id(conn: Connection, column: Any = t.memberships.c.id) -> int:
    """The highest ``column`` (a serial id) so far (0 for none)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(column), 0))).scalar_one())


def _inserted(conn: Connection, insert: sa.Insert) -> int:
    """Run ``insert``; how many rows it inserted.

    SQLAlchemy keeps an ``INSERT``'s row count only when asked (``preserve_rowcount``); without
    it psycopg's count reads -1, and a first load on PostgreSQL would be read back as objects.
    """
    result = conn.execute(insert, execution_options={"preserve_rowcount": True})
    count = int(result.rowcount)
    if count < 0:
        raise RuntimeError("the store did not report how many rows an insert wrote")
    return count


def _aliases() -> tuple[Any, Any, Any]:
    """The directory tables an edge's group and member are looked up in (named aliases)."""
    return t.groups.alias("g"), t.users.alias("u"), t.groups.alias("mg")


def _joins(table: sa.Table, connector: str, aliases: tuple[Any, Any, Any]) -> Any:
    """``table`` left-joined to its group, and to its member as a user or as a group."""
    s = table.c
    group, user, member = aliases
    return (
        table.outerjoin(
            group, sa.and_(group.c.connector == connector, group.c.source_id == s.group_id)
        )
        .outerjoin(
            user,
            sa.and_(
                s.member_kind == USER,
                user.c.connector == connector,
                user.c.source_id == s.member_id,
            ),
        )
        .outerjoin(
            member,
            sa.and_(
                s.member_kind == GROUP,
                member.c.connector == connector,
                member.c.source_id == s.member_id,
            ),
        )
    )


def _order(conn: Connection, s: Any) -> tuple[Any, ...]:
    """Group, member, kind: the order of the object path (``sorted_edges``)."""
    return (_ordered(conn, s.group_id), _ordered(conn, s.member_id), s.member_kind)


def _ordered(conn: Connection, column: Any) -> Any:
    """``column`` ordered by code points, as Python sorts (PostgreSQL: the ``C`` collation)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _quoted(conn: Connection, value: Any) -> Any:
    """``value`` as a JSON string literal, made by the database."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.to_json(sa.cast(value, sa.Text)), sa.Text)
    return sa.func.json_quote(value)


def _edge_json(conn: Connection, group: Any, member: Any, kind: Any) -> Any:
    """The change log's edge, ``{"group": …, "member": …, "member_kind": …}``, as JSON text."""
    return (
        sa.literal('{"group": ', sa.Text)
        + _quoted(conn, group)
        + sa.literal(', "member": ', sa.Text)
        + _quoted(conn, member)
        + sa.literal(', "member_kind": ', sa.Text)
        + _quoted(conn, kind)
        + sa.literal("}", sa.Text)
    )


def _json(conn: Connection, text: Any) -> Any:
    """JSON text for a ``JSON`` column: PostgreSQL casts it; SQLite stores the text as it is."""
    if conn.dialect.name == "postgresql":
        return sa.cast(text, sa.JSON)
    return text


def _edges(conn: Connection, query: sa.Select[Any]) -> list[Membership]:
    seen: dict[str, str] = {}  # one string per id, not one per row
    return [
        Membership(
            seen.setdefault(group_id, group_id), seen.setdefault(member_id, member_id), _KINDS[kind]
        )
        for group_id, kind, member_id in raw_rows(conn, query)
    ]
