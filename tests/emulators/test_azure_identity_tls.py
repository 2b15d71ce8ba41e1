"""The real azure-identity ClientSecretCredential gets a token from the emulator over TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from idpsync.emulators.entra import EntraEmulator

from .certs import write_tls_pair

SCOPE = "https://graph.microsoft.com/.default"


def test_client_secret_credential_over_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = write_tls_pair(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    emulator = EntraEmulator.generate(users=10, groups=3, seed=2)
    tenant = emulator.tenant.tenant_id
    with emulator.serve(ssl_certfile=cert, ssl_keyfile=key) as server:
        assert server.url.startswith("https://127.0.0.1:")
        credential = ClientSecretCredential(
            tenant,
            emulator.client_id,
            emulator.client_secret,
            authority=server.url,
            disable_instance_discovery=True,
        )
        token = credential.get_token(SCOPE)
        headers = {"authorization": f"Bearer {token.token}"}
        with httpx.Client(verify=ssl.create_default_context(cafile=cert), headers=headers) as http:
            users = http.get(f"{server.url}/v1.0/users").json()["value"]
        assert len(users) == 10
        bad = ClientSecretCredential(
            tenant,
            emulator.client_id,
            "not-the-secret",
            authority=server.url,
            disable_instance_discovery=True,
        )
        with pytest.raises(ClientAuthenticationError) as failure:
            bad.get_token(SCOPE)
        credential.close()
        bad.close()
    assert "AADSTS7000215" in str(failure.value)
    assert "not-the-secret" not in str(failure.value)
    paths = [(r.method, r.path) for r in emulator.requests]
    assert ("GET", f"/{tenant}/v2.0/.well-known/openid-configuration") in paths
    assert paths.count(("POST", f"/{tenant}/oauth2/v2.0/token")) == 2
