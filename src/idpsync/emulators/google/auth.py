"""Google's OAuth side: service accounts with domain-wide delegation, OAuth clients, tokens.

* ``GET /o/oauth2/v2/auth`` — the consent page. The emulator "signs in" as
  :attr:`OAuthServer.consent_user` and, if :attr:`OAuthServer.consent` is ``"allow"``, redirects
  to ``redirect_uri`` with ``code`` and ``state`` (else with ``error=access_denied``).
* ``POST /token`` and ``POST /oauth2/v4/token`` — grants ``authorization_code`` (PKCE S256
  checked when a challenge was sent), ``refresh_token`` and
  ``urn:ietf:params:oauth:grant-type:jwt-bearer``. A JWT assertion must be RS256-signed by the
  registered service account key; ``sub`` impersonates a user of the domain and the scopes must
  be granted to the service account's client id (domain-wide delegation). ``aud`` is not
  compared with the emulator's URL (google-auth always sends Google's own token URL).

Errors are the real bodies: ``{"error": "invalid_grant", "error_description": "…"}``,
``unauthorized_client`` (scopes not delegated), ``invalid_client``, ``unsupported_grant_type``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3599
SCOPE_ROOT = "https://www.googleapis.com/auth/"
READ_SCOPES = (
    SCOPE_ROOT + "admin.directory.user.readonly",
    SCOPE_ROOT + "admin.directory.group.readonly",
    SCOPE_ROOT + "admin.directory.group.member.readonly",
)


class OAuthError(Exception):
    """A token endpoint error with Google's body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        """``{"error", "error_description"}``."""
        return {"error": self.error, "error_description": self.description}


@dataclass
class ServiceAccount:
    """A service account key registered with the emulator."""

    client_email: str
    client_id: str
    private_key_id: str
    private_key_pem: str
    public_key: rsa.RSAPublicKey
    delegated: set[str]
    """Scopes granted to the client id for domain-wide delegation."""


@dataclass
class Grant:
    """What an access or refresh token stands for."""

    client: str
    principal: str
    """The user whose rights the token carries (e-mail), or the service account itself."""
    scopes: frozenset[str]
    expires: float = 0.0


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class OAuthServer:
    """Registered clients, service accounts, codes and tokens of one emulated customer."""

    is_user: Callable[[str], bool]
    """Whether an e-mail names a live user of the domain."""
    clock: Callable[[], float] = time.time
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)
    """OAuth client id → client secret."""
    codes: dict[str, tuple[Grant, str, str | None, bool]] = field(default_factory=dict)
    """Code → (grant, redirect URI, PKCE challenge, offline access)."""
    refresh: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)
    consent_user: str = ""
    consent: str = "allow"
    """``allow`` or ``deny`` (the administrator refuses the consent screen)."""

    # ---- registration --------------------------------------------------------------------

    def add_service_account(
        self, project: str, scopes: tuple[str, ...] = READ_SCOPES
    ) -> ServiceAccount:
        """A new service account key (RSA 2048) with domain-wide delegation for ``scopes``."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        number = len(self.accounts) + 1
        account = ServiceAccount(
            client_email=f"idpsync-{number}@{project}.iam.gserviceaccount.com",
            client_id=str(10**20 + int(hashlib.sha256(pem.encode()).hexdigest()[:15], 16)),
            private_key_id=secrets.token_hex(20),
            private_key_pem=pem,
            public_key=key.public_key(),
            delegated=set(scopes),
        )
        self.accounts[account.client_email] = account
        return account

    def add_client(self, client_id: str, secret: str) -> None:
        """Register an OAuth client (web or desktop app)."""
        self.clients[client_id] = secret

    def issue(self, grant: Grant) -> str:
        """Mint an access token for a grant."""
        token = "ya29." + secrets.token_urlsafe(48)
        self.tokens[token] = Grant(
            grant.client, grant.principal, grant.scopes, self.clock() + TOKEN_LIFETIME
        )
        return token

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired."""
        for grant in self.tokens.values():
            grant.expires = 0.0

    def revoke_refresh_tokens(self) -> None:
        """The administrator revoked the app's access: refresh tokens stop working."""
        self.refresh.clear()

    # ---- consent -------------------------------------------------------------------------

    def consent_redirect(self, params: Mapping[str, str]) -> tuple[int, str]:
        """Status and ``Location`` (or an error text) for ``GET /o/oauth2/v2/auth``."""
        client, redirect = params.get("client_id", ""), params.get("redirect_uri", "")
        if client not in self.clients:
            return 401, "Error 401: invalid_client. The OAuth client was not found."
        if not redirect or params.get("response_type") != "code":
            return 400, "Error 400: invalid_request. Missing redirect_uri or response_type=code."
        state = {"state": params["state"]} if "state" in params else {}
        if self.consent != "allow":
            return 302, redirect + "?" + urlencode({"error": "access_denied", **state})
        scopes = frozenset(params.get("scope", "").split())
        code = "4/" + secrets.token_urlsafe(32)
        offline = params.get("access_type") == "offline"
        grant = Grant(client, self.consent_user, scopes)
        self.codes[code] = (grant, redirect, params.get("code_challenge"), offline)
        query = {"code": code, **state, "scope": " ".join(sorted(scopes))}
        return 302, redirect + "?" + urlencode(query)

    # ---- token endpoint ------------------------------------------------------------------

    def token_request(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request; :class:`OAuthError` like Google's endpoint."""
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER:
            grant = self._jwt_grant(form.get("assertion", ""))
            return self._answer(grant, None)
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            self._client(form)
            known = self.refresh.get(form.get("refresh_token", ""))
            if known is None or known.client != form.get("client_id"):
                raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            return self._answer(known, None)
        raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: " + grant_type)

    def _answer(self, grant: Grant, refresh: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.issue(grant),
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "Bearer",
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def _client(self, form: Mapping[str, str]) -> str:
        client = form.get("client_id", "")
        secret = self.clients.get(client)
        if secret is None or not hmac.compare_digest(secret, form.get("client_secret", "")):
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return client

    def _code_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        client = self._client(form)
        entry = self.codes.pop(form.get("code", ""), None)
        if entry is None or entry[0].client != client:
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        grant, redirect, challenge, offline = entry
        if form.get("redirect_uri") != redirect:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        if challenge:
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if digest.decode() != challenge:
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        refresh = None
        if offline:
            refresh = "1//" + secrets.token_urlsafe(40)
            self.refresh[refresh] = grant
        return self._answer(grant, refresh)

    def _jwt_grant(self, assertion: str) -> Grant:
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header, claims = json.loads(_unb64(head_b64)), json.loads(_unb64(body_b64))
            signature = _unb64(sig_b64)
        except ValueError as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: malformed assertion.") from exc
        account = self.accounts.get(str(claims.get("iss", "")))
        if account is None or header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            account.public_key.verify(
                signature, f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from exc
        now, iat, exp = self.clock(), claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= now < exp + 300 and exp - iat <= 3600):
            raise OAuthError(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        scopes = frozenset(str(claims.get("scope", "")).split())
        subject = claims.get("sub")
        if subject is None:
            return Grant(account.client_id, account.client_email, scopes)
        if not scopes or not scopes <= account.delegated:
            raise OAuthError(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
            )
        if not self.is_user(str(subject)):
            raise OAuthError(400, "invalid_grant", "Invalid email or User ID")
        return Grant(account.client_id, str(subject), scopes)
