"""Sign-in to the admin pages through the Keycloak emulator acting as the OpenID provider.

Each test follows the redirects by hand: idpsync's ``/login/oidc`` → the emulator's
authorization endpoint (which consents for the test user) → idpsync's callback.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.store import Store
from idpsync.web import sessions
from tests.service.oidc_support import (
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    emulator,
    oidc_harness,
    query,
    sign_in,
)
from tests.service.support import Harness, harness, login


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    yield st
    st.close()


@pytest.fixture
def emu() -> KeycloakEmulator:
    return emulator()


@pytest.fixture
def h(tmp_path: Path, store: Store, emu: KeycloakEmulator) -> Harness:
    return oidc_harness(tmp_path, store, emu)


def session_of(web: httpx.AsyncClient) -> dict[str, object]:
    """The signed session cookie's contents (the test reads it; it cannot forge it)."""
    raw = web.cookies["idpsync_session"].split(".")[0]
    data: dict[str, object] = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    return data


def signed_in_as(h: Harness, web: httpx.AsyncClient) -> tuple[str, str]:
    """The session's role and how it was opened: from the store when sessions keep them there,
    else from the cookie (before roles were kept with the session)."""
    data = session_of(web)
    found = getattr(sessions, "session_info", None)
    if found is None:
        return str(data["role"]), str(data["how"])
    info = found(h.store, data["sid"], datetime.now(UTC))
    return info.role.label, info.how


def refusal(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("text/html"), answer.text
    start = answer.text.index('id="error-message">') + len('id="error-message">')
    return answer.text[start : answer.text.index("</p>", start)]


async def test_login_page_offers_both_ways_in(h: Harness) -> None:
    async with h.client() as web:
        page = await web.get("/login")
    assert 'id="oidc-login" href="/login/oidc"' in page.text
    assert "Sign in with Keycloak" in page.text
    assert 'id="password"' in page.text  # the break-glass account stays


async def test_without_oidc_settings_there_is_no_button_and_no_flow(
    tmp_path: Path, store: Store
) -> None:
    plain = harness(tmp_path, store)
    async with plain.client() as web:
        page = await web.get("/login")
        start = await web.get("/login/oidc")
    assert "oidc-login" not in page.text
    assert start.status_code == 404
    assert "not configured" in refusal(start)


async def test_the_code_flow_signs_in_with_pkce_state_and_nonce(
    h: Harness, emu: KeycloakEmulator
) -> None:
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
        asked = query(outcome.authorize_url)
        assert asked["client_id"] == CLIENT_ID
        assert asked["redirect_uri"] == CALLBACK
        assert asked["response_type"] == "code"
        assert set(asked["scope"].split()) == {"openid", "email", "profile"}
        assert asked["code_challenge_method"] == "S256"
        assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
        assert outcome.answer.status_code == 303
        assert outcome.answer.headers["location"] == "/"
        home = await web.get("/")
        assert home.status_code == 200
        assert "Log out ada.admin" in home.text
        assert signed_in_as(h, web) == ("admin", "oidc")
        assert "oidc" not in session_of(web)  # the pending sign-in is gone
    token_posts = emu.requests.count("/realms/{realm}/protocol/openid-connect/token", method="POST")
    assert token_posts == 1


@pytest.mark.parametrize(
    ("person", "role"), [("ada", "admin"), ("otto", "operator"), ("vera", "viewer")]
)
async def test_the_strongest_mapped_group_gives_the_role(
    h: Harness, emu: KeycloakEmulator, person: str, role: str
) -> None:
    async with h.client() as web:
        outcome = await sign_in(web, emu, person)
        assert outcome.answer.status_code == 303
        assert signed_in_as(h, web)[0] == role


async def test_an_unmapped_user_is_refused_with_a_page_and_no_session(
    h: Harness, emu: KeycloakEmulator
) -> None:
    async with h.client() as web:
        outcome = await sign_in(web, emu, "nobody")
        assert outcome.answer.status_code == 403
        message = refusal(outcome.answer)
        assert "no value of your &#39;groups&#39; claim is given a role" in message
        assert "nick.nobody" in message
        assert (await web.get("/", follow_redirects=False)).status_code == 303  # to /login
        assert "user" not in session_of(web)


async def test_a_refused_sign_in_keeps_nobodys_session_open(
    h: Harness, emu: KeycloakEmulator
) -> None:
    emu.oidc.claim_overrides = {"aud": "another-app"}
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
        assert outcome.answer.status_code == 403
        assert (await web.get("/", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"aud": "another-app"}, "issued for another application"),
        ({"aud": ["another-app", "third-app"]}, "issued for another application"),
        ({"iss": "http://localhost/realms/other"}, "another issuer"),
        ({"nonce": "a-nonce-from-another-sign-in"}, "nonce mismatch"),
        ({"nonce": None}, "nonce mismatch"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "has expired"),
        ({"azp": "another-app"}, "issued to another application"),
    ],
)
async def test_an_id_token_that_does_not_hold_is_refused(
    h: Harness, emu: KeycloakEmulator, overrides: dict[str, object], expected: str
) -> None:
    emu.oidc.claim_overrides = overrides
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
    assert outcome.answer.status_code == 403
    assert expected in refusal(outcome.answer)


async def test_a_signature_by_an_unpublished_key_is_refused(
    h: Harness, emu: KeycloakEmulator
) -> None:
    emu.oidc.forge_signature = True
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
    assert outcome.answer.status_code == 403
    assert "signature does not match" in refusal(outcome.answer)


async def test_a_callback_with_another_state_is_refused(h: Harness, emu: KeycloakEmulator) -> None:
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada", tamper_state=True)
    assert outcome.answer.status_code == 400
    assert "state mismatch" in refusal(outcome.answer)
    assert emu.requests.count("/realms/{realm}/protocol/openid-connect/token", method="POST") == 0


async def test_a_callback_can_be_used_once(h: Harness, emu: KeycloakEmulator) -> None:
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
        assert outcome.answer.status_code == 303
    async with h.client() as other:  # the same URL from another browser, or replayed
        replayed = await other.get(outcome.callback_url)
        assert replayed.status_code == 400
        assert "no sign-in in progress" in refusal(replayed)


async def test_a_callback_from_a_sign_in_started_elsewhere_is_refused(
    h: Harness, emu: KeycloakEmulator
) -> None:
    async with h.client() as attacker, h.client() as victim:
        emu.oidc.sign_in_as("u-ada")
        start = await attacker.get("/login/oidc")
        async with httpx.AsyncClient(transport=emu.transport()) as idp:
            consent = await idp.get(start.headers["location"])
        await victim.get("/login/oidc")  # the victim has a sign-in of their own in progress
        answer = await victim.get(consent.headers["location"])
    assert answer.status_code == 400
    assert "state mismatch" in refusal(answer)


async def test_an_error_from_the_provider_is_shown_without_its_free_text(h: Harness) -> None:
    async with h.client() as web:
        await web.get("/login/oidc")
        answer = await web.get(
            "/login/oidc/callback",
            params={"error": "access_denied", "error_description": "<script>x</script>"},
        )
    assert answer.status_code == 400
    assert "did not sign you in (access_denied)" in refusal(answer)
    assert "<script>x" not in answer.text


async def test_a_wrong_client_secret_is_refused_without_showing_it(
    h: Harness, emu: KeycloakEmulator
) -> None:
    emu.oidc.add_client("acme", CLIENT_ID, "a-different-secret", [CALLBACK])
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
    assert outcome.answer.status_code == 502
    assert "refused to redeem the sign-in (unauthorized_client)" in refusal(outcome.answer)
    assert "a-different-secret" not in outcome.answer.text
    assert CLIENT_SECRET not in outcome.answer.text


async def test_allowed_domains_refuse_other_domains(
    tmp_path: Path, store: Store, emu: KeycloakEmulator
) -> None:
    h = oidc_harness(tmp_path, store, emu, extra='allowed_domains = ["Example.org"]')
    async with h.client() as web:
        outcome = await sign_in(web, emu, "ada")
    assert outcome.answer.status_code == 403
    assert "e-mail addresses at example.com may not sign in here" in refusal(outcome.answer)


async def test_allowed_domains_let_their_domain_in(tmp_path: Path, store: Store) -> None:
    emu = emulator(domain_users="example.org")
    h = oidc_harness(tmp_path, store, emu, extra='allowed_domains = ["@example.org"]')
    async with h.client() as web:
        outcome = await sign_in(web, emu, "otto")
        assert outcome.answer.status_code == 303
        assert signed_in_as(h, web)[0] == "operator"


async def test_the_provider_unreachable_is_a_clear_page(h: Harness) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    h.app.state.oidc.transport = httpx.MockTransport(down)
    async with h.client() as web:
        answer = await web.get("/login/oidc")
    assert answer.status_code == 502
    assert "cannot reach the provider for its discovery document" in refusal(answer)
    assert "ConnectError" in refusal(answer)


async def test_the_password_still_works_beside_oidc(h: Harness) -> None:
    async with h.client() as web:
        await login(web)
        assert "Log out admin" in (await web.get("/")).text


async def test_no_secret_code_or_token_reaches_the_logs_or_pages(
    h: Harness, emu: KeycloakEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    issued: list[str] = []
    sign = emu.oidc.sign
    emu.oidc.sign = lambda claims: issued.append(sign(claims)) or issued[-1]  # type: ignore[method-assign]
    pages: list[str] = []
    codes: list[str] = []
    caplog.set_level(logging.DEBUG)
    async with h.client() as web:
        ok = await sign_in(web, emu, "ada")
        pages += [ok.answer.text, (await web.get("/")).text]
        codes.append(query(ok.callback_url)["code"])
        for overrides in ({"aud": "x"}, {"nonce": "y"}):
            emu.oidc.claim_overrides = overrides
            bad = await sign_in(web, emu, "vera")
            pages.append(bad.answer.text)
            codes.append(query(bad.callback_url)["code"])
        emu.oidc.claim_overrides = {}
        emu.oidc.forge_signature = True
        forged = await sign_in(web, emu, "vera")
        pages.append(forged.answer.text)
    assert len(issued) == 4
    secrets_seen = [CLIENT_SECRET, *codes, *issued, *(t.split(".")[2] for t in issued)]
    # the service's own lines and its requests to the provider; not the test browser's requests
    logged = "\n".join(
        r.getMessage() for r in caplog.records if "http://testserver" not in r.getMessage()
    )
    assert "OIDC sign-in refused" in logged
    assert "signed in ada.admin through OIDC with role admin" in logged
    assert "openid-connect/token" in logged  # httpx logged the service's token requests
    for secret in secrets_seen:
        assert secret not in logged
        for page in pages:
            assert secret not in page


async def test_a_rotated_provider_key_is_fetched_again(h: Harness, emu: KeycloakEmulator) -> None:
    certs = "/realms/{realm}/protocol/openid-connect/certs"
    async with h.client() as web:
        assert (await sign_in(web, emu, "vera")).answer.status_code == 303
        emu.oidc.rotate_key()
        assert (await sign_in(web, emu, "otto")).answer.status_code == 303
        assert signed_in_as(h, web)[0] == "operator"
    assert emu.requests.count(certs) == 2
    discovery = "/realms/{realm}/.well-known/openid-configuration"
    assert emu.requests.count(discovery) == 1  # kept for an hour


@pytest.mark.parametrize(("person", "allowed"), [("vera", False), ("otto", True)])
async def test_the_mapped_role_is_what_the_pages_enforce(
    h: Harness, emu: KeycloakEmulator, person: str, allowed: bool
) -> None:
    """Runs once roles are enforced (``idpsync.web.roles``): a viewer cannot start a sync."""
    pytest.importorskip("idpsync.web.roles")
    async with h.client() as web:
        assert (await sign_in(web, emu, person)).answer.status_code == 303
        home = await web.get("/")
        csrf = home.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = await web.post("/connectors/hr/sync", data={"csrf": csrf, "dry_run": "true"})
    assert answer.status_code == (303 if allowed else 403), answer.text


def through(emu: KeycloakEmulator, rewrite: dict[str, httpx.Response]) -> httpx.AsyncBaseTransport:
    """The emulator, except for the paths in ``rewrite`` (answered as given)."""
    inner = emu.transport()

    class Rewriting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            for suffix, answer in rewrite.items():
                if request.url.path.endswith(suffix):
                    return answer
            return await inner.handle_async_request(request)

    return Rewriting()


@pytest.mark.parametrize(
    ("suffix", "answer", "expected", "where"),
    [
        (
            "/openid-configuration",
            httpx.Response(200, json={"issuer": "https://other.example", "jwks_uri": "x"}),
            "names another issuer",
            "start",
        ),
        ("/openid-configuration", httpx.Response(500, text="oops"), "HTTP 500", "start"),
        ("/certs", httpx.Response(200, json={"keys": "nonsense"}), "cannot be read", "finish"),
        (
            "/token",
            httpx.Response(200, json={"access_token": "a", "token_type": "Bearer"}),
            "sent no ID token",
            "finish",
        ),
        ("/token", httpx.Response(502, text="<html>proxy</html>"), "answered HTTP 502", "finish"),
    ],
)
async def test_a_provider_that_misbehaves_is_a_clear_page(
    h: Harness,
    emu: KeycloakEmulator,
    suffix: str,
    answer: httpx.Response,
    expected: str,
    where: str,
) -> None:
    h.app.state.oidc.transport = through(emu, {suffix: answer})
    async with h.client() as web:
        if where == "start":
            page = await web.get("/login/oidc")
        else:
            page = (await sign_in(web, emu, "ada")).answer
    assert page.status_code == 502
    assert expected in refusal(page)
