"""``idpsync config init``: a commented starter file per IdP that ``config check`` accepts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.cli.config_init import Idp, secret_variables, starter_config

runner = CliRunner()

# What each template must tell the administrator to grant (docs/sources/<idp>.md).
GRANTS = {
    Idp.entra: ["User.Read.All", "GroupMember.Read.All"],
    Idp.google: ["admin.directory.user.readonly", "admin.directory.group.member.readonly"],
    Idp.keycloak: ["realm-management", "view-users"],
    Idp.okta: ["okta.users.read", "okta.groups.read", "Read-only Administrator"],
    Idp.onelogin: ["Read All"],
    Idp.file: ["needs no permissions"],
}


@pytest.mark.parametrize("idp", list(Idp))
def test_init_writes_a_file_config_check_accepts_once_the_variables_are_set(
    idp: Idp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "conf" / "idpsync.toml"
    path.parent.mkdir()
    written = runner.invoke(app, ["config", "init", "--idp", idp.value, "--output", str(path)])
    assert written.exit_code == 0, written.output
    text = path.read_text(encoding="utf-8")
    assert all(grant in text for grant in GRANTS[idp])
    assert tomllib.loads(text)["connectors"][idp.value]["source"]["type"] == idp.value
    variables = secret_variables(text)
    assert (variables == []) == (idp is Idp.file)
    for name in variables:
        monkeypatch.delenv(name, raising=False)
        assert name in written.output  # the command says what to set
    if variables:
        missing = runner.invoke(app, ["config", "check", "--config", str(path)])
        assert missing.exit_code == 2
        assert f"environment variable {variables[0]} is not set" in missing.output
    for name in variables:
        monkeypatch.setenv(name, '{"type": "service_account"}' if "GOOGLE" in name else "s3cr3t")
    checked = runner.invoke(app, ["config", "check", "--config", str(path)])
    assert checked.exit_code == 0, checked.output
    assert f"connector {idp.value}: source {idp.value}" in checked.output
    assert "s3cr3t" not in checked.output


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "idpsync.toml"
    path.write_text("# mine\n", encoding="utf-8")
    refused = runner.invoke(app, ["config", "init", "--output", str(path)])
    assert refused.exit_code == 2
    assert "--force" in refused.output and path.read_text(encoding="utf-8") == "# mine\n"
    forced = runner.invoke(app, ["config", "init", "--idp", "okta", "-o", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert path.read_text(encoding="utf-8") == starter_config(Idp.okta)


def test_init_to_standard_output_and_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = runner.invoke(app, ["config", "init", "--idp", "keycloak", "--output", "-"])
    assert shown.exit_code == 0 and shown.output == starter_config(Idp.keycloak)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["config", "init"]).exit_code == 0
    assert (tmp_path / "idpsync.toml").read_text(encoding="utf-8") == starter_config(Idp.file)
    unknown = runner.invoke(app, ["config", "init", "--idp", "ldap", "-o", "x.toml"])
    assert unknown.exit_code == 2 and not (tmp_path / "x.toml").exists()
