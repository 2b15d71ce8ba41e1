"""A first load's bulk inserts with their foreign keys checked set-wise (store/fk_sets.py).

The same runs leave the same directory, change log and stage whether the per-row triggers or
the set-wise checks check them (SQLite and PostgreSQL: SQLite never takes the path); on
PostgreSQL the path is taken, a row naming no referenced row fails the insert, the per-row
triggers are on again after it, and a table with a trigger of its own, or a role that may not
set ``session_replication_role``, keeps the per-row checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from idpsync.store import Store, deferred, fk_sets, stage
from idpsync.store import schema as t
from idpsync.store import store as store_module
from idpsync.store.fk_sets import MissingReference, checked_set_wise
from idpsync.store.store import bulk_insert, now
from tests.store.test_edge_diff import bulk_from
from tests.store.test_stash import change_log, directory
from tests.world import World, person

TEAM = {
    "users": [person(f"u{i}", f"Émile{i}") for i in range(8)],
    "groups": [
        {"id": "g1", "name": 'Eng "core"', "members": ["u0", "u1", "u2", "u5"]},
        {"id": "g2", "name": "Ops ✓", "members": ["u3", "u4", "u6"]},
        {"id": "g3", "name": "All", "members": [f"u{i}" for i in range(8)]},
    ],
}


@contextmanager
def set_wise(on: bool) -> Iterator[list[bool]]:
    """Every bulk insert checked set-wise where it can be (``on``), or none; what was taken."""
    taken: list[bool] = []
    real = fk_sets._eligible

    def eligible(conn: Any, table: sa.Table) -> bool:
        taken.append(on and real(conn, table))
        return taken[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fk_sets, "MIN_ROWS", 0)
        patch.setattr(fk_sets, "_eligible", eligible)
        yield taken


def _staged(store: Store) -> list[tuple[Any, ...]]:
    m = t.source_memberships.c
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(*m).order_by(*m)))


def test_set_wise_checks_write_what_per_row_checks_write(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage, "CHANGE_FLOOR", 2)  # a first load's edges staged as one
    monkeypatch.setattr(deferred, "MIN_ROWS", 3)
    found = []
    for on in (True, False):
        with store.transaction() as conn:  # empty, ids from 1 again
            if store.engine.dialect.name == "postgresql":
                names = ", ".join(table.name for table in t.metadata.sorted_tables)
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            else:
                for table in reversed(t.metadata.sorted_tables):
                    conn.execute(table.delete())  # rowids start again at 1
        world = World(tmp_path / "idp.json", store, users=TEAM["users"], groups=TEAM["groups"])
        with bulk_from(True), set_wise(on) as taken:
            result = world.sync()
        assert result.status == "succeeded", result.message
        if store.engine.dialect.name == "postgresql":  # stage, memberships and change log
            assert taken == [on, on, on]
        else:
            assert not any(taken)
        found.append((result.summary(), directory(store), change_log(store), _staged(store)))
    assert found[0] == found[1]
    assert found[0][0]["memberships_added"] == 15


@pytest.fixture
def pg(pg_url: str) -> Iterator[Store]:
    store = Store.open(pg_url)
    try:
        with store.transaction() as conn:
            names = ", ".join(table.name for table in t.metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        yield store
    finally:
        store.close()


def _group(conn: Any) -> int:
    stamp = now()
    conn.execute(
        t.connectors.insert().values(
            name="hr", source_type="file", state={}, created_at=stamp, updated_at=stamp
        )
    )
    values = {"connector": "hr", "source_id": "g", "name": "G", "name_key": "g"}
    insert = t.groups.insert().values(**values, created_at=stamp, updated_at=stamp)
    return int(conn.execute(insert.returning(t.groups.c.id)).scalar_one())


def _members(conn: Any, groups: list[int]) -> None:
    rows = ((group, "user", i) for i, group in enumerate(groups))
    same = {"connector": "hr", "created_at": now()}
    bulk_insert(conn, t.memberships, ("group_id", "member_kind", "member_id"), rows, same=same)


NEW = t.memberships.c.connector == "hr"


def test_a_row_naming_no_referenced_row_fails_the_insert(pg: Store) -> None:
    with pytest.raises(MissingReference, match="groups"), pg.transaction() as conn:
        group = _group(conn)
        with checked_set_wise(conn, t.memberships, NEW, fk_sets.MIN_ROWS) as taken:
            assert taken
            _members(conn, [group, group + 1000])  # COPY: no trigger fires while it is off
    with pg.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.memberships)).scalar() == 0


def test_the_rows_are_locked_and_the_triggers_on_again_after(pg: Store) -> None:
    with pg.transaction() as conn:
        group = _group(conn)
        with checked_set_wise(conn, t.memberships, NEW, fk_sets.MIN_ROWS) as taken:
            assert taken
            _members(conn, [group, group])
        setting = conn.exec_driver_sql("SHOW session_replication_role").scalar()
        assert setting == "origin"
        locks = conn.exec_driver_sql(  # the group, as a trigger's FOR KEY SHARE locks it
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid'"
            " AND pid = pg_backend_pid()"
        ).scalar()
        assert locks == 1
        marked = conn.exec_driver_sql("SELECT xmax::text <> '0' FROM groups").scalar()
        assert marked  # the group row carries the transaction's key-share lock
        with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.begin_nested():
            _members(conn, [group + 1000])  # checked row by row again


def test_small_inserts_a_trigger_of_its_own_or_another_role_keep_per_row_checks(
    pg: Store,
) -> None:
    with pg.transaction() as conn:
        _group(conn)
        with checked_set_wise(conn, t.memberships, NEW, fk_sets.MIN_ROWS - 1) as taken:
            assert not taken
        with conn.begin_nested() as trigger:
            conn.exec_driver_sql(
                "CREATE FUNCTION idpsync_test_noop() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER idpsync_test_own AFTER INSERT ON memberships"
                " FOR EACH ROW EXECUTE FUNCTION idpsync_test_noop()"
            )
            with checked_set_wise(conn, t.memberships, NEW, fk_sets.MIN_ROWS) as taken:
                assert not taken
            trigger.rollback()
        with conn.begin_nested() as role:
            plain = f"idpsync_test_{uuid.uuid4().hex[:8]}"
            conn.exec_driver_sql(f"CREATE ROLE {plain}")  # rolled back below
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {plain}")
            conn.exec_driver_sql(f"SET LOCAL ROLE {plain}")
            with checked_set_wise(conn, t.memberships, NEW, fk_sets.MIN_ROWS) as taken:
                assert not taken
            role.rollback()
        assert conn.exec_driver_sql("SHOW session_replication_role").scalar() == "origin"


def test_a_key_of_one_value_is_checked_and_locked_on_that_value(pg: Store) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with pg.transaction() as conn:
        group = _group(conn)
        sa.event.listen(pg.engine, "before_cursor_execute", seen)
        try:
            mine = {"connector": "hr"}
            with checked_set_wise(conn, t.memberships, sa.true(), fk_sets.MIN_ROWS, mine):
                _members(conn, [group, group])
        finally:
            sa.event.remove(pg.engine, "before_cursor_execute", seen)
        marked = conn.exec_driver_sql("SELECT xmax::text <> '0' FROM connectors").scalar()
        assert marked  # the connector row carries the transaction's key-share lock
    # the connector's key by its one value; the group's over the new rows, as before
    checks = [s for s in statements if "FROM connectors" in s or "FROM groups" in s]
    assert len(checks) == 3 and not any("DISTINCT memberships.connector" in s for s in checks)
    with pytest.raises(MissingReference, match="connectors"), pg.transaction() as conn:
        elsewhere = {"connector": "nobody"}
        with checked_set_wise(conn, t.memberships, sa.true(), fk_sets.MIN_ROWS, elsewhere):
            rows = [(group, "user", 1)]
            same = {"connector": "nobody", "created_at": now()}
            bulk_insert(
                conn, t.memberships, ("group_id", "member_kind", "member_id"), rows, same=same
            )
    with pg.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.memberships)).scalar() == 2


@contextmanager
def held_spy() -> Iterator[list[bool]]:
    """What each ``bulk_insert``'s :func:`fk_sets.held_by_value` yielded (triggers off or not)."""
    taken: list[bool] = []
    real = fk_sets.held_by_value

    @contextmanager
    def spy(conn: Any, table: sa.Table, values: Any) -> Iterator[bool]:
        with real(conn, table, values) as held:
            taken.append(held)
            yield held

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "held_by_value", spy)
        yield taken


def _stage_users(conn: Any, connector: str, count: int) -> None:
    rows = ((f"u{i}", '{"id": 1}', None) for i in range(count))
    same = {"connector": connector, "run_id": 7}
    columns = ("source_id", "data", "digest")
    bulk_insert(conn, t.source_users, columns, rows, raw=("data",), same=same, batch=2)


def test_a_copy_of_one_connector_locks_it_once_and_runs_without_triggers(pg: Store) -> None:
    with pg.transaction() as conn:
        _group(conn)
        with held_spy() as taken:
            _stage_users(conn, "hr", 1)  # one batch, not full: the triggers check it
            _stage_users(conn, "hr", 0)
            assert taken == []
            conn.execute(t.source_users.delete())
            _stage_users(conn, "hr", 5)  # a full first batch: its connector locked once
        assert taken == [True]
        assert conn.exec_driver_sql("SHOW session_replication_role").scalar() == "origin"
        marked = conn.exec_driver_sql("SELECT xmax::text <> '0' FROM connectors").scalar()
        assert marked  # the connector row carries the transaction's key-share lock
        staged = conn.execute(sa.select(t.source_users.c.source_id, t.source_users.c.connector))
        assert sorted(staged) == [(f"u{i}", "hr") for i in range(5)]


def test_a_copy_naming_no_connector_fails_as_before(pg: Store) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation), pg.transaction() as conn:
        _group(conn)
        with held_spy() as taken:
            _stage_users(conn, "nobody", 5)  # the triggers stay on and fail the COPY
    assert taken == [False]
    with pg.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.source_users)).scalar() == 0
