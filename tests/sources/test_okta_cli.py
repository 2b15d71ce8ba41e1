"""``idpsync emulate okta --print-config`` in a real process, then endpoints, check and sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync import cli
from idpsync.store import Store


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    command = [
        sys.executable,
        "-m",
        "idpsync.cli",
        "emulate",
        "okta",
        "--port",
        "0",
        "--users",
        "250",
        "--groups",
        "8",
        "--seed",
        "3",
        "--print-config",
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("api_token"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
        token = lines[0].split("=", 1)[1].strip("'")
        block = "\n".join(lines[1:])
        assert token not in block
        source = tomllib.loads(block)["connectors"]["okta-emulated"]["source"]
        assert source == {
            "type": "okta",
            "base_url": source["base_url"],
            "api_token": "env:IDPSYNC_OKTA_TOKEN",
        }
        monkeypatch.setenv("IDPSYNC_OKTA_TOKEN", token)
        config = tmp_path / "idpsync.toml"
        config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "d.db"}"\n\n{block}\n')
        yield config, token
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@pytest.mark.slow
def test_endpoints_check_and_sync_against_the_emulator(emulated: tuple[Path, str]) -> None:
    config, token = emulated
    runner = CliRunner()
    listing = runner.invoke(cli.app, ["endpoints", "okta-emulated", "-c", str(config), "--json"])
    assert listing.exit_code == 0, listing.output
    urls = [e["url"].split("/", 3)[3] for e in json.loads(listing.output)["endpoints"]]
    assert urls == [
        "api/v1/users",
        "api/v1/users/{id}",
        "api/v1/users/{id}/groups",
        "api/v1/groups",
        "api/v1/groups/{id}/users",
        "api/v1/logs",
    ]
    check = runner.invoke(cli.app, ["check", "okta-emulated", "-c", str(config)])
    assert check.exit_code == 0, check.output
    assert "all checks passed" in check.output and "bucket" in check.output
    synced = runner.invoke(cli.app, ["sync", "okta-emulated", "-c", str(config)])
    assert synced.exit_code == 0, synced.output
    again = runner.invoke(cli.app, ["sync", "okta-emulated", "--incremental", "-c", str(config)])
    assert again.exit_code == 0, again.output
    for output in (listing.output, check.output, synced.output, again.output):
        assert token not in output
    store = Store.open(f"sqlite:///{config.parent / 'd.db'}")
    try:
        runs = store.runs("okta-emulated")
        with store.transaction() as conn:
            state = store.connector_state(conn, "okta-emulated")
    finally:
        store.close()
    assert [(r["mode"], r["status"]) for r in runs] == [
        ("incremental", "succeeded"),
        ("full", "succeeded"),
    ]
    # nothing changed: the changed-users listing, one System Log page a filter and the groups
    # listing, no member pages
    assert runs[0]["stats"]["requests"] == 4
    assert {"users_since", "groups_since", "full_at", "log_since"} <= set(state)
