"""The keycloak connector: settings, endpoints, reader (see docs/architecture.md, "Add an IdP")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.base import Source
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """A Keycloak source with its HTTP client."""
    from idpsync.sources.keycloak.reader import build_keycloak
    from idpsync.sources.keycloak.settings import KeycloakSourceSettings

    settings = context.connector.source
    assert isinstance(settings, KeycloakSourceSettings)
    return build_keycloak(settings, transport=context.transport)
