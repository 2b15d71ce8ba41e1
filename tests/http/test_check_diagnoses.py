"""``idpsync check`` against real misbehaving servers: what broke, and the exact remedy.

Each test runs the CLI on an Okta connector (API token, so every step is a plain HTTP read)
whose ``base_url`` is a real local server that resets, refuses, stalls, answers with a web
filter's block page, presents a certificate of an unknown CA, or sits behind a proxy that
refuses ``CONNECT``.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from idpsync import cli
from tests.http.servers import RESET, Certificate, Reply, Request, ThreadedServer, free_port

TOKEN = "00Ab-okta-api-token-Zq9xWv"
"""The Okta API token of every test; it must never be printed."""

BLOCK_PAGE = b"""<!DOCTYPE html>
<html><head><title>URL category blocked by policy</title></head>
<body><h1>Access denied</h1><p>Category: Identity providers</p></body></html>"""


def config(folder: Path, base_url: str, **http: Any) -> str:
    settings: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 2.0, **http}
    lines = [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in settings.items()]
    path = folder / "idpsync.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{folder / "x.db"}"
[connectors.okta.source]
type = "okta"
base_url = "{base_url}"
api_token = "env:IDPSYNC_TEST_OKTA_API_TOKEN"
[connectors.okta.source.http]
"""
        + "\n".join(lines)
        + "\n"
    )
    return str(path)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDPSYNC_TEST_OKTA_API_TOKEN", TOKEN)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def check(path: str, *more: str) -> Any:
    result = CliRunner().invoke(cli.app, ["check", "okta", "-c", path, *more])
    assert TOKEN not in result.output
    return result


def step(output: str, name: str) -> list[str]:
    """The first line of step ``name`` and its cause/remedy lines."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[1:2] == [name])
    found = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 14):
            break
        found.append(line.strip())
    return found


def firewall(port: int, scheme: str = "HTTP") -> str:
    return (
        f"check that the firewall allows outbound {scheme} to 127.0.0.1:{port} "
        "(run 'idpsync endpoints' for the full list)"
    )


def test_a_reset_is_tried_once_per_step_and_blames_a_middlebox(tmp_path: Path) -> None:
    with ThreadedServer(lambda _r: RESET) as server:
        result = check(config(tmp_path, server.url))
    assert result.exit_code == 1
    read = step(result.stdout, "read")
    assert read[0].startswith("FAILED  read   GET /api/v1/users")
    assert read[1] == (
        f"cause:  GET /api/v1/users on 127.0.0.1:{server.port}: connection reset by "
        "127.0.0.1 before a complete answer"
    )
    assert read[2] == (
        "remedy: a firewall, proxy or TLS-inspecting device often does this: "
        f"{firewall(server.port)}; if a proxy is required, set http.proxy or HTTPS_PROXY"
    )
    # The three listings (users, groups, System Log) ran once each (no retries); the
    # per-object reads had no example.
    paths = [r.path for r in server.requests]
    assert paths == ["/api/v1/users", "/api/v1/groups", "/api/v1/logs"]
    assert result.stdout.count("skipped read") == 3
    assert "retrying" not in result.output
    assert result.stdout.splitlines()[-1] == "okta: 3 check(s) failed"


def test_retries_on_request_stay_out_of_the_table(tmp_path: Path) -> None:
    with ThreadedServer(lambda _r: RESET) as server:
        result = check(config(tmp_path, server.url), "--retries", "1")
    assert result.exit_code == 1
    assert len(server.requests) == 6  # three listings, two attempts each
    assert "retry" not in result.stdout
    assert result.stderr.count("retried: retrying GET /api/v1/") == 3


def test_a_refused_port_fails_the_tcp_step(tmp_path: Path) -> None:
    port = free_port()
    result = check(config(tmp_path, f"http://127.0.0.1:{port}"))
    assert result.exit_code == 1
    tcp = step(result.stdout, "tcp")
    assert tcp[1:] == [
        f"cause:  connection refused by 127.0.0.1:{port}",
        "remedy: check the host and port in base_url/token_url and that the service is up; "
        + firewall(port),
    ]


@pytest.fixture
def silent() -> Iterator[int]:
    """A port whose kernel accepts connections that nobody ever reads or answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def test_accepted_then_silent_names_the_firewall_not_the_idp(tmp_path: Path, silent: int) -> None:
    result = check(config(tmp_path, f"http://127.0.0.1:{silent}", read_timeout=0.5))
    assert result.exit_code == 1
    assert step(result.stdout, "tcp")[0].startswith("ok      tcp")
    read = step(result.stdout, "read")
    assert read[1] == (
        f"cause:  GET /api/v1/users on 127.0.0.1:{silent}: read timeout: 127.0.0.1:{silent} "
        "accepted the connection but sent no answer in time"
    )
    assert read[2] == (
        "remedy: a firewall or proxy that accepts the connection and then drops the traffic "
        f"looks like this: {firewall(silent)}, or set http.proxy / HTTPS_PROXY if only a proxy "
        "may go out; raise http.read_timeout only if the IdP is known to be slow"
    )
    assert "overloaded" not in result.output


def test_a_silent_tls_handshake_names_the_firewall(tmp_path: Path, silent: int) -> None:
    result = check(config(tmp_path, f"https://127.0.0.1:{silent}", connect_timeout=0.5))
    assert result.exit_code == 1
    assert step(result.stdout, "tls")[1:] == [
        f"cause:  TLS handshake: 127.0.0.1:{silent} accepted the connection but sent nothing "
        "within 0.5 s",
        "remedy: a firewall or proxy that accepts connections and then drops the traffic looks "
        "like this (the IdP answers a handshake at once): check that the firewall allows "
        f"outbound HTTPS to 127.0.0.1:{silent}, or set http.proxy / HTTPS_PROXY if only a "
        "proxy may go out",
    ]


def test_a_web_filter_block_page_is_not_a_missing_permission(tmp_path: Path) -> None:
    def blocked(_request: Request) -> Reply:
        return Reply(403, body=BLOCK_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})

    with ThreadedServer(blocked) as server:
        result = check(config(tmp_path, server.url))
    assert result.exit_code == 1
    read = step(result.stdout, "read")
    assert read[1] == (
        f"cause:  GET /api/v1/users on 127.0.0.1:{server.port}: a proxy or web filter answered "
        f"instead of 127.0.0.1:{server.port}: URL category blocked by policy (HTTP 403, an "
        "HTML page instead of the IdP's JSON)"
    )
    assert read[2] == (
        f"remedy: ask the network team to let this machine reach 127.0.0.1:{server.port} past "
        "the proxy or web filter (the list: 'idpsync endpoints'); a proxy sign-in page needs "
        "the proxy's credentials in http.proxy; if base_url points at a web site, correct it"
    )
    assert "okta.users.read" not in result.stdout and "permission" not in result.stdout


def test_a_rejected_okta_api_token_says_to_recreate_it(tmp_path: Path) -> None:
    def refused(request: Request) -> Reply:
        assert request.headers["authorization"] == f"SSWS {TOKEN}"
        body = {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}
        return Reply(401, body)

    with ThreadedServer(refused) as server:
        result = check(config(tmp_path, server.url))
    assert result.exit_code == 1
    read = step(result.stdout, "read")
    assert read[1] == (
        f"cause:  GET /api/v1/users on 127.0.0.1:{server.port}: 401 the Okta API token was "
        "rejected — the IdP says: E0000011: Invalid token provided"
    )
    assert read[2] == (
        "remedy: check api_token: it must be an Okta API token (sent as 'SSWS …') of an "
        "administrator who may read users and groups; a token unused for 30 days expires and "
        "one dies with its administrator's account or role: create a new one (Security → API "
        "→ Tokens) and update the secret it is read from"
    )
    assert "client id" not in result.stdout and "secret/certificate" not in result.stdout


def ca_and_leaf(folder: Path) -> tuple[Path, Certificate]:
    """A private CA (not given to idpsync) and a server certificate it issued for 127.0.0.1."""
    import ipaddress

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Inspection CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "leaf.crt").write_bytes(leaf.public_bytes(pem))
    (folder / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "ca.crt").write_bytes(ca.public_bytes(pem))
    return folder / "ca.crt", Certificate(folder / "leaf.crt", folder / "leaf.key")


def test_a_certificate_of_an_unknown_ca_fails_at_tls(tmp_path: Path) -> None:
    ca, leaf = ca_and_leaf(tmp_path)
    with ThreadedServer(lambda _r: Reply(200, []), tls=leaf.server_context()) as server:
        result = check(config(tmp_path, server.url))
        trusted = check(config(tmp_path, server.url, ca_bundle=str(ca)))
    assert result.exit_code == 1
    assert step(result.stdout, "tls")[1:] == [
        "cause:  TLS certificate of 127.0.0.1 not trusted: the certificate was issued by a CA "
        "this machine does not trust",
        "remedy: if a TLS-inspecting proxy sits in between, set http.ca_bundle to the PEM file "
        "of its CA certificate; otherwise the server's certificate is wrong",
    ]
    assert trusted.exit_code == 0, trusted.output  # the remedy works


@pytest.mark.slow  # starts a tinyproxy process
def test_a_proxy_refusing_connect(tmp_path: Path, strict_proxy: Any) -> None:
    port = free_port()
    path = config(tmp_path, f"https://127.0.0.1:{port}", proxy=strict_proxy.url)
    result = check(path)
    assert result.exit_code == 1
    proxy = step(result.stdout, "proxy")
    assert proxy[1].startswith(
        f"cause:  the proxy {strict_proxy.url} refused CONNECT to 127.0.0.1:{port} (HTTP/1."
    )
    assert proxy[2] == (
        f"remedy: ask the proxy administrator to allow CONNECT to 127.0.0.1:{port}, or set "
        "NO_PROXY=127.0.0.1 if it can be reached directly"
    )
    listed = CliRunner().invoke(cli.app, ["endpoints", "-c", path])
    assert listed.stdout.splitlines()[-1] == (
        f"  127.0.0.1:{strict_proxy.port} (the HTTP proxy; it must allow CONNECT to "
        f"127.0.0.1:{port})"
    )


def test_a_sync_names_the_block_page_too(tmp_path: Path) -> None:
    def blocked(_request: Request) -> Reply:
        return Reply(403, body=BLOCK_PAGE, headers={"Content-Type": "text/html"})

    with ThreadedServer(blocked) as server:
        path = config(tmp_path, server.url, max_attempts=1)
        result = CliRunner().invoke(cli.app, ["sync", "okta", "-c", path])
    # Every listing met the block page: nothing was read, so the run failed (nobody removed).
    assert result.exit_code == 1
    assert "okta: sync failed" in result.output and "nothing could be read" in result.output
    assert (
        f"a proxy or web filter answered instead of 127.0.0.1:{server.port}: URL category "
        "blocked by policy (HTTP 403, an HTML page instead of the IdP's JSON)"
    ) in result.output
    assert "permission" not in result.output and TOKEN not in result.output


def test_a_redirect_to_a_sign_in_page_is_not_a_pass(tmp_path: Path) -> None:
    def sign_in(_request: Request) -> Reply:
        return Reply(302, headers={"Location": "https://proxy.corp.example/login?next=okta"})

    with ThreadedServer(sign_in) as server:
        result = check(config(tmp_path, server.url))
    assert result.exit_code == 1
    assert step(result.stdout, "read")[1] == (
        f"cause:  GET /api/v1/users on 127.0.0.1:{server.port}: the server answered 302, a "
        "redirect to https://proxy.corp.example/login?next=okta (a proxy's sign-in page or a "
        "base_url that is not the API's); redirects are not followed, so credentials never "
        "leave the configured origin"
    )
