"""The HTTP layer's exception tree.

Every error names the endpoint, the host, the cause in an administrator's words and a remedy;
none carries a secret.

::

    SourceError                       (idpsync.errors; the runner reports it)
    └── HttpError                     endpoint, host, cause, remedy, attempts
        ├── NetworkError              the request never got an HTTP answer
        │   ├── DnsError              the host name does not resolve
        │   ├── ConnectionRefused     nothing listens on host:port
        │   ├── ConnectionReset       the peer (or a middlebox) dropped the connection
        │   ├── TlsError              certificate not trusted, hostname mismatch, handshake failed
        │   ├── ProxyError            proxy unreachable, refused CONNECT, or wants credentials
        │   └── Timeout               connect or read timeout, or no complete answer in time
        ├── ForeignOrigin             a link, redirect or credential aimed at another origin
        ├── MalformedAnswer           a body that should be JSON and is not (or is too deep)
        └── StatusError               the server answered with an error status
            ├── BadRequest            400 and other 4xx not listed below
            ├── Unauthorized          401: credentials or token rejected
            ├── Forbidden             403: permission/scope missing (named when the IdP says)
            ├── NotFound              404
            ├── RateLimited           429 (or Google's 403 rate limit) after retries ran out
            ├── ServerError           5xx after retries ran out
            ├── TokenError            the token endpoint refused (invalid_client, invalid_grant…)
            │   └── TokenUnavailable  no token: the token request failed (reset, timeout, 5xx)
            └── NotFromIdp            an HTML page (web filter, proxy sign-in) instead of JSON

Foreign exceptions (httpx, ssl, socket) and error responses are translated once, in
:mod:`idpsync.http.translate_network` and :mod:`idpsync.http.translate_status`, with
``raise … from exc``. ``str(error)`` reads, for example::

    GET /v1.0/users/{id}/memberOf on graph.microsoft.com: connection refused (after 3 attempts).
    Remedy: check that the firewall allows outbound HTTPS to graph.microsoft.com:443 …
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from idpsync.errors import SourceError
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import scrub, truncate

if TYPE_CHECKING:
    import httpx


class HttpError(SourceError):
    """A request for an endpoint failed; ``str()`` is the whole administrator-facing message."""

    kind: ClassVar[str] = "remote"
    """``config`` (fix the configuration), ``transient`` (try later) or ``remote`` (IdP side)."""

    def __init__(
        self,
        target: ConcreteEndpoint,
        cause: str,
        remedy: str,
        *,
        status: int | None = None,
        body: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.target = target
        self.cause = scrub(cause)
        self.remedy = scrub(remedy)
        self.status = status
        self.body = truncate(body) if body else None  # a hostile body can be huge
        self.attempts = attempts
        super().__init__(self.message())

    @property
    def host(self) -> str:
        """Host (and non-default port) of the failed request."""
        return self.target.where

    @property
    def endpoint_label(self) -> str:
        """``METHOD /template`` of the failed request."""
        return self.target.endpoint.label

    def message(self) -> str:
        """The full message: endpoint, host, cause, attempts, remedy, truncated body."""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        where = f"{self.endpoint_label} on {self.host}"
        if self.target.endpoint.token:
            head = f"Token request failed: {self.cause}{tries} ({where})."
        else:
            head = f"{where}: {self.cause}{tries}."
        text = f"{head} Remedy: {self.remedy}"
        if self.body:
            text += f" Response: {self.body}"
        return text


class NetworkError(HttpError):
    """No HTTP answer: DNS, TCP, TLS, proxy or timeout."""

    kind = "transient"


class DnsError(NetworkError):
    """The host name does not resolve."""

    kind = "config"


class ConnectionRefused(NetworkError):
    """The host resolved but nothing accepted the connection on the port."""


class ConnectionReset(NetworkError):
    """The connection was dropped before a full answer arrived."""


class TlsError(NetworkError):
    """TLS failed: untrusted certificate, hostname mismatch or handshake error."""

    kind = "config"


class ProxyError(NetworkError):
    """The HTTP proxy could not be used (unreachable, refused CONNECT, wants credentials)."""

    kind = "config"


class Timeout(NetworkError):
    """No connection or no answer within the configured time."""


class ForeignOrigin(HttpError):
    """A request would leave the configured origins; refused before anything was sent.

    A next-page link or a redirect naming another origin, or credentials for a host that is
    neither the API origin nor a token endpoint (see :mod:`idpsync.http.origins`).
    """

    def __init__(
        self,
        target: ConcreteEndpoint,
        cause: str,
        remedy: str,
        *,
        origin: str | None = None,
        status: int | None = None,
    ) -> None:
        self.origin = origin
        """The foreign origin (``scheme://host[:port]``), when known."""
        super().__init__(target, cause, remedy, status=status)


class MalformedAnswer(HttpError):
    """The answer's body should be JSON and is not (or nests too deeply to be read)."""


class StatusError(HttpError):
    """The server answered with an error status."""

    response: httpx.Response | None = None
    """The error answer itself, for a caller that reads its protocol's own error body (the
    targets' SCIM ``scimType``, Crowd's ``reason``). Never part of the message."""


class BadRequest(StatusError):
    """A 4xx the other classes do not cover."""


class Unauthorized(StatusError):
    """401: the credentials or the access token were rejected."""

    kind = "config"


class Forbidden(StatusError):
    """403: the application lacks a permission or scope."""

    kind = "config"

    def __init__(
        self,
        target: ConcreteEndpoint,
        cause: str,
        remedy: str,
        *,
        permission: str | None = None,
        status: int | None = None,
        body: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.permission = permission
        super().__init__(target, cause, remedy, status=status, body=body, attempts=attempts)


class NotFound(StatusError):
    """404: the URL or the object does not exist (check base_url, tenant, realm, domain)."""

    kind = "config"


class RateLimited(StatusError):
    """429 or an equivalent: still throttled when retries ran out."""

    kind = "transient"


class ServerError(StatusError):
    """5xx: the IdP failed; still failing when retries ran out."""

    kind = "transient"


class NotFromIdp(StatusError):
    """Something else answered: an HTML block page, a proxy's sign-in page, a web site."""

    kind = "config"


class TokenError(StatusError):
    """The token endpoint refused to issue a token (OAuth ``error`` in the body)."""

    kind = "config"

    def __init__(
        self,
        target: ConcreteEndpoint,
        cause: str,
        remedy: str,
        *,
        error_code: str | None = None,
        status: int | None = None,
        body: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.error_code = error_code
        super().__init__(target, cause, remedy, status=status, body=body, attempts=attempts)


class TokenUnavailable(TokenError):
    """No token could be obtained for a data request: the token request itself failed.

    Raised by the HTTP client in place of the token request's own *passing* error (a reset, a
    timeout, a 5xx: same endpoint, cause and remedy, the original as ``__cause__``), so every
    source treats it like a refused token: nothing can be read, the run fails. A reset token
    request must never look like an empty IdP. (DNS, TLS and proxy errors keep their class.)
    """

    @classmethod
    def after(cls, error: HttpError) -> TokenUnavailable:
        """The same message as ``error`` (the failed token request)."""
        return cls(
            error.target,
            error.cause,
            error.remedy,
            status=error.status,
            body=error.body,
            attempts=error.attempts,
        )


__all__ = [
    "BadRequest",
    "ConnectionRefused",
    "ConnectionReset",
    "DnsError",
    "Forbidden",
    "ForeignOrigin",
    "HttpError",
    "MalformedAnswer",
    "NetworkError",
    "NotFound",
    "NotFromIdp",
    "ProxyError",
    "RateLimited",
    "ServerError",
    "StatusError",
    "Timeout",
    "TlsError",
    "TokenError",
    "TokenUnavailable",
    "Unauthorized",
]
