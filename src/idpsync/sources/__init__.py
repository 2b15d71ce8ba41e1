"""One module per IdP; :func:`build_source` makes the one a connector's settings ask for."""

from __future__ import annotations

from idpsync.config import (
    ConnectorSettings,
    EntraSourceSettings,
    FileSourceSettings,
    GoogleSourceSettings,
    KeycloakSourceSettings,
    LoadedConfig,
    OktaSourceSettings,
    OneLoginSourceSettings,
)
from idpsync.errors import SourceError
from idpsync.sources.base import Source


def build_source(config: LoadedConfig, settings: ConnectorSettings) -> Source:
    """The source object for a connector's settings."""
    source = settings.source
    if isinstance(source, FileSourceSettings):
        from idpsync.sources.file import FileSource

        return FileSource(config.resolve_path(source.path))
    if isinstance(source, OneLoginSourceSettings):
        from idpsync.http import build_http_client
        from idpsync.sources.onelogin import OneLoginSource, base_url

        http = build_http_client(source.http, base_url=base_url(source), default_concurrency=4)
        return OneLoginSource(source, http)
    if isinstance(source, KeycloakSourceSettings):
        from idpsync.sources.keycloak import build_keycloak

        return build_keycloak(source)
    if isinstance(source, GoogleSourceSettings):
        from idpsync.sources.google_build import build_google

        return build_google(config, settings)
    if isinstance(source, OktaSourceSettings):
        from idpsync.http import build_http_client
        from idpsync.sources.okta import DEFAULT_CONCURRENCY, OktaSource

        http = build_http_client(
            source.http,
            base_url=source.base_url.rstrip("/"),
            default_concurrency=DEFAULT_CONCURRENCY,
        )
        return OktaSource(http, source)
    if isinstance(source, EntraSourceSettings):
        from idpsync.sources.entra import EntraSource

        return EntraSource(source, settings.policy)
    raise SourceError(f"unsupported source type {source.type!r}")


__all__ = ["Source", "SourceError", "build_source"]
