from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.store import Store
from tests.filedata import people, write

runner = CliRunner()


def make_config(tmp_path: Path, store_url: str, extra: str = "") -> Path:
    path = tmp_path / "idpsync.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\n\n[connectors.hr.source]\ntype = "file"\n'
        f'path = "people.json"\n{extra}',
        encoding="utf-8",
    )
    return path


def idpsync(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_sync_users_groups_runs_json(tmp_path: Path, store_url: str) -> None:
    write(tmp_path / "people.json", people(6))
    cfg = str(make_config(tmp_path, store_url))
    code, out = idpsync("sync", "hr", "--config", cfg, "--json")
    assert code == 0, out
    assert json.loads(out)["hr"]["summary"]["users_created"] == 6
    code, out = idpsync("users", "NÜMBER 3", "--config", cfg, "--json")
    assert code == 0
    (user,) = json.loads(out)
    assert set(user) == {
        "id",
        "connector",
        "source_id",
        "login",
        "email",
        "display_name",
        "given_name",
        "family_name",
        "active",
        "manager_source_id",
        "attributes",
        "created_at",
        "updated_at",
    }
    assert (user["login"], user["source_id"], user["active"]) == ("user3", "id-3", True)
    code, out = idpsync("groups", "group 0", "--members", "--json", "--config", cfg)
    (group,) = json.loads(out)
    assert group["name"] == "Group 0"
    assert group["members"] == [
        {"type": "user", "login": "user0", "source_id": "id-0"},
        {"type": "user", "login": "user3", "source_id": "id-3"},
        {"type": "group", "name": "Group 1", "source_id": "g-1"},
    ]
    code, out = idpsync("runs", "--json", "--config", cfg)
    (run,) = json.loads(out)
    assert run["status"] == "succeeded" and run["summary"]["users_created"] == 6
    code, out = idpsync("sync", "--config", cfg)
    assert code == 0 and "sync finished" in out


def test_dry_run_and_failure_exit_codes(tmp_path: Path, store_url: str) -> None:
    cfg = str(make_config(tmp_path, store_url))
    write(tmp_path / "people.json", people(3))
    code, out = idpsync("sync", "hr", "--dry-run", "--config", cfg)
    assert code == 0 and "dry run: nothing was changed" in out
    (tmp_path / "people.json").write_text("{", encoding="utf-8")
    code, out = idpsync("sync", "hr", "--config", cfg)
    assert code == 1 and "not valid JSON" in out


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("colour = 1\n", "idpsync.toml:7: connectors.hr.source.colour: unknown key"),
        (
            "[connectors.hr.guard]\nmax_deactivate_share = 7\n",
            "idpsync.toml:8: connectors.hr.guard.max_deactivate_share: Input should be less than",
        ),
    ],
)
def test_bad_config_exits_2_names_key_and_writes_nothing(
    tmp_path: Path, extra: str, expected: str
) -> None:
    db = tmp_path / "never.db"
    cfg = str(make_config(tmp_path, f"sqlite:///{db}", extra))
    code, out = idpsync("sync", "hr", "--config", cfg)
    assert code == 2
    assert expected in out
    assert not db.exists()


def test_unknown_connector_and_usage_errors(tmp_path: Path) -> None:
    cfg = str(make_config(tmp_path, f"sqlite:///{tmp_path}/x.db"))
    code, out = idpsync("sync", "nope", "--config", cfg)
    assert code == 2 and "no connector named 'nope' (known: hr)" in out
    code, _ = idpsync("sync", "--bogus-flag")
    assert code == 2
    code, out = idpsync("config", "check", "--config", cfg)
    assert code == 0 and "connector hr: source file" in out


@pytest.mark.parametrize("phase", ["users", "memberships", "changes"])
def test_killed_mid_apply_leaves_store_as_before(
    tmp_path: Path, store: Store, store_url: str, phase: str
) -> None:
    doc = people(200)
    write(tmp_path / "people.json", doc)
    cfg = str(make_config(tmp_path, store_url))
    command = [sys.executable, "-m", "idpsync.cli", "sync", "hr", "--config", cfg]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    with store.transaction() as conn:
        before = store.load_directory(conn, "hr")
    doc["users"] = [*doc["users"][:195], {"id": "late", "login": "late"}]
    doc["users"][0]["login"] = "renamed"
    for g in doc["groups"]:
        g["members"] = [m for m in g["members"] if int(m.split("-")[1]) < 195]
    write(tmp_path / "people.json", doc)

    env = {**os.environ, "IDPSYNC_FAULT_KILL_AT": phase}
    killed = subprocess.run(command, capture_output=True, env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    with store.transaction() as conn:
        assert store.load_directory(conn, "hr") == before
    assert store.runs("hr")[0]["status"] == "running"

    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = [r["status"] for r in store.runs("hr")]
    assert statuses == ["succeeded", "interrupted", "succeeded"]
    with store.transaction() as conn:
        after = store.load_directory(conn, "hr")
    assert after.users["id-0"].login == "renamed"
    assert after.users["late"].active and not after.users["id-199"].active


def test_missing_secret_env_var_exits_2_names_key_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IDPSYNC_TEST_UNSET_TOKEN", raising=False)
    db = tmp_path / "never.db"
    extra = (
        '\n[targets.scim]\ntype = "scim"\nurl = "https://scim.example.org/scim/v2"\n'
        'token = "env:IDPSYNC_TEST_UNSET_TOKEN"\n'
    )
    cfg = str(make_config(tmp_path, f"sqlite:///{db}", extra))
    code, out = idpsync("sync", "hr", "--config", cfg)
    assert code == 2
    assert (
        "idpsync.toml:11: targets.scim.token: environment variable IDPSYNC_TEST_UNSET_TOKEN "
        "is not set" in out
    )
    assert not db.exists()
