"""Refresh tokens at rest: encrypted with Fernet (AES-128-CBC + HMAC) in the store.

The key comes from ``store.token_key`` in the configuration (an ``env:``/``file:`` reference)
or from ``$IDPSYNC_TOKEN_KEY``; generate one with ``idpsync authorize --new-key``. Without the
key a stored token cannot be read; a changed key means re-authorizing.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from idpsync.errors import SourceError
from idpsync.http.redact import register_secret
from idpsync.store import Store
from idpsync.store.schema import oauth_tokens
from idpsync.store.store import now

TOKEN_KEY_ENV = "IDPSYNC_TOKEN_KEY"


def new_key() -> str:
    """A fresh Fernet key (URL-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def token_key(configured: SecretStr | None) -> SecretStr:
    """The encryption key: ``store.token_key``, else ``$IDPSYNC_TOKEN_KEY``."""
    if configured is not None:
        return configured
    value = os.environ.get(TOKEN_KEY_ENV)
    if not value:
        raise SourceError(
            'no key to encrypt stored tokens: set store.token_key = "env:NAME" in the '
            f"configuration or the {TOKEN_KEY_ENV} environment variable (make one with "
            "'idpsync authorize --new-key')"
        )
    return SecretStr(value)


class TokenVault:
    """Per-connector refresh tokens, encrypted in the ``oauth_tokens`` table."""

    def __init__(self, store: Store, key: SecretStr) -> None:
        self.store = store
        register_secret(key.get_secret_value())
        try:
            self._fernet = Fernet(key.get_secret_value().encode())
        except ValueError:
            raise SourceError(
                "store.token_key / IDPSYNC_TOKEN_KEY is not a valid key (it must be 32 bytes "
                "of URL-safe base64; make one with 'idpsync authorize --new-key')"
            ) from None

    def save(self, connector: str, refresh_token: str) -> None:
        """Store (or replace) the connector's refresh token."""
        register_secret(refresh_token)
        row = {
            "ciphertext": self._fernet.encrypt(refresh_token.encode()).decode(),
            "updated_at": now(),
        }
        with self.store.transaction() as conn:
            done = conn.execute(
                oauth_tokens.update().where(oauth_tokens.c.connector == connector).values(**row)
            ).rowcount
            if not done:
                conn.execute(oauth_tokens.insert().values(connector=connector, **row))

    def load(self, connector: str) -> str | None:
        """The connector's refresh token, or ``None`` when it was never authorized."""
        with self.store.transaction() as conn:
            text = conn.execute(
                sa.select(oauth_tokens.c.ciphertext).where(oauth_tokens.c.connector == connector)
            ).scalar()
        if text is None:
            return None
        try:
            value = self._fernet.decrypt(text.encode()).decode()
        except InvalidToken:
            raise SourceError(
                f"the stored token of connector {connector} cannot be decrypted with the "
                f"current key (was store.token_key / {TOKEN_KEY_ENV} changed?); run "
                f"'idpsync authorize {connector}' again"
            ) from None
        register_secret(value)
        return value

    def delete(self, connector: str) -> None:
        """Forget the connector's token."""
        with self.store.transaction() as conn:
            conn.execute(oauth_tokens.delete().where(oauth_tokens.c.connector == connector))
