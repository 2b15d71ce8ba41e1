"""The google connector: Google Workspace through the Admin SDK Directory API v1.

``settings`` (the ``source`` table), ``endpoints`` (the calls, their paging and the
``idpsync check`` reads), ``auth`` (service account or OAuth consent, the token vault),
``api`` (Directory resources → records) and ``reader`` (the source). See
docs/architecture.md, "Add an IdP", and docs/sources/google.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from idpsync.http import HttpClient
    from idpsync.sources.base import Source
    from idpsync.sources.google.auth import Loader, Saver
    from idpsync.sources.google.settings import GoogleSourceSettings
    from idpsync.sources.registry import SourceContext

DEFAULT_CONCURRENCY = 16
"""Requests in flight when ``http.concurrency`` is not set: at about 0.4 s a request, 16 in
flight reach 40 a second, the default quota of 2,400 a minute; the budget (``quota / 60`` a
second) keeps the run below the quota, so raising this alone never causes 403/429 answers."""


def build(context: SourceContext) -> Source:
    """A Google Workspace source with its HTTP client and, for OAuth, its token vault."""
    from idpsync.sources.google.auth import vault
    from idpsync.sources.google.reader import GoogleSource
    from idpsync.sources.google.settings import GoogleSourceSettings

    settings = context.connector.source
    assert isinstance(settings, GoogleSourceSettings)
    load, save = vault(context.config, context.name)
    http = http_client(settings, context.name, load=load, save=save, transport=context.transport)
    return GoogleSource(settings, http, context=context)


def http_client(
    settings: GoogleSourceSettings,
    connector: str = "CONNECTOR",
    *,
    load: Loader | None = None,
    save: Saver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpClient:
    """The connector's HTTP client, its token flow built in.

    The budget follows ``quota`` (queries per minute → requests per second) unless
    ``http.requests_per_second`` is set. ``load`` and ``save`` reach the stored refresh token
    in OAuth mode; ``transport`` replaces the network (tests: an emulator's).
    """
    from idpsync.http import build_http_client
    from idpsync.sources.google.auth import token_flow
    from idpsync.sources.google.endpoints import GOOGLE_API

    flow = token_flow(settings, connector, load, save)  # a bad key file fails here
    return build_http_client(
        settings.http,
        base_url=settings.base_url or GOOGLE_API,
        default_rate=settings.quota / 60.0,
        default_concurrency=DEFAULT_CONCURRENCY,
        transport=transport,
        auth=flow,
    )
