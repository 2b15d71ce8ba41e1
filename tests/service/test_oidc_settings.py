"""The ``[service.oidc]`` settings and the claim → role decisions, without a provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from idpsync.config_service import OidcSettings
from idpsync.web.oidc import claim_values, decide, role_for
from idpsync.web.oidc_client import Refused


def settings(tmp_path: Path, **kw: Any) -> OidcSettings:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    base: dict[str, Any] = {
        "issuer": "https://sso.example.com/realms/acme",
        "client_id": "idpsync",
        "client_secret": f"file:{secret}",
        "roles": {"admin": ["IdpSync-Admins"], "operator": ["helpdesk"], "viewer": ["staff"]},
    }
    base.update(kw)
    return OidcSettings.model_validate(base)


def test_defaults(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.scopes == ["openid", "email", "profile"]
    assert s.role_claim == "groups"
    assert s.client_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(s)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"roles": {"superuser": ["x"]}}, "unknown role 'superuser'"),
        ({"roles": {"admin": []}}, "map at least one value to a role"),
        ({"scopes": ["email"]}, 'scopes must include "openid"'),
        ({"issuer": "http://sso.example.com/realms/acme"}, "must use https://"),
        ({"issuer": "sso.example.com"}, "has no scheme"),
        ({"redirect_url": "http://idpsync.example.com/login/oidc/callback"}, "must use https://"),
        ({"client_secret": "inline-secret"}, "secrets are not written inline"),
    ],
)
def test_bad_settings_are_refused_at_load(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(tmp_path, **change)
    assert message in str(caught.value)


def test_roles_are_required(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="roles"):
        OidcSettings.model_validate(
            {"issuer": "https://sso.example.com", "client_id": "x", "client_secret": "env:HOME"}
        )


def test_plain_http_is_allowed_on_this_machine(tmp_path: Path) -> None:
    assert settings(tmp_path, issuer="http://127.0.0.1:8080/realms/acme").issuer.startswith("http:")
    assert settings(tmp_path, issuer="http://localhost/realms/acme").issuer.startswith("http:")


def test_claim_values_follow_dots_and_keep_only_text() -> None:
    claims = {"realm_access": {"roles": ["a", 3, "b"]}, "email": "x@y", "groups": None}
    assert claim_values(claims, "realm_access.roles") == ["a", "b"]
    assert claim_values(claims, "email") == ["x@y"]
    assert claim_values(claims, "groups") == []
    assert claim_values(claims, "email.nothing") == []
    assert claim_values(claims, "missing") == []


def test_the_strongest_role_wins_and_case_is_ignored(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert role_for({"groups": ["staff", "idpsync-admins"]}, s) == "admin"
    assert role_for({"groups": ["staff", "Helpdesk"]}, s) == "operator"
    assert role_for({"groups": "staff"}, s) == "viewer"
    assert role_for({"groups": ["everyone"]}, s) is None
    assert role_for({}, s) is None


def test_nobody_gets_a_role_by_default(tmp_path: Path) -> None:
    s = settings(tmp_path, roles={"admin": ["admins"]})
    with pytest.raises(Refused, match="is given a role here"):
        decide({"sub": "1", "preferred_username": "eve", "groups": []}, s)


def test_a_role_from_another_claim(tmp_path: Path) -> None:
    s = settings(tmp_path, role_claim="email", roles={"admin": ["Ada@Example.com"]})
    who = decide({"sub": "1", "email": "ada@example.com"}, s)
    assert (who.user, who.role) == ("ada@example.com", "admin")


def test_the_user_name_falls_back_and_loses_control_characters(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert decide({"sub": "abc", "groups": ["staff"]}, s).user == "abc"
    weird = decide({"sub": "1", "preferred_username": "eve\n\x1b[31m", "groups": ["staff"]}, s)
    assert weird.user == "eve[31m"


def test_an_unverified_address_is_refused_when_domains_are_limited(tmp_path: Path) -> None:
    s = settings(tmp_path, allowed_domains=["example.com"])
    claims = {"sub": "1", "email": "a@example.com", "email_verified": False, "groups": ["staff"]}
    with pytest.raises(Refused, match="not verified"):
        decide(claims, s)
    with pytest.raises(Refused, match="no e-mail address"):
        decide({"sub": "1", "groups": ["staff"]}, s)
