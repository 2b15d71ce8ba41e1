"""Password and token hashes, and CSRF tokens, for the service.

- Administrator password: ``scrypt$N$r$p$salt$hash`` (``hashlib.scrypt``), made by
  ``idpsync serve --hash-password``.
- API tokens: random 32-byte tokens; only their ``sha256$hex`` is kept (a token has enough
  entropy that a plain hash cannot be guessed back): in the store for tokens with a role
  (``idpsync tokens create``), or in ``[service] api_tokens`` (``idpsync serve --new-token``;
  such tokens act as ``admin``).
- CSRF: one random token per session, sent back in a hidden form field or the
  ``X-CSRF-Token`` header, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """An scrypt hash of ``password`` for ``[service] admin_password_hash``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches the stored hash (``False`` for a malformed hash)."""
    if not stored:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def new_token() -> tuple[str, str]:
    """A new API token and the hash to put in the configuration."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """The ``sha256$…`` hash of an API token."""
    return "sha256$" + hashlib.sha256(token.encode()).hexdigest()


def token_client(token: str, hashes: Mapping[str, str]) -> str | None:
    """The name of the API client whose token this is, or ``None``."""
    digest = hash_token(token)
    found = None
    for name, stored in hashes.items():
        if hmac.compare_digest(digest, stored):
            found = name
    return found


def new_csrf() -> str:
    """A fresh CSRF token for a session."""
    return secrets.token_urlsafe(24)


def csrf_ok(expected: object, given: str | None) -> bool:
    """Whether the submitted CSRF token matches the session's."""
    return isinstance(expected, str) and bool(given) and hmac.compare_digest(expected, given or "")
