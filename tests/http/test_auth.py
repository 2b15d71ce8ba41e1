"""Token flows over in-process transports, the vault, and the authorization-code flow."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from idpsync.auth import (
    ClientSecret,
    JwtBearer,
    OneLoginCredentials,
    PrivateKeyJwt,
    StaticToken,
)
from idpsync.auth.authorize import AuthorizationCodeFlow, authorize
from idpsync.auth.base import CachedTokenProvider, Token
from idpsync.auth.vault import TokenVault, new_key
from idpsync.errors import SourceError
from idpsync.http import Endpoint, HttpClient, build_http_client, errors
from idpsync.http.settings import HttpSettings
from idpsync.store import Store
from tests.http.conftest import SECRET, assert_clean

TOKEN = Endpoint("token", "POST", "https://login.example/{tenant}/token", "token", token=True)
API = Endpoint("users", "GET", "/users", "users", permission="User.Read.All")
TARGET = TOKEN.resolve("", {"tenant": "t1"})


def make_client(handler: Any) -> HttpClient:
    return build_http_client(
        HttpSettings(max_attempts=2),
        base_url="https://api.example",
        transport=httpx.MockTransport(handler),
    )


def token_reply(value: str = "tok-1", expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": value, "expires_in": expires_in, "token_type": "Bearer"}
    )


async def test_client_secret_posts_the_form_and_caches_the_token() -> None:
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/t1/token":
            seen.append(parse_qs(request.content.decode()))
            return token_reply()
        assert request.headers["authorization"] == "Bearer tok-1"
        return httpx.Response(200, json={"ok": True})

    http = make_client(handler)
    http.auth = ClientSecret(http, TARGET, "app", SecretStr(SECRET), scope="s1")
    await asyncio.gather(*(http.get_json(API) for _ in range(5)))  # one token for all five
    assert len(seen) == 1
    assert seen[0] == {
        "grant_type": ["client_credentials"],
        "scope": ["s1"],
        "client_id": ["app"],
        "client_secret": [SECRET],
    }
    assert http.stats.requests == 6


async def test_token_is_renewed_shortly_before_expiry() -> None:
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/t1/token":
            issued.append(f"tok-{len(issued) + 1}")
            return token_reply(issued[-1], expires_in=30)  # inside the 60 s margin
        return httpx.Response(200, json={})

    http = make_client(handler)
    http.auth = ClientSecret(http, TARGET, "app", SecretStr(SECRET))
    await http.get_json(API)
    await http.get_json(API)
    assert issued == ["tok-1", "tok-2"]


def test_refresh_lock_is_the_providers_own() -> None:
    class Counting(CachedTokenProvider):
        async def fetch(self) -> Token:
            await asyncio.sleep(0.01)
            return Token(f"tok-{self.fetches}", 1e12)

    async def run() -> int:
        provider = Counting()
        await asyncio.gather(*(provider.authorization() for _ in range(10)))
        return provider.fetches

    assert asyncio.run(run()) == 1


async def test_private_key_jwt_assertion_is_signed_and_verifiable() -> None:
    key = RSAKey.generate_key(2048)
    pem = key.as_pem(private=True).decode()
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return token_reply()

    http = make_client(handler)
    provider = PrivateKeyJwt(
        http, TARGET, "app", SecretStr(pem), "okta.users.read", key_id="k1", x5t="thumb"
    )
    await provider.token()
    form = forms[0]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    token = jwt.decode(form["client_assertion"][0], key)
    assert token.header["kid"] == "k1" and token.header["x5t"] == "thumb"
    assert token.claims["iss"] == token.claims["sub"] == "app"
    assert token.claims["aud"] == TARGET.url
    assert "client_secret" not in form


async def test_google_jwt_bearer_impersonates_the_subject() -> None:
    key = RSAKey.generate_key(2048)
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return token_reply()

    http = make_client(handler)
    provider = JwtBearer(
        http,
        TARGET,
        "sync@p.iam.gserviceaccount.com",
        SecretStr(key.as_pem(private=True).decode()),
        ["https://www.googleapis.com/auth/admin.directory.user.readonly"],
        subject="admin@example.com",
    )
    await provider.token()
    assert forms[0]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(forms[0]["assertion"][0], key).claims
    assert claims["sub"] == "admin@example.com"
    assert claims["iss"] == "sync@p.iam.gserviceaccount.com"
    assert claims["scope"].endswith("admin.directory.user.readonly")


async def test_onelogin_sends_json_with_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return token_reply()

    http = make_client(handler)
    await OneLoginCredentials(http, TARGET, "cid", SecretStr(SECRET)).token()
    request = seen[0]
    assert json.loads(request.content) == {"grant_type": "client_credentials"}
    scheme, raw = request.headers["authorization"].split(" ")
    assert scheme == "Basic" and base64.b64decode(raw).decode() == f"cid:{SECRET}"


async def test_static_ssws_token_rejected_twice_is_unauthorized(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["authorization"])
        return httpx.Response(
            401, json={"errorCode": "E0000011", "errorSummary": "Invalid token provided"}
        )

    http = make_client(handler)
    http.auth = StaticToken(SecretStr(SECRET), scheme="SSWS")
    with pytest.raises(errors.Unauthorized) as info:
        await http.get_json(API)
    assert calls == [f"SSWS {SECRET}"] * 2
    assert "Invalid token provided" in str(info.value)
    assert_clean(str(info.value), caplog.text)


@pytest.mark.parametrize(
    ("body", "cause", "remedy"),
    [
        (
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            },
            "the client secret is wrong (AADSTS7000215)",
            "Value (not its ID)",
        ),
        (
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000222: The provided client "
                "secret keys for app are expired.",
            },
            "the client secret has expired (AADSTS7000222)",
            "create a new client secret",
        ),
        (
            {"error": "unauthorized_client"},
            "the application may not use this grant type (unauthorized_client)",
            "enable the client",
        ),
        (
            {"error": "invalid_scope"},
            "the IdP refused the requested scope (invalid_scope)",
            "grant the application",
        ),
    ],
)
async def test_oauth_errors_become_clear_messages(
    body: dict[str, str], cause: str, remedy: str
) -> None:
    http = make_client(lambda _r: httpx.Response(400, json=body))
    with pytest.raises(errors.TokenError) as info:
        await ClientSecret(http, TARGET, "app", SecretStr(SECRET)).token()
    assert str(info.value).startswith(f"Token request failed: {cause}")
    assert "POST /{tenant}/token on login.example" in str(info.value)
    assert remedy in info.value.remedy
    assert_clean(str(info.value))


def test_vault_encrypts_at_rest(tmp_path: Any) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'v.db'}")
    key = SecretStr(new_key())
    vault = TokenVault(store, key)
    vault.save("gsuite", "rt-" + SECRET)
    vault.save("gsuite", "rt2-" + SECRET)  # replaced, not duplicated
    raw = (tmp_path / "v.db").read_bytes()
    assert SECRET.encode() not in raw
    assert vault.load("gsuite") == "rt2-" + SECRET
    assert vault.load("other") is None
    with pytest.raises(SourceError, match=r"cannot be decrypted.*idpsync authorize gsuite"):
        TokenVault(store, SecretStr(new_key())).load("gsuite")
    with pytest.raises(SourceError, match="not a valid key"):
        TokenVault(store, SecretStr("short"))
    store.close()


FLOW = AuthorizationCodeFlow(
    authorize_url="https://accounts.example/o/oauth2/auth",
    token_endpoint=TARGET,
    client_id="app",
    client_secret=SecretStr(SECRET),
    scopes=("users.read",),
    extra_params={"access_type": "offline", "prompt": "consent"},
)


async def browser(url: str, state: str | None = None, **extra: str) -> httpx.Response:
    """Play the browser: follow the consent URL's redirect_uri back to the loopback."""
    query = parse_qs(urlsplit(url).query)
    params = {"code": "auth-code-123", "state": state or query["state"][0], **extra}
    async with httpx.AsyncClient() as real:
        return await real.get(query["redirect_uri"][0], params=params)


async def test_authorization_code_flow_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    exchanged: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        exchanged.append(parse_qs(request.content.decode()))
        return httpx.Response(
            200,
            json={"access_token": "tok-9", "expires_in": 3600, "refresh_token": "rt-stored-value"},
        )

    http = make_client(handler)
    saved: list[str] = []
    urls: list[str] = []
    answers: list[httpx.Response] = []

    def show(url: str) -> None:
        urls.append(url)

    async def run_browser() -> None:
        while not urls:
            await asyncio.sleep(0.01)
        wrong = await browser(urls[0], state="forged")
        assert wrong.status_code == 400  # a forged state is refused, the flow keeps waiting
        answers.append(await browser(urls[0]))

    await asyncio.gather(
        authorize(http, FLOW, "gsuite", saved.append, show, timeout=10), run_browser()
    )
    query = parse_qs(urlsplit(urls[0]).query)
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    assert answers[0].status_code == 200 and "authorized" in answers[0].text
    assert saved == ["rt-stored-value"]
    form = exchanged[0]
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["auth-code-123"]
    assert form["redirect_uri"] == query["redirect_uri"] and "code_verifier" in form
    assert "rt-stored-value" not in caplog.text and "auth-code-123" not in caplog.text


async def test_authorization_refused_by_the_user() -> None:
    http = make_client(lambda _r: token_reply())

    tasks: list[asyncio.Task[httpx.Response]] = []

    def show(url: str) -> None:
        tasks.append(asyncio.ensure_future(browser(url, error="access_denied")))

    with pytest.raises(SourceError, match="refused the authorization \\(access_denied\\)"):
        await authorize(http, FLOW, "gsuite", lambda _t: None, show, timeout=10)
    await asyncio.gather(*tasks)


async def test_google_403_rate_limit_is_retried_and_counted() -> None:
    answers = [
        httpx.Response(
            403,
            json={
                "error": {
                    "code": 403,
                    "message": "Rate Limit Exceeded",
                    "errors": [{"reason": "userRateLimitExceeded"}],
                }
            },
        ),
        httpx.Response(200, json={"users": []}),
    ]
    http = make_client(lambda _r: answers.pop(0))
    assert await http.get_json(API) == {"users": []}
    assert (http.stats.throttled, http.stats.retries, http.stats.requests) == (1, 1, 2)


async def test_secret_query_parameters_never_reach_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    http = make_client(lambda _r: httpx.Response(500, text="boom"))
    with pytest.raises(errors.ServerError) as info:
        await http.get_json(API, params={"client_secret": "q-" + SECRET, "page": "2"})
    assert "q-" + SECRET not in caplog.text + str(info.value)
    assert "page=2" in caplog.text  # the rest of the URL is still there to debug with
