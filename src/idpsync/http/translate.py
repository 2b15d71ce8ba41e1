"""Translation of foreign failures into :mod:`idpsync.http.errors`, done once, at the boundary.

:func:`network_error` reads an httpx exception (and the ssl/socket exceptions chained to it);
:func:`status_error` reads an error response. Both choose the cause and remedy an
administrator needs; both scrub and truncate whatever they quote.
"""

from __future__ import annotations

import html
import json
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from idpsync.http import errors as e
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import redact_url, truncate


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
    """The :class:`~idpsync.http.errors.NetworkError` for a failed attempt."""
    host, port = target.host, target.port
    if isinstance(exc, httpx.ProxyError):
        return _proxy_refused(exc, target, proxy, attempts)
    if isinstance(exc, httpx.TimeoutException):
        return _timeout(exc, target, attempts)
    if proxy and isinstance(exc, httpx.ConnectError) and not _find(exc, ssl.SSLError):
        shown = redact_url(proxy)
        return e.ProxyError(
            target,
            f"cannot reach the HTTP proxy {shown}: {_os_reason(exc)}",
            "check http.proxy / HTTPS_PROXY and that the proxy is running; set NO_PROXY for "
            f"hosts that must be reached directly ({host})",
            attempts=attempts,
        )
    if _find(exc, socket.gaierror):
        return e.DnsError(
            target,
            f"DNS lookup failed: the name {host} does not resolve",
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
            f"TLS handshake with {host}:{port} failed ({_os_reason(exc)})",
            "check that the port speaks HTTPS and that no middlebox interferes; a "
            "TLS-inspecting proxy needs its CA in http.ca_bundle",
            attempts=attempts,
        )
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


def status_error(
    response: httpx.Response, target: ConcreteEndpoint, attempts: int, waited: float = 0.0
) -> e.StatusError:
    """The :class:`~idpsync.http.errors.StatusError` for an error response (kept on it)."""
    error = _status_error(response, target, attempts, waited)
    error.response = response
    return error


def _status_error(
    response: httpx.Response, target: ConcreteEndpoint, attempts: int, waited: float
) -> e.StatusError:
    status = response.status_code
    foreign = not_json(response, target, attempts) if status < 500 and status != 404 else None
    if foreign is not None:
        return foreign
    said = idp_message(response)
    extra = f" — the IdP says: {truncate(said, 200)}" if said else ""
    facts = _Facts(status, "" if said else response.text, attempts)
    if status == 403:
        return _forbidden(response, target, extra, facts, waited)
    cls, template, remedy = _STATUS_TEXT.get(status, _STATUS_TEXT[500 if status >= 500 else 400])
    cause = template.format(status=status)
    if status == 401:
        cause, remedy = _UNAUTHORIZED.get(_scheme(response), (cause, remedy))
    if status == 404:
        cause += f" ({redact_url(str(response.request.url))})"
    if status == 429:
        cause += f" (waited {waited:.0f} s in total)"
    return cls(
        target,
        cause + extra,
        remedy,
        status=facts.status,
        body=facts.body,
        attempts=facts.attempts,
    )


@dataclass(frozen=True)
class _Facts:
    status: int
    body: str
    attempts: int


_RATE_REMEDY = (
    "lower http.requests_per_second or http.concurrency, sync less often, or raise "
    "http.max_retry_seconds; other applications may share the same quota"
)
_STATUS_TEXT: dict[int, tuple[type[e.StatusError], str, str]] = {
    400: (
        e.BadRequest,
        "{status} request rejected",
        "check the connector's settings (filters, attribute names); report it if they are right",
    ),
    401: (
        e.Unauthorized,
        "401 bad credentials: the IdP rejected the credentials or token",
        "check the connector's credentials and that the application is enabled",
    ),
    404: (
        e.NotFound,
        "404 not found",
        "check base_url and the tenant/domain/realm/org in the configuration",
    ),
    429: (
        e.RateLimited,
        "429 rate limited by the IdP, still throttled when retries ran out",
        _RATE_REMEDY,
    ),
    500: (
        e.ServerError,
        "{status} server error at the IdP, still failing when retries ran out",
        "usually temporary: try again later and check the IdP's status page",
    ),
}


def _scheme(response: httpx.Response) -> str:
    """The scheme of the request's ``Authorization`` header (``ssws``, ``bearer``…)."""
    try:
        header = str(response.request.headers.get("authorization", ""))
    except RuntimeError:  # a response built without its request
        return ""
    return header.split(" ", 1)[0].lower()


_UNAUTHORIZED: dict[str, tuple[str, str]] = {
    "ssws": (
        "401 the Okta API token was rejected",
        "check api_token: it must be an Okta API token (sent as 'SSWS …') of an administrator "
        "who may read users and groups; a token unused for 30 days expires and one dies with "
        "its administrator's account or role: create a new one (Security → API → Tokens) and "
        "update the secret it is read from",
    ),
    "bearer": (
        "401 the API refused the access token the token endpoint had issued",
        "check that token_url and base_url belong to the same tenant/org/realm (Entra: the "
        "cloud setting) and that the application is still enabled and granted access",
    ),
    "basic": (
        "401 the IdP rejected the user name and password",
        "check the connector's user name (or client id) and its password (or secret)",
    ),
}
"""401 on an API call, by how the request authenticated."""


_PERM = re.compile(
    r"(?:permission|scope|privilege|role)s?\b[^'\"]{0,60}['\"]([\w.:/-]{3,})['\"]", re.IGNORECASE
)


def missing_permission(
    response: httpx.Response, target: ConcreteEndpoint
) -> tuple[str | None, bool]:
    """The permission/scope a 403 lacks and whether the IdP named it (else the declared one)."""
    challenge = response.headers.get("www-authenticate", "")
    match = re.search(r'scope="([^"]+)"', challenge)
    if match:
        return match.group(1), True
    match = _PERM.search(idp_message(response) or "")
    if match:
        return match.group(1), True
    return target.endpoint.permission, False


def _forbidden(
    response: httpx.Response, target: ConcreteEndpoint, extra: str, facts: _Facts, waited: float
) -> e.StatusError:
    from idpsync.http.policy import GOOGLE_RATE_REASONS, google_reason

    if google_reason(response) in GOOGLE_RATE_REASONS:
        return e.RateLimited(
            target,
            f"403 rate limited by the IdP ({google_reason(response)}), still throttled "
            f"when retries ran out (waited {waited:.0f} s in total)",
            _RATE_REMEDY,
            status=facts.status,
            body=facts.body,
            attempts=facts.attempts,
        )
    permission, named = missing_permission(response, target)
    if permission and named:
        cause = f"403 forbidden: the application lacks the permission/scope {permission}"
    elif permission:
        cause = f"403 forbidden: this endpoint needs the permission/scope {permission}"
    else:
        cause = "403 forbidden: the application is not allowed to call this endpoint"
    remedy = (
        f"grant the application the permission {permission} (with admin consent where "
        "the IdP requires it)"
        if permission
        else "grant the application the read permission this endpoint needs"
    )
    return e.Forbidden(
        target,
        cause + extra,
        remedy,
        permission=permission,
        status=facts.status,
        body=facts.body,
        attempts=facts.attempts,
    )


def idp_message(response: httpx.Response) -> str | None:
    """The human part of an IdP's error body (Graph, Google, Okta, Keycloak, OAuth shapes)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return ": ".join(str(x) for x in (code, message) if x) or None
    for keys in (
        ("errorCode", "errorSummary"),
        ("error", "error_description"),
        ("errorMessage",),
        ("message",),
        ("detail",),
    ):
        parts = [str(body[k]) for k in keys if body.get(k)]
        if parts:
            return ": ".join(parts)
    return None


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def foreign_answer(response: httpx.Response) -> tuple[str, str] | None:
    """``(what, title)`` of an HTML answer where JSON was due (``None``: not HTML).

    ``title`` is the page's ``<title>`` (e.g. a web filter's "URL category blocked by policy").
    5xx pages are left to :func:`status_error` (an IdP's own gateway sends those too).
    """
    content = response.content.strip()
    if not content:
        return None
    try:
        json.loads(content)
    except ValueError:
        pass
    except RecursionError:  # nested too deeply: JSON, if malformed; not a web page
        return None
    else:
        return None
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = response.text
    if "html" not in kind and text.lstrip()[:1] != "<":
        return None
    match = _TITLE.search(text)
    title = " ".join(html.unescape(match.group(1)).split()) if match else ""
    return "an HTML page", truncate(title, 120)


def not_json(
    response: httpx.Response, target: ConcreteEndpoint, attempts: int = 1
) -> e.NotFromIdp | None:
    """The error for an answer that is not the IdP's JSON (a web filter's block page…).

    A redirect counts too: the IdPs' APIs do not redirect, a proxy's sign-in does.
    """
    found = foreign_answer(response)
    if found is None and 300 <= response.status_code < 400:
        location = response.headers.get("location", "")
        found = ("a redirect", f"redirect to {redact_url(location)}" if location else "")
    if found is None:
        return None
    what, title = found
    shown = f": {title}" if title else ""
    return e.NotFromIdp(
        target,
        f"a proxy or web filter answered instead of {target.where}{shown} "
        f"(HTTP {response.status_code}, {what} instead of the IdP's JSON)",
        f"ask the network team to let this machine reach {target.host}:{target.port} past the "
        "proxy or web filter (the list: 'idpsync endpoints'); a proxy sign-in page needs the "
        "proxy's credentials in http.proxy; if base_url points at a web site, correct it",
        status=response.status_code,
        attempts=attempts,
    )
