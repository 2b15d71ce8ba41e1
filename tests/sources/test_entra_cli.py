"""The Entra connector through the command line, against an emulator on a real port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.framework import RunningServer

SECRET_ENV = "IDPSYNC_EMULATOR_SECRET"


@pytest.fixture
def served() -> Iterator[tuple[EntraEmulator, RunningServer]]:
    emu = EntraEmulator.generate(users=80, groups=10, seed=5)
    with emu.serve() as server:
        yield emu, server


def write_config(folder: Path, emu: EntraEmulator, url: str) -> Path:
    path = folder / "idpsync.toml"
    text = f'[store]\nurl = "sqlite:///{folder / "d.db"}"\n\n'
    path.write_text(text + emu.connector_toml(url, name="entra"), encoding="utf-8")
    return path


def cli(config: Path, *args: str, secret: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    env["COLUMNS"] = "200"
    if secret is not None:
        env[SECRET_ENV] = secret
    command = [sys.executable, "-m", "idpsync.cli", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


@pytest.mark.slow
def test_missing_secret_exits_2_naming_the_key_and_writes_nothing(
    tmp_path: Path, served: tuple[EntraEmulator, RunningServer]
) -> None:
    emu, server = served
    config = write_config(tmp_path, emu, server.url)
    done = cli(config, "sync", "entra", secret=None)
    assert done.returncode == 2
    assert "connectors.entra.source.client_secret" in done.stderr
    assert SECRET_ENV in done.stderr
    assert not (tmp_path / "d.db").exists()
    assert len(emu.requests) == 0


@pytest.mark.slow
def test_sync_incremental_endpoints_and_check_never_show_the_secret(
    tmp_path: Path, served: tuple[EntraEmulator, RunningServer]
) -> None:
    emu, server = served
    config = write_config(tmp_path, emu, server.url)
    secret = emu.client_secret
    outputs = []
    first = cli(config, "sync", "entra", "--json", secret=secret)
    outputs.append(first)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["entra"]["summary"]["users_created"] == 80
    user = next(iter(emu.tenant.users.values()))
    emu.tenant.update_user(user.id, display_name="Changed Name")
    second = cli(config, "sync", "entra", "--incremental", "--json", secret=secret)
    outputs.append(second)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["entra"]["summary"]["users_updated"] == 1
    both = cli(config, "sync", "entra", "--incremental", "--full", secret=secret)
    assert both.returncode == 2
    endpoints = cli(config, "endpoints", "entra", "--json", secret=secret)
    outputs.append(endpoints)
    assert endpoints.returncode == 0, endpoints.stderr
    rows = json.loads(endpoints.stdout)
    text = json.dumps(rows)
    assert "/oauth2/v2.0/token" in text and "/groups/{id}/members" in text
    assert "GroupMember.Read.All" in text and "User.Read.All" in text
    check = cli(config, "check", "entra", secret=secret)
    outputs.append(check)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "token" in check.stdout
    reads = [line.split()[:3] for line in check.stdout.splitlines() if "  read " in line]
    table = [r for r in rows["endpoints"] if r["method"] == "GET"]
    assert len(reads) == len(table) >= 8, check.stdout  # a read per endpoint, as promised
    assert all(r[0] == "ok" for r in reads), check.stdout
    assert "retrying" not in check.stdout + check.stderr
    for done in outputs:
        assert secret not in done.stdout and secret not in done.stderr


@pytest.mark.slow
def test_wrong_secret_fails_without_showing_it(
    tmp_path: Path, served: tuple[EntraEmulator, RunningServer]
) -> None:
    emu, server = served
    config = write_config(tmp_path, emu, server.url)
    wrong = "not-the-secret-" + "x" * 20
    done = cli(config, "sync", "entra", secret=wrong)
    assert done.returncode != 0
    assert "invalid_client" in done.stdout + done.stderr or "7000215" in done.stdout + done.stderr
    assert wrong not in done.stdout + done.stderr
