"""The Microsoft identity platform side: app registrations, the v2.0 token endpoint, bearer checks.

``POST /{tenant}/oauth2/v2.0/token`` accepts ``grant_type=client_credentials`` with either a
``client_secret`` or a ``client_assertion`` (a JWT signed RS256 / PS256 by a key whose certificate
or public key was registered with :meth:`Directory.register_app`), and a ``scope`` of
``{resource}/.default`` where the resource is Graph (:data:`GRAPH_RESOURCES`). Errors use the real
``AADSTS`` codes and the real body shape (``error``, ``error_description``, ``error_codes``, …).
Access tokens are JWT-shaped, HMAC-signed by the emulator, and expire after ``expires_in``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idpsync.emulators.entra.odata import GraphError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3599
GRAPH_RESOURCES = frozenset(
    {
        "https://graph.microsoft.com",
        "https://graph.microsoft.us",
        "https://dod-graph.microsoft.us",
        "https://microsoftgraph.chinacloudapi.cn",
        "00000003-0000-0000-c000-000000000000",
    }
)
"""Resources the token endpoint knows (Graph in every national cloud, and Graph's app id):
like real Entra, any other ``{resource}/.default`` is refused with AADSTS500011, wherever the
emulator itself is served."""


@dataclass
class AppRegistration:
    """A registered application (service principal) allowed to call the emulator."""

    client_id: str
    secret: str | None = None
    """Client secret value, if the app uses one."""
    public_key: rsa.RSAPublicKey | None = None
    """Key that verifies client assertions, if the app uses a certificate."""


@dataclass
class TokenError(Exception):
    """A token endpoint error: HTTP status, OAuth error, AADSTS code and message."""

    status: int
    error: str
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        """The JSON body Entra sends for this error."""
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {corr}\r\nTimestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM certificate or PEM public key."""
    if b"CERTIFICATE" in pem:
        key: Any = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("only RSA certificates are supported for client assertions")
    return key


@dataclass
class Directory:
    """Registered apps and issued tokens of one emulated tenant."""

    tenant_id: str
    domain: str
    clock: Callable[[], float] = time.time
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    """access token → (client id, expiry epoch)."""
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def register_app(
        self, client_id: str, secret: str | None = None, certificate_pem: bytes | None = None
    ) -> AppRegistration:
        """Allow an app to get tokens with a secret and/or a certificate."""
        key = load_public_key(certificate_pem) if certificate_pem else None
        app = AppRegistration(client_id, secret, key)
        self.apps[client_id] = app
        return app

    def knows_tenant(self, tenant: str) -> bool:
        """True for the tenant id, its domain, and ``organizations``."""
        return tenant.lower() in (self.tenant_id, self.domain.lower(), "organizations")

    def issue(self, client_id: str, lifetime: int = TOKEN_LIFETIME) -> str:
        """Mint an access token for an app (tests may call this directly)."""
        now = int(self.clock())
        claims = {
            "aud": "https://graph.microsoft.com",
            "tid": self.tenant_id,
            "appid": client_id,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        signing = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(claims).encode())
        token = signing + "." + _b64(hmac.new(self._key, signing.encode(), hashlib.sha256).digest())
        self.tokens[token] = (client_id, now + lifetime)
        return token

    def expire_tokens(self) -> None:
        """Make every issued access token expired (the next API call gets 401)."""
        self.tokens = {t: (c, 0.0) for t, (c, _) in self.tokens.items()}

    def client_for(self, authorization: str | None) -> str:
        """The app id behind a ``Bearer`` header, or the 401 Graph would send."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        entry = self.tokens.get(authorization[7:].strip())
        if entry is None:
            raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        if entry[1] <= self.clock():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        return entry[0]

    def token_request(self, tenant: str, form: Mapping[str, str], endpoint: str) -> dict[str, Any]:
        """Handle a token request; raises :class:`TokenError` like the real endpoint."""
        if not self.knows_tenant(tenant):
            raise TokenError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check "
                "to make sure you have the correct tenant ID and are signing into "
                "the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            raise TokenError(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client_id = form.get("client_id", "")
        app = self.apps.get(client_id)
        if app is None:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier "
                f"'{client_id}' was not found in the directory '{tenant}'.",
            )
        if not form.get("scope", "").endswith("/.default"):
            raise TokenError(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not "
                "valid. Client credential flows must have a scope value with "
                "/.default suffixed to the resource identifier (application ID URI).",
            )
        resource = form["scope"].split()[0].removesuffix("/.default").rstrip("/")
        if resource.lower() not in GRAPH_RESOURCES:
            raise TokenError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant}. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You "
                "might have sent your authentication request to the wrong tenant.",
            )
        self._authenticate(app, form, endpoint)
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": self.issue(client_id),
        }

    def _authenticate(self, app: AppRegistration, form: Mapping[str, str], endpoint: str) -> None:
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenError(
                    400,
                    "invalid_request",
                    50027,
                    "Invalid JWT token. client_assertion_type is not supported.",
                )
            self._check_assertion(app, form["client_assertion"], endpoint)
            return
        secret = form.get("client_secret")
        if secret is None:
            raise TokenError(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', "
                "'client_secret' or 'request' is required for the "
                "'client_credentials' grant type.",
            )
        if app.secret is None or not hmac.compare_digest(secret, app.secret):
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. "
                "Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )

    def _check_assertion(self, app: AppRegistration, assertion: str, endpoint: str) -> None:
        bad = TokenError(
            401, "invalid_client", 700027, "Client assertion failed signature validation."
        )
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header, claims = json.loads(_unb64(head_b64)), json.loads(_unb64(body_b64))
            signature = _unb64(sig_b64)
        except ValueError as exc:
            raise TokenError(400, "invalid_request", 50027, "Invalid JWT token.") from exc
        if app.public_key is None:
            raise bad
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if header.get("alg") == "PS256":
            pad = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        try:
            app.public_key.verify(
                signature, f"{head_b64}.{body_b64}".encode(), pad, hashes.SHA256()
            )
        except InvalidSignature as exc:
            raise bad from exc
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise TokenError(
                401,
                "invalid_client",
                700023,
                "Client assertion audience or issuer claim does not match the application.",
            )
        if not (claims.get("nbf", 0) - 300 <= self.clock() < claims.get("exp", 0) + 300):
            raise TokenError(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            )
        del endpoint  # the audience is not checked: clients send the public or emulated URL
