"""``idpsync emulate onelogin --print-config`` in a real process, then endpoints, check, sync."""

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

from idpsync.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def emulated() -> Iterator[tuple[dict[str, str], str]]:
    """A served emulator: its printed connector block and the exported secret."""
    command = [
        sys.executable, "-m", "idpsync.cli", "emulate", "onelogin", "--port", "0",
        "--users", "120", "--groups", "6", "--roles", "4", "--seed", "3", "--print-config",
    ]  # fmt: skip
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
        while not lines or not lines[-1].startswith("role_prefix"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
        secret = lines[0].split("=", 1)[1].strip("'")
        assert secret not in "\n".join(lines[1:])
        source = tomllib.loads("\n".join(lines[1:]))["connectors"]["onelogin-emulated"]["source"]
        yield source, secret
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@pytest.mark.slow
def test_printed_config_drives_endpoints_check_and_sync(
    emulated: tuple[dict[str, str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, secret = emulated
    assert source["type"] == "onelogin"
    assert source["client_secret"] == "env:IDPSYNC_EMULATOR_SECRET"
    monkeypatch.setenv("IDPSYNC_EMULATOR_SECRET", secret)
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in source.items())
    config = tmp_path / "idpsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n'
        f"[connectors.ol.source]\n{body}\nmin_remaining_calls = 10\n",
        encoding="utf-8",
    )
    listing = runner.invoke(app, ["endpoints", "ol", "-c", str(config), "--json"])
    assert listing.exit_code == 0, listing.output
    urls = [e["url"] for e in json.loads(listing.output)["endpoints"]]
    base = source["base_url"]
    assert urls[:3] == [
        f"{base}/auth/oauth2/v2/token",
        f"{base}/auth/rate_limit",
        f"{base}/api/2/users",
    ]
    assert f"{base}/api/1/groups" in urls and f"{base}/api/2/roles" in urls
    check = runner.invoke(app, ["check", "ol", "-c", str(config)])
    assert check.exit_code == 0, check.output
    assert "ol: all checks passed" in check.output
    assert "GET /api/2/roles" in check.output and "POST /auth/oauth2/v2/token" in check.output
    synced = runner.invoke(app, ["sync", "ol", "-c", str(config), "--json"])
    assert synced.exit_code == 0, synced.output
    summary = json.loads(synced.output)["ol"]["summary"]
    assert summary["users_created"] == 120 and summary["groups_created"] == 10
    for output in (listing.output, check.output, synced.output):
        assert secret not in output


@pytest.mark.slow
def test_check_with_a_wrong_secret_fails_without_printing_it(
    emulated: tuple[dict[str, str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, secret = emulated
    wrong = secret + "-wrong"
    monkeypatch.setenv("IDPSYNC_EMULATOR_SECRET", wrong)
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in source.items())
    config = tmp_path / "idpsync.toml"
    config.write_text(f"[connectors.ol.source]\n{body}\n", encoding="utf-8")
    check = runner.invoke(app, ["check", "ol", "-c", str(config)])
    assert check.exit_code == 1
    assert "FAILED  token" in check.output and "POST /auth/oauth2/v2/token" in check.output
    assert wrong not in check.output and secret not in check.output
