"""Cleanup modes, grace periods, reactivation, and the read guards (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from idpsync.engine.plan import OpKind
from idpsync.store import Store, run_query
from idpsync.store import schema as t
from tests.world import World, person


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(tmp_path / "people.json", store)
    w.users = [
        person("u1", "ada", given_name="Ada", attributes={"dept": "R&D"}),
        person("u2", "bob"),
    ]
    w.groups = [{"id": "g1", "name": "Eng", "members": ["u1", "u2"]}]
    return w


def leave(world: World) -> None:
    world.users = [person("u2", "bob")]
    world.groups = [{"id": "g1", "name": "Eng", "members": ["u2"]}]


def test_deactivate_keeps_memberships_and_reactivates_same_identity(world: World) -> None:
    world.sync()
    ada_id = world.rows()["ada"]["id"]
    leave(world)
    result = world.sync()
    assert [(op.kind, op.reason) for op in result.plan.ops] == [
        (OpKind.DEACTIVATE_USER, "missing from the IdP")
    ]
    ada = world.rows()["ada"]
    assert not ada["active"] and ada["missing_runs"] == 1 and ada["missing_since"] is not None
    assert world.members("Eng") == {"ada", "bob"}
    world.users.append(person("u1", "ada", given_name="Ada", attributes={"dept": "R&D"}))
    result = world.sync()
    assert result.plan.count(OpKind.REACTIVATE_USER) == 1
    ada = world.rows()["ada"]
    assert ada["id"] == ada_id and ada["active"] and ada["missing_runs"] == 0
    assert ada["missing_since"] is None


def test_remove_memberships(world: World) -> None:
    world.policy = {"remove_memberships": True}
    world.sync()
    leave(world)
    world.sync()
    assert world.members("Eng") == {"bob"}


def test_delete(world: World) -> None:
    world.policy = {"deprovision": "delete"}
    world.sync()
    leave(world)
    result = world.sync()
    assert result.plan.count(OpKind.DELETE_USER) == 1
    assert set(world.rows()) == {"bob"}


def test_anonymise_and_come_back(world: World) -> None:
    world.policy = {"deprovision": "anonymize"}
    world.sync()
    ada_id = world.rows()["ada"]["id"]
    leave(world)
    result = world.sync()
    assert result.plan.count(OpKind.ANONYMISE_USER) == 1
    (anon,) = [r for r in world.rows().values() if r["id"] == ada_id]
    assert anon["login"].startswith("anon-") and anon["email"] is None
    assert anon["display_name"] == "Anonymised user" and anon["attributes"] == {}
    assert not anon["active"] and anon["given_name"] is None
    assert not world.sync().plan  # stable
    world.users.append(person("u1", "ada", given_name="Ada"))
    world.sync()
    back = world.rows()["ada"]
    assert back["id"] == ada_id and back["active"] and back["given_name"] == "Ada"


def test_keep(world: World) -> None:
    world.policy = {"deprovision": "keep"}
    world.sync()
    leave(world)
    assert not world.sync().plan
    assert world.rows()["ada"]["active"]


def test_out_of_scope_reason(world: World) -> None:
    world.sync()
    world.policy = {
        "user_filters": [{"action": "exclude", "field": "login", "op": "equals", "value": "ada"}]
    }
    result = world.sync()
    (op,) = [op for op in result.plan.ops if op.kind is OpKind.DEACTIVATE_USER]
    assert op.reason == "excluded by user filter #1 (login equals)"


def test_grace_runs(world: World) -> None:
    world.policy = {"grace_runs": 2}
    world.sync()
    leave(world)
    first = world.sync()
    assert not first.plan
    assert "missing for 1 of 2 runs" in first.details["waiting"][0]["reason"]
    assert world.rows()["ada"]["active"]
    second = world.sync()
    assert second.plan.count(OpKind.DEACTIVATE_USER) == 1


def test_grace_days(world: World, store: Store) -> None:
    world.policy = {"grace_days": 3}
    world.sync()
    leave(world)
    assert not world.sync().plan
    assert not world.sync().plan
    since = world.rows()["ada"]["missing_since"]
    with store.transaction() as conn:  # pretend the user went missing four days ago
        conn.execute(
            t.users.update()
            .where(t.users.c.login == "ada")
            .values(missing_since=since - timedelta(days=4))
        )
    assert world.sync().plan.count(OpKind.DEACTIVATE_USER) == 1


def test_deactivation_share_guard_counts_cleanup(world: World) -> None:
    world.users = [person(f"u{i}", f"user{i}") for i in range(20)]
    world.groups = []
    world.sync()
    world.users = world.users[:14]
    world.guard = {"max_snapshot_shrink": 0.5}
    refused = world.sync()
    assert refused.status == "guarded"
    assert "deactivate or delete 6 users" in refused.message
    assert world.sync(allow_deletes=True).status == "succeeded"


def test_guarded_dry_run_and_report_are_recorded(world: World) -> None:
    world.sync()
    leave(world)
    result = world.sync(dry_run=True)
    assert result.status == "dry_run"
    assert world.rows()["ada"]["active"]
    run = world.store.run(result.run_id)
    assert run is not None
    planned = run_query.page(world.store, run, run_query.RunFilter(), 10, 0).entries
    assert planned[0]["op"] == "user.deactivate" and planned[0]["outcome"] == "planned"
