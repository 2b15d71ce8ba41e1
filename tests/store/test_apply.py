from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.engine.plan import apply_ops, plan
from idpsync.model import DirectoryState, DirUser
from idpsync.store import Store
from idpsync.store import apply as apply_module
from idpsync.store import store as store_module
from idpsync.store.apply import apply_plan
from tests.strategies import states

_names = itertools.count()


def _write(store: Store, connector: str, target: DirectoryState, mode: str) -> DirectoryState:
    """Plan against the store, apply, and return what the store holds afterwards."""
    run_id = store.start_run(connector, "full", False)
    with store.transaction() as conn:
        store.ensure_connector(conn, connector, "file")
        current = store.load_directory(conn, connector)
        p = plan(target, current, deprovision=mode)
        apply_plan(store, conn, connector, run_id, p)
        expected = apply_ops(current, p.ops)
    with store.transaction() as conn:
        stored = store.load_directory(conn, connector)
    assert stored == expected
    return stored


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=states(), second=states(), mode=st.sampled_from(["deactivate", "delete"]))
def test_store_apply_matches_in_memory_apply(store: Store, first, second, mode) -> None:
    connector = f"c{next(_names)}"  # a fresh connector per example keeps examples independent
    _write(store, connector, first, mode)
    stored = _write(store, connector, second, mode)
    with store.transaction() as conn:
        again = plan(second, store.load_directory(conn, connector), deprovision=mode)
    assert again.ops == []
    if mode == "delete":
        assert stored == second


def test_change_log_records_every_operation(store: Store) -> None:
    target = DirectoryState(users={"a": DirUser("a", "ada", email="ada@example.org")})
    _write(store, "hr", target, "deactivate")
    _write(store, "hr", DirectoryState(), "deactivate")
    runs = store.runs("hr")
    first, second = store.changes(runs[1]["id"]), store.changes(runs[0]["id"])
    assert [(c["op"], c["object_key"], c["after"]["login"]) for c in first] == [
        ("user.create", "ada", "ada")
    ]
    assert [(c["op"], c["before"], c["after"]) for c in second] == [
        ("user.deactivate", {"active": True}, {"active": False})
    ]


def test_connectors_never_touch_each_others_objects(store: Store) -> None:
    _write(store, "one", DirectoryState(users={"x": DirUser("x", "x1")}), "delete")
    _write(store, "two", DirectoryState(users={"x": DirUser("x", "x2")}), "delete")
    _write(store, "two", DirectoryState(), "delete")
    with store.transaction() as conn:
        assert list(store.load_directory(conn, "one").users) == ["x"]
        assert store.load_directory(conn, "two").users == {}


def test_a_first_load_s_user_rows_are_written_a_batch_at_a_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating users, apply makes each row as it is written, never every row at once:
    when the row after the first batch is made, the first batch is in the table."""
    count = store_module.BATCH + 2
    target = DirectoryState(users={f"u{i}": DirUser(f"u{i}", f"user{i}") for i in range(count)})
    made, seen = itertools.count(), []
    values = apply_module._user_values

    def counted(fields: dict[str, Any]) -> dict[str, Any]:
        if next(made) == store_module.BATCH:
            seen.append(len(store.load_directory(held[0], "hr").users))
        return values(fields)

    monkeypatch.setattr(apply_module, "_user_values", counted)
    held: list[Any] = []
    run_id = store.start_run("hr", "full", False)
    with store.transaction() as conn:
        held.append(conn)
        store.ensure_connector(conn, "hr", "file")
        apply_plan(store, conn, "hr", run_id, plan(target, DirectoryState()))
    assert seen == [store_module.BATCH]
    with store.transaction() as conn:
        assert len(store.load_directory(conn, "hr").users) == count
