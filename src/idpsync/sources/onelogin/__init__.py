"""The onelogin connector: OneLogin's v1/v2 API (see ``docs/sources/onelogin.md``).

``settings`` (the ``source`` table), ``endpoints`` (every call, its paging and records),
``budget`` (the account's hourly call budget, kept by the client's pacer), ``reader`` (the
source), ``single`` (one user for ``sync-user``), ``memberships``, ``records`` and ``delta``
(incremental reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from idpsync.http import HttpClient
    from idpsync.sources.base import Source
    from idpsync.sources.onelogin.settings import OneLoginSourceSettings
    from idpsync.sources.registry import SourceContext

DEFAULT_CONCURRENCY = 8
"""Requests at a time unless ``http.concurrency`` says otherwise: v2 pages read by number
(``parallel_pages``) and the groups and roles listings alongside the users. OneLogin documents
no concurrency limit, only the hourly call budget, which the pacer keeps."""


def http_client(
    settings: OneLoginSourceSettings,
    *,
    connector: str = "CONNECTOR",
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpClient:
    """The client a OneLogin source reads through, complete: base URL, token flow, budget pacer.

    ``connector`` is the connector's name, used in the token flow's remedies.
    """
    from idpsync.auth import OneLoginCredentials
    from idpsync.http import build_http_client
    from idpsync.http.stats import RequestStats
    from idpsync.sources.onelogin.budget import CallBudget, CallPacer
    from idpsync.sources.onelogin.endpoints import TOKEN, base_url

    stats = RequestStats()
    return build_http_client(
        settings.http,
        base_url=base_url(settings),
        default_concurrency=DEFAULT_CONCURRENCY,
        transport=transport,
        stats=stats,
        auth=lambda client: OneLoginCredentials(
            client, client.target(TOKEN), settings.client_id, settings.client_secret, connector
        ),
        pacer=CallPacer(CallBudget(settings.min_remaining_calls), stats),
    )


def build(context: SourceContext) -> Source:
    """A OneLogin source with its HTTP client."""
    from idpsync.sources.onelogin.reader import OneLoginSource
    from idpsync.sources.onelogin.settings import OneLoginSourceSettings

    settings = context.connector.source
    assert isinstance(settings, OneLoginSourceSettings)
    client = http_client(settings, connector=context.name, transport=context.transport)
    return OneLoginSource(settings, client, context=context)
