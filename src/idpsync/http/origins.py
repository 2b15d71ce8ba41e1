"""Where a client may send credentials and follow links: its configured origins.

An origin is ``(scheme, host, port)`` with the scheme's default port filled in, as browsers
compare them. An :class:`HttpClient <idpsync.http.client.HttpClient>` knows two kinds:

- the **API origin**, from its base URL (``https://graph.microsoft.com``, the Okta org …);
- the **token origins**, registered by each token flow for its token endpoint
  (``https://login.microsoftonline.com``, ``https://oauth2.googleapis.com`` …).

Credentials (an ``Authorization`` header, a token request) go to those origins only, and a
next-page link the IdP returns is followed only when it stays on the origin of the listing it
came from. Anything else is a :class:`~idpsync.http.errors.ForeignOrigin` raised before a
byte is sent: a tampered answer, a hostile proxy or a mis-set ``base_url`` must not be able to
collect a token. :func:`check_link` and :func:`check_credentials` do the checking; the client
calls them for every request.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urljoin, urlsplit

from idpsync.http import errors as e
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import redact_url

Origin = tuple[str, str, int]
"""``(scheme, host, port)``, lower-case, default port filled in."""

_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin_of(url: str) -> Origin | None:
    """The origin of an absolute URL; ``None`` for a relative or unparsable one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS.get(scheme, 0)


def shown(origin: Origin | None) -> str:
    """``https://host`` (with ``:port`` when it is not the scheme's default)."""
    if origin is None:
        return "(no origin)"
    scheme, host, port = origin
    default = _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def carries_credentials(
    target: ConcreteEndpoint, authenticate: bool, headers: Mapping[str, str] | None
) -> bool:
    """Whether a request sends a secret: a token, an ``Authorization`` header, a token request."""
    if authenticate or target.endpoint.token:
        return True
    return any(name.lower() == "authorization" for name in headers or {})


def resolve_link(page_url: str, link: str) -> str:
    """A next-page link made absolute against the page it came from (relative links happen)."""
    return urljoin(page_url, link)


def check_link(listing: ConcreteEndpoint, link: str) -> str:
    """The absolute link when it stays on the listing's origin; else :class:`ForeignOrigin`."""
    url = resolve_link(listing.url, link)
    home, there = origin_of(listing.url), origin_of(url)
    if there != home:
        raise e.ForeignOrigin(
            listing,
            f"the IdP's next-page link points at another origin, {shown(there)}, not "
            f"{shown(home)}; it was not followed (no credentials sent there) and this listing "
            "is incomplete",
            "if the IdP's API really moved, set base_url to the new address; otherwise "
            "something between idpsync and the IdP (a proxy, a tampered answer) rewrote the "
            "link: report it to the IdP's and the network's administrators",
            origin=shown(there),
        )
    return url


def same_origin(url: str, link: str) -> bool:
    """Whether ``link`` (absolute, or relative to ``url``) is on ``url``'s origin."""
    return origin_of(resolve_link(url, link)) == origin_of(url)


def check_credentials(target: ConcreteEndpoint, allowed: Collection[Origin]) -> None:
    """Refuse (before sending) credentials for an origin that is not configured."""
    there = origin_of(target.url)
    if there in allowed:
        return
    configured = ", ".join(sorted(shown(x) for x in allowed)) or "none"
    raise e.ForeignOrigin(
        target,
        f"refused to send credentials to {shown(there)}: it is neither the configured API "
        f"origin nor a token endpoint (allowed: {configured})",
        "check base_url and token_url in the connector's settings",
        origin=shown(there),
    )


def redirect_error(target: ConcreteEndpoint, status: int, location: str | None) -> e.HttpError:
    """The error for a 3xx answer: idpsync never follows a redirect (it could leave the origin).

    The IdPs' APIs do not redirect; a proxy's sign-in page or a base_url that names a web site
    does, so the message names both and where the answer pointed (query values redacted).
    """
    there = origin_of(resolve_link(target.url, location)) if location else None
    where = f" to {redact_url(resolve_link(target.url, location))}" if location else ""
    return e.ForeignOrigin(
        target,
        f"the server answered {status}, a redirect{where} (a proxy's sign-in page or a "
        "base_url that is not the API's); redirects are not followed, so credentials never "
        "leave the configured origin",
        "if a proxy asks for a sign-in, put its credentials in http.proxy; otherwise set "
        "base_url (or token_url) to the address the server redirects to, if it is the IdP's own",
        status=status,
        origin=shown(there) if there else None,
    )
