"""``idpsync check`` and ``idpsync endpoints``: real sockets, real proxy, the CLI's output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idpsync import cli
from idpsync.cli import network
from idpsync.config import ConnectorSettings, LoadedConfig
from idpsync.diagnostics import StepResult, check_source
from idpsync.http import build_http_client
from idpsync.http.settings import HttpSettings
from tests.http.conftest import SECRET, assert_clean
from tests.http.demo_source import DemoSource
from tests.http.idp import FakeIdp
from tests.http.servers import Certificate, LocalServer, Reply, ThreadedServer, free_port


def demo(url: str, settings: HttpSettings, secret: str = SECRET) -> DemoSource:
    return DemoSource(build_http_client(settings, base_url=url), url, "app", secret)


def steps(results: list[StepResult]) -> list[tuple[str, str]]:
    return [(r.step, r.status) for r in results]


async def test_everything_passes_with_the_ca_bundle(cert: Certificate) -> None:
    settings = HttpSettings(ca_bundle=str(cert.cert_pem), max_attempts=1)
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        source = demo(server.url, settings)
        results = await check_source(source, settings)
        await source.aclose()
    assert steps(results) == [
        ("dns", "ok"),
        ("tcp", "ok"),
        ("proxy", "ok"),
        ("tls", "ok"),
        ("token", "ok"),
        ("read", "ok"),
    ]
    assert "direct connection" in results[2].detail
    assert "certificate verified" in results[3].detail
    assert results[4].detail.startswith("token obtained, valid 3")
    assert results[5].detail.startswith("HTTP 200, ")
    assert all(r.seconds >= 0 for r in results)


async def test_untrusted_certificate_fails_at_tls_with_a_remedy(cert: Certificate) -> None:
    settings = HttpSettings(max_attempts=1)
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        source = demo(server.url, settings)
        results = await check_source(source, settings)
        await source.aclose()
    assert steps(results) == [
        ("dns", "ok"),
        ("tcp", "ok"),
        ("proxy", "ok"),
        ("tls", "failed"),
        ("token", "failed"),
        ("read", "failed"),
    ]
    tls = results[3]
    assert tls.cause == "TLS certificate of 127.0.0.1 not trusted: the certificate is self-signed"
    assert tls.remedy and "http.ca_bundle" in tls.remedy
    assert results[4].cause and results[4].cause.startswith("POST /oauth2/token on 127.0.0.1")


@pytest.mark.slow  # starts a tinyproxy process
async def test_through_tinyproxy_the_proxy_step_opens_a_tunnel(
    cert: Certificate, tinyproxy: Any
) -> None:
    settings = HttpSettings(ca_bundle=str(cert.cert_pem), proxy=tinyproxy.url, max_attempts=1)
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        source = demo(server.url, settings)
        results = await check_source(source, settings)
        await source.aclose()
    assert all(r.ok for r in results), results
    assert results[0].target == f"127.0.0.1:{tinyproxy.port}"  # DNS/TCP go to the proxy
    assert results[2].detail == f"tunnel to 127.0.0.1:{server.port} through {tinyproxy.url}"


@pytest.mark.slow  # starts a tinyproxy process
async def test_proxy_refusing_connect_is_the_failed_step(
    cert: Certificate, strict_proxy: Any
) -> None:
    settings = HttpSettings(ca_bundle=str(cert.cert_pem), proxy=strict_proxy.url, max_attempts=1)
    async with LocalServer(FakeIdp(), tls=cert.server_context()) as server:
        source = demo(server.url, settings)
        results = await check_source(source, settings)
        await source.aclose()
    assert steps(results)[:4] == [
        ("dns", "ok"),
        ("tcp", "ok"),
        ("proxy", "failed"),
        ("tls", "skipped"),
    ]
    assert results[2].cause and results[2].cause.startswith(
        f"the proxy {strict_proxy.url} refused CONNECT to 127.0.0.1:{server.port} (HTTP/1."
    )
    assert results[2].remedy and "allow CONNECT" in results[2].remedy


async def test_unresolvable_and_refused_hosts() -> None:
    settings = HttpSettings(max_attempts=1)
    source = demo("https://login.idp.invalid", settings)
    results = await check_source(source, settings)
    assert steps(results)[:4] == [
        ("dns", "failed"),
        ("tcp", "skipped"),
        ("proxy", "skipped"),
        ("tls", "skipped"),
    ]
    assert results[0].cause == "DNS lookup failed: the name login.idp.invalid does not resolve"
    port = free_port()
    refused = demo(f"http://127.0.0.1:{port}", settings)
    results = await check_source(refused, settings)
    assert results[1].status == "failed"
    assert results[1].cause == f"connection refused by 127.0.0.1:{port}"
    await source.aclose()
    await refused.aclose()


@pytest.fixture
def config(tmp_path: Path, cert: Certificate) -> Path:
    (tmp_path / "people.json").write_text('{"users": [{"id": "1", "login": "ada"}]}')
    path = tmp_path / "idpsync.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "x.db"}"
[connectors.hr.source]
type = "file"
path = "people.json"
[connectors.demo.source]
type = "file"
path = "people.json"
[connectors.demo.source.http]
ca_bundle = "{cert.cert_pem}"
max_attempts = 1
""")
    return path


def use_demo(monkeypatch: pytest.MonkeyPatch, url: str, secret: str = SECRET) -> None:
    real = network.build_source

    def build(loaded: LoadedConfig, settings: ConnectorSettings) -> Any:
        if settings.source.http.ca_bundle:
            return demo(url, settings.source.http, secret)
        return real(loaded, settings)

    monkeypatch.setattr(network, "build_source", build)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


def test_cli_check_file_source(config: Path) -> None:
    result = run("check", "hr", "-c", str(config))
    assert result.exit_code == 0, result.output
    assert "needs no network access" in result.output
    assert "readable and valid: 1 users, 0 groups" in result.output


def test_cli_check_passes_against_a_tls_idp(
    config: Path, cert: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ThreadedServer(FakeIdp(), tls=cert.server_context()) as server:
        use_demo(monkeypatch, server.url)
        result = run("check", "demo", "-c", str(config))
    assert result.exit_code == 0, result.output
    lines = [line.split()[:2] for line in result.output.splitlines() if line.startswith("ok")]
    assert lines == [["ok", s] for s in ("dns", "tcp", "proxy", "tls", "token", "read")]
    assert "demo: all checks passed" in result.output
    assert_clean(result.output)


def test_cli_check_token_failure_names_cause_and_remedy_without_the_secret(
    config: Path, cert: Certificate, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def echoing_idp(request: Any) -> Reply:
        # A careless IdP that echoes the secret it received must not make us print it.
        sent = request.form().get("client_secret", "")
        return Reply(
            401,
            {
                "error": "invalid_client",
                "error_description": f"AADSTS7000215: Invalid client secret {sent}",
            },
        )

    with ThreadedServer(FakeIdp(token=echoing_idp), tls=cert.server_context()) as server:
        use_demo(monkeypatch, server.url)
        result = run("check", "demo", "-c", str(config))
        as_json = run("check", "demo", "-c", str(config), "--json")
    assert result.exit_code == 1
    assert "FAILED  token" in result.output
    assert (
        f"cause:  POST /oauth2/token on 127.0.0.1:{server.port}: the client secret is "
        "wrong (AADSTS7000215)"
    ) in result.output
    assert "remedy: use the secret's Value (not its ID)" in result.output
    assert "demo: 2 check(s) failed" in result.output
    report = json.loads(as_json.output)
    assert report["ok"] is False
    assert [s["status"] for s in report["steps"]][-2:] == ["failed", "failed"]
    assert_clean(result.output, as_json.output, caplog.text)


def test_cli_authorize_without_a_flow_is_a_usage_error(config: Path) -> None:
    result = run("authorize", "hr", "-c", str(config))
    assert result.exit_code == 2
    assert "does not use interactive authorization" in result.output
    key = run("authorize", "--new-key")
    assert key.exit_code == 0 and len(key.output.strip()) == 44


def test_cli_authorize_stores_the_refresh_token_encrypted(
    config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import threading
    import webbrowser
    from urllib.parse import parse_qs, urlsplit

    import httpx
    from pydantic import SecretStr

    from idpsync.auth.authorize import AuthorizationCodeFlow
    from idpsync.auth.vault import TokenVault, new_key
    from idpsync.store import Store
    from tests.http.demo_source import TOKEN

    def token(request: Any) -> Reply:
        assert request.form()["code"] == "the-code"
        return Reply(
            200, {"access_token": "tok-x", "expires_in": 60, "refresh_token": "rt-" + SECRET}
        )

    def browse(url: str) -> bool:
        query = parse_qs(urlsplit(url).query)

        def follow() -> None:
            httpx.get(
                query["redirect_uri"][0], params={"code": "the-code", "state": query["state"][0]}
            )

        threading.Thread(target=follow).start()
        return True

    key = new_key()
    monkeypatch.setenv("IDPSYNC_TOKEN_KEY", key)
    monkeypatch.setattr(webbrowser, "open", browse)
    with ThreadedServer(FakeIdp(token=token)) as server:
        flow = AuthorizationCodeFlow(
            "https://accounts.example/auth",
            TOKEN.resolve("", {"base": server.url}),
            "app",
            SecretStr(SECRET),
            ("users.read",),
        )
        source = demo(server.url, HttpSettings())
        monkeypatch.setattr(source, "authorization_flow", lambda: flow)
        monkeypatch.setattr(network, "build_source", lambda _l, _s: source)
        result = run("authorize", "demo", "-c", str(config), "--timeout", "20")
    assert result.exit_code == 0, result.output
    assert "demo: authorized" in result.output
    assert_clean(result.output)
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    assert TokenVault(store, SecretStr(key)).load("demo") == "rt-" + SECRET
    store.close()
    assert SECRET.encode() not in (tmp_path / "x.db").read_bytes()
