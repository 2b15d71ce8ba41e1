"""Shadow mode (issue #24): a shadow connector stages what it reads, never changes the directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.config import ConfigError, parse_config
from idpsync.store import Store
from idpsync.store import schema as t
from tests.filedata import people, write

runner = CliRunner()

UNTOUCHED = (t.users, t.groups, t.memberships, t.changes, t.target_objects, t.approvals)
"""The tables a shadow run must leave exactly as they were."""


def two_connectors(tmp_path: Path, store_url: str, *, shadow: str = 'shadow_of = "old"') -> str:
    """A configuration with a file connector ``old`` and a file connector ``new`` shadowing it."""
    path = tmp_path / "idpsync.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\n\n'
        '[connectors.old]\n[connectors.old.source]\ntype = "file"\npath = "old.json"\n\n'
        f'[connectors.new]\n{shadow}\n[connectors.new.source]\ntype = "file"\npath = "new.json"\n',
        encoding="utf-8",
    )
    return str(path)


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the untouched tables, in a stable order, as the database returns them."""
    with store.read() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(
                    sa.select(table).order_by(*(c for c in table.primary_key.columns))
                )
            ]
            for table in UNTOUCHED
        }


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_a_shadow_run_stages_and_leaves_the_directory_unchanged(
    tmp_path: Path, store: Store, store_url: str
) -> None:
    write(tmp_path / "old.json", people(8))
    other = people(12)
    for user in other["users"]:
        user["id"] = "new-" + user["id"]
    for group in other["groups"]:
        group["members"] = ["new-" + m for m in group["members"]]
    write(tmp_path / "new.json", other)
    cfg = two_connectors(tmp_path, store_url)
    code, out = cli("sync", "old", "--config", cfg)
    assert code == 0, out
    before = dump(store)
    assert before["users"] and before["changes"]

    code, out = cli("sync", "new", "--config", cfg)
    assert code == 0, out
    assert "new: shadow run succeeded" in out
    assert "shadow of old: staged 12 users, 3 groups; directory unchanged" in out
    assert dump(store) == before

    code, out = cli("sync", "--config", cfg, "--json")  # every connector, the shadow too
    assert code == 0, out
    assert json.loads(out)["new"]["status"] == "succeeded"
    assert dump(store) == before

    with store.read() as conn:
        staged = conn.execute(
            sa.select(sa.func.count()).where(t.source_users.c.connector == "new")
        ).scalar_one()
        run = conn.execute(
            sa.select(t.runs).where(t.runs.c.connector == "new").order_by(t.runs.c.id.desc())
        ).first()
    assert staged == 12
    assert run is not None
    assert (run.mode, run.status, run.dry_run) == ("shadow", "succeeded", False)
    assert run.message == "shadow of old: staged 12 users, 3 groups; directory unchanged"
    assert run.stats["source_users"] == 12
    assert all(v == 0 for v in run.summary.values())


def test_a_shadow_dry_run_stages_nothing(tmp_path: Path, store: Store, store_url: str) -> None:
    write(tmp_path / "old.json", people(3))
    write(tmp_path / "new.json", people(4))
    cfg = two_connectors(tmp_path, store_url)
    code, out = cli("sync", "new", "--dry-run", "--config", cfg)
    assert code == 0, out
    assert "shadow run dry_run" in out
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.source_users)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar() == 0


def test_a_shadow_connector_refuses_a_single_user_sync(
    tmp_path: Path, store: Store, store_url: str
) -> None:
    write(tmp_path / "old.json", people(3))
    write(tmp_path / "new.json", people(3))
    cfg = two_connectors(tmp_path, store_url)
    code, out = cli("sync-user", "new", "user1", "--config", cfg)
    assert code == 1
    assert "new is a shadow of old: it never changes the directory" in out
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar() == 0


FILE = '[connectors.{name}]\n{extra}\n[connectors.{name}.source]\ntype = "file"\npath = "x"\n'


@pytest.mark.parametrize(
    ("connectors", "problem"),
    [
        ({"new": 'shadow_of = "okta"'}, "connectors.new.shadow_of: no connector named 'okta'"),
        ({"new": 'shadow_of = "new"'}, "a connector cannot shadow itself"),
        (
            {"old": "", "mid": 'shadow_of = "old"', "new": 'shadow_of = "mid"'},
            "connectors.new.shadow_of: 'mid' is itself a shadow (of 'old')",
        ),
    ],
)
def test_shadow_of_names_another_normal_connector(connectors: dict[str, str], problem: str) -> None:
    text = "\n".join(FILE.format(name=n, extra=e) for n, e in connectors.items())
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert problem in "\n".join(caught.value.problems)


def test_shadow_of_another_connector_is_valid() -> None:
    text = FILE.format(name="old", extra="") + FILE.format(name="new", extra='shadow_of = "old"')
    settings = parse_config(text)
    assert settings.connectors["new"].shadow_of == "old"
    assert settings.connectors["old"].shadow_of is None
