"""Indexes built after a big insert into a small table: when, rebuilt, rolled back, no waiting."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.store import Store, deferred
from idpsync.store import schema as t
from idpsync.store.deferred import indexes_deferred
from idpsync.store.store import bulk_insert, now
from tests.world import World, person

INDEX = "ix_memberships_member_kind_member_id"


def _indexes(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {str(i["name"]) for i in sa.inspect(conn).get_indexes("memberships")}


def _group(conn: Any) -> int:
    stamp = now()
    conn.execute(
        t.connectors.insert().values(
            name="hr", source_type="file", state={}, created_at=stamp, updated_at=stamp
        )
    )
    return int(
        conn.execute(
            t.groups.insert()
            .values(
                connector="hr",
                source_id="g",
                name="G",
                name_key="g",
                created_at=stamp,
                updated_at=stamp,
            )
            .returning(t.groups.c.id)
        ).scalar_one()
    )


def _members(conn: Any, group: int, ids: range) -> None:
    bulk_insert(
        conn,
        t.memberships,
        ("group_id", "member_kind", "member_id"),
        ((group, "user", i) for i in ids),
        same={"connector": "hr", "created_at": now()},
    )


def test_a_big_insert_into_an_empty_table_rebuilds_the_index(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred, "MIN_ROWS", 3)
    with store.transaction() as conn:
        group = _group(conn)
        with indexes_deferred(conn, t.memberships, 3) as dropped:
            assert dropped
            assert INDEX not in {i["name"] for i in sa.inspect(conn).get_indexes("memberships")}
            _members(conn, group, range(3))
    assert INDEX in _indexes(store)
    with store.transaction() as conn:  # the table now holds three rows
        with indexes_deferred(conn, t.memberships, 3) as dropped:  # as many as it holds
            assert dropped
        with indexes_deferred(conn, t.memberships, 2) as dropped:  # fewer than it holds
            assert not dropped
        monkeypatch.setattr(deferred, "MIN_ROWS", 10)
        with indexes_deferred(conn, t.memberships, 9) as dropped:  # more, but not enough
            assert not dropped
    assert INDEX in _indexes(store)


def test_a_failed_run_gets_its_index_back_from_the_rollback(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred, "MIN_ROWS", 1)
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as conn:
        group = _group(conn)
        with indexes_deferred(conn, t.memberships, 5) as dropped:
            assert dropped
            _members(conn, group, range(5))
            raise RuntimeError("boom")
    assert INDEX in _indexes(store)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.memberships)).scalar() == 0


def test_postgresql_keeps_the_index_rather_than_wait_for_a_reader(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred, "MIN_ROWS", 1)
    store = Store.open(fresh_pg_url)
    try:
        with store.engine.connect() as reader:
            reader.execute(sa.select(sa.func.count()).select_from(t.memberships))  # holds a lock
            with store.transaction() as conn:
                conn.exec_driver_sql(
                    "SET LOCAL lock_timeout = '10s'"
                )  # fail, not hang, if it waits
                with indexes_deferred(conn, t.memberships, 5) as dropped:
                    assert not dropped
                conn.execute(sa.select(sa.func.count()).select_from(t.groups))  # still usable
            reader.rollback()
        with store.transaction() as conn, indexes_deferred(conn, t.memberships, 5) as dropped:
            assert dropped
        assert INDEX in _indexes(store)
    finally:
        store.close()


def test_a_first_load_builds_the_users_name_indexes_after_its_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(deferred, "MIN_ROWS", 3)
    dropped: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("DROP INDEX"):
            dropped.append(statement.split()[-1].strip('"'))

    names = {"ix_users_login_key", "ix_users_email_key", "ix_users_login_skeleton"}
    world = World(tmp_path / "idp.json", store, users=[person(f"u{i}") for i in range(4)])
    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert world.sync().status == "succeeded"
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert names | {"ix_users_email_skeleton"} <= set(dropped)
    with store.engine.connect() as conn:
        assert names <= {str(i["name"]) for i in sa.inspect(conn).get_indexes("users")}
        key = t.users.c.login_key
        assert conn.execute(sa.select(sa.func.count()).where(key == "u3")).scalar_one() == 1


def _unique(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return sa.inspect(conn).get_unique_constraints("memberships")


@pytest.mark.parametrize("kinds", ["u", "pu"])
@pytest.mark.parametrize("repeated", [False, True])
def test_a_unique_key_built_after_the_rows_checks_them(
    store: Store, repeated: bool, kinds: str
) -> None:
    key = _unique(store)
    with store.engine.connect() as conn:
        primary = sa.inspect(conn).get_pk_constraint("memberships")
    with store.transaction() as conn:
        group = _group(conn)
        built = deferred.unique_after(
            conn,
            t.memberships,
            kinds,
            lambda: _members(conn, group, range(3)) or _members(conn, group, range(repeated)),
        )
        if store.engine.dialect.name != "postgresql":
            assert not built
        else:  # a repeated key fails the build: nothing written, the caller writes again
            assert built is not repeated
            assert conn.execute(sa.select(sa.func.count()).select_from(t.memberships)).scalar() == (
                0 if repeated else 3
            )
    assert _unique(store) == key and key
    with store.engine.connect() as conn:
        assert sa.inspect(conn).get_pk_constraint("memberships") == primary
