"""How a Google connector signs in: a service account, or an administrator's OAuth consent.

With ``credentials`` + ``subject`` the connector signs a JWT with the service account's key and
trades it for a token that acts as ``subject`` (domain-wide delegation). With ``client_id`` +
``client_secret`` it trades the refresh token ``idpsync authorize`` stored for a token; the
refresh token lives encrypted in the store's token vault (``store.token_key``).

Either flow sends its token requests through the connector's own HTTP client, so it is handed
to the client as a factory (:func:`token_flow`) when the client is built.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from idpsync.auth import CachedTokenProvider, JwtBearer, RefreshTokenFlow
from idpsync.errors import SourceError
from idpsync.sources.google.endpoints import scopes_for, token_endpoint
from idpsync.sources.google.settings import GoogleSourceSettings

if TYPE_CHECKING:
    from idpsync.config import LoadedConfig
    from idpsync.http import HttpClient

Loader = Callable[[], Awaitable[str | None]]
"""Reads the stored refresh token (``None``: ``idpsync authorize`` was never run)."""
Saver = Callable[[str], Awaitable[None]]
"""Stores a refresh token Google rotated."""
TokenFlow = Callable[["HttpClient"], CachedTokenProvider]
"""A token flow waiting for the HTTP client it sends its requests through."""


def token_flow(
    settings: GoogleSourceSettings,
    connector: str = "CONNECTOR",
    load: Loader | None = None,
    save: Saver | None = None,
) -> TokenFlow:
    """The settings' token flow, for ``HttpClient(auth=…)``.

    A service account key is read here, so a file that is not one fails before any client is
    made (the message never shows the file's content). ``load`` and ``save`` reach the stored
    refresh token in OAuth mode; without them the run asks for ``idpsync authorize``.
    """
    target = token_endpoint(settings)
    scopes = list(scopes_for(settings))
    if settings.credentials is not None:
        key = service_account_key(settings.credentials)

        def service_account(http: HttpClient) -> CachedTokenProvider:
            return JwtBearer(
                http,
                target,
                key["client_email"],
                SecretStr(key["private_key"]),
                scopes,
                subject=settings.subject,
                key_id=key.get("private_key_id"),
                connector=connector,
            )

        return service_account
    client_id, secret = settings.client_id, settings.client_secret
    assert client_id is not None and secret is not None  # the settings require one mode

    def consent(http: HttpClient) -> CachedTokenProvider:
        return RefreshTokenFlow(
            http,
            target,
            client_id,
            secret,
            load or _never_authorized,
            save or _discard,
            connector=connector,
        )

    return consent


def service_account_key(secret: SecretStr) -> dict[str, str]:
    """The fields of a service account key file; a :class:`SourceError` naming what is wrong."""
    try:
        key = json.loads(secret.get_secret_value())
        if key.get("type") != "service_account":
            raise ValueError("not a service account key")
        if not key.get("client_email") or not key.get("private_key"):
            raise ValueError("client_email and private_key are required")
        return {k: str(v) for k, v in key.items()}
    except (ValueError, KeyError, AttributeError):
        raise SourceError(
            "credentials: not a Google service account key (a JSON file with type "
            "'service_account', client_email and private_key); download a new key for the "
            "service account in the Google Cloud console (IAM → Service accounts → Keys)"
        ) from None


def vault(config: LoadedConfig, name: str) -> tuple[Loader, Saver]:
    """Reading and storing connector ``name``'s refresh token in the configured store."""

    def call(save: str | None) -> str | None:
        from idpsync.auth.vault import TokenVault, token_key
        from idpsync.store import Store

        store = Store.open(config.settings.store.engine_url(config.path.parent))
        try:
            tokens = TokenVault(store, token_key(config.settings.store.token_key))
            if save is not None:
                tokens.save(name, save)
                return None
            return tokens.load(name)
        finally:
            store.close()

    async def load() -> str | None:
        return await asyncio.to_thread(call, None)

    async def save(token: str) -> None:
        await asyncio.to_thread(call, token)

    return load, save


async def _never_authorized() -> str | None:
    return None


async def _discard(_token: str) -> None:
    return None
