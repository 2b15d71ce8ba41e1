"""URL-valued keys need a scheme and a host; the error names the key (issue #17, point 7a)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.config import ConfigError, parse_config

OKTA = """\
[connectors.okta.source]
type = "okta"
base_url = "https://example.okta.com"
api_token = "file:/etc/hostname"
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "idpsync.toml")
    return info.value.problems


def test_base_url_without_scheme_is_named_with_the_fix() -> None:
    text = OKTA.replace("https://example.okta.com", "example.okta.com")
    assert _problems(text) == [
        'idpsync.toml:3: connectors.okta.source.base_url: "example.okta.com" has no scheme; '
        "write https://example.okta.com"
    ]


@pytest.mark.parametrize(
    ("key", "table", "value", "problem"),
    [
        ("token_url", "connectors.okta.source", "login.example.org/token", "has no scheme"),
        ("proxy", "connectors.okta.source.http", "proxy.corp:3128", "has no scheme"),
        ("proxy", "connectors.okta.source.http", "ftp://proxy.corp", "must start with http://"),
        ("url", "targets.app", "scim.example.org/scim/v2", "has no scheme"),
        ("url", "targets.app", "https:///scim/v2", "has no host"),
        ("webhook_url", "service.alerts", "hooks.example.org/x", "has no scheme"),
        ("webhook_url", "service.alerts", "https://hooks example.org", "contains spaces"),
        ("base_url", "connectors.okta.source", "https://example.okta.com:44x", "not a valid URL"),
    ],
)
def test_every_url_key_is_checked(key: str, table: str, value: str, problem: str) -> None:
    extra = f'\n[{table}]\n{key} = "{value}"\n'
    if table == "connectors.okta.source":
        text = OKTA.replace('base_url = "https://example.okta.com"\n', "") + f'{key} = "{value}"\n'
        if key != "base_url":
            text += 'base_url = "https://example.okta.com"\n'
    elif table == "targets.app":
        text = OKTA + extra + 'type = "scim"\n'
    else:
        text = OKTA + extra
    (line,) = _problems(text)
    assert f" {table}.{key}: " in line and problem in line


def test_credentials_in_a_url_never_reach_the_message() -> None:
    text = OKTA + '\n[connectors.okta.source.http]\nproxy = "bob:hunter2@proxy.corp:3128"\n'
    (line,) = _problems(text)
    assert "hunter2" not in line and "bob" not in line
    assert "has no scheme; write http://***@proxy.corp:3128" in line


def test_good_urls_load() -> None:
    text = (
        OKTA
        + '\n[connectors.okta.source.http]\nproxy = "http://proxy.corp:3128"\n'
        + '\n[targets.dir]\ntype = "ldap"\nurl = "ldaps://ldap.example.org:636"\n'
        + 'bind_dn = "cn=x"\npassword = "file:/etc/hostname"\n'
        + '[targets.dir.ldap]\nbase_dn = "dc=x"\nusers_dn = "ou=p,dc=x"\ngroups_dn = "ou=g,dc=x"\n'
    )
    settings = parse_config(text)
    assert settings.connectors["okta"].source.http.proxy == "http://proxy.corp:3128"
    assert settings.targets["dir"].url == "ldaps://ldap.example.org:636"


def test_config_check_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "idpsync.toml"
    path.write_text(OKTA.replace("https://example.okta.com", "example.okta.com"), "utf-8")
    result = CliRunner().invoke(app, ["config", "check", "-c", str(path)])
    assert result.exit_code == 2
    assert (
        'idpsync.toml:3: connectors.okta.source.base_url: "example.okta.com" has no scheme; '
        "write https://example.okta.com"
    ) in result.output
