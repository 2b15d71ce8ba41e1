"""The Keycloak emulator as an OpenID provider: discovery, login, codes, PKCE, signed ID tokens."""

from __future__ import annotations

import base64
import hashlib
import tomllib
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idpsync.config_service import OidcSettings
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup

BASE = "http://kc.test/realms/acme"
REDIRECT = "https://app.example/callback"
CERTS = "protocol/openid-connect/certs"
VERIFIER = "a-verifier-of-the-test-" + "x" * 30
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")


@pytest.fixture
def emu() -> KeycloakEmulator:
    emu = KeycloakEmulator.generate(users=10, groups=4, seed=5)
    emu.oidc.add_client("acme", "web", "web-secret", [REDIRECT])
    user = emu.tenant.user_ids[0]
    emu.tenant.add_group(TenantGroup(id="g-x", name="Admins"))
    emu.tenant.add_member("g-x", user)
    emu.oidc.sign_in_as(user)
    return emu


def client(emu: KeycloakEmulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=emu.transport(), base_url="http://kc.test")


def auth_query(**change: str) -> str:
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "st",
        "nonce": "nn",
        "code_challenge": CHALLENGE.decode(),
        "code_challenge_method": "S256",
    }
    params.update(change)
    return urlencode({k: v for k, v in params.items() if v})


async def code_for(http: httpx.AsyncClient, **change: str) -> str:
    answer = await http.get(f"{BASE}/protocol/openid-connect/auth?{auth_query(**change)}")
    assert answer.status_code == 302, answer.text
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["state"] == ["st"]
    assert back["iss"] == [BASE]
    return back["code"][0]


async def redeem(http: httpx.AsyncClient, code: str, verifier: str = VERIFIER) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier:
        form["code_verifier"] = verifier
    return await http.post(
        f"{BASE}/protocol/openid-connect/token", data=form, auth=("web", "web-secret")
    )


async def test_discovery_names_the_endpoints(emu: KeycloakEmulator) -> None:
    async with client(emu) as http:
        meta = (await http.get(f"{BASE}/.well-known/openid-configuration")).json()
        missing = await http.get("http://kc.test/realms/none/.well-known/openid-configuration")
    assert meta["issuer"] == BASE
    assert meta["authorization_endpoint"] == f"{BASE}/protocol/openid-connect/auth"
    assert meta["jwks_uri"] == f"{BASE}/protocol/openid-connect/certs"
    assert "S256" in meta["code_challenge_methods_supported"]
    assert missing.status_code == 404


async def test_the_id_token_verifies_with_the_published_key(emu: KeycloakEmulator) -> None:
    async with client(emu) as http:
        token = (await redeem(http, await code_for(http))).json()
        keys = KeySet.import_key_set((await http.get(f"{BASE}/{CERTS}")).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    user = emu.tenant.users[emu.tenant.user_ids[0]]
    assert claims["iss"] == BASE and claims["aud"] == "web" and claims["azp"] == "web"
    assert claims["sub"] == user.id and claims["nonce"] == "nn"
    assert claims["exp"] - claims["iat"] == 300
    assert "/Admins" in claims["groups"]
    assert token["token_type"] == "Bearer" and token["access_token"]


async def test_a_code_is_good_once(emu: KeycloakEmulator) -> None:
    async with client(emu) as http:
        code = await code_for(http)
        assert (await redeem(http, code)).status_code == 200
        again = await redeem(http, code)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Code not valid"}


@pytest.mark.parametrize(
    ("verifier", "description"),
    [("", "PKCE code verifier not specified"), ("wrong" * 10, "PKCE verification failed")],
)
async def test_pkce_is_enforced(emu: KeycloakEmulator, verifier: str, description: str) -> None:
    async with client(emu) as http:
        answer = await redeem(http, await code_for(http), verifier)
    assert answer.status_code == 400
    assert description in answer.json()["error_description"]


async def test_wrong_client_secret_is_unauthorized(emu: KeycloakEmulator) -> None:
    async with client(emu) as http:
        code = await code_for(http)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        answer = await http.post(
            f"{BASE}/protocol/openid-connect/token", data=form, auth=("web", "nope")
        )
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "unknown"}, "Client not found."),
        ({"redirect_uri": "https://evil.example/callback"}, "Invalid parameter: redirect_uri"),
    ],
)
async def test_bad_client_or_redirect_is_an_html_page(
    emu: KeycloakEmulator, change: dict[str, str], message: str
) -> None:
    async with client(emu) as http:
        answer = await http.get(f"{BASE}/protocol/openid-connect/auth?{auth_query(**change)}")
    assert answer.status_code == 400
    assert message in answer.text
    assert "location" not in answer.headers


async def test_nobody_signed_in_shows_the_login_page(emu: KeycloakEmulator) -> None:
    emu.oidc.sign_in_as(None)
    async with client(emu) as http:
        answer = await http.get(f"{BASE}/protocol/openid-connect/auth?{auth_query()}")
    assert answer.status_code == 200
    assert "Sign in to your account" in answer.text


async def test_a_disabled_user_is_not_signed_in(emu: KeycloakEmulator) -> None:
    emu.tenant.update_user(emu.tenant.user_ids[0], enabled=False)
    async with client(emu) as http:
        answer = await http.get(f"{BASE}/protocol/openid-connect/auth?{auth_query()}")
    assert answer.status_code == 400
    assert "Account is disabled" in answer.text


async def test_forged_signature_does_not_verify(emu: KeycloakEmulator) -> None:
    emu.oidc.forge_signature = True
    async with client(emu) as http:
        token = (await redeem(http, await code_for(http))).json()
        keys = KeySet.import_key_set((await http.get(f"{BASE}/{CERTS}")).json())
    with pytest.raises(Exception, match="signature"):
        jwt.decode(token["id_token"], keys, algorithms=["RS256"])


def test_enable_sign_in_prints_a_service_block_that_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = KeycloakEmulator.generate(users=10, groups=4, seed=5)
    user = emu.tenant.users[emu.tenant.user_ids[3]]
    assert user.mail is not None
    secret = emu.enable_sign_in(user.mail.upper())
    block = tomllib.loads(emu.connector_toml("http://127.0.0.1:8002"))
    oidc = block["service"]["oidc"]
    assert oidc["issuer"] == "http://127.0.0.1:8002/realms/acme"
    assert oidc["roles"] == {"admin": [user.alias.lower()]}
    assert secret not in emu.connector_toml("http://127.0.0.1:8002")
    monkeypatch.setenv("IDPSYNC_EMULATOR_OIDC_SECRET", secret)
    settings = OidcSettings.model_validate(oidc)
    assert settings.client_secret.get_secret_value() == secret
    assert emu.oidc.signed_in == user.id
    with pytest.raises(KeyError):
        emu.enable_sign_in("nobody@nowhere.example")
