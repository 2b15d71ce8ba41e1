"""Connectors awaiting an administrator's approval (the ``approvals`` table).

A run refused by a guard puts its connector here. Later runs cannot take it away: an
incremental run cannot see deletions, and a full run that is refused again only refreshes the
counts. Only two things settle it: a run with deletes allowed that succeeds (the approval, from
the admin pages, the API or ``idpsync sync --allow-deletes``), or a dismissal.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.engine.plan import REMOVALS, OpKind, Plan
from idpsync.store import schema as t
from idpsync.store.store import Store, now

log = logging.getLogger("idpsync.approvals")

KEEP = 1000
"""At most this many removals are kept for display (the counts are always whole)."""


def removals(plan: Plan) -> list[dict[str, str]]:
    """The users and groups ``plan`` would deactivate, delete or anonymise (not memberships)."""
    out = []
    for op in plan.ops:
        if op.kind in REMOVALS and op.kind is not OpKind.REMOVE_MEMBER:
            out.append({"op": op.kind.value, "key": op.key, "source_id": op.source_id})
            if len(out) >= KEEP:
                break
    return out


def await_approval(
    store: Store, connector: str, run_id: int, message: str, summary: dict[str, int], plan: Plan
) -> None:
    """Record (or refresh with the newest guarded run) that ``connector`` awaits approval."""
    a = t.approvals.c
    values = {
        "run_id": run_id,
        "message": message,
        "summary": summary,
        "removals": removals(plan),
        "updated_at": now(),
    }
    with store.transaction() as conn:
        found = conn.execute(
            t.approvals.update().where(a.connector == connector).values(**values)
        ).rowcount
        if not found:
            conn.execute(t.approvals.insert().values(connector=connector, since=now(), **values))
    log.info("connector %s awaits approval (run %s): %s", connector, run_id, message)


def pending(store: Store, connector: str) -> dict[str, Any] | None:
    """The connector's pending approval, or ``None``."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.approvals).where(t.approvals.c.connector == connector)
        ).first()
    return dict(row._mapping) if row is not None else None


def set_check(store: Store, connector: str, run_id: int) -> None:
    """Remember the dry run that re-checked the pending approval's plan."""
    with store.transaction() as conn:
        conn.execute(
            t.approvals.update()
            .where(t.approvals.c.connector == connector)
            .values(check_run_id=run_id, updated_at=now())
        )


def settle(conn: Connection, connector: str, run_id: int | None, how: str) -> bool:
    """Close the pending approval (``approved`` by run ``run_id`` or ``dismissed``)."""
    gone = conn.execute(t.approvals.delete().where(t.approvals.c.connector == connector)).rowcount
    if gone:
        log.info("approval of connector %s %s (run %s)", connector, how, run_id)
    return bool(gone)


def dismiss(store: Store, connector: str) -> bool:
    """Drop the pending approval without applying it; whether there was one."""
    with store.transaction() as conn:
        return settle(conn, connector, None, "dismissed")
