"""``runs revert``: an applied run undone from its change log, through the guards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.app.reverting import revert_run
from idpsync.cli import app
from idpsync.config import ConnectorSettings
from idpsync.store import Store
from idpsync.store import schema as t
from tests.targets.strict_scim import StrictScim
from tests.targets.test_scim_strict import deliver, held
from tests.world import World, person

runner = CliRunner()
BOOKKEEPING = {"created_at", "updated_at", "missing_since", "missing_runs"}


def directory(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Users and groups with their ids, memberships by their ends (row ids aside)."""
    result = {}
    with store.engine.connect() as conn:
        for table in (t.users, t.groups, t.memberships):
            skip = BOOKKEEPING | ({"id"} if table is t.memberships else set())
            cols = [c for c in table.c if c.name not in skip]
            rows = conn.execute(sa.select(*cols))
            result[table.name] = sorted(tuple(str(v) for v in r) for r in rows)
    return result


def world_of(tmp_path: Path, store: Store) -> World:
    world = World(tmp_path / "hr.json", store)
    world.users = [
        person(f"u{i}", attributes={"dept": "eng" if i % 2 else "ops"}) for i in range(10)
    ]
    world.groups = [
        {"id": "g1", "name": "eng", "members": [f"u{i}" for i in range(1, 10, 2)]},
        {"id": "g2", "name": "all", "members": [f"u{i}" for i in range(10)]},
    ]
    return world


def test_a_revert_restores_the_directory_and_a_second_changes_nothing(
    tmp_path: Path, store: Store
) -> None:
    world = world_of(tmp_path, store)
    world.guard = {"min_deactivations_for_share": 1}
    world.policy = {"remove_memberships": True}
    assert world.sync().status == "succeeded"
    before = directory(store)
    gone = {"u0", "u3", "u6"}
    world.users = [u for u in world.users if u["id"] not in gone]
    world.groups = [
        {**g, "members": [m for m in g["members"] if m not in gone]} for g in world.groups
    ]
    assert world.sync().status == "guarded"  # 30 % deactivated
    bad = world.sync(allow_deletes=True)
    assert bad.status == "succeeded" and bad.summary()["users_deactivated"] == 3
    assert directory(store) != before

    settings = world.settings()
    dry = revert_run(store, bad.run_id, settings, dry_run=True)
    assert dry.status == "dry_run"
    assert dry.plan.summary() == {"user.reactivate": 3, "member.add": 4}
    done = revert_run(store, bad.run_id, settings)
    assert done.status == "succeeded", done.message
    assert directory(store) == before
    assert not done.conflicts

    again = revert_run(store, bad.run_id, settings)
    assert again.status == "succeeded" and not again.plan
    assert len(again.conflicts) == 7
    assert directory(store) == before


def test_objects_changed_since_are_conflicts(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = world_of(tmp_path, store)
        world.sync()
        world.users[1]["display_name"] = "Renamed"
        world.users[2]["display_name"] = "Renamed Too"
        first = world.sync()
        world.users[1]["display_name"] = "Renamed Again"
        world.sync()
        result = revert_run(store, first.run_id, world.settings())
        assert [(c.key, c.reason) for c in result.conflicts] == [
            ("u1", "changed again by a later run")
        ]
        assert [op.key for op in result.plan.ops] == ["u2"]
        assert world.rows()["u2"]["display_name"] == "U2"
        assert world.rows()["u1"]["display_name"] == "Renamed Again"
    finally:
        store.close()


def test_a_revert_passes_through_the_guards(tmp_path: Path) -> None:
    """Undoing a run that created many users deletes them: the user guard refuses."""
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = world_of(tmp_path, store)
        world.sync()
        world.policy = {"deprovision": "delete"}
        world.users += [person(f"n{i}") for i in range(10)]
        grown = world.sync()
        settings: ConnectorSettings = world.settings()
        refused = revert_run(store, grown.run_id, settings)
        assert refused.status == "guarded" and "--allow-deletes" in refused.message
        assert len(world.rows()) == 20
        done = revert_run(store, grown.run_id, settings, allow_deletes=True)
        assert done.status == "succeeded"
        assert len(world.rows()) == 10
    finally:
        store.close()


def test_cli_runs_revert(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'd.db'}"
    store = Store.open(store_url)
    world = world_of(tmp_path, store)
    world.sync()
    world.users[0]["display_name"] = "Changed"
    changed = world.sync()
    store.close()
    cfg = tmp_path / "idpsync.toml"
    cfg.write_text(
        f'[store]\nurl = "{store_url}"\n\n[connectors.hr.source]\ntype = "file"\n'
        f'path = "{tmp_path / "hr.json"}"\n'
    )
    args = ["runs", "revert", str(changed.run_id), "--config", str(cfg)]
    done = runner.invoke(app, [*args, "--dry-run"])
    assert done.exit_code == 0, done.output
    assert "dry run" in done.output and "user.update u0" in done.output
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "reverted" in done.output
    done = runner.invoke(app, ["runs", "revert", "999", "--config", str(cfg)])
    assert done.exit_code == 2


async def test_a_reverted_deactivation_reaches_the_scim_target(tmp_path: Path) -> None:
    """An approved 30 % deactivation, delivered, reverted, delivered: the same users are back."""
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    server = StrictScim()
    try:
        world = world_of(tmp_path, store)
        world.guard = {"min_deactivations_for_share": 1}
        await asyncio.to_thread(world.sync)
        assert (await deliver(store, server)).status == "ok"
        ids = {u["userName"]: u["id"] for u in server.users.values()}
        before = directory(store)
        held_before = held(server)
        gone = {"u0", "u3", "u6"}
        world.users = [u for u in world.users if u["id"] not in gone]
        world.groups = [
            {**g, "members": [m for m in g["members"] if m not in gone]} for g in world.groups
        ]
        assert (await asyncio.to_thread(world.sync)).status == "guarded"
        bad = await asyncio.to_thread(world.sync, allow_deletes=True)
        assert bad.status == "succeeded"
        assert (await deliver(store, server)).status == "ok"
        assert [u["active"] for u in server.users.values()].count(False) == 3

        settings = world.settings()
        done = await asyncio.to_thread(revert_run, store, bad.run_id, settings)
        assert done.status == "succeeded" and directory(store) == before
        assert (await deliver(store, server)).status == "ok"
        assert held(server) == held_before
        assert {u["userName"]: u["id"] for u in server.users.values()} == ids

        again = await asyncio.to_thread(revert_run, store, bad.run_id, settings)
        assert not again.plan and directory(store) == before
        server.requests.clear()
        assert (await deliver(store, server)).status == "ok"
        assert not [r for r in server.requests if not r.startswith("GET")]
    finally:
        store.close()
