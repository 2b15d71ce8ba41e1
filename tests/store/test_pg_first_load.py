"""A first load's bulk work on PostgreSQL: its edges copied straight into an empty stage, the
stash numbered by its select, more memory for its big statements; the same rows either way, and
a failed run leaves nothing (SQLite: the same calls, its own paths)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store, deferred, fk_sets, stage, stage_sql, stats
from idpsync.store import apply as apply_module
from idpsync.store import schema as t
from idpsync.store import stash as stash_module
from idpsync.store.stash import Stash
from tests.store.test_stash import TEAM, two_runs
from tests.world import World

USERS = [SourceUser(f"u{i}", f"user{i}") for i in range(4)]
GROUPS = [SourceGroup("g1", "One"), SourceGroup("g2", "Two")]
EDGES = [Membership("g1", u.source_id) for u in USERS] + [Membership("g2", "g1", MemberKind.GROUP)]
STAGED = {("g1", "user", u.source_id) for u in USERS} | {("g2", "group", "g1")}


@pytest.fixture(autouse=True)
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three edges are "many" (a first load past the change bound) and worth a deferred index."""
    monkeypatch.setattr(stage, "CHANGE_FLOOR", 2)
    monkeypatch.setattr(deferred, "MIN_ROWS", 3)


def _copied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables staging's bulk inserts write into, in order."""
    tables: list[str] = []
    real = stage_sql.bulk_insert

    def recorded(conn: Any, table: sa.Table, *args: Any, **kwargs: Any) -> int:
        tables.append(table.name)
        return real(conn, table, *args, **kwargs)

    monkeypatch.setattr(stage_sql, "bulk_insert", recorded)
    return tables


def _staged(store: Store) -> set[tuple[str, str, str]]:
    m = t.source_memberships.c
    with store.read() as conn:
        return {
            tuple(row) for row in conn.execute(sa.select(m.group_id, m.member_kind, m.member_id))
        }


def _shape(store: Store) -> tuple[Any, ...]:
    """The stage's key and indexes, as the schema made them."""
    with store.engine.connect() as conn:
        found = sa.inspect(conn)
        key = found.get_pk_constraint("source_memberships")
        indexes = sorted(str(i["name"]) for i in found.get_indexes("source_memberships"))
    return key["name"], tuple(key["constrained_columns"]), tuple(indexes)


@pytest.mark.parametrize("repeated", [False, True])
def test_a_first_load_copies_its_edges_straight_into_an_empty_stage(
    store: Store, monkeypatch: pytest.MonkeyPatch, repeated: bool
) -> None:
    copied = _copied(monkeypatch)
    shape = _shape(store)
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", Snapshot(USERS, GROUPS, EDGES + EDGES[:1] * repeated), 1)
    assert _staged(store) == STAGED  # a repeated edge once, either way
    assert _shape(store) == shape and shape[1]
    if store.engine.dialect.name == "postgresql":
        # a repeat fails the key's build: the copy is undone and the temporary table's
        # insert, which skips repeats, stages them
        stage_edges = stage_sql.edges_tmp.name
        assert copied == ["source_memberships", *[stage_edges] * repeated]
    else:
        assert copied == []  # SQLite inserts them itself (``INSERT OR IGNORE``)


def test_a_failed_first_load_leaves_the_stage_as_it_was(store: Store) -> None:
    shape = _shape(store)
    with pytest.raises(RuntimeError, match="later"), store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", Snapshot(USERS, GROUPS, EDGES), 1)
        assert len(_staged_in(conn)) == len(STAGED)
        raise RuntimeError("a later step failed")
    assert _staged(store) == set()
    assert _shape(store) == shape  # key and indexes back with the rollback


def _staged_in(conn: Any) -> list[Any]:
    return list(conn.execute(sa.select(t.source_memberships.c.group_id)))


def _memory(conn: Any) -> tuple[str, str]:
    row = conn.exec_driver_sql(
        "SELECT current_setting('work_mem'), current_setting('maintenance_work_mem')"
    ).one()
    return row[0], row[1]


def test_bulk_memory_is_raised_for_its_statements_only_and_never_lowered(store: Store) -> None:
    with store.transaction() as conn:
        if conn.dialect.name != "postgresql":
            with stats.bulk_memory(conn):  # nothing to set
                assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
            return
        before = _memory(conn)
        with stats.bulk_memory(conn):
            assert _memory(conn) == (stats.BULK_MEMORY, stats.BULK_MEMORY)
        assert _memory(conn) == before
        conn.exec_driver_sql("SET LOCAL work_mem = '1GB'")
        with stats.bulk_memory(conn):
            assert _memory(conn) == ("1GB", stats.BULK_MEMORY)  # more already: kept
        assert _memory(conn) == ("1GB", before[1])
    with store.engine.connect() as conn:
        assert _memory(conn) == before  # local to the transaction in any case


def test_the_stash_numbers_its_edges_in_code_point_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stash_module, "SAMPLE", 3)
    rows = [("é", "user", "u1"), ("B", "group", "a"), ("a", "user", "Z"), ("B", "user", "a")]
    values = sa.union_all(
        *(
            sa.select(
                sa.literal(g, sa.String).label("group_id"),
                sa.literal(k, sa.String).label("member_kind"),
                sa.literal(m, sa.String).label("member_id"),
            )
            for g, k, m in rows
        )
    )
    with store.transaction() as conn:
        stash = Stash.create(conn, values)
        c = stash.table.c
        found = conn.execute(sa.select(c.n, c.group_id, c.member_kind, c.member_id)).all()
        keyed = sa.inspect(conn).get_pk_constraint(stash.table.name)["constrained_columns"]
        assert stash.count == 4
        assert sorted(tuple(row) for row in found) == [
            (1, "B", "group", "a"),
            (2, "B", "user", "a"),
            (3, "a", "user", "Z"),
            (4, "é", "user", "u1"),
        ]
        assert [(e.group_id, e.member_id) for e in stash.read()] == [
            ("B", "a"), ("B", "a"), ("a", "Z"), ("é", "u1"),
        ]  # fmt: skip
        assert stash.sample == stash.read()[:3]
        # PostgreSQL numbers them in its select (no key kept up row by row); SQLite's rowid
        assert keyed == ([] if conn.dialect.name == "postgresql" else ["n"])


def _keys(store: Store) -> dict[str, Any]:
    """The primary keys and unique constraints of ``memberships`` and ``changes``."""
    with store.engine.connect() as conn:
        found = sa.inspect(conn)
        return {
            name: (found.get_pk_constraint(name), found.get_unique_constraints(name))
            for name in ("memberships", "changes")
        }


def test_a_first_load_builds_its_memberships_and_change_log_keys_after_the_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PostgreSQL: the stash's memberships and the change log written with their keys dropped
    and added again after (``apply._keys_after``); the same rows as with the keys kept up."""
    monkeypatch.setattr(fk_sets, "MIN_ROWS", 3)
    built: list[tuple[str, str, bool]] = []
    real = apply_module.unique_after

    def recorded(conn: Any, table: sa.Table, kinds: str, write: Any) -> bool:
        built.append((table.name, kinds, real(conn, table, kinds, write)))
        return built[-1][2]

    keys, found = _keys(store), []
    for after in (True, False):
        _empty(store)
        monkeypatch.setattr(
            apply_module, "unique_after", recorded if after else lambda *args: False
        )
        world = World(tmp_path / "idp.json", store)
        found.append(two_runs(world, TEAM, {**TEAM, "users": TEAM["users"][:5]}, bulk=True))
        assert _keys(store) == keys
    assert found[0] == found[1]
    assert found[0][0][0] == ("succeeded", found[0][0][0][1])
    assert found[0][0][0][1]["memberships_added"] == 6
    on_postgresql = store.engine.dialect.name == "postgresql"
    # the first load only (the second run's tables are not empty: their keys are kept up)
    assert built == [("memberships", "pu", on_postgresql), ("changes", "pu", on_postgresql)]


def _empty(store: Store) -> None:
    """Every table emptied and ids from 1 again (SQLite: rowids), so two first loads compare."""
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(table.name for table in t.metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            return
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(table.delete())
