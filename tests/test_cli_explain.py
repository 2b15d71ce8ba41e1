"""``idpsync explain`` on the command line: a file source, and Okta through its emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idpsync.app.runner import run_sync
from idpsync.cli import app
from idpsync.config import ConnectorSettings
from idpsync.store import Store
from tests.sources import okta_support
from tests.world import World, person


@pytest.fixture
def world(tmp_path: Path) -> World:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    w = World(tmp_path / "people.json", store)
    w.users = [
        person("u1", "ada"),
        person("u2", "bob", display_name="[red]Bob[/] \u202eevil"),
        person("u3", "eve"),
    ]
    w.groups = [{"id": "g1", "name": "Eng", "members": ["u1", "u2"]}]
    w.policy = {"required_groups": ["Eng"]}
    return w


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "idpsync.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "d.db"}"

[connectors.hr.source]
type = "file"
path = "people.json"

[connectors.hr.policy]
required_groups = ["Eng"]
{extra}
""")
    return path


def explain(path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["explain", *args, "-c", str(path)], env={"COLUMNS": "120"})


def test_cli_explain_panels_json_exit_codes_and_no_run(world: World, tmp_path: Path) -> None:
    world.sync()
    path = config(tmp_path)
    runs = world.store.runs(limit=100)
    ok = explain(path, "hr", "ada")
    assert ok.exit_code == 0, ok.output
    for title in ("1. Found in the IdP", "2. In scope", "3. Matched", "5. Targets"):
        assert title in ok.output
    assert "✓ 4. What the next run will do" in ok.output
    out = explain(path, "hr", "eve")
    assert out.exit_code == 1 and "✗ 2. In scope" in out.output
    assert "not a member of a required group (Eng)" in out.output
    hostile = explain(path, "hr", "bob")
    assert "\u202e" not in hostile.output and "[red]Bob[/] \\u202eevil" in hostile.output
    data = json.loads(explain(path, "hr", "EVE@example.org", "--json").stdout)
    assert data["matched_by"] == "e-mail" and data["source_id"] == "u3"
    assert [s["ok"] for s in data["steps"]] == [True, False, None, False, None]
    unknown = explain(path, "hr", "adaa")
    assert unknown.exit_code == 3
    assert "nobody matches 'adaa'" in unknown.output and "ada (ada@example.org" in unknown.output
    usage = explain(path, "nope", "ada")
    assert usage.exit_code == 2 and "no connector named 'nope'" in usage.output
    assert world.store.runs(limit=100) == runs
    world.store.close()


def test_cli_explain_live_reads_the_file_first(world: World, tmp_path: Path) -> None:
    world.sync()
    world.groups[0]["members"].append("u3")  # eve joined Eng; the mirror does not know yet
    world.write()
    path = config(tmp_path)
    runs = world.store.runs(limit=100)
    assert explain(path, "hr", "eve").exit_code == 1
    live = explain(path, "hr", "eve", "--live", "--json")
    assert live.exit_code == 0, live.output
    data = json.loads(live.stdout)
    assert data["live"] and data["steps"][3]["lines"] == [
        "user.create eve: new in the IdP",
        "member.add Eng ← eve: member in the IdP",
    ]
    assert world.store.runs(limit=100) == runs
    world.store.close()


def test_cli_explain_okta_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emu = okta_support.emulator(users=30, groups=4)
    src = okta_support.source(emu)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    result = asyncio.run(run_sync(store, "okta", ConnectorSettings(source=src.settings), src))
    assert result.status == "succeeded", result.message
    t = emu.tenant
    uid = next(u for u in t.user_ids if emu.status_of(u) == "ACTIVE")
    login = t.login(t.users[uid])
    monkeypatch.setenv("OKTA_TOKEN", emu.api_token)
    path = tmp_path / "idpsync.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "d.db"}"

[connectors.okta.source]
type = "okta"
base_url = "{okta_support.ORG}"
api_token = "env:OKTA_TOKEN"
""")
    runs = store.runs(limit=100)
    shown = json.loads(explain(path, "okta", login, "--json").stdout)
    assert shown["source_id"] == uid and [s["ok"] for s in shown["steps"]][:4] == [True] * 4
    t.update_user(uid, display_name="Renamed Person")
    monkeypatch.setattr(
        "idpsync.cli.explain.build_source", lambda *_a, **_k: okta_support.source(emu)
    )
    live = explain(path, "okta", uid, "--live", "--json")
    assert live.exit_code == 0, live.output
    data = json.loads(live.stdout)
    assert data["matched_by"] == "IdP id" and data["live"]
    (change,) = data["steps"][3]["lines"]
    assert change.startswith(f"user.update {login}: changed in the IdP (display_name:")
    assert emu.api_token not in live.output
    assert store.runs(limit=100) == runs
    store.close()
