"""Translation of a failed connection into an :mod:`idpsync.http.errors` error, done once.

:func:`network_error` reads an httpx exception and the ssl/socket exceptions chained to it
(DNS, TLS, proxy, refused or reset connections, timeouts) and chooses the cause and remedy an
administrator needs; :func:`deadline_error` does the same for a request that outlived
``http.request_deadline``. Whatever they quote is scrubbed. Error responses are
:mod:`idpsync.http.translate_status`'s.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

from idpsync.http import errors as e
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import redact_url


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((item for item in _chain(exc) if isinstance(item, kind)), None)


def _firewall(target: ConcreteEndpoint) -> str:
    return (
        f"check that the firewall allows outbound {target.scheme.upper()} to "
        f"{target.host}:{target.port} (run 'idpsync endpoints' for the full list)"
    )


def network_error(
    exc: BaseException, target: ConcreteEndpoint, proxy: str | None, attempts: int
) -> e.NetworkError:
    """The :class:`~idpsync.http.errors.NetworkError` for a failed attempt.

    The checks run from the most to the least telling cause: the proxy's answer, a timeout, an
    unreachable proxy, then the name and TLS, then the connection itself.
    """
    if isinstance(exc, httpx.ProxyError):
        return _proxy_refused(exc, target, proxy, attempts)
    if isinstance(exc, httpx.TimeoutException):
        return _timeout(exc, target, attempts)
    if proxy and isinstance(exc, httpx.ConnectError) and not _find(exc, ssl.SSLError):
        return _proxy_unreachable(exc, target, proxy, attempts)
    found = _name_or_tls(exc, target, attempts)
    return found if found is not None else _connection_failed(exc, target, attempts)


def _proxy_unreachable(
    exc: BaseException, target: ConcreteEndpoint, proxy: str, attempts: int
) -> e.ProxyError:
    return e.ProxyError(
        target,
        f"cannot reach the HTTP proxy {redact_url(proxy)}: {_os_reason(exc)}",
        "check http.proxy / HTTPS_PROXY and that the proxy is running; set NO_PROXY for "
        f"hosts that must be reached directly ({target.host})",
        attempts=attempts,
    )


def _name_or_tls(
    exc: BaseException, target: ConcreteEndpoint, attempts: int
) -> e.NetworkError | None:
    """A name that does not resolve or a failed TLS handshake; ``None`` for neither."""
    if _find(exc, socket.gaierror):
        return e.DnsError(
            target,
            f"DNS lookup failed: the name {target.host} does not resolve",
            "check the host name in base_url/token_url and this machine's DNS resolver; if "
            "only a proxy can resolve outside names, set http.proxy or HTTPS_PROXY",
            attempts=attempts,
        )
    cert = _find(exc, ssl.SSLCertVerificationError)
    if isinstance(cert, ssl.SSLCertVerificationError):
        return _tls_untrusted(cert, target, attempts)
    if _find(exc, ssl.SSLError):
        return e.TlsError(
            target,
            f"TLS handshake with {target.host}:{target.port} failed ({_os_reason(exc)})",
            "check that the port speaks HTTPS and that no middlebox interferes; a "
            "TLS-inspecting proxy needs its CA in http.ca_bundle",
            attempts=attempts,
        )
    return None


def _connection_failed(
    exc: BaseException, target: ConcreteEndpoint, attempts: int
) -> e.NetworkError:
    """A connection refused, reset, or otherwise lost."""
    host, port = target.host, target.port
    if _find(exc, ConnectionRefusedError):
        return e.ConnectionRefused(
            target,
            f"connection refused by {host}:{port}",
            f"check the host and port in base_url/token_url and that the service is up; "
            f"{_firewall(target)}",
            attempts=attempts,
        )
    if _find(exc, ConnectionResetError) or isinstance(exc, httpx.RemoteProtocolError):
        return e.ConnectionReset(
            target,
            f"connection reset by {host} before a complete answer",
            f"a firewall, proxy or TLS-inspecting device often does this: {_firewall(target)}; "
            "if a proxy is required, set http.proxy or HTTPS_PROXY",
            attempts=attempts,
        )
    if isinstance(exc, httpx.ConnectError):
        return e.NetworkError(
            target,
            f"cannot connect to {host}:{port} ({_os_reason(exc)})",
            _firewall(target),
            attempts=attempts,
        )
    return e.NetworkError(
        target,
        f"network error talking to {host}: {_os_reason(exc)}",
        _firewall(target),
        attempts=attempts,
    )


def _os_reason(exc: BaseException) -> str:
    for item in _chain(exc):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror.lower()
    return str(exc) or type(exc).__name__


def _silent(target: ConcreteEndpoint) -> str:
    return (
        "a firewall or proxy that accepts the connection and then drops the traffic looks "
        f"like this: {_firewall(target)}, or set http.proxy / HTTPS_PROXY if only a proxy may "
        "go out; raise http.read_timeout only if the IdP is known to be slow"
    )


def _timeout(exc: httpx.TimeoutException, target: ConcreteEndpoint, attempts: int) -> e.Timeout:
    if isinstance(exc, httpx.ConnectTimeout):
        return e.Timeout(
            target,
            f"connect timeout: {target.host}:{target.port} did not accept a connection in time",
            f"{_firewall(target)} (a silently dropping firewall looks like this); "
            "raise http.connect_timeout only if the network is merely slow",
            attempts=attempts,
        )
    return e.Timeout(
        target,
        f"read timeout: {target.where} accepted the connection but sent no answer in time",
        _silent(target),
        attempts=attempts,
    )


class DeadlineExceeded(Exception):
    """The whole request (connect, send, read the body) took longer than its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


def deadline_error(exc: DeadlineExceeded, target: ConcreteEndpoint, attempts: int) -> e.Timeout:
    """The :class:`~idpsync.http.errors.Timeout` for a request over ``http.request_deadline``."""
    return e.Timeout(
        target,
        f"no complete answer within {exc.seconds:g} s from {target.host} (the answer was still "
        "arriving, or not at all, when the request deadline passed)",
        "the IdP or something in between (a proxy, a middlebox) is answering very slowly; try "
        "again later, or raise http.request_deadline if the IdP is merely slow",
        attempts=attempts,
    )


def _proxy_refused(
    exc: httpx.ProxyError, target: ConcreteEndpoint, proxy: str | None, attempts: int
) -> e.ProxyError:
    shown = redact_url(proxy) if proxy else "the HTTP proxy"
    answer = str(exc).strip()
    if answer.startswith("407"):
        return e.ProxyError(
            target,
            f"the proxy {shown} requires authentication (407)",
            "put the proxy user and password in the proxy URL "
            "(http://USER:PASSWORD@host:port), or have the proxy allow this machine",
            attempts=attempts,
        )
    return e.ProxyError(
        target,
        f"the proxy {shown} refused CONNECT to {target.host}:{target.port} "
        f"(proxy answered {answer or 'nothing'})",
        f"ask the proxy administrator to allow CONNECT to {target.host}:{target.port}, or set "
        f"NO_PROXY={target.host} if it can be reached directly",
        attempts=attempts,
    )


_TLS_CODES = {
    10: "the certificate has expired",
    18: "the certificate is self-signed",
    19: "the chain ends in a self-signed CA this machine does not trust",
    20: "the certificate was issued by a CA this machine does not trust",
    21: "the certificate chain is incomplete",
}


def _tls_untrusted(
    cert: ssl.SSLCertVerificationError, target: ConcreteEndpoint, attempts: int
) -> e.TlsError:
    code = cert.verify_code
    message = (cert.verify_message or "").lower()
    if code in (62, 64) or "mismatch" in message:
        return e.TlsError(
            target,
            f"TLS hostname mismatch: the certificate presented by {target.host} is "
            "for another name",
            "check base_url/token_url; a proxy or load balancer may be serving its own certificate",
            attempts=attempts,
        )
    reason = _TLS_CODES.get(code, message or "verification failed")
    return e.TlsError(
        target,
        f"TLS certificate of {target.host} not trusted: {reason}",
        "if a TLS-inspecting proxy sits in between, set http.ca_bundle to the PEM file of its "
        "CA certificate; otherwise the server's certificate is wrong",
        attempts=attempts,
    )
