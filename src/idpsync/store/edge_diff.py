"""The membership part of a run's plan, computed in the database.

:class:`StoreEdges` is the :class:`~idpsync.engine.edges.EdgePlanner` the runner hands to
:func:`~idpsync.engine.decide.decide`: the staged edges (``source_memberships``) and the
directory's edges (``memberships``) stay in their tables, and only the edges that change become
Python objects. :meth:`StoreEdges.changes` does what :func:`idpsync.engine.edges.changes` does
in Python:

1. the rule's id sets go into two temporary tables (``kind``/``id`` pairs and the relinks), in
   bulk; they are dropped again when the diff was read (a failed run's rollback discards them
   too: they are created inside the run's transaction, and on PostgreSQL ``ON COMMIT DROP``);
2. the desired edges ``D`` are the staged edges of synced users and groups plus every synced
   user in every always-assigned group; the directory's edges ``C`` are ``memberships`` joined
   to ``users``/``groups`` for their source ids, with relinked users under their new id;
3. added edges are ``D EXCEPT C``; removed edges (complete reads only) are the edges of ``C``
   that neither touch a held object nor belong to a kept user (those stay, see
   :mod:`idpsync.engine.edges`), ``EXCEPT D``. A first load (the connector holds no membership
   yet) adds ``D`` without a diff; its three parts (staged user edges, staged group edges,
   always-group edges less the staged ones) are disjoint, so it has no duplicates;
4. the added edges go into a temporary table (:class:`~idpsync.store.stash.Stash`) by one
   ``INSERT … SELECT``. Fewer than :data:`BULK_FROM` are read back as objects (and the table
   dropped); from :data:`BULK_FROM` on (a first load, a large new group) they stay there and
   :class:`~idpsync.engine.edges.EdgeChanges` carries the stash (its count and a sample), which
   apply writes set-wise. Removed edges are always objects: the limits count them per group.

The staged edges test their ids by primary-key probes of the temporary table (``_probe``): with
two ``IN`` lists SQLite would probe every group × member pair of the sets. Indexed ``NOT
EXISTS`` anti-joins instead of ``EXCEPT`` were measured at L and not kept: on SQLite they cost
what ``EXCEPT`` does (1M rows are visited either way), and on a freshly loaded PostgreSQL
store (no statistics yet) the planner chose nested loops that ran for minutes.

:meth:`StoreEdges.members` reads the members of the required groups level by level, for the
policy's scope. Plain SQLAlchemy Core: SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.engine.edges import EdgeChanges, EdgeRule, sorted_edges
from idpsync.model import MemberKind, Membership
from idpsync.store import schema as t
from idpsync.store import stats
from idpsync.store.stash import Stash
from idpsync.store.store import bulk_insert, raw_rows

_KINDS = {kind.value: kind for kind in MemberKind}
USER, GROUP = MemberKind.USER.value, MemberKind.GROUP.value

BULK_FROM = 20_000
"""From this many added edges on (a first load, a new large group) the plan keeps them in the
store (:mod:`idpsync.store.stash`): counted and written set-wise, not one object each."""

_SETS = {
    "su": "synced_users",
    "sg": "staged_groups",
    "al": "always",
    "g": "groups",
    "hu": "held_users",
    "hg": "held_groups",
    "k": "kept",
}
"""The id sets of an :class:`EdgeRule`, by the tag they carry in the temporary table."""


class StoreEdges:
    """The edges of ``connector`` where they are stored, read in ``conn``'s transaction."""

    def __init__(
        self, conn: Connection, connector: str, users: frozenset[str] | None = None
    ) -> None:
        self.conn = conn
        self.connector = connector
        self.users = users
        """Only the directory edges of these member users (and every group edge) are diffed:
        an incremental plan (:mod:`idpsync.app.incremental`), whose rule syncs only them."""

    def members(self, roots: set[str], *, transitive: bool) -> set[str]:
        """Users in the staged groups ``roots`` (with ``transitive``: through nested groups)."""
        m = t.source_memberships.c
        users: set[str] = set()
        seen: set[str] = set()
        level = set(roots)
        while level:
            seen |= level
            nested: set[str] = set()
            ordered = sorted(level)
            for start in range(0, len(ordered), 500):
                query = sa.select(m.member_kind, m.member_id).where(
                    m.connector == self.connector, m.group_id.in_(ordered[start : start + 500])
                )
                for kind, member_id in self.conn.execute(query):
                    if kind == USER:
                        users.add(member_id)
                    elif transitive:
                        nested.add(member_id)
            level = nested - seen
        return users

    def changes(self, rule: EdgeRule) -> EdgeChanges:
        """The edges to add and to remove under ``rule``, each sorted by group, member, kind.

        The added edges are stashed in the store first (:class:`~idpsync.store.stash.Stash`);
        from :data:`BULK_FROM` of them on they stay there and the changes carry the stash. A
        diff restricted to some users (``users``) reads the desired edges once for both
        directions (one scan of the staged edges).
        """
        removed: list[Membership] = []
        with _rule_tables(self.conn, rule, self.users) as (ids, relinks):
            restricted = self.users is not None
            desired = _desired(self.connector, ids, by_member=restricted)
            if not self._owns_edges():  # a first load: everything desired is added
                stash = Stash.create(self.conn, desired)
            else:
                if restricted:
                    desired = _materialised(self.conn, desired, ids)
                current = _current(self.connector, relinks, ids if restricted else None)
                stash = Stash.create(self.conn, sa.except_(desired, sa.select(*current.c)))
                if rule.complete:
                    kept = sa.select(*current.c).where(sa.not_(_spared(current.c, ids)))
                    removed = _read(self.conn, sa.except_(kept, desired))
        if stash.count >= max(BULK_FROM, 1):
            return EdgeChanges([], sorted_edges(removed), stored=stash)
        added = stash.read()
        stash.drop()
        return EdgeChanges(added, sorted_edges(removed))

    def _owns_edges(self) -> bool:
        """Whether the directory holds any membership of the connector."""
        m = t.memberships.c
        query = sa.select(m.id).where(m.connector == self.connector).limit(1)
        return self.conn.execute(query).first() is not None


@contextmanager
def _rule_tables(
    conn: Connection, rule: EdgeRule, users: frozenset[str] | None = None
) -> Iterator[tuple[sa.Table, sa.Table]]:
    """Temporary tables with the rule's id sets and relinks, dropped when the block ends well.

    ``users``: the member users a restricted diff covers, tagged ``au``.
    """
    suffix = uuid.uuid4().hex[:12]
    meta = sa.MetaData()
    options: dict[str, Any] = {"prefixes": ["TEMPORARY"], "postgresql_on_commit": "DROP"}
    ids = sa.Table(
        f"idpsync_edge_ids_{suffix}",
        meta,
        sa.Column("tag", sa.String(2), primary_key=True),
        sa.Column("id", sa.String(255), primary_key=True),
        **options,
    )
    relinks = sa.Table(
        f"idpsync_edge_relinks_{suffix}",
        meta,
        sa.Column("old", sa.String(255), primary_key=True),
        sa.Column("new", sa.String(255), nullable=False),
        **options,
    )
    meta.create_all(conn)
    rows = ((tag, sid) for tag, name in _SETS.items() for sid in getattr(rule, name))
    bulk_insert(conn, ids, ("tag", "id"), rows)
    bulk_insert(conn, ids, ("tag", "id"), (("au", sid) for sid in users or ()))
    bulk_insert(conn, relinks, ("old", "new"), ((o, n) for n, o in rule.relinks.items()))
    stats.refresh(conn, (ids, relinks))  # PostgreSQL: plan with their real sizes (1M ids at L)
    yield ids, relinks
    # Not in a ``finally``: after an error the transaction is rolled back (and takes the
    # tables with it); a DROP in an aborted PostgreSQL transaction would hide the error.
    meta.drop_all(conn)


def _materialised(conn: Connection, rows: sa.Select[Any], ids: sa.Table) -> sa.Select[Any]:
    """``rows`` (edges) written to a temporary table beside ``ids`` (dropped with it)."""
    assert ids.metadata is not None
    table = sa.Table(
        ids.name.replace("_ids_", "_desired_"),
        ids.metadata,
        *(sa.Column(name, sa.String(255)) for name in ("group_id", "member_kind", "member_id")),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    table.create(conn)
    conn.execute(table.insert().from_select(["group_id", "member_kind", "member_id"], rows))
    stats.refresh(conn, (table,))
    return sa.select(table.c.group_id, table.c.member_kind, table.c.member_id)


def _in(column: Any, ids: sa.Table, tag: str) -> sa.ColumnElement[bool]:
    """Whether ``column`` is in the id set ``tag`` (``IN``: the set is read once per query)."""
    result: sa.ColumnElement[bool] = column.in_(sa.select(ids.c.id).where(ids.c.tag == tag))
    return result


def _probe(column: Any, ids: sa.Table, tag: str) -> sa.ColumnElement[bool]:
    """Whether ``column`` is in the id set ``tag``: a primary-key probe per row.

    For the staged edges: with two ``IN`` lists on its primary key SQLite would probe
    ``source_memberships`` for every group × member pair of the sets.
    """
    probe = ids.alias()
    return sa.exists().where(probe.c.tag == tag, probe.c.id == column)


def _kind(value: str) -> sa.ColumnElement[str]:
    return sa.cast(sa.literal(value), sa.String(8))


def _desired(connector: str, ids: sa.Table, *, by_member: bool = False) -> sa.Select[Any]:
    """The desired edges that are not the directory's own (staged and always-group edges).

    ``by_member``: the synced users are few (a restricted diff), so their staged edges are
    looked up by member (the stage's index by member) instead of probed edge by edge.
    """
    parts = _desired_parts(connector, ids, by_member=by_member)
    both = sa.union_all(*parts).subquery("desired")
    return sa.select(both.c.group_id, both.c.member_kind, both.c.member_id)


def _desired_parts(
    connector: str, ids: sa.Table, *, by_member: bool = False
) -> list[sa.Select[Any]]:
    """The desired edges in three disjoint parts: staged user and group edges, always-groups."""
    s = t.source_memberships.c

    def staged(kind: str, tag: str) -> sa.Select[Any]:
        member = _in if by_member and kind == USER else _probe
        return sa.select(s.group_id, s.member_kind, s.member_id).where(
            s.connector == connector,
            s.member_kind == kind,
            _probe(s.group_id, ids, "sg"),
            member(s.member_id, ids, tag),
            s.member_id != s.group_id,
        )

    return [staged(USER, "su"), staged(GROUP, "sg"), _always(connector, ids)]


def _always(connector: str, ids: sa.Table) -> sa.Select[Any]:
    """Every synced user in every always-group, less the staged edges."""
    group, user = ids.alias("always_group"), ids.alias("synced_user")
    also_staged = sa.and_(  # the staged part has it already
        _probe(group.c.id, ids, "sg"),
        user.c.id != group.c.id,
        _staged_edge(connector, group.c.id, _kind(USER), user.c.id),
    )
    always = (
        sa.select(
            group.c.id.label("group_id"),
            _kind(USER).label("member_kind"),
            user.c.id.label("member_id"),
        )
        .select_from(group.join(user, sa.true()))
        .where(group.c.tag == "al", user.c.tag == "su", sa.not_(also_staged))
    )
    return always


def _staged_edge(connector: str, group_id: Any, kind: Any, member_id: Any) -> sa.Exists:
    """Whether the edge is staged (a ``source_memberships`` primary-key lookup)."""
    s = t.source_memberships.c
    return sa.exists().where(
        s.connector == connector,
        s.group_id == group_id,
        s.member_kind == kind,
        s.member_id == member_id,
    )


def _current(connector: str, relinks: sa.Table, ids: sa.Table | None = None) -> sa.Subquery:
    """The directory's edges by source ids, relinked users under their new id.

    ``ids``: only the edges of the member users tagged ``au`` there (and every group edge).
    """
    m = t.memberships.c
    group, user, member = t.groups.alias("g"), t.users.alias("u"), t.groups.alias("mg")
    into = group.c.id == m.group_id
    owned = sa.and_(into, group.c.connector == connector)
    only, only_groups = [], []
    owner = m.connector == connector
    if ids is not None:  # by member id first (the index on member kind and id), then joined
        # The owner compared through COALESCE: SQLite would otherwise walk the connector's
        # memberships by their unique index and test each one.
        owner = sa.func.coalesce(m.connector, "") == connector
        users, groups = t.users.c, t.groups.c
        of = sa.select(users.id).where(users.connector == connector)
        only = [m.member_id.in_(of.where(_in(users.source_id, ids, "au")))]
        only_groups = [m.member_id.in_(sa.select(groups.id).where(groups.connector == connector))]
    of_users = (
        sa.select(
            group.c.source_id.label("group_id"),
            m.member_kind,
            sa.func.coalesce(relinks.c.new, user.c.source_id).label("member_id"),
        )
        .select_from(
            t.memberships.join(group, owned)
            .join(user, sa.and_(user.c.id == m.member_id, user.c.connector == connector))
            .outerjoin(relinks, relinks.c.old == user.c.source_id)
        )
        .where(owner, m.member_kind == USER, *only)
    )
    of_groups = (
        sa.select(
            group.c.source_id.label("group_id"),
            m.member_kind,
            member.c.source_id.label("member_id"),
        )
        .select_from(
            t.memberships.join(group, owned).join(
                member, sa.and_(member.c.id == m.member_id, member.c.connector == connector)
            )
        )
        .where(owner, m.member_kind == GROUP, *only_groups)
    )
    return sa.union_all(of_users, of_groups).subquery("cur")


def _spared(cur: Any, ids: sa.Table) -> sa.ColumnElement[bool]:
    """Whether a directory edge stays for a held object or a kept user (``edges.spared``)."""
    user = cur.member_kind == USER
    group = cur.member_kind == GROUP
    touches = sa.or_(
        _in(cur.group_id, ids, "hg"),
        sa.and_(user, _in(cur.member_id, ids, "hu")),
        sa.and_(group, _in(cur.member_id, ids, "hg")),
    )
    both_stay = sa.or_(
        sa.and_(user, sa.or_(_in(cur.member_id, ids, "su"), _in(cur.member_id, ids, "hu"))),
        sa.and_(group, _in(cur.member_id, ids, "g")),
    )
    kept = sa.and_(user, _in(cur.member_id, ids, "k"))
    return sa.and_(_in(cur.group_id, ids, "g"), sa.or_(kept, sa.and_(touches, both_stay)))


def _read(conn: Connection, compound: sa.CompoundSelect[Any] | sa.Select[Any]) -> list[Membership]:
    rows = compound.subquery("diff")
    query = sa.select(rows.c.group_id, rows.c.member_kind, rows.c.member_id)
    seen: dict[str, str] = {}  # one string per id, not one per row (a first run adds them all)
    return [
        Membership(
            seen.setdefault(group_id, group_id), seen.setdefault(member_id, member_id), _KINDS[kind]
        )
        for group_id, kind, member_id in raw_rows(conn, query)
    ]
