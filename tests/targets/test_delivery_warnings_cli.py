"""``idpsync deliver`` prints what was delivered incompletely (the result's warnings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from tests.targets.scim_support import TOKEN, Directory, ScimServer

pytestmark = pytest.mark.slow


def test_deliver_prints_the_warnings_of_each_target(
    tmp_path: Path, directory: Directory, scim_server: ScimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory.user("u1", "ada", manager_id="u9")
    directory.user("u9", "boss")  # out of the connector's scope: ada's manager is reported
    monkeypatch.setenv("SCIM_TOKEN", TOKEN)
    config = directory.cli_config(
        tmp_path,
        f"""
[connectors.hr.policy]
user_filters = [{{ action = "exclude", field = "login", op = "equals", value = "boss" }}]
[targets.app]
type = "scim"
url = "{scim_server.url}"
token = "env:SCIM_TOKEN"
[targets.app.options]
max_attempts = 1
""",
    )
    runner = CliRunner()
    synced = runner.invoke(app, ["sync", "-c", str(config)])
    assert synced.exit_code == 0, synced.output
    done = runner.invoke(app, ["deliver", "-c", str(config)])
    assert done.exit_code == 0, done.output
    lines = [line.strip() for line in done.output.splitlines()]
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert "manager 'u9' of user 'ada' (u1, hr)" in warning and "not in the directory" in warning
    assert "manager_unresolved 1" in done.output
