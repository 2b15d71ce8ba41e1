"""``Store.counts``: what the guards compare a plan with, each table scanned once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.store import now


def test_counts_reads_all_and_active_users_in_one_statement(store: Store) -> None:
    stamp = now()
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        conn.execute(
            t.users.insert(),
            [
                {
                    "connector": owner,
                    "source_id": f"u{i}",
                    "login": f"u{i}",
                    "login_key": f"u{i}",
                    "active": i % 3 != 0,
                    "attributes": {},
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for i, owner in enumerate(["hr"] * 5 + [None])
            ],
        )
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    with store.transaction() as conn:
        sa.event.listen(conn, "before_cursor_execute", seen)
        counts = store.counts(conn, "hr")
        sa.event.remove(conn, "before_cursor_execute", seen)
    assert counts == {"users": 5, "active_users": 3, "groups": 0, "memberships": 0}
    assert sum(" FROM users" in s for s in statements) == 1
