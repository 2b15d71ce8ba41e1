"""``idpsync emulate keycloak --print-config`` in a real process, then endpoints, check, sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from idpsync.cli import app


def _idpsync(*args: str, env: dict[str, str]) -> Result:
    """The CLI in this process (the emulator runs in its own)."""
    return CliRunner().invoke(app, list(args), env=env)


@pytest.mark.slow
def test_emulate_keycloak_print_config_then_endpoints_check_and_sync(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "idpsync.cli", "emulate", "keycloak", "--port", "0",
        "--users", "40", "--groups", "8", "--seed", "3", "--print-config",
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("client_secret"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
        secret = lines[0].split("=", 1)[1].strip("'")
        block = "\n".join(lines[1:])
        source = tomllib.loads(block)["connectors"]["keycloak-emulated"]["source"]
        assert source["type"] == "keycloak" and secret not in block
        config = tmp_path / "idpsync.toml"
        config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n{block}\n')
        env["IDPSYNC_EMULATOR_SECRET"] = secret
        listed = _idpsync("endpoints", "keycloak-emulated", "-c", str(config), "--json", env=env)
        assert listed.exit_code == 0, listed.output
        urls = json.dumps(json.loads(listed.stdout))
        assert "/admin/realms/acme/groups/{id}/members" in urls
        assert "/realms/acme/protocol/openid-connect/token" in urls
        checked = _idpsync("check", "keycloak-emulated", "-c", str(config), env=env)
        assert checked.exit_code == 0, checked.output
        reads = [line.split()[0] for line in checked.output.splitlines() if "  read " in line]
        assert reads == ["ok"] * 7, checked.output  # realm, users, user, its groups, groups…
        synced = _idpsync("sync", "keycloak-emulated", "-c", str(config), env=env)
        assert synced.exit_code == 0, synced.output
        for output in (listed, checked, synced):
            assert secret not in output.output
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
