"""Building a :class:`~idpsync.sources.google.reader.GoogleSource` from a connector's settings.

The HTTP budget follows ``quota`` (queries per minute → requests per second); in OAuth mode the
refresh token comes from the :class:`~idpsync.auth.vault.TokenVault` of the configured store.
"""

from __future__ import annotations

import asyncio

from idpsync.config import ConnectorSettings, LoadedConfig
from idpsync.http import build_http_client
from idpsync.sources.google.api import GOOGLE_API
from idpsync.sources.google.reader import GoogleSource
from idpsync.sources.google.settings import GoogleSourceSettings

DEFAULT_CONCURRENCY = 8


def connector_name(config: LoadedConfig, settings: ConnectorSettings) -> str:
    """The name under which ``settings`` appear in the configuration."""
    found = (n for n, c in config.settings.connectors.items() if c is settings)
    return next(found, "CONNECTOR")


def build_google(config: LoadedConfig, settings: ConnectorSettings) -> GoogleSource:
    """The source, its HTTP client (budget from ``quota``) and, for OAuth, its token vault."""
    source = settings.source
    assert isinstance(source, GoogleSourceSettings)
    name = connector_name(config, settings)
    http = build_http_client(
        source.http,
        base_url=source.base_url or GOOGLE_API,
        default_rate=source.quota / 60.0,
        default_concurrency=DEFAULT_CONCURRENCY,
    )

    def vault_call(save: str | None) -> str | None:
        from idpsync.auth.vault import TokenVault, token_key
        from idpsync.store import Store

        store = Store.open(config.settings.store.engine_url(config.path.parent))
        try:
            vault = TokenVault(store, token_key(config.settings.store.token_key))
            if save is not None:
                vault.save(name, save)
                return None
            return vault.load(name)
        finally:
            store.close()

    async def load() -> str | None:
        return await asyncio.to_thread(vault_call, None)

    async def save(token: str) -> None:
        await asyncio.to_thread(vault_call, token)

    return GoogleSource(http, source, name, load, save)
