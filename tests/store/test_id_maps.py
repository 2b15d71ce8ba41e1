"""Apply reads the internal ids of only the users and groups its plan names (issue #20).

At 100,000 users an incremental plan of a few thousand edges read every user's id; the maps
now hold the ids asked for (all of them past :data:`~idpsync.store.store.IDS_READ_WHOLE`).
"""

from __future__ import annotations

import pytest

from idpsync.engine.plan import apply_ops, plan
from idpsync.model import DirectoryState, DirGroup, DirUser, MemberKind, Membership
from idpsync.store import Store
from idpsync.store import store as store_module
from idpsync.store.apply import apply_plan

USER = MemberKind.USER


def directory() -> DirectoryState:
    users = {k: DirUser(k, f"login-{k}") for k in ("a", "b", "c", "d")}
    groups = {g: DirGroup(g, f"Group {g}") for g in ("g1", "g2")}
    return DirectoryState(users, groups, {Membership("g1", "a", USER)})


def applied(store: Store, state: DirectoryState) -> DirectoryState:
    """Apply the plan from what is stored to ``state``; what the plan's ops say results."""
    run_id = store.start_run("hr", "full", False)
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        current = store.load_directory(conn, "hr")
        ops = plan(state, current)
        apply_plan(store, conn, "hr", run_id, ops)
    return apply_ops(current, ops.ops)


def test_only_the_ids_asked_for_are_read(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    applied(store, directory())
    with store.read() as conn:
        users, groups = store.id_maps(conn, "hr", {"b", "zz"}, {"g2"})
        assert set(users) == {"b"} and set(groups) == {"g2"}
        everyone, all_groups = store.id_maps(conn, "hr")
        assert set(everyone) == {"a", "b", "c", "d"} and set(all_groups) == {"g1", "g2"}
        assert everyone["b"] == users["b"] and all_groups["g2"] == groups["g2"]
        monkeypatch.setattr(store_module, "IDS_READ_WHOLE", 1)
        assert store.id_maps(conn, "hr", {"b", "c"}, set()) == (everyone, {})


def test_a_small_plan_applies_as_before(store: Store) -> None:
    first = directory()
    applied(store, first)
    second = DirectoryState(
        {k: v for k, v in first.users.items() if k != "d"},
        first.groups,
        {Membership("g2", "b", USER), Membership("g1", "g2", MemberKind.GROUP)},
    )
    expected = applied(store, second)
    with store.read() as conn:
        assert store.load_directory(conn, "hr") == expected
