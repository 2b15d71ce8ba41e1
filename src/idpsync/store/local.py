"""Local administrators' changes: deliberate deactivations that no sync undoes.

``idpsync users disable LOGIN --local`` sets ``users.locally_disabled`` and deactivates the
account; every later sync keeps such a user inactive whatever the IdP says (their other fields
are still updated). ``idpsync users enable LOGIN --local`` clears the mark; for a synced user
the next sync then applies the IdP's state, a local user (no connector) is re-activated at once.
Each change is recorded as a run of mode ``local`` with one change-log row, so targets see it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store, fold, now

LOCAL_RUN_CONNECTOR = "(local)"
"""``runs.connector`` of changes made to local users (no connector)."""


def find_user(store: Store, login: str, connector: str | None = None) -> dict[str, Any]:
    """The one user with ``login`` (case-insensitive); :class:`LookupError` if none or several."""
    u = t.users.c
    query = sa.select(t.users).where(u.login_key == fold(login))
    if connector:
        query = query.where(u.connector == connector)
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    if not rows:
        raise LookupError(
            f"no user with login {login!r}" + (f" in connector {connector}" if connector else "")
        )
    if len(rows) > 1:
        owners = ", ".join(sorted(r["connector"] or "(local)" for r in rows))
        raise LookupError(
            f"login {login!r} exists in several connectors ({owners}); add --connector NAME"
        )
    return rows[0]


def set_locally_disabled(
    store: Store, login: str, *, disabled: bool, connector: str | None = None
) -> dict[str, Any]:
    """Mark (or unmark) a user as deliberately deactivated by a local administrator."""
    row = find_user(store, login, connector)
    owner = row["connector"] or LOCAL_RUN_CONNECTOR
    active = False if disabled else (row["active"] if row["connector"] else True)
    run_id = store.start_run(owner, "local", False)
    stamp = now()
    with store.transaction() as conn:
        conn.execute(
            t.users.update()
            .where(t.users.c.id == row["id"])
            .values(
                locally_disabled=disabled,
                active=active,
                updated_at=stamp,
                deactivated_at=row["deactivated_at"]
                if active == row["active"]
                else (None if active else stamp),
            )
        )
        changes = []
        if active != row["active"]:
            op = "user.reactivate" if active else "user.deactivate"
            changes.append(
                {
                    "run_id": run_id,
                    "connector": owner,
                    "at": stamp,
                    "op": op,
                    "object_type": "user",
                    "source_id": row["source_id"],
                    "object_key": row["login"],
                    "before": {"active": row["active"]},
                    "after": {"active": active},
                    "reason": "deactivated locally by an administrator"
                    if disabled
                    else "local deactivation lifted by an administrator",
                }
            )
            conn.execute(t.changes.insert(), changes)
        summary = {"users_deactivated" if disabled else "users_reactivated": len(changes)}
        store.finish_run(
            run_id,
            "succeeded",
            conn=conn,
            complete=True,
            summary=summary,
            message=f"{'disable' if disabled else 'enable'} {row['login']} --local",
        )
    return {**row, "active": active, "locally_disabled": disabled}
