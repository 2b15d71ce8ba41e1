"""When a complete delta or full read is planned incrementally, and when in full (the run says).

``tests/test_incremental_properties.py`` holds the results equal to a full run's; these pin
the choice itself: a delta, or a full read with few changes, after a complete run is planned
against the objects it touches, and a changed policy, an earlier partial run, a full read that
changed much or a required group, or a large share of the users touched plan the whole
directory, with the reason in the run's stats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.app import incremental
from idpsync.model import Membership, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult
from idpsync.store import Store, marks, stage
from tests.deltas import (
    Tenant,
    TenantSource,
    change_log,
    directory,
    seeded_copy,
    settings_for,
    sync,
)

STRICT = {
    "max_deactivate_share": 0,
    "min_deactivations_for_share": 1,
    "max_snapshot_shrink": 0,
    "min_snapshot_shrink_count": 1,
}


def _tenant() -> Tenant:
    users = {f"u{i}": SourceUser(f"u{i}", f"user{i}", email=f"user{i}@x.org") for i in range(8)}
    groups = {"g1": SourceGroup("g1", "Staff"), "g2": SourceGroup("g2", "Ops")}
    edges = {Membership("g1", f"u{i}") for i in range(5)} | {Membership("g2", "u5")}
    return Tenant(users, groups, edges)


def _renamed(tenant: Tenant) -> tuple[Tenant, DeltaResult]:
    """``u1`` renamed, ``u6`` joins Staff and ``u0`` leaves it."""
    users = dict(tenant.users)
    users["u1"] = SourceUser("u1", "user1", email="user1@x.org", display_name="One")
    edges = (tenant.edges | {Membership("g1", "u6")}) - {Membership("g1", "u0")}
    delta = DeltaResult(
        users=[users["u1"]],
        added=[Membership("g1", "u6")],
        removed=[Membership("g1", "u0")],
        state={"step": 1},
    )
    return Tenant(users, dict(tenant.groups), edges), delta


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return seeded_copy(tmp_path)


def test_a_delta_after_a_complete_run_is_planned_against_what_it_touches(store: Store) -> None:
    config = settings_for({}, STRICT)  # the guards see the whole stage, not the planned part
    start = _tenant()
    assert sync(store, config, TenantSource(start)).stats["planned"].startswith("full (")
    after, delta = _renamed(start)
    result = sync(store, config, TenantSource(after, delta, 1))
    assert result.status == "succeeded", result.message
    assert result.stats["planned"] == "incremental (1 users, 2 more edges)"
    assert result.stats["source_users"] == 8
    log = change_log(store, result.run_id)
    assert [(row[0], row[3]) for row in log] == [
        ("member.add", "Staff ← user6"),
        ("member.remove", "Staff ← user0"),
        ("user.update", "user1"),
    ]


def test_a_changed_policy_plans_in_full(store: Store) -> None:
    start = _tenant()
    sync(store, settings_for({}), TenantSource(start))
    after, delta = _renamed(start)
    result = sync(
        store, settings_for({"groups": {"prefix": "idp-"}}), TenantSource(after, delta, 1)
    )
    assert result.stats["planned"] == "full (the policy (or idpsync) changed since the last run)"
    assert result.summary()["groups_updated"] == 2


def test_a_delta_after_a_partial_run_plans_in_full(store: Store) -> None:
    start = _tenant()
    config = settings_for({})
    sync(store, config, TenantSource(start))
    partial = sync(store, config, TenantSource(start, step=1, incomplete=["GET /users: 503"]))
    assert partial.status == "partial"
    after, delta = _renamed(start)
    result = sync(store, config, TenantSource(after, delta, 1))
    assert result.stats["planned"] == "full (the last run was partial, not a complete read)"


def test_a_change_that_touches_many_users_plans_in_full(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "MAX_SHARE", 0.1)
    start = _tenant()
    config = settings_for({})
    sync(store, config, TenantSource(start))
    after, delta = _renamed(start)
    result = sync(store, config, TenantSource(after, delta, 1))
    assert result.stats["planned"] == "full (the change touches 1 of 8 users)"
    assert result.summary()["memberships_added"] == 1


def test_an_edge_of_a_group_held_as_it_is_stays_as_a_full_run_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group renamed onto another connector's name is held as the directory has it; an edge
    the IdP then removes from it stays, planned incrementally as in a full run."""
    start = _tenant()
    held = Tenant(dict(start.users), {**start.groups, "g1": SourceGroup("g1", "Eng")}, start.edges)
    after = Tenant(held.users, held.groups, held.edges - {Membership("g1", "u2")})
    steps = [
        (held, DeltaResult(groups=[held.groups["g1"]], state={"step": 1})),
        (after, DeltaResult(removed=[Membership("g1", "u2")], state={"step": 2})),
    ]
    config = settings_for({})
    results = []
    for incremental_read in (True, False):
        folder = tmp_path / str(incremental_read)
        folder.mkdir()
        store = seeded_copy(folder)
        monkeypatch.setattr(incremental, "ENABLED", incremental_read)  # full: the reference
        try:
            sync(store, config, TenantSource(start))
            for number, (tenant, delta) in enumerate(steps, 1):
                read = delta if incremental_read else None
                result = sync(store, config, TenantSource(tenant, read, number))
            results.append((result, change_log(store, result.run_id), directory(store)))
        finally:
            store.close()
    (inc, inc_log, inc_dir), (full, full_log, full_dir) = results
    assert inc.stats["planned"] == "incremental (0 users, 1 more edges)"
    assert full.stats["planned"] == "full (incremental planning is turned off)"
    assert (inc_log, inc_dir) == (full_log, full_dir)
    assert not inc.summary()["memberships_removed"]


def test_a_full_read_with_few_changes_is_planned_from_what_staging_changed(store: Store) -> None:
    config = settings_for({}, STRICT)
    start = _tenant()
    sync(store, config, TenantSource(start))
    after, _ = _renamed(start)
    result = sync(store, config, TenantSource(after, step=1))  # read whole
    assert result.status == "succeeded", result.message
    assert result.stats["planned"] == "incremental (1 users, 2 more edges)"
    assert result.stats["source_users"] == 8
    assert [(row[0], row[3]) for row in change_log(store, result.run_id)] == [
        ("member.add", "Staff ← user6"),
        ("member.remove", "Staff ← user0"),
        ("user.update", "user1"),
    ]


def test_a_full_read_that_changed_much_plans_in_full(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage, "CHANGE_FLOOR", 1)  # one user changed, two edges
    config = settings_for({})
    start = _tenant()
    sync(store, config, TenantSource(start))
    after, _ = _renamed(start)
    result = sync(store, config, TenantSource(after, step=1))
    assert result.stats["planned"] == "full (a large change (more than 1 memberships changed))"
    assert result.summary()["memberships_added"] == 1


def test_a_full_read_renaming_a_required_group_plans_in_full(store: Store) -> None:
    config = settings_for({"required_groups": ["Staff"]})
    start = _tenant()
    sync(store, config, TenantSource(start))
    groups = {**start.groups, "g1": SourceGroup("g1", "Team")}  # its members leave scope
    renamed = Tenant(dict(start.users), groups, set(start.edges))
    result = sync(store, config, TenantSource(renamed, step=1), allow_deletes=True)
    assert result.status == "succeeded", result.message
    assert result.stats["planned"] == "full (a required group changed)"


def test_an_incremental_plan_reads_the_missing_and_disabled_marks_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = settings_for({}, STRICT)
    start = _tenant()
    sync(store, config, TenantSource(start))
    reads: list[str] = []
    for name in ("missing_marks", "user_marks"):
        read = getattr(marks, name)

        def counted(*args: Any, _read: Any = read, _name: str = name) -> Any:
            reads.append(_name)
            return _read(*args)

        monkeypatch.setattr(marks, name, counted)
    after, delta = _renamed(start)
    result = sync(store, config, TenantSource(after, delta, 1))
    assert result.stats["planned"] == "incremental (1 users, 2 more edges)"
    # one read of both for the plan (the touched users and the decision share it), and the
    # missing marks once more where the run records them after applying
    assert sorted(reads) == ["missing_marks", "user_marks"]


def test_an_incremental_plans_loose_edges_are_applied_without_reading_their_rows_again(
    store: Store,
) -> None:
    config = settings_for({}, STRICT)
    start = _tenant()
    sync(store, config, TenantSource(start))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    after, _ = _renamed(start)  # u6 joins Staff and u0 leaves it: loose edges (not planned)
    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        result = sync(store, config, TenantSource(after, step=1))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert result.stats["planned"] == "incremental (1 users, 2 more edges)"
    assert result.summary()["memberships_removed"] == 1
    # the plan read their users' (with their logins), group's and held edge's rows once
    reads = ("SELECT users.source_id, users.id FROM", "SELECT groups.source_id, groups.id FROM")
    found = [r for s in statements for r in reads if s.startswith(r)]
    assert found == [reads[1]]  # the plan's; none in apply
    deletes = [s for s in statements if s.startswith("DELETE FROM memberships")]
    assert len(deletes) == 1 and "memberships.id IN" in deletes[0]  # by row, not by key
    assert [(row[0], row[3]) for row in change_log(store, result.run_id)] == [
        ("member.add", "Staff ← user6"),
        ("member.remove", "Staff ← user0"),
        ("user.update", "user1"),
    ]
