"""A first load's edges: staged without a comparison, the stage's member index built after them,
and a member's edges read through that index."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store, deferred, edge_digests, stage, stage_sql
from idpsync.store import schema as t
from idpsync.store.deferred import indexes_deferred
from idpsync.store.stage import StageChange
from idpsync.store.staged_mirror import staged_mirror

INDEX = "ix_source_memberships_member"
USERS = [SourceUser(f"u{i}", f"user{i}") for i in range(4)]
GROUPS = [SourceGroup("g1", "One"), SourceGroup("g2", "Two")]
NESTED = Membership("g2", "g1", MemberKind.GROUP)


def _write(store: Store, snap: Snapshot, run_id: int, connector: str = "hr") -> StageChange | None:
    with store.transaction() as conn:
        store.ensure_connector(conn, connector, "file")
        return store.write_stage(conn, connector, snap, run_id)


def _edges(store: Store, connector: str = "hr") -> dict[tuple[str, str, str], int]:
    m = t.source_memberships.c
    query = sa.select(m.group_id, m.member_kind, m.member_id, m.run_id).where(
        m.connector == connector
    )
    with store.read() as conn:
        return {(g, k, u): run for g, k, u, run in conn.execute(query)}


def _indexes(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {str(i["name"]) for i in sa.inspect(conn).get_indexes("source_memberships")}


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three edges are "many" (a first load past the change bound) and worth a deferred index."""
    monkeypatch.setattr(stage, "CHANGE_FLOOR", 2)
    monkeypatch.setattr(deferred, "MIN_ROWS", 3)


@pytest.mark.usefixtures("small_bounds")
def test_a_first_load_stages_every_edge_once_and_then_compares(store: Store) -> None:
    edges = [Membership("g1", u.source_id) for u in USERS] + [NESTED, Membership("g1", "u0")]
    change = _write(store, Snapshot(USERS, GROUPS, edges), 1)
    assert change is not None and change.large  # too many to list: planned in full
    expected = {("g1", "user", u.source_id): 1 for u in USERS} | {("g2", "group", "g1"): 1}
    assert _edges(store) == expected  # the repeated edge once
    assert INDEX in _indexes(store)  # built again after the rows
    # a second read compares with what the first staged: only the difference is written
    later = [*edges[:2], edges[3], Membership("g2", "u3"), NESTED]  # less g1-u2, plus g2-u3
    change = _write(store, Snapshot(USERS, GROUPS, later), 2)
    assert change is not None and not change.large
    assert change.added == [Membership("g2", "u3")]
    assert change.removed == [Membership("g1", "u2")]
    assert _edges(store) == {k: v for k, v in expected.items() if k != ("g1", "user", "u2")} | {
        ("g2", "user", "u3"): 2
    }


def _key(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(sa.inspect(conn).get_pk_constraint("source_memberships"))


@pytest.mark.parametrize("repeated", [False, True])
@pytest.mark.usefixtures("small_bounds")
def test_postgresql_builds_the_stage_key_after_a_first_loads_edges(
    store: Store, monkeypatch: pytest.MonkeyPatch, repeated: bool
) -> None:
    built: list[bool] = []
    real = stage_sql.unique_after
    monkeypatch.setattr(stage_sql, "unique_after", lambda *a: built.append(real(*a)) or built[-1])
    key = _key(store)
    edges = [Membership("g1", u.source_id) for u in USERS] + [NESTED]
    _write(store, Snapshot(USERS, GROUPS, edges + edges[:1] * repeated), 1)
    expected = {("g1", "user", u.source_id): 1 for u in USERS} | {("g2", "group", "g1"): 1}
    assert _edges(store) == expected  # a repeated edge once, either way
    assert _key(store) == key and key["constrained_columns"]
    # the key build fails on a repeat (rolled back to its savepoint): the anti-join's insert
    assert built == ([not repeated] if store.engine.dialect.name == "postgresql" else [])
    _write(store, Snapshot(USERS, GROUPS, edges), 1, connector="other")  # the stage holds rows
    assert len(built) <= 1 and _edges(store, "other") == expected


@pytest.mark.usefixtures("small_bounds")
def test_an_incomplete_first_load_stages_its_edges_and_reports_nothing(store: Store) -> None:
    edges = [Membership("g1", u.source_id) for u in USERS]
    assert _write(store, Snapshot(USERS, GROUPS, edges, complete=False), 1) is None
    assert _edges(store) == {("g1", "user", u.source_id): 1 for u in USERS}


@pytest.mark.usefixtures("small_bounds")
def test_the_stage_member_index_is_deferred_only_while_the_stage_is_empty(store: Store) -> None:
    with store.transaction() as conn, indexes_deferred(conn, t.source_memberships, 3) as dropped:
        assert dropped
        names = {i["name"] for i in sa.inspect(conn).get_indexes("source_memberships")}
        assert INDEX not in names
    assert INDEX in _indexes(store)
    _write(store, Snapshot(USERS, GROUPS, [Membership("g1", "u0")]), 1, connector="other")
    with store.transaction() as conn, indexes_deferred(conn, t.source_memberships, 9) as dropped:
        assert not dropped  # another connector's edge is staged: the index is kept


def test_a_members_edges_are_read_through_the_member_index(store: Store) -> None:
    edges = [Membership(g.source_id, u.source_id) for g in GROUPS for u in USERS]
    _write(store, Snapshot(USERS, GROUPS, edges), 1)
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "source_memberships" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with staged_mirror(store, "hr") as mirror:
            found = mirror.edges_of_members(["u1", "u3"])
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert sorted(found) == sorted(e for e in edges if e.member_id in ("u1", "u3"))
    ((statement, parameters),) = statements  # the read as it ran, explained
    sqlite = store.engine.dialect.name == "sqlite"
    with store.read() as conn:
        if not sqlite:  # a table this small is read whole otherwise
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert INDEX in plan


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # PostgreSQL plans by statistics
def test_a_full_read_lists_the_gone_edges_in_the_stages_key_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not through the index by member: its order would scatter the probes of the snapshot's
    edges (a 1 % full read at L spent seconds more in staging). Every edge compared (as
    without the members' digests, or with none staged)."""
    monkeypatch.setattr(edge_digests, "ENABLED", False)
    edges = [Membership(g.source_id, u.source_id) for g in GROUPS for u in USERS]
    _write(store, Snapshot(USERS, GROUPS, edges), 1)
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if (
            statement.startswith("SELECT")
            and "NOT (EXISTS" in statement
            and "idpsync_stage_edges" in statement
        ):
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" ".join(str(row[-1]) for row in rows))

    sa.event.listen(store.engine, "before_cursor_execute", explain)
    try:
        _write(store, Snapshot(USERS, GROUPS, edges[1:]), 2)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", explain)
    (plan,) = plans
    assert "sqlite_autoindex_source_memberships" in plan and INDEX not in plan, plan
