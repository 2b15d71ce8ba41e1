"""The okta connector: settings, endpoints, reader (see docs/architecture.md, "Add an IdP")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.base import Source
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """An Okta source with its HTTP client."""
    from idpsync.http import build_http_client
    from idpsync.sources.okta.reader import DEFAULT_CONCURRENCY, OktaSource
    from idpsync.sources.okta.settings import OktaSourceSettings

    settings = context.connector.source
    assert isinstance(settings, OktaSourceSettings)
    http = build_http_client(
        settings.http,
        base_url=settings.base_url.rstrip("/"),
        default_concurrency=DEFAULT_CONCURRENCY,
        transport=context.transport,
    )
    return OktaSource(http, settings)
