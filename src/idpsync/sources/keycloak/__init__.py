"""The keycloak connector: one realm through the Admin REST API.

``settings`` (the ``source`` table), ``endpoints`` (every call, its paging, the ``check``
reads), ``auth`` (the ``/auth`` prefix and the token flows), ``tree`` (groups and records) and
``reader`` (:class:`~idpsync.sources.keycloak.reader.KeycloakSource`). See
docs/architecture.md, "Add an IdP", and docs/sources/keycloak.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from idpsync.http import HttpClient
    from idpsync.sources.base import Source
    from idpsync.sources.keycloak.settings import KeycloakSourceSettings
    from idpsync.sources.registry import SourceContext


def http_client(
    settings: KeycloakSourceSettings, transport: httpx.AsyncBaseTransport | None = None
) -> HttpClient:
    """The connector's HTTP client, complete: base URL, request budget and sign-in flow.

    The base URL is ``base_url`` as configured; the root found for the realm (``/auth`` or
    not) is the ``{base}`` of the endpoints instead. ``transport`` replaces the network (tests).
    """
    from idpsync.http import build_http_client
    from idpsync.sources.keycloak.auth import RealmRoot, SignIn
    from idpsync.sources.keycloak.reader import DEFAULT_CONCURRENCY

    root = RealmRoot(settings)
    return build_http_client(
        settings.http,
        base_url=settings.base_url or "",
        default_concurrency=DEFAULT_CONCURRENCY,
        transport=transport,
        auth=lambda client: SignIn(client, settings, root),
    )


def build(context: SourceContext) -> Source:
    """A Keycloak source with its HTTP client."""
    from idpsync.sources.keycloak.reader import KeycloakSource
    from idpsync.sources.keycloak.settings import KeycloakSourceSettings

    settings = context.connector.source
    assert isinstance(settings, KeycloakSourceSettings)
    return KeycloakSource(settings, http_client(settings, context.transport), context=context)
