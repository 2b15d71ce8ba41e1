"""Read-only queries the API and the pages share (runs with paging, a user's page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store, fold


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A row with datetimes as ISO strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


RUN_COLUMNS = ("id", "connector", "mode", "dry_run", "status", "complete", "started_at", "actor")


def runs(store: Store, connector: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    """Runs newest first, without their stored report."""
    r = t.runs.c
    query = (
        sa.select(*(getattr(r, c) for c in RUN_COLUMNS), r.finished_at, r.summary, r.message)
        .order_by(r.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if connector:
        query = query.where(r.connector == connector)
    with store.read() as conn:
        return [jsonable(dict(row._mapping)) for row in conn.execute(query)]


def user_page(store: Store, user_id: int) -> dict[str, Any] | None:
    """A user with source attributes, groups, manager and change history."""
    u = t.users.c
    with store.read() as conn:
        row = conn.execute(sa.select(t.users).where(u.id == user_id)).first()
        if row is None:
            return None
        user = jsonable(dict(row._mapping))
        m = t.memberships.c
        groups = conn.execute(
            sa.select(t.groups.c.id, t.groups.c.name, t.groups.c.source_id)
            .join(t.memberships, m.group_id == t.groups.c.id)
            .where(m.member_kind == "user", m.member_id == user_id)
            .order_by(t.groups.c.name_key)
        )
        user["groups"] = [dict(g._mapping) for g in groups]
        user["manager"] = None
        if row.manager_id and row.connector:
            manager = conn.execute(
                sa.select(u.id, u.login, u.display_name).where(
                    u.connector == row.connector, u.source_id == row.manager_id
                )
            ).first()
            user["manager"] = dict(manager._mapping) if manager else {"source_id": row.manager_id}
        source = conn.execute(
            sa.select(t.source_users.c.data).where(
                t.source_users.c.connector == row.connector,
                t.source_users.c.source_id == row.source_id,
            )
        ).first()
        user["source"] = source.data if source else None
        c = t.changes.c
        history = conn.execute(
            sa.select(c.seq, c.run_id, c.at, c.op, c.reason, c.before, c.after)
            .where(c.connector == row.connector, c.object_type == "user")
            .where(c.source_id == row.source_id)
            .order_by(c.seq.desc())
            .limit(100)
        )
        user["history"] = [jsonable(dict(h._mapping)) for h in history]
        return user


# -- the directory pages: listings with filters, sorting, counts and paging -------------------

LOCAL = "(local)"
"""The connector filter value that selects local users and groups (no connector)."""

USER_SORTS = {
    "login": t.users.c.login_key,
    "name": t.users.c.display_name,
    "email": t.users.c.email_key,
    "connector": t.users.c.connector,
    "active": t.users.c.active,
    "updated": t.users.c.updated_at,
}
"""The columns the users page sorts by (anything else sorts by login)."""

GROUP_SORTS = {"name": "name", "connector": "connector", "members": "members", "updated": "updated"}
"""The columns the groups page sorts by (anything else sorts by name)."""


@dataclass(frozen=True)
class UserFilter:
    """What the users page shows: a search, a connector, active/locally disabled, an order."""

    q: str = ""
    connector: str = ""
    active: str = ""
    """``yes``, ``no`` or empty (both)."""
    disabled: str = ""
    """``yes`` (locally disabled only), ``no`` or empty (both)."""
    sort: str = "login"
    desc: bool = False


@dataclass(frozen=True)
class Listing:
    """One page of a listing and how many rows match in all."""

    rows: list[dict[str, Any]]
    total: int
    offset: int
    limit: int

    @property
    def first(self) -> int:
        """The number of the first row shown (1-based; 0 when none)."""
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """The number of the last row shown."""
        return self.offset + len(self.rows)

    @property
    def has_next(self) -> bool:
        """Whether rows follow this page."""
        return self.offset + self.limit < self.total


def _like(text: str, folded: bool = True) -> str:
    """A LIKE pattern (escaped with backslashes) matching ``text`` anywhere."""
    escaped = (
        (text.casefold() if folded else text)
        .replace("\\", "\\\\")
        .replace("%", "\\%")
        .replace("_", "\\_")
    )
    return f"%{escaped}%"


def _owned_by(column: Any, connector: str) -> Any:
    return column.is_(None) if connector == LOCAL else column == connector


def _yes_no(column: Any, value: str) -> Any | None:
    if value in ("yes", "no"):
        return column.is_(value == "yes")
    return None


def _user_conditions(f: UserFilter) -> list[Any]:
    u = t.users.c
    where: list[Any] = []
    if f.q:
        pattern = _like(f.q)
        where.append(
            sa.or_(
                u.login_key.like(pattern, escape="\\"),
                sa.func.lower(u.email).like(pattern, escape="\\"),
                sa.func.lower(u.display_name).like(pattern, escape="\\"),
                u.source_id.like(_like(f.q, folded=False), escape="\\"),
            )
        )
    if f.connector:
        where.append(_owned_by(u.connector, f.connector))
    for condition in (_yes_no(u.active, f.active), _yes_no(u.locally_disabled, f.disabled)):
        if condition is not None:
            where.append(condition)
    return where


def list_users(store: Store, f: UserFilter, limit: int, offset: int) -> Listing:
    """The users matching ``f`` (one page, sorted), with the number matching in all."""
    u = t.users.c
    where = _user_conditions(f)
    column = USER_SORTS.get(f.sort, u.login_key)
    order = [column.desc() if f.desc else column.asc(), u.id]
    query = (
        sa.select(
            u.id,
            u.connector,
            u.source_id,
            u.login,
            u.email,
            u.display_name,
            u.active,
            u.locally_disabled,
            u.updated_at,
        )
        .where(*where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    with store.read() as conn:
        rows = [jsonable(dict(r._mapping)) for r in conn.execute(query)]
        total = int(
            conn.execute(sa.select(sa.func.count()).select_from(t.users).where(*where)).scalar_one()
        )
    return Listing(rows, total, offset, limit)


def _member_counts() -> Any:
    m = t.memberships.c
    return (
        sa.select(m.group_id, sa.func.count().label("members"))
        .group_by(m.group_id)
        .subquery("member_counts")
    )


def list_groups(
    store: Store, q: str, connector: str, sort: str, desc: bool, limit: int, offset: int
) -> Listing:
    """Groups whose name (or IdP id) contains ``q``, with their direct member counts."""
    g = t.groups.c
    where: list[Any] = []
    if q:
        where.append(
            sa.or_(
                g.name_key.like(_like(fold(q), folded=False), escape="\\"),
                g.source_id.like(_like(q, folded=False), escape="\\"),
            )
        )
    if connector:
        where.append(_owned_by(g.connector, connector))
    counts = _member_counts()
    members = sa.func.coalesce(counts.c.members, 0).label("members")
    columns = {
        "name": g.name_key,
        "connector": g.connector,
        "members": members,
        "updated": g.updated_at,
    }
    column = columns[GROUP_SORTS.get(sort, "name")]
    query = (
        sa.select(g.id, g.connector, g.source_id, g.name, g.description, g.updated_at, members)
        .outerjoin(counts, counts.c.group_id == g.id)
        .where(*where)
        .order_by(column.desc() if desc else column.asc(), g.id)
        .limit(limit)
        .offset(offset)
    )
    with store.read() as conn:
        rows = [jsonable(dict(r._mapping)) for r in conn.execute(query)]
        total = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(t.groups).where(*where)
            ).scalar_one()
        )
    return Listing(rows, total, offset, limit)


def group_page(store: Store, group_id: int, limit: int, offset: int) -> dict[str, Any] | None:
    """A group with one page of its direct members (nested groups, then users) and their count."""
    g, m, u = t.groups.c, t.memberships.c, t.users.c
    child = t.groups.alias("child")
    users = sa.select(
        sa.literal("user").label("kind"),
        u.id,
        u.login.label("name"),
        u.display_name,
        u.source_id,
        u.active,
        u.login_key.label("sort_key"),
    ).join(t.memberships, sa.and_(m.member_kind == "user", m.member_id == u.id))
    groups = sa.select(
        sa.literal("group").label("kind"),
        child.c.id,
        child.c.name,
        sa.null().label("display_name"),
        child.c.source_id,
        sa.true().label("active"),
        child.c.name_key.label("sort_key"),
    ).join(t.memberships, sa.and_(m.member_kind == "group", m.member_id == child.c.id))
    both = sa.union_all(
        users.where(m.group_id == group_id), groups.where(m.group_id == group_id)
    ).subquery()
    with store.read() as conn:
        row = conn.execute(sa.select(t.groups).where(g.id == group_id)).first()
        if row is None:
            return None
        group = jsonable(dict(row._mapping))
        page = conn.execute(
            sa.select(both)
            .order_by(both.c.kind, both.c.sort_key, both.c.id)
            .limit(limit)
            .offset(offset)
        )
        members = [dict(r._mapping) for r in page]
        total = int(conn.execute(sa.select(sa.func.count()).select_from(both)).scalar_one())
        parents = conn.execute(
            sa.select(g.id, g.name)
            .join(t.memberships, m.group_id == g.id)
            .where(m.member_kind == "group", m.member_id == group_id)
            .order_by(g.name_key)
        )
        group["parents"] = [dict(p._mapping) for p in parents]
        source = conn.execute(
            sa.select(t.source_groups.c.data).where(
                t.source_groups.c.connector == row.connector,
                t.source_groups.c.source_id == row.source_id,
            )
        ).first()
        group["source"] = source.data if source else None
    group["members"] = Listing(members, total, offset, limit)
    return group


def connectors_in_directory(store: Store) -> list[str]:
    """The connectors that own users or groups (for the filter menus), local last."""
    with store.read() as conn:
        names = {r[0] for r in conn.execute(sa.select(t.users.c.connector).distinct())}
        names |= {r[0] for r in conn.execute(sa.select(t.groups.c.connector).distinct())}
    return sorted(n for n in names if n) + ([LOCAL] if None in names else [])


def attribute_rows(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A JSON document as ``(dotted name, value)`` rows for an attribute table."""
    if isinstance(data, dict):
        rows: list[tuple[str, str]] = []
        for key in sorted(data):
            rows.extend(attribute_rows(data[key], f"{prefix}.{key}" if prefix else str(key)))
        if not rows and prefix:
            return [(prefix, "{}")]
        return rows
    if isinstance(data, list):
        if all(not isinstance(v, dict | list) for v in data):
            return [(prefix, ", ".join("" if v is None else str(v) for v in data))]
        rows = []
        for i, value in enumerate(data):
            rows.extend(attribute_rows(value, f"{prefix}[{i}]"))
        return rows
    if data is None:
        return [(prefix, "—")]
    if isinstance(data, bool):
        return [(prefix, "yes" if data else "no")]
    return [(prefix, str(data))]


HISTORY_COLUMNS = ("id", "status", "dry_run", "mode", "started_at", "summary", "stats")


def run_history(store: Store, connector: str, limit: int = 30) -> list[dict[str, Any]]:
    """The connector's last ``limit`` finished runs, oldest first (for the dashboard's charts)."""
    r = t.runs.c
    query = (
        sa.select(*(getattr(r, c) for c in HISTORY_COLUMNS))
        .where(r.connector == connector, r.status != "running")
        .order_by(r.id.desc())
        .limit(limit)
    )
    with store.read() as conn:
        rows = [jsonable(dict(row._mapping)) for row in conn.execute(query)]
    return rows[::-1]
