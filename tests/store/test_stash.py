"""Added memberships written set-wise (store/stash.py) leave what the object path leaves.

Two stores run the same generated IdP, one with every added edge stashed and written by
``INSERT … SELECT`` and one with every edge an object: the directories, the change logs (parsed
JSON, in order) and the run summaries are equal, on SQLite and once on PostgreSQL. A dry first
load with stashed edges writes nothing and still shows what it would do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import Phase, given, settings

from idpsync.config_invariants import InvariantSettings
from idpsync.store import Store, stash
from idpsync.store import schema as t
from tests.store.test_edge_diff import bulk_from
from tests.test_properties import POLICIES, idp
from tests.world import World, person, seeded

CHANGE_COLUMNS = ("run_id", "op", "object_type", "source_id", "object_key", "before", "after")


def change_log(store: Store) -> list[tuple[Any, ...]]:
    c = t.changes.c
    with store.engine.connect() as conn:
        query = sa.select(*(c[n] for n in (*CHANGE_COLUMNS, "reason"))).order_by(c.seq)
        return [tuple(row) for row in conn.execute(query)]


def directory(store: Store) -> dict[str, list[tuple[str, ...]]]:
    """Every directory row without its timestamps (they differ between two runs)."""
    found = {}
    with store.engine.connect() as conn:
        for table in (t.users, t.groups, t.memberships):
            cols = [c for c in table.c if not isinstance(c.type, sa.DateTime)]
            found[table.name] = sorted(
                tuple(str(v) for v in r) for r in conn.execute(sa.select(*cols))
            )
    return found


def two_runs(world: World, first: dict[str, Any], second: dict[str, Any], bulk: bool) -> Any:
    """The world's two syncs (``first`` then ``second``), their summaries and what they left."""
    summaries = []
    with bulk_from(bulk):
        for data in (first, second):
            world.users, world.groups = data["users"], data["groups"]
            result = world.sync()
            summaries.append((result.status, result.summary()))
            if result.summary()["memberships_added"]:  # the path under test was taken
                assert (result.plan.stored is not None) == bulk
    return summaries, directory(world.store), change_log(world.store)


@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(first=idp(), second=idp(), policy=POLICIES)
def test_stashed_additions_write_what_objects_write(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    found = []
    for bulk in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            store, world = seeded(Path(tmp))
            try:
                world.policy = policy
                found.append(two_runs(world, first, second, bulk))
            finally:
                store.close()
    assert found[0] == found[1]


TEAM = {
    "users": [person(f"u{i}", f"Émile{i}") for i in range(6)],
    "groups": [
        {"id": "g1", "name": 'Eng "core"', "members": ["u0", "u1", "u2", "u5"]},
        {"id": "g2", "name": "Ops ✓", "members": ["u3", "u4"]},
    ],
}


def test_stashed_additions_on_postgresql(fresh_pg_url: str, tmp_path: Path) -> None:
    found = []
    for bulk in (True, False):
        store = Store.open(fresh_pg_url)
        try:
            with store.transaction() as conn:  # empty, ids from 1 again
                names = ", ".join(table.name for table in t.metadata.sorted_tables)
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            world = World(tmp_path / "idp.json", store)
            changed = {**TEAM, "users": TEAM["users"][:5]}
            found.append(two_runs(world, TEAM, changed, bulk))
        finally:
            store.close()
    assert found[0] == found[1]
    ((status, summary), _), log = found[0][0], found[0][2]
    assert status == "succeeded" and summary["memberships_added"] == 6, found[0]
    assert sum(1 for row in log if row[1] == "member.add") == 6


def test_a_dry_first_load_with_stashed_additions_writes_nothing(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = World(tmp_path / "idp.json", store, users=TEAM["users"], groups=TEAM["groups"])
        with bulk_from(True):
            result = world.sync(dry_run=True)
        assert result.status == "dry_run"
        assert result.plan.stored is not None and result.plan.stored.edges.count == 6
        assert result.summary()["memberships_added"] == 6
        assert world.dump() == {"users": [], "groups": [], "memberships": []}
        assert change_log(store) == []
        shown = [op.key for op in result.plan.shown() if op.kind.value == "member.add"]
        assert shown[:2] == ['Eng "core" ← Émile0', 'Eng "core" ← Émile1']
        with store.engine.connect() as conn:
            ro = t.run_objects.c
            planned = conn.execute(
                sa.select(ro.object_key).where(ro.op == "member.add").order_by(ro.id)
            ).scalars()
            assert list(planned) == shown
            temp = sa.inspect(conn).get_temp_table_names()
        assert not [name for name in temp if name.startswith("idpsync_")]
    finally:
        store.close()


def test_the_sample_is_bounded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(stash, "SAMPLE", 4)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = World(tmp_path / "idp.json", store, users=TEAM["users"], groups=TEAM["groups"])
        with bulk_from(True):
            result = world.sync()
        assert result.status == "succeeded"
        assert result.plan.stored is not None and len(result.plan.stored.sample) == 4
        assert result.summary()["memberships_added"] == 6
        assert len(world.dump()["memberships"]) == 6
    finally:
        store.close()


def test_an_invariant_sees_stashed_additions(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = World(tmp_path / "idp.json", store, users=TEAM["users"], groups=TEAM["groups"])
        rule = {"name": "few-core", "group": 'Eng "core"', "max_members": 2}
        settings = world.settings
        world.settings = lambda: settings().model_copy(  # type: ignore[method-assign]
            update={"invariants": [InvariantSettings.model_validate(rule)]}
        )
        with bulk_from(True):
            result = world.sync()
            assert result.status == "guarded" and "few-core" in result.message
            assert result.plan.stored is not None
            assert directory(store)["memberships"] == []
            assert world.sync(allow_invariants={"few-core"}).status == "succeeded"
        assert len(directory(store)["memberships"]) == 6
    finally:
        store.close()


def test_the_change_log_is_read_from_the_memberships_written(store: Store) -> None:
    """The ``member.add`` rows come from the memberships the stash wrote, so not before them."""
    edge = sa.select(
        sa.literal("g1").label("group_id"),
        sa.literal("user").label("member_kind"),
        sa.literal("u1").label("member_id"),
    )
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        added = stash.Stash.create(conn, edge)
        assert added.count == 1
        with pytest.raises(RuntimeError, match="written before their changes"):
            added.write_changes(1, "hr", None)
        added.drop()


def test_sqlite_logs_stashed_additions_by_rowid_without_a_sort(tmp_path: Path) -> None:
    """SQLite reads the memberships just written by rowid, in order: no sort of change rows.

    Their members' logins come from a narrow copy of the connector's users (dropped after).
    """
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    plans: list[tuple[str, list[str]]] = []

    def explain(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("INSERT INTO changes") and " SELECT " in statement:
            steps = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append((statement, [str(step[3]) for step in steps]))

    sa.event.listen(store.engine, "before_cursor_execute", explain)
    try:
        world = World(tmp_path / "idp.json", store, users=TEAM["users"], groups=TEAM["groups"])
        with bulk_from(True):
            assert world.sync().status == "succeeded"
        with store.engine.connect() as conn:
            temp = sa.inspect(conn).get_temp_table_names()
    finally:
        store.close()
    assert len(plans) == 1, plans
    statement, steps = plans[0]
    assert not [step for step in steps if "TEMP B-TREE" in step], steps
    assert [s for s in steps if s.startswith("SEARCH memberships USING INTEGER PRIMARY KEY")]
    assert "idpsync_logins_" in statement
    assert not [name for name in temp if name.startswith("idpsync_")]
