"""The command line: ``idpsync sync`` + ``idpsync deliver`` into the Crowd emulator on a port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from tests.targets.crowd_support import APP, PASSWORD, RunningCrowd, expected, held
from tests.targets.scim_support import Directory

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, directory: Directory, url: str) -> Path:
    config = tmp_path / "idpsync.toml"
    config.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "cli.db"}"
[connectors.hr.source]
type = "file"
path = "{directory.path}"
[targets.jira]
type = "crowd"
url = "{url}"
application = "{APP}"
password = "env:CROWD_APP_PASSWORD"
[targets.jira.options]
max_attempts = 1
""")
    return config


def publish(directory: Directory) -> None:
    directory.path.write_text(
        json.dumps(
            {"users": list(directory.users.values()), "groups": list(directory.groups.values())}
        )
    )


def test_cli_sync_deliver_stop_and_resume(
    tmp_path: Path,
    directory: Directory,
    running_crowd: RunningCrowd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n, login in enumerate(["ada", "grace", "linus"]):
        directory.user(f"u{n}", login)
    directory.group("g-eng", "Engineering", ["u0", "u1"])
    publish(directory)
    monkeypatch.setenv("CROWD_APP_PASSWORD", PASSWORD)
    config = write_config(tmp_path, directory, running_crowd.url)
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "-c", str(config)]).exit_code == 0
    check = runner.invoke(app, ["config", "check", "-c", str(config)])
    assert "target jira: crowd http://127.0.0.1" in check.output

    done = runner.invoke(app, ["deliver", "-c", str(config)])
    assert done.exit_code == 0, done.output
    assert "jira: ok" in done.output and PASSWORD not in done.output
    assert held(running_crowd.emulator) == expected(directory)

    running_crowd.stop()
    directory.users["u2"]["login"] = "linus.t"
    directory.users["u1"]["active"] = False
    directory.groups["g-eng"]["members"] = ["u0", "u2"]
    publish(directory)
    assert runner.invoke(app, ["sync", "-c", str(config)]).exit_code == 0
    down = runner.invoke(app, ["deliver", "jira", "-c", str(config)])
    assert down.exit_code == 1 and "cannot reach the target" in down.output
    assert PASSWORD not in down.output
    (row,) = json.loads(runner.invoke(app, ["targets", "-c", str(config), "--json"]).output)
    assert row["status"] == "down" and row["lag"] > 0

    running_crowd.start()
    back = runner.invoke(app, ["deliver", "jira", "-c", str(config)])
    assert back.exit_code == 0, back.output
    assert held(running_crowd.emulator) == expected(directory)
    (row,) = json.loads(runner.invoke(app, ["targets", "-c", str(config), "--json"]).output)
    assert (row["status"], row["lag"]) == ("ok", 0)


def test_emulate_crowd_command_serves_on_a_port(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "idpsync"
    process = subprocess.Popen(
        [str(exe), "emulate", "crowd", "--port", "0", "--print-config"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "IDPSYNC_CROWD_EMULATOR_PASSWORD": "emu-pw-3"},
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        export = process.stdout.readline()
        assert export.strip() == "export IDPSYNC_CROWD_EMULATOR_PASSWORD='emu-pw-3'"
        lines = [process.stdout.readline() for _ in range(5)]
        url = next(line for line in lines if line.startswith("url = ")).split('"')[1]
        base = url + "/rest/usermanagement/1/"
        for _ in range(200):
            try:
                missing = httpx.get(
                    base + "user", params={"username": "x"}, auth=("idpsync", "emu-pw-3")
                )
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert missing.status_code == 404 and missing.json()["reason"] == "USER_NOT_FOUND"
        assert httpx.get(base + "user", params={"username": "x"}).status_code == 401
    finally:
        process.terminate()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
