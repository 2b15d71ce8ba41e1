"""What every settings table builds on: strict tables and secret references.

A secret-valued key takes ``"env:NAME"`` or ``"file:/path"``, never the secret itself (see
:mod:`idpsync.config`). This module imports no other idpsync module, so every layer's settings
(the HTTP client's, each connector's, each target's) can build on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationInfo


class UnresolvedSecret(SecretStr):
    """A secret reference that was checked but not read (``resolve_secrets=False``).

    Commands that only read the store (``runs``, ``users``, ``groups``, ``targets``) load the
    configuration this way, so an unset ``env:`` variable or an unreadable ``file:`` does not
    stop them. Its value is never available: asking for it raises ``RuntimeError``.
    """

    def __init__(self, reference: str) -> None:
        super().__init__("")
        self.reference = reference
        """The ``env:NAME`` / ``file:/path`` reference as written (not a secret)."""

    def get_secret_value(self) -> str:
        """Refuse: the configuration was loaded without resolving secrets."""
        raise RuntimeError(
            f"the secret {self.reference} was not read (configuration loaded without secrets)"
        )


def resolve_secret(value: object, info: ValidationInfo | None = None) -> object:
    """Turn a ``env:NAME`` / ``file:/path`` reference into the secret it names.

    Raises ``ValueError`` (reported by pydantic with the key's location) when the reference
    cannot be resolved or when a secret is written inline. When the validation context has
    ``resolve_secrets`` false, only the reference's form is checked and an
    :class:`UnresolvedSecret` stands in for the secret.
    """
    if isinstance(value, SecretStr) or value is None:
        return value
    reference = _reference(value)
    if info is not None and not (info.context or {}).get("resolve_secrets", True):
        return UnresolvedSecret(reference)
    if reference.startswith("env:"):
        name = reference[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        if not os.environ[name]:
            raise ValueError(f"environment variable {name} is empty")
        return SecretStr(os.environ[name])
    path = Path(reference[5:]).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    # A key file (PEM, JSON) is kept whole; a one-line secret loses its trailing newline.
    secret = text if "\n" in text.strip() else text.strip()
    if not secret:
        raise ValueError(f"secret file {path} is empty")
    return SecretStr(secret)


def _reference(value: object) -> str:
    """``value`` when it is a well-formed ``env:NAME`` / ``file:/path`` reference."""
    if not isinstance(value, str):
        raise ValueError("a secret must be a string reference like 'env:NAME' or 'file:/path'")
    if value == "env:":
        raise ValueError("'env:' needs the name of an environment variable")
    if value == "file:":
        raise ValueError("'file:' needs the path of a file holding the secret")
    if value.startswith(("env:", "file:")):
        return value
    raise ValueError(
        "secrets are not written inline; use 'env:NAME' (environment variable) "
        "or 'file:/path' (file holding the secret)"
    )


def secret_field(value: object, info: ValidationInfo) -> object:
    """The validator of every secret-valued key: :func:`resolve_secret` with pydantic's info."""
    return resolve_secret(value, info)


Secret = Annotated[SecretStr, BeforeValidator(secret_field)]
"""A secret-valued setting, given as an ``env:``/``file:`` reference."""


class Strict(BaseModel):
    """Base for every configuration table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
