"""Configuration of the directory store: the ``[store]`` table.

``url`` is a SQLAlchemy URL, written inline or, when it holds a password, as a secret reference
(``"env:IDPSYNC_STORE_URL"``, ``"file:/run/secrets/store-url"``). ``password`` (a reference
too) is merged into the URL, so the rest of the URL can stay in the file. The password never
appears in an error: SQLAlchemy shows a URL's password as ``***`` (``str``, ``repr``), and
problems with the URL never repeat it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import URL


def _secret(value: object) -> object:
    from idpsync.settings import resolve_secret

    return resolve_secret(value)


StoreSecret = Annotated[SecretStr, BeforeValidator(_secret)]
"""A secret given as an ``env:NAME`` / ``file:/path`` reference."""

_DIALECTS = re.compile(r"^(sqlite|postgresql(\+psycopg)?)://")
_REFERENCE = ("env:", "file:")


class StoreSettings(BaseModel):
    """Where the directory lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "sqlite:///idpsync.db"
    """SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``; or a
    reference to it (``env:NAME``, ``file:/path``) when it holds a password."""
    password: StoreSecret | None = None
    """PostgreSQL password (``env:``/``file:``), merged into ``url``."""
    token_key: StoreSecret | None = None
    """Fernet key encrypting stored refresh tokens (``env:``/``file:``); default
    ``$IDPSYNC_TOKEN_KEY``."""

    _resolved: URL = PrivateAttr()

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        text = _reference(value)
        if not _DIALECTS.match(text):
            where = " (in the value it refers to)" if value.startswith(_REFERENCE) else ""
            raise ValueError(f"use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB{where}")
        try:
            sa.make_url(text)
        except (sa.exc.ArgumentError, ValueError):  # it may repeat the URL, password and all
            raise ValueError("not a valid URL (check its punctuation)") from None
        return value

    @model_validator(mode="after")
    def _merge_password(self) -> StoreSettings:
        url = sa.make_url(_reference(self.url))
        if self.password is not None:
            if url.get_backend_name() != "postgresql":
                raise ValueError("password is only for a PostgreSQL url")
            if url.password is not None:
                raise ValueError("the url has a password already; give it in one place only")
            url = url.set(password=self.password.get_secret_value())
        self._resolved = url
        return self

    def engine_url(self, folder: Path) -> URL:
        """The URL to open, secrets resolved; a relative SQLite path is taken from ``folder``."""
        url = self._resolved
        database = url.database
        if url.get_backend_name() == "sqlite" and database and database != ":memory:":
            path = Path(database).expanduser()
            if not path.is_absolute() and not database.startswith("file:"):
                url = url.set(database=str(folder / path))
            elif path != Path(database):
                url = url.set(database=str(path))
        return url


def _reference(value: str) -> str:
    """The URL a ``env:``/``file:`` reference names, or ``value`` itself."""
    if not value.startswith(_REFERENCE):
        return value
    secret = _secret(value)
    assert isinstance(secret, SecretStr)
    return secret.get_secret_value()
