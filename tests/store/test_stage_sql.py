"""Staging by set operations: records rewritten only when changed, temporary tables that never
leak, a delta applied in SQL (a stage read part by part: ``test_staged_mirror.py``)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.app.delta import as_staged_delta
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.stage import is_mirror, last_read


def users(**logins: str) -> list[SourceUser]:
    return [SourceUser(sid, login, attributes={"n": sid}) for sid, login in logins.items()]


def stage_of(store: Store, connector: str = "hr") -> dict[str, Any]:
    """Everything staged for ``connector``: records with their data and run, edges with run."""
    with store.read() as conn:
        out: dict[str, Any] = {}
        for table in (t.source_users, t.source_groups):
            rows = conn.execute(sa.select(table).where(table.c.connector == connector))
            out[table.name] = {r.source_id: (r.data, r.run_id) for r in rows}
        m = t.source_memberships
        rows = conn.execute(sa.select(m).where(m.c.connector == connector))
        out[m.name] = {(r.group_id, r.member_kind, r.member_id): r.run_id for r in rows}
        return out


def write(store: Store, snap: Snapshot, run_id: int, connector: str = "hr") -> None:
    with store.transaction() as conn:
        store.ensure_connector(conn, connector, "file")
        store.write_stage(conn, connector, snap, run_id)


def temp_tables(conn: sa.Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
    else:
        query = "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"
    return [row[0] for row in conn.exec_driver_sql(query)]


G = [SourceGroup("g1", "One"), SourceGroup("g2", "Two")]


def test_only_changed_records_are_rewritten(store: Store) -> None:
    write(store, Snapshot(users(u1="ann", u2="bob", u3="cy"), G), 1)
    changed = users(u1="ann", u2="robert", u4="dee")
    write(store, Snapshot(changed, [SourceGroup("g1", "One"), SourceGroup("g2", "Deux")]), 2)
    staged = stage_of(store)
    assert {k: (d["login"], run) for k, (d, run) in staged["source_users"].items()} == {
        "u1": ("ann", 1),
        "u2": ("robert", 2),
        "u4": ("dee", 2),
    }
    assert staged["source_users"]["u1"][0] == {
        "source_id": "u1",
        "login": "ann",
        "email": None,
        "display_name": None,
        "given_name": None,
        "family_name": None,
        "active": True,
        "manager_id": None,
        "photo_ref": None,
        "attributes": {"n": "u1"},
    }
    assert {k: d["name"] for k, (d, _) in staged["source_groups"].items()} == {
        "g1": "One",
        "g2": "Deux",
    }


def test_an_unchanged_record_keeps_its_row(tmp_path: Any) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'directory.db'}")
    try:
        write(store, Snapshot(users(u1="ann", u2="bob", u3="cy"), G), 1)
        query = "SELECT source_id, rowid FROM source_users"
        with store.read() as conn:
            before = dict(conn.exec_driver_sql(query).all())
        write(store, Snapshot(users(u1="ann", u2="robert", u3="cy"), G), 2)
        with store.read() as conn:
            after = dict(conn.exec_driver_sql(query).all())
        assert after["u1"] == before["u1"] and after["u3"] == before["u3"]  # left alone
        assert after["u2"] != before["u2"]  # rewritten
    finally:
        store.close()


def test_an_incomplete_snapshot_upserts_records_and_edges_only(store: Store) -> None:
    edges = [Membership("g1", "u1"), Membership("g1", "u2")]
    write(store, Snapshot(users(u1="ann", u2="bob", u3="cy"), G, edges), 1)
    partial = Snapshot(users(u2="robert", u9="new"), [], [Membership("g2", "u9")], complete=False)
    write(store, partial, 2)
    staged = stage_of(store)
    assert {k: (d["login"], run) for k, (d, run) in staged["source_users"].items()} == {
        "u1": ("ann", 1),
        "u2": ("robert", 2),
        "u3": ("cy", 1),
        "u9": ("new", 2),
    }
    assert set(staged["source_groups"]) == {"g1", "g2"}
    assert staged["source_memberships"] == {
        ("g1", "user", "u1"): 1,
        ("g1", "user", "u2"): 1,
        ("g2", "user", "u9"): 2,
    }


def test_duplicate_records_and_edges_in_a_snapshot_stage_once(store: Store) -> None:
    edge = Membership("g1", "u1")
    write(store, Snapshot(users(u1="ann") + users(u1="last"), G, [edge, edge, edge]), 1)
    staged = stage_of(store)
    assert staged["source_users"]["u1"][0]["login"] == "last"  # the last record of an id wins
    assert staged["source_memberships"] == {("g1", "user", "u1"): 1}


def test_temporary_tables_never_outlive_a_call_or_a_rollback(store: Store) -> None:
    snap = Snapshot(users(u1="ann"), G, [Membership("g1", "u1")])
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", snap, 1)
        store.write_stage(conn, "hr", snap, 2)  # twice in one transaction
        store.apply_delta_to_stage(conn, "hr", as_staged_delta(DeltaResult()), 3)
        assert temp_tables(conn) == []
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.write_stage(conn, "hr", Snapshot(), 4)
        raise RuntimeError("after staging")
    staged = stage_of(store)
    assert set(staged["source_users"]) == {"u1"}  # the empty snapshot was rolled back
    assert staged["source_memberships"] == {("g1", "user", "u1"): 1}
    with store.transaction() as conn:
        assert temp_tables(conn) == []


def test_a_delta_is_applied_in_place(store: Store) -> None:
    edges = [Membership("g1", "u1"), Membership("g1", "u2"), Membership("g2", "u3")]
    edges.append(Membership("g1", "g2", MemberKind.GROUP))
    write(store, Snapshot(users(u1="ann", u2="bob", u3="cy"), G, edges), 1)
    delta = DeltaResult(
        users=users(u2="robert", u9="new", u3="back"),
        groups=[SourceGroup("g3", "Three")],
        added=[Membership("g3", "u9"), Membership("g1", "u1"), Membership("g3", "u3")],
        removed=[Membership("g1", "u1"), Membership("g3", "u3")],
        removed_users=["u3"],  # also upserted: removal wins
        removed_groups=["g2"],
    )
    with store.transaction() as conn:
        store.apply_delta_to_stage(conn, "hr", as_staged_delta(delta), 2)
    staged = stage_of(store)
    assert {k: (d["login"], run) for k, (d, run) in staged["source_users"].items()} == {
        "u1": ("ann", 1),
        "u2": ("robert", 2),
        "u9": ("new", 2),
    }
    assert set(staged["source_groups"]) == {"g1", "g3"}
    # edges of removed g2 (as group and as member) and of removed u3 are gone
    assert staged["source_memberships"] == {("g1", "user", "u2"): 1, ("g3", "user", "u9"): 2}


def test_only_a_complete_read_is_the_whole_mirror() -> None:
    assert is_mirror(Snapshot())
    assert not is_mirror(Snapshot(complete=False))
    assert not is_mirror(as_staged_delta(DeltaResult()))


def test_the_last_read_of_a_record_is_its_run_or_a_later_complete_one(store: Store) -> None:
    def run(mode: str, snap: Snapshot | None, status: str = "succeeded") -> int:
        run_id = store.start_run("hr", mode, False)
        if snap is not None:
            write(store, snap, run_id)
        store.finish_run(run_id, status, complete=snap is None or snap.complete)
        return run_id

    run("full", Snapshot(users(u1="ann", u2="bob"), G))
    second = run("full", Snapshot(users(u1="ann", u2="bob"), G))
    run("user", None)  # a sync-user run stages nothing
    partial = run("full", Snapshot(users(u2="robert"), complete=False), "partial")
    run("full", Snapshot(users(u1="ann", u2="robert"), G), "guarded")
    with store.read() as conn:
        assert last_read(conn, "hr", "u1") == second
        assert last_read(conn, "hr", "u2") == partial
        assert last_read(conn, "hr", "nobody") is None


def test_removals_naming_unusable_ids_match_nothing(store: Store) -> None:
    write(store, Snapshot(users(u1="ann"), G, [Membership("g1", "u1")]), 1)
    odd = "\ud800bad"  # a lone surrogate: no store can encode it, no staged record has it
    delta = DeltaResult(
        removed=[Membership("g1", odd), Membership(odd, "u1")],
        removed_users=[odd, ""],
        removed_groups=[odd],
    )
    with store.transaction() as conn:
        store.apply_delta_to_stage(conn, "hr", as_staged_delta(delta), 2)
    staged = stage_of(store)
    assert set(staged["source_users"]) == {"u1"}
    assert staged["source_memberships"] == {("g1", "user", "u1"): 1}


def test_rows_deleted_by_id_are_exactly_those_named_in_one_statement_on_postgresql(
    store: Store,
) -> None:
    from idpsync.store.stage_sql import delete_ids

    snap = Snapshot([SourceUser(f"u{i:04}", f"user{i}") for i in range(1200)])
    write(store, snap, 1, "hr")
    write(store, snap, 1, "it")  # another connector's rows with the same ids stay
    doomed = [f"u{i:04}" for i in range(0, 1200, 2)] + ["nobody"]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with store.transaction() as conn:
        sa.event.listen(conn, "before_cursor_execute", seen)
        delete_ids(conn, t.source_users, "hr", t.source_users.c.source_id, doomed)
        delete_ids(conn, t.source_users, "hr", t.source_users.c.source_id, [])
        sa.event.remove(conn, "before_cursor_execute", seen)
    staged = stage_of(store, "hr")["source_users"]
    assert sorted(staged) == [f"u{i:04}" for i in range(1, 1200, 2)]
    assert len(stage_of(store, "it")["source_users"]) == 1200
    # PostgreSQL: one statement for the 601 ids (was an ``IN`` list of 500 each); SQLite: lists
    assert len(statements) == (1 if store.engine.dialect.name == "postgresql" else 2)
