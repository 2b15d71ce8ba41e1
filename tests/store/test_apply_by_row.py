"""Apply deletes the memberships a run removes by their row ids, and SQLite probes those ids.

The plan reads the rows of the memberships it removes; apply deletes them by row id with the
owner checked through ``COALESCE`` (``store/apply.py``). Written as ``connector = ?``, SQLite
walked the connector's memberships by their unique index once per ``IN`` list instead: at L a
1 % run's apply took seconds. The query plan is what this guards, not the time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from idpsync.store import Store
from tests.world import World, person

USERS = [person(f"u{i}") for i in range(40)]


def _groups(left_out: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    members = [u["id"] for u in USERS if u["id"] not in left_out]
    return [{"id": f"g{n}", "name": f"Group {n}", "members": members} for n in range(3)]


def test_removed_memberships_are_deleted_by_rowid(tmp_path: Path) -> None:
    sqlite_store = Store.open(f"sqlite:///{tmp_path / 'dir.db'}")
    try:
        _check(sqlite_store, tmp_path)
    finally:
        sqlite_store.close()


def _check(sqlite_store: Store, tmp_path: Path) -> None:
    world = World(tmp_path / "idp.json", sqlite_store, users=USERS, groups=_groups())
    assert world.sync().status == "succeeded"
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("DELETE FROM memberships") and "memberships.id IN" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" ".join(str(row[-1]) for row in rows))

    gone = frozenset(f"u{i}" for i in range(0, 40, 4))
    world.groups = _groups(gone)
    sa.event.listen(sqlite_store.engine, "before_cursor_execute", explain)
    try:
        result = world.sync()
    finally:
        sa.event.remove(sqlite_store.engine, "before_cursor_execute", explain)
    assert result.status == "succeeded", result.message
    assert plans, "apply did not delete the removed memberships by row id"
    for plan in plans:
        assert "INTEGER PRIMARY KEY" in plan, plan
        assert "SCAN" not in plan, plan
    for n in range(3):
        assert world.members(f"Group {n}") == {u["id"] for u in USERS if u["id"] not in gone}
