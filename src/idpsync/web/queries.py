"""Read-only queries the API and the pages share (runs with paging, a user's page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store


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
