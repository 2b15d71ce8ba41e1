"""Okta credentials the emulator accepts: ``SSWS`` API tokens and OAuth 2.0 service apps.

* API tokens: ``Authorization: SSWS <token>`` (the okta 3.x SDK sends ``SSWS<token>`` without
  the space, so both forms are accepted).
* Service apps: ``POST /oauth2/v1/token`` with ``grant_type=client_credentials``, ``scope`` and a
  ``private_key_jwt`` client assertion. The assertion's RS256 signature is checked against the
  app's registered public key, ``iss`` = ``sub`` = client id, ``aud`` = the token URL on the
  host the request used, ``exp`` in the future (60 s skew). Granted scopes limit what the
  access token (``Authorization: Bearer …``) may read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPES = ("okta.users.read", "okta.groups.read", "okta.logs.read")
TOKEN_LIFETIME = 3600


class OAuthError(Exception):
    """A refused token request: ``error`` code, description and HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass(frozen=True, slots=True)
class ServiceApp:
    """A registered OAuth service app; ``private_key_pem`` is what the client keeps."""

    client_id: str
    key_id: str
    private_key_pem: str
    public_key: RSAKey
    scopes: frozenset[str]


@dataclass
class Credentials:
    """API tokens, service apps and issued access tokens of one org."""

    clock: Callable[[], float] = time.time
    api_tokens: set[str] = field(default_factory=set)
    apps: dict[str, ServiceApp] = field(default_factory=dict)
    access_tokens: dict[str, tuple[frozenset[str], float]] = field(default_factory=dict)

    def add_api_token(self, token: str) -> str:
        """Accept ``token`` as an SSWS API token (full read access)."""
        self.api_tokens.add(token)
        return token

    def register_app(
        self,
        client_id: str | None = None,
        *,
        scopes: tuple[str, ...] = SCOPES,
        public_key_pem: str | None = None,
    ) -> ServiceApp:
        """Register a service app; without ``public_key_pem`` a key pair is generated."""
        client_id = client_id or "0oa" + secrets.token_hex(8)
        if public_key_pem is None:
            key = RSAKey.generate_key(2048)
            private = key.as_pem(private=True).decode()
            public = RSAKey.import_key(key.as_pem(private=False))
        else:
            private, public = "", RSAKey.import_key(public_key_pem)
        kid = hashlib.sha256(client_id.encode()).hexdigest()[:16]
        app = ServiceApp(client_id, kid, private, public, frozenset(scopes))
        self.apps[client_id] = app
        return app

    def issue(self, scopes: frozenset[str]) -> str:
        """A new access token for ``scopes``."""
        token = "emu.okta." + secrets.token_urlsafe(24)
        self.access_tokens[token] = (scopes, self.clock() + TOKEN_LIFETIME)
        return token

    def expire_all(self) -> None:
        """Make every issued access token invalid (API tokens stay valid)."""
        self.access_tokens.clear()

    def authorize(self, header: str | None) -> frozenset[str] | None:
        """Scopes granted by an ``Authorization`` header, ``None`` if it is not valid."""
        if not header:
            return None
        if header.startswith("SSWS"):
            return frozenset(SCOPES) if header[4:].strip() in self.api_tokens else None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        entry = self.access_tokens.get(value.strip())
        if entry is None or entry[1] < self.clock():
            return None
        return entry[0]

    def token_request(self, form: dict[str, str], token_url: str) -> dict[str, object]:
        """Answer ``POST /oauth2/v1/token`` (raises :class:`OAuthError`)."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "The grant type is not supported.")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuthError(
                401, "invalid_client", "A client_assertion (private_key_jwt) is required."
            )
        app = self._verify(form["client_assertion"], form.get("client_id"), token_url)
        wanted = frozenset(form.get("scope", "").split())
        if not wanted:
            raise OAuthError(400, "invalid_scope", "The authorization server requires a scope.")
        if not wanted <= app.scopes:
            missing = " ".join(sorted(wanted - app.scopes))
            raise OAuthError(
                400, "invalid_scope", f"The following scopes are not granted: {missing}"
            )
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "access_token": self.issue(wanted),
            "scope": " ".join(sorted(wanted)),
        }

    def _verify(self, assertion: str, client_id: str | None, token_url: str) -> ServiceApp:
        app = self.apps.get(str(_unverified_claims(assertion).get("iss")))
        if app is None or (client_id and client_id != app.client_id):
            raise OAuthError(401, "invalid_client", "The client_id is not registered.")
        try:
            claims = jwt.decode(assertion, app.public_key, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise OAuthError(
                401, "invalid_client", "The client_assertion signature is invalid."
            ) from None
        if claims.get("sub") != app.client_id:
            raise OAuthError(401, "invalid_client", "The 'sub' claim must be the client_id.")
        if claims.get("aud") != token_url:
            raise OAuthError(401, "invalid_client", f"The audience claim must be {token_url!r}.")
        if float(str(claims.get("exp", 0))) + 60 < self.clock():
            raise OAuthError(401, "invalid_client", "The client_assertion token is expired.")
        return app


def _unverified_claims(assertion: str) -> dict[str, object]:
    """The payload of a compact JWS, not verified (only to find the client's key)."""
    try:
        payload = assertion.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise OAuthError(401, "invalid_client", "The client_assertion is not a JWT.") from None
    return data if isinstance(data, dict) else {}
