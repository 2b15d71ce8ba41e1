"""The entra connector: settings, endpoints, reader (see docs/architecture.md, "Add an IdP").

``settings`` (the ``source`` table), ``clouds`` (national clouds: Graph's and the token
service's hosts), ``endpoints`` (the Graph endpoint table and the failure rule), ``auth`` (the
token flow), ``paging`` (delta rounds), ``records`` (Graph objects as records), ``reader``
(full reads) and ``delta`` (incremental and single-user reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from idpsync.http import HttpClient
    from idpsync.sources.base import Source
    from idpsync.sources.entra.settings import EntraSourceSettings
    from idpsync.sources.registry import SourceContext


def http_client(
    settings: EntraSourceSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    connector: str = "CONNECTOR",
) -> HttpClient:
    """The HTTP client for Graph: base URL, request budget and the token flow as its auth.

    ``transport`` replaces the network (tests: an emulator's).
    """
    from idpsync.http import build_http_client
    from idpsync.sources.entra.auth import credentials
    from idpsync.sources.entra.clouds import graph_base
    from idpsync.sources.entra.endpoints import DEFAULT_CONCURRENCY, DEFAULT_RATE

    return build_http_client(
        settings.http,
        base_url=graph_base(settings),
        default_rate=DEFAULT_RATE,
        default_concurrency=DEFAULT_CONCURRENCY,
        transport=transport,
        auth=credentials(settings, connector),
    )


def build(context: SourceContext) -> Source:
    """An Entra ID source with its HTTP client."""
    from idpsync.sources.entra.reader import EntraSource
    from idpsync.sources.entra.settings import EntraSourceSettings

    settings = context.connector.source
    assert isinstance(settings, EntraSourceSettings)
    http = http_client(settings, transport=context.transport, connector=context.name)
    return EntraSource(settings, http, context=context)
