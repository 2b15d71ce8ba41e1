"""Keycloak as an OpenID provider: discovery, the login step, codes, signed ID tokens, keys.

A test tells the emulator who is "at the keyboard" (:meth:`OpenIdProvider.sign_in_as`); the
authorization endpoint then consents for that user at once and sends the browser back with a
code, as Keycloak does for a user with a live SSO session. Paths, under
``{prefix}/realms/{realm}``:

- ``GET /.well-known/openid-configuration``: the discovery document;
- ``GET /protocol/openid-connect/auth``: checks the client and its registered redirect URIs
  (an unknown client or redirect URI is an HTML error page, as in Keycloak; other errors are
  sent back to the redirect URI), keeps ``nonce`` and the PKCE challenge (``S256``/``plain``);
- ``POST /protocol/openid-connect/token`` with ``grant_type=authorization_code``: a code is good
  once, for 60 s, for the client and redirect URI it was issued to, and only with the matching
  PKCE verifier; the answer holds an access token and an RS256 ID token;
- ``GET /protocol/openid-connect/certs``: the realm's public key (JWKS).

ID token claims: ``iss``, ``sub`` (the user id), ``aud`` and ``azp`` (the client), ``exp``
(300 s), ``iat``, ``auth_time``, ``nonce``, ``preferred_username``, ``email``,
``email_verified``, ``name``, ``given_name``, ``family_name``, ``groups`` (full paths such as
``/Sales/EMEA``, as a group membership mapper with "Full group path" on) and ``realm_access``.

Test knobs: :meth:`OpenIdProvider.rotate_key` (a new key and kid), ``claim_overrides``
(merged into every ID token; ``None`` removes a claim) and ``forge_signature`` (sign with a key
the JWKS does not publish, under the same kid).
The token is built and signed here with ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idpsync.emulators.keycloak.api import Tree, username
from idpsync.emulators.keycloak.auth import (
    TOKEN_LIFETIME,
    Client,
    OAuthError,
    Realms,
    client_credentials,
)
from idpsync.emulators.tenant import Tenant

CLAIMS: tuple[str, ...] = ("aud", "sub", "iss", "auth_time", "name", "given_name")
CLAIMS += ("family_name", "preferred_username", "email", "email_verified", "groups")
CODE_LIFETIME = 60
"""Seconds an authorization code may wait to be redeemed (Keycloak's default)."""


def b64url(data: bytes) -> str:
    """Base64url without padding (JOSE)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass
class Grant:
    """An authorization code waiting to be redeemed."""

    realm: str
    client_id: str
    redirect_uri: str
    user_id: str
    nonce: str | None
    scope: str
    challenge: str | None
    method: str
    expires_at: float
    auth_time: int


@dataclass
class AuthPage:
    """The authorization endpoint's answer: a redirect or an HTML page."""

    status: int
    location: str | None = None
    html: str = ""


@dataclass
class OpenIdProvider:
    """The realm's OpenID provider side (see module docstring)."""

    realms: Realms
    tenant: Tenant
    tree: Callable[[], Tree]
    clock: Callable[[], float] = time.time
    signed_in: str | None = None
    """The id of the user who consents at the authorization endpoint (``None``: nobody)."""
    redirect_uris: dict[str, list[str]] = field(default_factory=dict)
    """Valid redirect URIs per client id (a trailing ``*`` matches any rest, as in Keycloak)."""
    claim_overrides: dict[str, Any] = field(default_factory=dict)
    forge_signature: bool = False
    codes: dict[str, Grant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rotate_key()

    def rotate_key(self) -> None:
        """A new realm key (new kid): tokens are signed with it and the JWKS shows only it."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.kid = b64url(hashlib.sha256(_int_bytes(numbers.n)).digest()[:16])

    # ---- control -------------------------------------------------------------------------

    def add_client(self, realm: str, client_id: str, secret: str, redirect_uris: list[str]) -> None:
        """Register a confidential client that may sign users in (standard flow)."""
        self.realms.add_client(realm, Client(client_id, secret))
        self.redirect_uris[client_id] = list(redirect_uris)

    def sign_in_as(self, user_id: str | None) -> None:
        """The user who consents from now on (``None``: the login page is shown instead)."""
        if user_id is not None and user_id not in self.tenant.users:
            raise KeyError(f"no user {user_id}")
        self.signed_in = user_id

    def signs_in(self, form: Mapping[str, str], authorization: str | None) -> bool:
        """Whether a token request comes from a client registered for sign-in."""
        return client_credentials(form, authorization)[0] in self.redirect_uris

    # ---- discovery and keys --------------------------------------------------------------

    def discovery(self, issuer: str) -> dict[str, Any]:
        """The realm's ``openid-configuration``."""
        base = f"{issuer}/protocol/openid-connect"
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/auth",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/certs",
            "grant_types_supported": ["authorization_code", "client_credentials", "password"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "scopes_supported": ["openid", "profile", "email", "roles"],
            "claims_supported": list(CLAIMS),
        }

    def jwks(self) -> dict[str, Any]:
        """The realm's published signing key."""
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kid": self.kid,
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "n": b64url(_int_bytes(numbers.n)),
                    "e": b64url(_int_bytes(numbers.e)),
                }
            ]
        }

    # ---- the authorization endpoint ------------------------------------------------------

    def authorize(self, realm: str, query: Mapping[str, str], issuer: str) -> AuthPage:
        """Answer ``GET …/auth``: a redirect with a code or an error, or an HTML page."""
        if not self.realms.knows(realm):
            return _page(404, "We are sorry...", "Realm does not exist")
        client_id = query.get("client_id", "")
        if client_id not in self.redirect_uris:
            return _page(400, "We are sorry...", "Client not found.")
        redirect = query.get("redirect_uri", "")
        if not redirect or not any(_matches(p, redirect) for p in self.redirect_uris[client_id]):
            return _page(400, "We are sorry...", "Invalid parameter: redirect_uri")
        state = query.get("state")

        def back(**params: str) -> AuthPage:
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect else "?"
            return AuthPage(302, f"{redirect}{sep}{urlencode(params)}")

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="Invalid response")
        method = query.get("code_challenge_method", "plain")
        challenge = query.get("code_challenge")
        if challenge is not None and method not in ("plain", "S256"):
            return back(
                error="invalid_request",
                error_description="Invalid parameter: code challenge method is not configured one",
            )
        if self.signed_in is None:
            return _page(200, "Sign in to your account", "Username or email / Password")
        user = self.tenant.users[self.signed_in]
        if not user.enabled:
            return _page(400, "We are sorry...", "Account is disabled, contact your administrator.")
        code = secrets.token_urlsafe(32)
        now = self.clock()
        self.codes[code] = Grant(
            realm, client_id, redirect, user.id, query.get("nonce"), query.get("scope", ""),
            challenge, method, now + CODE_LIFETIME, int(now),
        )  # fmt: skip
        return back(session_state=secrets.token_hex(16), iss=issuer, code=code)

    # ---- the token endpoint --------------------------------------------------------------

    def redeem(
        self, realm: str, form: Mapping[str, str], client: Client, issuer: str
    ) -> dict[str, Any]:
        """Answer ``grant_type=authorization_code`` for an authenticated client."""
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant.realm != realm or grant.expires_at <= self.clock():
            raise OAuthError(400, "invalid_grant", "Code not valid")
        if grant.client_id != client.client_id:
            raise OAuthError(400, "invalid_grant", "Auth error")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError(400, "invalid_grant", "Incorrect redirect_uri")
        _check_pkce(grant, form.get("code_verifier"))
        access = self.realms.issue(realm, frozenset())
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": TOKEN_LIFETIME,
            "refresh_expires_in": 1800,
            "refresh_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": secrets.token_hex(16),
            "scope": grant.scope,
        }
        if "openid" in grant.scope.split():
            body["id_token"] = self.id_token(grant, issuer, access)
        return body

    def id_token(self, grant: Grant, issuer: str, access_token: str) -> str:
        """The signed ID token of a redeemed code."""
        user = self.tenant.users[grant.user_id]
        now = int(self.clock())
        paths = self.tree().paths
        claims: dict[str, Any] = {
            "exp": now + TOKEN_LIFETIME,
            "iat": now,
            "auth_time": grant.auth_time,
            "jti": secrets.token_hex(16),
            "iss": issuer,
            "aud": grant.client_id,
            "sub": user.id,
            "typ": "ID",
            "azp": grant.client_id,
            "at_hash": b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "email_verified": user.mail is not None,
            "name": user.display_name,
            "preferred_username": username(user),
            "given_name": user.given_name,
            "family_name": user.surname,
            "email": user.mail.lower() if user.mail else None,
            "groups": sorted(paths[g] for g in self.tenant.direct_groups(user.id) if g in paths),
            "realm_access": {"roles": ["offline_access", "uma_authorization"]},
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.claim_overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None})

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWS of ``claims`` (with a throwaway key when forging)."""
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        key = rsa.generate_private_key(65537, 2048) if self.forge_signature else self.key
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def _check_pkce(grant: Grant, verifier: str | None) -> None:
    if grant.challenge is None:
        return
    if not verifier:
        raise OAuthError(400, "invalid_grant", "PKCE code verifier not specified")
    if grant.method == "S256":
        computed = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    else:
        computed = verifier
    if not secrets.compare_digest(computed, grant.challenge):
        raise OAuthError(400, "invalid_grant", "PKCE verification failed: Code mismatch")


def _matches(pattern: str, uri: str) -> bool:
    if pattern.endswith("*"):
        return uri.startswith(pattern[:-1])
    return uri == pattern


def _page(status: int, title: str, message: str) -> AuthPage:
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
        f'<h1 id="kc-page-title">{html.escape(title)}</h1>'
        f'<p class="instruction" id="kc-error-message">{html.escape(message)}</p></body></html>'
    )
    return AuthPage(status, None, body)
