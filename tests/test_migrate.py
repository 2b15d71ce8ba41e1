"""``connectors migrate``: the handover keeps directory ids and target links; undo reverses it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.app.migrate_undo import undo_migration
from idpsync.app.migrating import MigrateRefused, migrate, migration_of
from idpsync.app.reverting import NotRevertible, revert_run
from idpsync.app.runner import run_sync
from idpsync.cli import app
from idpsync.config import ConnectorSettings
from idpsync.sources.base import no_progress
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.local import set_locally_disabled
from idpsync.targets.state import TargetState
from tests.filedata import write


def settings(path: Path) -> ConnectorSettings:
    return ConnectorSettings.model_validate({"source": {"type": "file", "path": str(path)}})


def people(tmp_path: Path) -> tuple[Path, Path]:
    """Old: u0..u9; new: the same people with new ids, u3 with a new e-mail, u9 gone, n1 new."""
    old = [
        {
            "id": f"o{i}",
            "login": f"user{i}",
            "email": f"user{i}@example.org",
            "attributes": {"employeeId": f"E{i}"},
        }
        for i in range(10)
    ]
    new = [
        {
            "id": f"n-{i}",
            "login": f"user{i}",
            "email": f"user{i}@example.org",
            "display_name": f"User {i}",
            "attributes": {"employeeId": f"E{i}"},
        }
        for i in range(9)
    ]
    new[3]["email"] = "renamed3@example.org"
    new.append({"id": "n-new", "login": "fresh", "email": "fresh@example.org"})
    old_doc = {"users": old, "groups": [{"id": "og", "name": "Staff", "members": ["o1", "o2"]}]}
    new_doc = {"users": new, "groups": [{"id": "ng", "name": "Staff", "members": ["n-1", "n-2"]}]}
    return write(tmp_path / "old.json", old_doc), write(tmp_path / "new.json", new_doc)


async def stage(store: Store, name: str, path: Path) -> None:
    """What a shadow run does: stage the new IdP without touching the directory."""
    snap = await FileSource(path).snapshot(no_progress)
    run_id = store.start_run(name, "full", True)
    with store.transaction() as conn:
        store.ensure_connector(conn, name, "file")
        store.write_stage(conn, name, snap, run_id)
    store.finish_run(run_id, "dry_run")


def directory(store: Store) -> dict[int, tuple[Any, ...]]:
    u = t.users.c
    with store.read() as conn:
        rows = conn.execute(sa.select(u.id, u.connector, u.source_id, u.email, u.active))
        return {r.id: tuple(r)[1:] for r in rows}


def change_ops(store: Store, run_id: int) -> list[tuple[str, str]]:
    return [(c["connector"], c["op"]) for c in store.changes(run_id)]


async def test_handover_undo_and_again(store: Store, tmp_path: Path) -> None:
    old_path, new_path = people(tmp_path)
    okta, entra = settings(old_path), settings(new_path)
    first = await run_sync(store, "okta", okta, FileSource(old_path))
    assert first.status == "succeeded"
    await stage(store, "entra", new_path)
    before = directory(store)
    keys = ["email", "attributes.employeeId"]

    dry = migrate(store, "okta", "entra", okta, entra, keys)
    assert dry.status == "dry_run" and len(dry.users) == 9 and dry.leavers == ["user9"]
    assert directory(store) == before
    try:
        migrate(store, "okta", "entra", okta, entra, keys, apply=True)
    except MigrateRefused as exc:
        assert "--confirm-leavers 1" in str(exc)
    else:
        raise AssertionError("unconfirmed leavers were not refused")

    done = migrate(store, "okta", "entra", okta, entra, keys, apply=True, confirm_leavers=1)
    assert done.status == "succeeded", done.message
    after = directory(store)
    assert after.keys() == before.keys()  # the same directory ids
    moved = {v[1]: v for v in after.values() if v[0] == "entra"}
    assert set(moved) == {f"n-{i}" for i in range(9)}
    assert moved["n-3"][2] == "renamed3@example.org"  # the new IdP's value, as an update
    assert [v for v in after.values() if v[0] == "okta"] == [
        ("okta", "o9", "user9@example.org", False)
    ]
    ops = change_ops(store, done.run_id or 0)
    assert not [op for op in ops if op[1].endswith((".create", ".delete"))]
    assert ("okta", "user.deactivate") in ops
    with store.read() as conn:
        edges = conn.execute(sa.select(t.memberships.c.connector)).scalars().all()
    assert sorted(edges) == ["entra", "entra"]
    assert migration_of(store, "okta") is not None

    refused = await run_sync(store, "okta", okta, FileSource(old_path))
    assert refused.status == "failed" and "--undo" in refused.message
    with pytest.raises(NotRevertible, match="--undo"):
        revert_run(store, done.run_id or 0, entra)

    undone = undo_migration(store, "okta", "entra")
    assert undone.status == "succeeded", undone.message
    assert directory(store) == before
    assert migration_of(store, "okta") is None

    again = migrate(store, "okta", "entra", okta, entra, keys, apply=True, confirm_leavers=1)
    assert again.status == "succeeded", again.message
    nxt = await run_sync(store, "entra", entra, FileSource(new_path))
    assert nxt.status == "succeeded"
    touched = {op.source_id for op in nxt.plan.ops}
    assert touched == {"n-new"}, nxt.plan.ops  # only the new-only person is created
    try:
        undo_migration(store, "okta", "entra")
    except MigrateRefused as exc:
        assert "normal run" in str(exc)
    else:
        raise AssertionError("undo after a normal run was not refused")


def test_command_line(store: Store, store_url: str, tmp_path: Path) -> None:
    old_path, new_path = people(tmp_path)
    config = tmp_path / "idpsync.toml"
    config.write_text(
        f'[store]\nurl = "{store_url}"\n\n'
        f'[connectors.okta.source]\ntype = "file"\npath = "{old_path}"\n\n'
        f'[connectors.entra.source]\ntype = "file"\npath = "{new_path}"\n',
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    cli = CliRunner()
    first = cli.invoke(app, ["sync", "okta", *cfg])
    assert first.exit_code == 0, first.output
    asyncio.run(stage(store, "entra", new_path))
    base = ["connectors", "migrate", "okta", "entra", "--match", "email", "--match", "login"]

    dry = cli.invoke(app, [*base, *cfg])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "user9" in dry.output
    refused = cli.invoke(app, [*base, "--apply", *cfg])
    assert refused.exit_code == 2 and "--confirm-leavers 1" in refused.output
    kept = cli.invoke(app, [*base, "--apply", "--leavers", "keep", "--json", *cfg])
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["status"] == "succeeded"
    blocked = cli.invoke(app, ["sync", "okta", *cfg])
    assert blocked.exit_code == 1 and "--undo" in blocked.output
    undo = cli.invoke(app, ["connectors", "migrate", "okta", "entra", "--undo", *cfg])
    assert undo.exit_code == 0 and "handover undone" in undo.output
    again = cli.invoke(app, ["connectors", "migrate", "okta", "entra", "--undo", *cfg])
    assert again.exit_code == 2 and "has not been handed over" in again.output
    with store.read() as conn:
        actions = conn.execute(sa.select(t.audit.c.action).order_by(t.audit.c.id)).scalars().all()
    assert [a for a in actions if a.startswith("migrate")] == ["migrate", "migrate_undo"]


async def test_targets_behind_the_old_connector_refuse(store: Store, tmp_path: Path) -> None:
    old_path, new_path = people(tmp_path)
    okta, entra = settings(old_path), settings(new_path)
    assert (await run_sync(store, "okta", okta, FileSource(old_path))).ok
    await stage(store, "entra", new_path)
    TargetState(store, "scim").row()  # a target that has taken nothing yet
    keys = ["email"]
    behind = migrate(store, "okta", "entra", okta, entra, keys, apply=True, leavers="keep")
    assert behind.status == "refused" and "idpsync deliver" in behind.message
    assert migration_of(store, "okta") is None
    elsewhere = {"scim": ["hr"]}  # it follows another connector only
    done = migrate(
        store, "okta", "entra", okta, entra, keys, apply=True, leavers="keep", following=elsewhere
    )
    assert done.status == "succeeded", done.message


async def test_guard_and_local_state(store: Store, tmp_path: Path) -> None:
    old_path, _ = people(tmp_path)
    okta = settings(old_path)
    few = {"users": [{"id": "n-1", "login": "user1", "email": "user1@example.org"}]}
    entra = settings(write(tmp_path / "few.json", few))
    assert (await run_sync(store, "okta", okta, FileSource(old_path))).ok
    await stage(store, "entra", tmp_path / "few.json")
    set_locally_disabled(store, "user1", disabled=True)
    keys = ["email"]
    refused = migrate(store, "okta", "entra", okta, entra, keys, apply=True, confirm_leavers=9)
    assert refused.status == "guarded" and migration_of(store, "okta") is None
    done = migrate(
        store, "okta", "entra", okta, entra, keys, apply=True, confirm_leavers=9, allow_deletes=True
    )
    assert done.status == "succeeded", done.message
    u = t.users.c
    with store.read() as conn:
        row = conn.execute(
            sa.select(u.connector, u.active, u.locally_disabled).where(u.login == "user1")
        ).one()
    assert tuple(row) == ("entra", False, True)  # moved, still deactivated on purpose
    assert undo_migration(store, "okta", "entra").status == "succeeded"
    with store.read() as conn:
        active = conn.execute(sa.select(sa.func.count()).where(u.active.is_(True))).scalar_one()
    assert active == 9  # the nine leavers are back; user1 stays locally disabled
