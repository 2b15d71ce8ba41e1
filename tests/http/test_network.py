"""The HTTP layer against real local sockets: every failure an administrator meets."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr

from idpsync.auth import RefreshTokenFlow
from idpsync.http import HttpClient, build_http_client, errors
from idpsync.http.settings import HttpSettings
from tests.http.conftest import SECRET, assert_clean
from tests.http.demo_source import TOKEN, USERS, DemoSource
from tests.http.idp import FakeIdp
from tests.http.servers import (
    HANG,
    RESET,
    Certificate,
    LocalServer,
    Reply,
    Tinyproxy,
    free_port,
    self_signed,
)

pytestmark = pytest.mark.asyncio


def client(base_url: str, **http: Any) -> HttpClient:
    settings = HttpSettings(
        **{"max_attempts": 3, "connect_timeout": 2.0, "read_timeout": 2.0, **http}
    )
    return build_http_client(settings, base_url=base_url)


async def fail(source: DemoSource) -> errors.HttpError:
    with pytest.raises(errors.HttpError) as info:
        await source.snapshot()
    await source.aclose()
    return info.value


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


async def test_connection_reset_during_token_request(caplog: pytest.LogCaptureFixture) -> None:
    async with LocalServer(FakeIdp(token=lambda _r: RESET)) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", SECRET))
        assert len(server.requests) == 3  # retried up to max_attempts
    # No token means nothing can be read: a fatal token error (every source fails the run on
    # it), with the reset as its cause and the same message.
    assert isinstance(error, errors.TokenUnavailable)
    assert isinstance(error.__cause__, errors.ConnectionReset)
    text = str(error)
    assert text.startswith("Token request failed: connection reset by 127.0.0.1")
    assert f"POST /oauth2/token on 127.0.0.1:{server.port}" in text
    assert "after 3 attempts" in text and "firewall" in error.remedy
    assert_clean(text, caplog.text)


async def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    async with LocalServer(FakeIdp()) as idp:
        error = await fail(DemoSource(client(f"http://127.0.0.1:{port}"), idp.url, "app", SECRET))
    assert isinstance(error, errors.ConnectionRefused)
    assert f"GET /v1/users on 127.0.0.1:{port}: connection refused by 127.0.0.1:{port}" in str(
        error
    )
    assert f"outbound HTTP to 127.0.0.1:{port}" in error.remedy
    assert_clean(str(error), caplog.text)


async def test_unresolvable_host_name(caplog: pytest.LogCaptureFixture) -> None:
    async with LocalServer(FakeIdp()) as idp:
        error = await fail(
            DemoSource(client("http://directory.idp.invalid"), idp.url, "app", SECRET)
        )
    assert isinstance(error, errors.DnsError)
    assert error.attempts == 1  # a DNS failure is a configuration problem: no retries
    assert str(error).startswith(
        "GET /v1/users on directory.idp.invalid: DNS lookup failed: "
        "the name directory.idp.invalid does not resolve"
    )
    assert_clean(str(error), caplog.text)


async def test_self_signed_certificate_fails_without_and_passes_with_ca_bundle(
    cert: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    idp = FakeIdp()
    async with LocalServer(idp, tls=cert.server_context()) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", SECRET))
        assert isinstance(error, errors.TlsError)
        assert str(error).startswith(
            f"Token request failed: TLS certificate of 127.0.0.1 not trusted: the certificate "
            f"is self-signed (POST /oauth2/token on 127.0.0.1:{server.port})"
        )
        assert "set http.ca_bundle to the PEM file" in error.remedy
        trusted = DemoSource(
            client(server.url, ca_bundle=str(cert.cert_pem)), server.url, "app", SECRET
        )
        snap = await trusted.snapshot()
        await trusted.aclose()
    assert [u.login for u in snap.users] == ["ada"]
    assert_clean(str(error), caplog.text)


async def test_tls_hostname_mismatch(tmp_path: Any) -> None:
    other = self_signed(tmp_path, ["idp.example.test"])
    async with LocalServer(FakeIdp(), tls=other.server_context()) as server:
        error = await fail(
            DemoSource(client(server.url, ca_bundle=str(other.cert_pem)), server.url, "app", SECRET)
        )
    assert isinstance(error, errors.TlsError)
    assert "TLS hostname mismatch" in str(error)


@pytest.mark.slow  # starts a tinyproxy process
async def test_request_through_a_real_connect_proxy(
    cert: Certificate, tinyproxy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        source = DemoSource(
            client(server.url, ca_bundle=str(cert.cert_pem), proxy=tinyproxy.url),
            server.url,
            "app",
            SECRET,
        )
        snap = await source.snapshot()
        await source.aclose()
    assert [u.login for u in snap.users] == ["ada"]
    assert f"CONNECT 127.0.0.1:{server.port}" in tinyproxy.log.read_text()
    assert_clean(caplog.text)


@pytest.mark.slow  # starts a tinyproxy process
async def test_proxy_that_refuses_connect(
    cert: Certificate, strict_proxy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        error = await fail(
            DemoSource(
                client(server.url, ca_bundle=str(cert.cert_pem), proxy=strict_proxy.url),
                server.url,
                "app",
                SECRET,
            )
        )
        assert not server.requests
    assert isinstance(error, errors.ProxyError)
    assert (
        f"the proxy {strict_proxy.url} refused CONNECT to 127.0.0.1:{server.port} "
        "(proxy answered 403"
    ) in str(error)
    assert str(error).startswith("Token request failed:")
    assert "ask the proxy administrator to allow CONNECT" in error.remedy
    assert_clean(str(error), caplog.text)


async def test_unreachable_proxy() -> None:
    port = free_port()
    async with LocalServer(FakeIdp()) as server:
        error = await fail(
            DemoSource(
                client(server.url, proxy=f"http://127.0.0.1:{port}"), server.url, "app", SECRET
            )
        )
    assert isinstance(error, errors.ProxyError)
    assert f"cannot reach the HTTP proxy http://127.0.0.1:{port}" in str(error)


async def test_read_timeout(caplog: pytest.LogCaptureFixture) -> None:
    idp = FakeIdp(users=lambda _r, _i: HANG)
    async with LocalServer(idp) as server:
        error = await fail(
            DemoSource(
                client(server.url, read_timeout=0.3, max_attempts=2), server.url, "app", SECRET
            )
        )
    assert isinstance(error, errors.Timeout)
    assert str(error).startswith(
        f"GET /v1/users on 127.0.0.1:{server.port}: read timeout: "
        f"127.0.0.1:{server.port} accepted the connection but sent no answer in time "
        "(after 2 attempts)"
    )
    assert error.remedy.startswith(
        "a firewall or proxy that accepts the connection and then drops the traffic looks like "
        f"this: check that the firewall allows outbound HTTP to 127.0.0.1:{server.port}"
    )
    assert "http.read_timeout" in error.remedy
    assert_clean(str(error), caplog.text)


def throttle_then_ok(throttled: int) -> Any:
    def users(_request: Any, idp: FakeIdp) -> Reply:
        if idp.user_calls <= throttled:
            return Reply(
                429, {"errorSummary": "API call exceeded rate limit"}, headers={"Retry-After": "7"}
            )
        return Reply(200, {"users": []})

    return users


async def test_429_with_retry_after_is_honoured() -> None:
    async with LocalServer(FakeIdp(users=throttle_then_ok(2))) as server:
        source = DemoSource(client(server.url), server.url, "app", SECRET)
        await source.snapshot()
        await source.aclose()
    assert (source.stats.throttled, source.stats.retries) == (2, 2)
    assert source.stats.extra["retry_wait_seconds"] == 14.0  # exactly what Retry-After asked
    assert source.stats.requests == 4  # one token request, three reads


async def test_429_until_attempts_run_out(caplog: pytest.LogCaptureFixture) -> None:
    async with LocalServer(FakeIdp(users=throttle_then_ok(99))) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", SECRET))
    assert isinstance(error, errors.RateLimited)
    assert str(error).startswith(
        f"GET /v1/users on 127.0.0.1:{server.port}: 429 rate limited by the IdP, still "
        "throttled when retries ran out (waited 14 s in total)"
    )
    assert "API call exceeded rate limit" in str(error)
    assert_clean(str(error), caplog.text)


async def test_retry_after_longer_than_the_time_budget_fails_at_once() -> None:
    async with LocalServer(FakeIdp(users=throttle_then_ok(99))) as server:
        error = await fail(
            DemoSource(client(server.url, max_retry_seconds=5), server.url, "app", SECRET)
        )
    assert isinstance(error, errors.RateLimited) and error.attempts == 1


async def test_403_names_the_missing_scope(caplog: pytest.LogCaptureFixture) -> None:
    def forbidden(_request: Any, _idp: FakeIdp) -> Reply:
        return Reply(
            403,
            {
                "errorCode": "E0000006",
                "errorSummary": "You do not have permission to perform the requested action",
            },
            headers={
                "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="okta.users.read"'
            },
        )

    async with LocalServer(FakeIdp(users=forbidden)) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", SECRET))
    assert isinstance(error, errors.Forbidden)
    assert error.permission == "okta.users.read" and error.attempts == 1
    assert str(error).startswith(
        f"GET /v1/users on 127.0.0.1:{server.port}: 403 forbidden: "
        "the application lacks the permission/scope okta.users.read"
    )
    assert "grant the application the permission okta.users.read" in error.remedy
    assert_clean(str(error), caplog.text)


async def test_403_without_a_named_permission_uses_the_declared_one() -> None:
    def forbidden(_request: Any, _idp: FakeIdp) -> Reply:
        return Reply(
            403,
            {
                "error": {
                    "code": "Authorization_RequestDenied",
                    "message": "Insufficient privileges to complete the operation.",
                }
            },
        )

    async with LocalServer(FakeIdp(users=forbidden)) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", SECRET))
    assert isinstance(error, errors.Forbidden)
    assert "this endpoint needs the permission/scope users.read" in str(error)
    assert "Insufficient privileges" in str(error)


async def test_expired_token_is_refreshed_once_then_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def expire_first(request: Any, idp: FakeIdp) -> Reply:
        if request.headers["authorization"] == f"Bearer {idp.issued[0]}":
            return Reply(
                401,
                {"error": "invalid_token"},
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return Reply(200, {"users": [{"id": "u1", "login": "ada"}]})

    idp = FakeIdp(users=expire_first)
    async with LocalServer(idp) as server:
        source = DemoSource(client(server.url), server.url, "app", SECRET)
        snap = await source.snapshot()
        await source.aclose()
    assert len(idp.issued) == 2 and idp.user_calls == 2
    assert [u.login for u in snap.users] == ["ada"]
    assert source.stats.retries == 1
    assert_clean(caplog.text)


async def test_token_rejected_after_refresh_fails_with_401(
    caplog: pytest.LogCaptureFixture,
) -> None:
    idp = FakeIdp(users=lambda _r, _i: Reply(401, {"error": "invalid_token"}))
    async with LocalServer(idp) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", SECRET))
    assert len(idp.issued) == 2  # refreshed exactly once
    assert isinstance(error, errors.Unauthorized)
    assert (
        f"GET /v1/users on 127.0.0.1:{server.port}: 401 the API refused the access token the "
        "token endpoint had issued"
    ) in str(error)
    assert_clean(str(error), caplog.text)


async def test_wrong_client_secret_is_a_clear_token_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with LocalServer(FakeIdp()) as server:
        error = await fail(DemoSource(client(server.url), server.url, "app", "wrong-" + SECRET))
    assert isinstance(error, errors.TokenError) and error.error_code == "invalid_client"
    assert str(error).startswith(
        "Token request failed: the IdP rejected the client id or client secret (invalid_client)"
    )
    assert "wrong-" not in str(error) + caplog.text
    assert_clean(str(error), caplog.text)


REFRESH = "rt-1a2b3c4d5e6f-refresh-token-value"


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            "Token has been expired or revoked.",
            "the refresh token has expired or was revoked (invalid_grant)",
        ),
        (
            "AADSTS700082: The refresh token has expired due to inactivity.",
            "the refresh token expired due to inactivity (AADSTS700082)",
        ),
    ],
)
async def test_revoked_refresh_token_asks_to_reauthorize(
    description: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    def token(request: Any) -> Reply:
        assert request.form()["refresh_token"] == REFRESH
        return Reply(400, {"error": "invalid_grant", "error_description": description})

    async with LocalServer(FakeIdp(token=token)) as server:
        http = client(server.url)

        async def load() -> str:
            return REFRESH

        async def save(_value: str) -> None:
            raise AssertionError("nothing to save")

        http.auth = RefreshTokenFlow(
            http,
            TOKEN.resolve("", {"base": server.url}),
            "app",
            SecretStr(SECRET),
            load,
            save,
            connector="gsuite",
        )
        with pytest.raises(errors.TokenError) as info:
            await http.get_json(USERS)
        await http.aclose()
    text = str(info.value)
    assert text.startswith(f"Token request failed: {expected}")
    assert f"POST /oauth2/token on 127.0.0.1:{server.port}" in text
    assert "run 'idpsync authorize gsuite'" in text
    assert REFRESH not in text + caplog.text
    assert_clean(text, caplog.text)


@pytest.mark.slow  # starts a tinyproxy process
async def test_https_proxy_and_no_proxy_from_the_environment(
    cert: Certificate, tinyproxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        via_proxy = DemoSource(
            client(server.url, ca_bundle=str(cert.cert_pem)), server.url, "app", SECRET
        )
        await via_proxy.snapshot()
        await via_proxy.aclose()
        tunnels = tinyproxy.log.read_text().count(f"CONNECT 127.0.0.1:{server.port}")
        assert tunnels >= 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = DemoSource(
            client(server.url, ca_bundle=str(cert.cert_pem)), server.url, "app", SECRET
        )
        await direct.snapshot()
        await direct.aclose()
        assert tinyproxy.log.read_text().count(f"CONNECT 127.0.0.1:{server.port}") == tunnels


@pytest.mark.slow  # starts a tinyproxy process
async def test_proxy_that_wants_credentials(
    cert: Certificate, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    password = "proxy-" + SECRET
    proxy = Tinyproxy(tmp_path, basic_auth=("sync", password))
    try:
        async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
            error = await fail(
                DemoSource(
                    client(server.url, ca_bundle=str(cert.cert_pem), proxy=proxy.url),
                    server.url,
                    "app",
                    SECRET,
                )
            )
            with_login = f"http://sync:{password}@127.0.0.1:{proxy.port}"
            source = DemoSource(
                client(server.url, ca_bundle=str(cert.cert_pem), proxy=with_login),
                server.url,
                "app",
                SECRET,
            )
            snap = await source.snapshot()
            await source.aclose()
    finally:
        proxy.stop()
    assert isinstance(error, errors.ProxyError)
    assert f"the proxy {proxy.url} requires authentication (407)" in str(error)
    assert [u.login for u in snap.users] == ["ada"]
    assert password not in str(error) + caplog.text


async def test_runner_records_the_failure_and_the_counters(tmp_path: Any) -> None:
    from idpsync.app.runner import run_sync
    from idpsync.config import ConnectorSettings
    from idpsync.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'r.db'}")
    settings = ConnectorSettings.model_validate({"source": {"type": "file", "path": "x"}})
    async with LocalServer(FakeIdp(users=throttle_then_ok(99))) as server:
        source = DemoSource(client(server.url), server.url, "app", SECRET)
        result = await run_sync(store, "demo", settings, source)
        await source.aclose()
    run = store.run(result.run_id)
    store.close()
    assert result.status == "failed" and run is not None
    assert run["message"].startswith(f"GET /v1/users on 127.0.0.1:{server.port}: 429")
    assert run["stats"]["requests"] == 4 and run["stats"]["throttled"] == 3
    assert run["stats"]["retries"] == 2
    assert_clean(run["message"], str(run["stats"]))
