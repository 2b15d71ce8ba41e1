"""One module per IdP; :func:`build_source` makes the one a connector's settings ask for."""

from __future__ import annotations

from idpsync.config import (
    ConnectorSettings,
    EntraSourceSettings,
    FileSourceSettings,
    LoadedConfig,
)
from idpsync.sources.base import Source, SourceError


def build_source(config: LoadedConfig, settings: ConnectorSettings) -> Source:
    """The source object for a connector's settings."""
    source = settings.source
    if isinstance(source, FileSourceSettings):
        from idpsync.sources.file import FileSource

        return FileSource(config.resolve_path(source.path))
    if isinstance(source, EntraSourceSettings):
        from idpsync.sources.entra import EntraSource

        return EntraSource(source, settings.policy)
    raise SourceError(f"unsupported source type {source.type!r}")


__all__ = ["Source", "SourceError", "build_source"]
