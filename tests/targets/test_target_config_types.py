"""Configuration of ``crowd`` and ``ldap`` targets: keys per type and clear errors."""

from __future__ import annotations

import pytest

from idpsync.config import ConfigError, parse_config

LDAP = """
[targets.dir]
type = "ldap"
url = "ldap://ldap.example.org"
bind_dn = "cn=idpsync,dc=example,dc=org"
password = "env:LDAP_PW"
[targets.dir.ldap]
base_dn = "dc=example,dc=org"
users_dn = "ou=people,dc=example,dc=org"
groups_dn = "ou=groups,dc=example,dc=org"
"""


def test_ldap_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAP_PW", "pw")
    target = parse_config(LDAP).targets["dir"]
    assert target.ldap is not None
    assert target.ldap.user_object_classes == ["inetOrgPerson"]
    assert target.ldap.user_attributes["uid"] == "login"
    assert (target.ldap.deactivate, target.ldap.source_id_attribute) == (
        "attribute",
        "employeeNumber",
    )
    none = parse_config(LDAP + 'source_id_attribute = ""\n').targets["dir"]
    assert none.ldap is not None and none.ldap.source_id_attribute is None


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('deactivate = "move"\n', "needs disabled_dn"),
        ('group_object_class = "posixGroup"\n', "groupOfNames"),
        ("colour = 1\n", "unknown key"),
    ],
)
def test_ldap_errors(extra: str, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAP_PW", "pw")
    with pytest.raises(ConfigError, match=problem):
        parse_config(LDAP + extra)


def test_type_needs_its_keys_and_url_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAP_PW", "pw")
    with pytest.raises(ConfigError, match="ldap:// or ldaps://"):
        parse_config(LDAP.replace("ldap://ldap.example.org", "https://ldap.example.org"))
    with pytest.raises(ConfigError, match="needs: ldap"):
        parse_config('[targets.d]\ntype = "ldap"\nurl = "ldap://x"\n')
    with pytest.raises(ConfigError, match="http:// or https://"):
        parse_config('[targets.c]\ntype = "crowd"\nurl = "ldap://x"\n')
    with pytest.raises(ConfigError, match="one of: crowd, ldap, scim"):
        parse_config('[targets.c]\ntype = "jira"\nurl = "https://x"\n')
