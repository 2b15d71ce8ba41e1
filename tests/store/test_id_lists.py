"""Rows looked up by a long list of ids: exactly those named, in one statement on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from idpsync.model import Snapshot, SourceUser
from idpsync.store import Store, affected
from idpsync.store import schema as t
from idpsync.store.id_lists import ids_in


def test_staged_records_of_many_ids_are_read_in_one_statement_on_postgresql(
    store: Store,
) -> None:
    staged = Snapshot([SourceUser(f"u{i:04}", f"user{i}") for i in range(1200)])
    with store.transaction() as conn:
        for connector in ("hr", "it"):  # the other connector's rows are not read
            store.ensure_connector(conn, connector, "file")
            store.write_stage(conn, connector, staged, 1)
    asked = [f"u{i:04}" for i in range(0, 1200, 2)] + ["nobody"]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT"):
            statements.append(statement)

    with store.read() as conn:
        sa.event.listen(conn, "before_cursor_execute", seen)
        found = affected.staged_data(conn, "hr", asked)
        assert list(ids_in(conn, t.source_users.c.source_id, [])) == []
        sa.event.remove(conn, "before_cursor_execute", seen)
    assert sorted(found) == asked[:-1]
    assert found["u0002"]["login"] == "user2"
    # 601 ids: one array on PostgreSQL (was an ``IN`` list of 500 each), two lists on SQLite
    assert len(statements) == (1 if store.engine.dialect.name == "postgresql" else 2)


def test_a_changes_directory_edges_are_probed_with_their_pairs_analysed_on_postgresql(
    store: Store,
) -> None:
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        conn.execute(
            t.groups.insert(),
            [{"connector": "hr", "source_id": "g1", "name": "G", "name_key": "g", **stamps}],
        )
        conn.execute(
            t.users.insert(),
            [
                {
                    "connector": "hr",
                    "source_id": sid,
                    "login": sid,
                    "login_key": sid,
                    "active": True,
                    **stamps,
                }
                for sid in ("u1", "u2")
            ],
        )
        ids = dict(conn.execute(sa.select(t.users.c.source_id, t.users.c.id)).all())
        group = conn.execute(sa.select(t.groups.c.id)).scalar_one()
        conn.execute(
            t.memberships.insert(),
            {
                "connector": "hr",
                "group_id": group,
                "member_kind": "user",
                "member_id": ids["u1"],
                "created_at": now,
            },
        )
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with store.read() as conn:
        sa.event.listen(conn, "before_cursor_execute", seen)
        rows, logins = affected.user_edges(conn, "hr", {("g1", "u1"), ("g1", "u2"), ("gx", "u1")})
        sa.event.remove(conn, "before_cursor_execute", seen)
    assert rows.memberships.keys() == {("g1", "u1")}
    assert logins == {"u1": "u1", "u2": "u2"}
    analysed = [s for s in statements if s.startswith("ANALYZE") and "affected_edges" in s]
    assert len(analysed) == (1 if store.engine.dialect.name == "postgresql" else 0)
