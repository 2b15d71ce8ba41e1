"""``idpsync endpoints``: the firewall allow-list, before any secret exists."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idpsync import cli
from idpsync.config import ConfigError, load_config
from idpsync.settings import UnresolvedSecret

LONG_TENANT = "a-rather-long-tenant-name-of-the-firewall-team.onmicrosoft.com"
TOKEN_URL = f"https://login.microsoftonline.com/{LONG_TENANT}/oauth2/v2.0/token"

CONFIG = f"""
[store]
url = "sqlite:///x.db"

[connectors.staff]
enabled = false
[connectors.staff.source]
type = "entra"
tenant = "{LONG_TENANT}"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret = "env:IDPSYNC_TEST_NEVER_SET_SECRET"

[connectors.okta.source]
type = "okta"
base_url = "https://acme.okta.com"
api_token = "file:/nonexistent/okta-token"
[connectors.okta.source.http]
proxy = "http://proxyuser:proxypass@proxy.corp.example:3128"

[connectors.hr.source]
type = "file"
path = "people.json"

[targets.jira]
type = "scim"
url = "https://scim.example.com/scim/v2"
token = "env:IDPSYNC_TEST_NEVER_SET_TOKEN"

[targets.ldap]
type = "ldap"
url = "ldaps://ldap.corp.example"
bind_dn = "cn=idpsync,dc=corp"
password = "env:IDPSYNC_TEST_NEVER_SET_PASSWORD"
[targets.ldap.ldap]
base_dn = "dc=corp"
users_dn = "ou=people,dc=corp"
groups_dn = "ou=groups,dc=corp"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "idpsync.toml"
    path.write_text(CONFIG)
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


def test_the_config_loads_without_reading_a_secret(config: Path) -> None:
    with pytest.raises(ConfigError, match="IDPSYNC_TEST_NEVER_SET_SECRET is not set"):
        load_config(str(config))
    loaded = load_config(str(config), resolve_secrets=False)
    token = loaded.settings.targets["jira"].token
    assert isinstance(token, UnresolvedSecret)
    assert token.reference == "env:IDPSYNC_TEST_NEVER_SET_TOKEN"
    with pytest.raises(RuntimeError, match="was not read"):
        token.get_secret_value()
    inline = CONFIG.replace('"file:/nonexistent/okta-token"', '"an-inline-token"')
    config.write_text(inline)
    with pytest.raises(ConfigError, match="secrets are not written inline"):
        load_config(str(config), resolve_secrets=False)


def test_every_connector_and_target_without_secrets_piped_urls_whole(config: Path) -> None:
    result = run("endpoints", "-c", str(config))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("hr: source type 'file' reads the local file ")
    assert lines[1].split() == ["used", "by", "method", "url", "purpose", "needs", "via"]
    token = next(line for line in lines if TOKEN_URL in line)  # whole, though > 80 columns
    assert token.split()[:3] == ["staff", "POST", TOKEN_URL]
    assert "https://graph.microsoft.com/v1.0/groups/{id}/members" in result.output
    assert "…" not in result.output
    okta = next(line for line in lines if "https://acme.okta.com/api/v1/users " in line)
    assert okta.endswith("proxy http://***@proxy.corp.example:3128")
    assert "target:jira  *" in result.output and "ldaps://ldap.corp.example" in result.output
    opened = lines[lines.index("Outbound connections this machine must be allowed to open:") :]
    assert opened[1:] == [
        "  login.microsoftonline.com:443",
        "  graph.microsoft.com:443",
        "  proxy.corp.example:3128 (the HTTP proxy; it must allow CONNECT to acme.okta.com:443)",
        "  scim.example.com:443",
        "  ldap.corp.example:636",
    ]
    assert "proxypass" not in result.output


def test_named_connector_json_and_the_json_alias(config: Path) -> None:
    as_format = run("endpoints", "okta", "-c", str(config), "--format", "json")
    alias = run("endpoints", "okta", "-c", str(config), "--json")
    assert as_format.exit_code == alias.exit_code == 0, as_format.output
    assert as_format.output == alias.output
    data = json.loads(as_format.output)
    assert data["connector"] == "okta"
    assert data["hosts"] == ["acme.okta.com:443"]
    assert data["open"] == [
        {
            "address": "proxy.corp.example:3128",
            "proxy": True,
            "through": ["acme.okta.com:443"],
            "plain": [],
        }
    ]
    assert [e["url"] for e in data["endpoints"]][:2] == [
        "https://acme.okta.com/api/v1/users",
        "https://acme.okta.com/api/v1/users/{id}",
    ]
    assert data["endpoints"][0]["permission"] == "okta.users.read"


def test_a_disabled_connector_and_a_target_as_csv(config: Path) -> None:
    result = run("endpoints", "staff", "jira", "-c", str(config), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[0]["url"] == TOKEN_URL and rows[0]["used_by"] == "staff"
    assert rows[-1] == {
        "used_by": "target:jira",
        "method": "*",
        "url": "https://scim.example.com/scim/v2",
        "host": "scim.example.com",
        "port": "443",
        "purpose": "push the directory's changes (SCIM 2.0)",
        "permission": "",
        "proxy": "",
    }


def test_the_environment_proxy_applies_to_http_targets(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://envproxy.example:8080")
    result = run("endpoints", "jira", "staff", "-c", str(config))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "  envproxy.example:8080 (the HTTP proxy; it must allow CONNECT to "
        "login.microsoftonline.com:443, graph.microsoft.com:443, scim.example.com:443)"
    )


def test_an_unknown_name_is_a_usage_error(config: Path) -> None:
    result = run("endpoints", "nope", "-c", str(config))
    assert result.exit_code == 2
    assert "no connector or target named 'nope' (known: hr, okta, staff, jira, ldap)" in (
        result.output
    )


def test_a_connector_whose_urls_cannot_be_made_is_a_note_not_a_failure(config: Path) -> None:
    text = config.read_text() + '\n[connectors.ol.source]\ntype = "onelogin"\nclient_id = "x"\n'
    config.write_text(text + 'client_secret = "env:IDPSYNC_TEST_NEVER_SET_OL"\n')
    result = run("endpoints", "-c", str(config), "--json")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.output)["notes"]
    assert notes[-1].startswith("ol: source.subdomain (or source.base_url) is required")


def test_http_targets_list_their_api_url_through_their_own_proxy(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://envproxy.example:8080")
    text = config.read_text() + (
        '\n[targets.crowd]\ntype = "crowd"\nurl = "https://crowd.corp.example/crowd"\n'
        'application = "idpsync"\npassword = "env:IDPSYNC_TEST_NEVER_SET_CROWD"\n'
        '[targets.crowd.http]\nproxy = "http://user:crowdproxypass@proxy.corp.example:3128"\n'
    )
    config.write_text(text)
    result = run("endpoints", "crowd", "jira", "-c", str(config), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {row["used_by"][0]: row for row in data["endpoints"]}
    assert rows["target:crowd"]["url"] == "https://crowd.corp.example/crowd/rest/usermanagement/1"
    assert rows["target:crowd"]["proxy"] == "http://***@proxy.corp.example:3128"
    assert rows["target:jira"]["proxy"] == "http://envproxy.example:8080"
    assert data["hosts"] == ["scim.example.com:443", "crowd.corp.example:443"]
    assert [(o["address"], o["through"]) for o in data["open"]] == [
        ("envproxy.example:8080", ["scim.example.com:443"]),
        ("proxy.corp.example:3128", ["crowd.corp.example:443"]),
    ]
    assert "crowdproxypass" not in result.output
