"""Each connector's declared endpoint table, read from its settings alone.

No source object, no HTTP client and no credentials are made: the allow-list a firewall team
needs (``idpsync endpoints``) must be available before any secret exists. Every source's
:meth:`~idpsync.sources.base.Source.endpoints` returns the same table.
"""

from __future__ import annotations

from idpsync.config import ConnectorSettings, LoadedConfig
from idpsync.errors import SourceError
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.sources.file.settings import FileSourceSettings
from idpsync.sources.google.settings import GoogleSourceSettings
from idpsync.sources.keycloak.settings import KeycloakSourceSettings
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.sources.onelogin.settings import OneLoginSourceSettings


def endpoint_table(settings: ConnectorSettings) -> list[ConcreteEndpoint]:
    """The endpoints the connector's source calls, URLs filled in (``{id}`` kept)."""
    source = settings.source
    if isinstance(source, FileSourceSettings):
        return []
    if isinstance(source, EntraSourceSettings):
        from idpsync.sources.entra import clouds as entra_clouds

        transitive = settings.policy.transitive if source.transitive is None else source.transitive
        return entra_clouds.endpoint_table(source, transitive)
    if isinstance(source, OktaSourceSettings):
        from idpsync.sources.okta import reader as okta

        return okta.endpoint_table(source)
    if isinstance(source, OneLoginSourceSettings):
        from idpsync.sources.onelogin import reader as onelogin

        return onelogin.endpoint_table(source)
    if isinstance(source, KeycloakSourceSettings):
        from idpsync.sources.keycloak import endpoints as keycloak

        return keycloak.endpoint_table(source)
    if isinstance(source, GoogleSourceSettings):
        from idpsync.sources.google import endpoints as google

        return google.endpoint_table(source)
    raise SourceError(f"unsupported source type {source.type!r}")


def network_note(config: LoadedConfig, settings: ConnectorSettings) -> str | None:
    """For a source without endpoints: what it reads instead."""
    source = settings.source
    if isinstance(source, FileSourceSettings):
        from idpsync.sources.file.reader import FileSource

        return FileSource(config.resolve_path(source.path)).network_note()
    return None
