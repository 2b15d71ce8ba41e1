from __future__ import annotations

import httpx
import pytest

from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.entra.auth import ASSERTION_TYPE

from .certs import client_assertion, new_key, self_signed
from .conftest import BASE

SCOPE = "https://graph.microsoft.com/.default"


async def _token(emu: EntraEmulator, tenant: str | None = None, **form: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": SCOPE, **form}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as c:
        return await c.post(f"/{tenant or emu.tenant.tenant_id}/oauth2/v2.0/token", data=data)


async def test_client_secret_success_and_token_works(emu: EntraEmulator) -> None:
    response = await _token(emu, client_id=emu.client_id, client_secret=emu.client_secret)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["access_token"].startswith("eyJ")
    headers = {"authorization": f"Bearer {body['access_token']}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        assert (await c.get("/v1.0/users")).status_code == 200
    by_domain = await _token(
        emu, emu.tenant.domain, client_id=emu.client_id, client_secret=emu.client_secret
    )
    assert by_domain.status_code == 200


@pytest.mark.parametrize(
    ("tenant", "form", "status", "error", "code"),
    [
        (None, {"client_secret": "wrong-secret-value"}, 401, "invalid_client", 7000215),
        (None, {}, 401, "invalid_client", 7000216),
        ("not-a-tenant", {"client_secret": "x"}, 400, "invalid_request", 90002),
        (
            None,
            {"client_id": "11111111-2222-3333-4444-555555555555"},
            400,
            "unauthorized_client",
            700016,
        ),
        (None, {"scope": "User.Read"}, 400, "invalid_scope", 1002012),
        (None, {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        # A gateway's or the emulator's own host is no resource Entra knows (AADSTS500011).
        (
            None,
            {"scope": "https://graph-gw.corp.example/.default"},
            400,
            "invalid_resource",
            500011,
        ),
        (None, {"scope": "http://127.0.0.1:8080/.default"}, 400, "invalid_resource", 500011),
    ],
)
async def test_token_errors(
    emu: EntraEmulator, tenant: str | None, form: dict[str, str], status: int, error: str, code: int
) -> None:
    response = await _token(emu, tenant, **{"client_id": emu.client_id, **form})
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID:" in body["error_description"]
    assert body["error_uri"].endswith(f"code={code}")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    assert "wrong-secret-value" not in response.text
    assert emu.client_secret not in response.text


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
async def test_client_assertion(emu: EntraEmulator, alg: str) -> None:
    key = new_key()
    emu.register_app("cert-app", certificate_pem=self_signed(key))
    audience = f"{BASE}/{emu.tenant.tenant_id}/oauth2/v2.0/token"
    good = await _token(
        emu,
        client_id="cert-app",
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=client_assertion(key, "cert-app", audience, alg),
    )
    assert good.status_code == 200 and good.json()["access_token"]
    forged = await _token(
        emu,
        client_id="cert-app",
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=client_assertion(new_key(), "cert-app", audience, alg),
    )
    assert forged.status_code == 401 and forged.json()["error_codes"] == [700027]
    expired = await _token(
        emu,
        client_id="cert-app",
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=client_assertion(key, "cert-app", audience, alg, lifetime=-1000),
    )
    assert expired.json()["error_codes"] == [700024]
    no_cert = await _token(
        emu,
        client_id=emu.client_id,
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=client_assertion(key, emu.client_id, audience),
    )
    assert no_cert.json()["error_codes"] == [700027]


async def test_openid_configuration(emu: EntraEmulator) -> None:
    tid = emu.tenant.tenant_id
    async with httpx.AsyncClient(transport=emu.transport(), base_url="http://idp:81") as c:
        body = (await c.get(f"/{tid}/v2.0/.well-known/openid-configuration")).json()
        missing = await c.get("/nobody/v2.0/.well-known/openid-configuration")
    assert body["token_endpoint"] == f"http://idp:81/{tid}/oauth2/v2.0/token"
    assert body["issuer"] == f"http://idp:81/{tid}/v2.0"
    assert "authorization_endpoint" in body
    assert missing.status_code == 400 and missing.json()["error_codes"] == [90002]
