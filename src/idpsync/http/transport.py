"""The transport under every :class:`~idpsync.http.client.HttpClient`: TLS, proxy, httpx.

:func:`build_httpx_client` makes the ``httpx.AsyncClient`` a connector's settings describe:
timeouts, the TLS context (:func:`ssl_context`: the system's CAs plus ``http.ca_bundle``), the
proxy, and no redirects followed. :func:`proxy_for` tells which proxy a URL goes through, for
error messages and ``idpsync endpoints``. Tests pass an ``httpx`` transport instead of a network.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import sys
import urllib.request
from urllib.parse import urlsplit

import httpx

from idpsync import __version__
from idpsync.errors import SourceError
from idpsync.http.redact import install_log_filter
from idpsync.http.settings import HttpSettings
from idpsync.http.spread import SpreadTransport

CONNECTIONS = 100
"""Connections a client opens at most (httpx's default ``max_connections``)."""
PER_POOL = 4
"""Connections of each of :class:`~idpsync.http.spread.SpreadTransport`'s pools."""


def ssl_context(settings: HttpSettings) -> ssl.SSLContext:
    """The TLS context of the settings: system CAs plus ``ca_bundle``; off if ``verify_tls`` is."""
    context = ssl.create_default_context()
    if settings.ca_bundle:
        try:
            context.load_verify_locations(cafile=os.path.expanduser(settings.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(
                f"http.ca_bundle: cannot load {settings.ca_bundle}: {exc}. Remedy: point it at "
                "a readable PEM file of CA certificates"
            ) from exc
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def proxy_for(url: str, settings: HttpSettings) -> str | None:
    """The proxy a request to ``url`` goes through: ``http.proxy``, else the environment."""
    if settings.proxy:
        return settings.proxy
    parts = urlsplit(url)
    env = urllib.request.getproxies_environment()
    proxy = env.get(parts.scheme) or env.get("all")
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - not in stubs
    if not proxy or bypass(parts.netloc):
        return None
    return proxy


def remember_missing_sniffio() -> None:
    """Make a failed ``import sniffio`` instant when sniffio is not installed.

    httpcore 1.0 imports ``sniffio`` inside ``current_async_library()``, which runs several
    times per request (locks, semaphores, events). anyio ≥ 4.11 no longer pulls sniffio in, and
    Python does not remember a failed import, so each of those calls searched ``sys.path``
    again: about 0.2 ms each, over 1 ms of CPU per request. ``None`` in ``sys.modules`` makes
    the import fail at once, and httpcore then assumes asyncio, the loop idpsync runs on.
    Nothing changes when sniffio is installed (trio, for one, requires it).
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # the import system's "absent"


def environment_proxies() -> bool:
    """Whether the environment names a proxy httpx would send requests through.

    The environment only, as :func:`proxy_for` reads it: httpx's ``trust_env`` reads no
    system proxy settings, so neither does this.
    """
    found = urllib.request.getproxies_environment()
    return any(found.get(scheme) for scheme in ("http", "https", "all"))


def spread_transport(context: ssl.SSLContext, proxy: str | None) -> SpreadTransport:
    """:data:`CONNECTIONS` connections in pools of :data:`PER_POOL`, through ``proxy`` if set."""

    def pool(size: int) -> httpx.AsyncBaseTransport:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return httpx.AsyncHTTPTransport(verify=context, limits=limits, proxy=proxy)

    return SpreadTransport(pool, -(-CONNECTIONS // PER_POOL), PER_POOL)


def build_httpx_client(
    settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The underlying ``httpx.AsyncClient`` for the settings (``transport`` for tests).

    Without a test transport requests go through :func:`spread_transport` (``http.proxy``
    included), unless the environment names a proxy: then httpx's own pool, which applies
    ``HTTPS_PROXY``, ``NO_PROXY`` and the like (a transport given to httpx turns them off).
    """
    install_log_filter()
    remember_missing_sniffio()
    context = ssl_context(settings)
    proxy = settings.proxy
    if transport is None and (proxy or not environment_proxies()):
        transport, proxy = spread_transport(context, proxy), None
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        verify=context,
        proxy=proxy,
        trust_env=True,
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": f"idpsync/{__version__}"},
    )
