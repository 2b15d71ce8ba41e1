"""The onelogin connector: settings, endpoints, reader (see docs/architecture.md, "Add an IdP")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.base import Source
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """A OneLogin source with its HTTP client."""
    from idpsync.http import build_http_client
    from idpsync.sources.onelogin.reader import OneLoginSource, base_url
    from idpsync.sources.onelogin.settings import OneLoginSourceSettings

    settings = context.connector.source
    assert isinstance(settings, OneLoginSourceSettings)
    http = build_http_client(
        settings.http,
        base_url=base_url(settings),
        default_concurrency=4,
        transport=context.transport,
    )
    return OneLoginSource(settings, http)
