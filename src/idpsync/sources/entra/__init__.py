"""The entra connector: settings, endpoints, reader (see docs/architecture.md, "Add an IdP")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.base import Source
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """An Entra ID source with its HTTP client."""
    from idpsync.sources.entra.reader import EntraSource
    from idpsync.sources.entra.settings import EntraSourceSettings

    settings = context.connector.source
    assert isinstance(settings, EntraSourceSettings)
    return EntraSource(settings, context.connector.policy, transport=context.transport)
