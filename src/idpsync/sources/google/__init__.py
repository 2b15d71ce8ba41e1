"""The google connector: settings, endpoints, reader (see docs/architecture.md, "Add an IdP")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idpsync.sources.base import Source
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """A Google Workspace source with its HTTP client and, for OAuth, its token vault."""
    from idpsync.sources.google.factory import build_google

    return build_google(context.config, context.connector)
