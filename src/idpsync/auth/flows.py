"""The token flows the IdPs use, each a small :class:`CachedTokenProvider` (or a static token).

=============================  ==============================================================
Class                          Used by
=============================  ==============================================================
:class:`ClientSecret`          Entra, Keycloak, Okta-style client credentials with a secret
:class:`PrivateKeyJwt`         Entra certificate credentials, Okta ``private_key_jwt``
:class:`RefreshTokenFlow`      a stored refresh token (after ``idpsync authorize``)
:class:`JwtBearer`             Google service account with domain-wide delegation (``sub``)
:class:`StaticToken`           Okta API token (``SSWS``), any fixed bearer token
:class:`OneLoginCredentials`   OneLogin: JSON body, client id/secret in Basic auth
=============================  ==============================================================

JWTs are signed with :mod:`joserfc` (authlib's JOSE successor), never by hand.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import ClassVar

from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from idpsync.auth.base import CachedTokenProvider, Token, parse_token_response, token_error
from idpsync.auth.remedies import Credential
from idpsync.http.client import HttpClient
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import register_secret

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_OAUTH_ERRORS = (400, 401)


class _FormFlow(CachedTokenProvider):
    """A token endpoint that takes a form post and answers with an OAuth token response."""

    credential: ClassVar[Credential] = "client_secret"
    """What the flow sends, for the remedy of a refusal."""

    def __init__(
        self, http: HttpClient, token_endpoint: ConcreteEndpoint, connector: str = "CONNECTOR"
    ) -> None:
        super().__init__()
        self.http = http
        self.token_endpoint = token_endpoint
        self.connector = connector
        http.allow_credentials_to(token_endpoint.url)

    async def _post(
        self, form: dict[str, str], headers: dict[str, str] | None = None, refresh: bool = False
    ) -> Token:
        response = await self.http.request(
            self.token_endpoint,
            data=form,
            authenticate=False,
            accept=_OAUTH_ERRORS,
            headers=headers,
        )
        if response.status_code in _OAUTH_ERRORS:
            raise token_error(
                response, self.token_endpoint, self.connector, refresh, self.credential
            )
        return parse_token_response(response, target=self.token_endpoint)


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class ClientSecret(_FormFlow):
    """OAuth client credentials with a client secret (posted in the form)."""

    def __init__(
        self,
        http: HttpClient,
        token_endpoint: ConcreteEndpoint,
        client_id: str,
        secret: SecretStr,
        scope: str | None = None,
        connector: str = "CONNECTOR",
        basic: bool = False,
    ) -> None:
        super().__init__(http, token_endpoint, connector)
        self.client_id, self.secret, self.scope, self.basic = client_id, secret, scope, basic
        register_secret(secret.get_secret_value())

    async def fetch(self) -> Token:
        """Post ``grant_type=client_credentials`` with the secret."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.basic:
            return await self._post(form, _basic(self.client_id, self.secret.get_secret_value()))
        form |= {"client_id": self.client_id, "client_secret": self.secret.get_secret_value()}
        return await self._post(form)


def sign_jwt(
    private_key_pem: SecretStr, claims: dict[str, object], headers: dict[str, object] | None = None
) -> str:
    """An RS256-signed JWT (``private_key_pem`` is a PEM RSA private key)."""
    key = RSAKey.import_key(private_key_pem.get_secret_value())
    return jwt.encode({"alg": "RS256", "typ": "JWT", **(headers or {})}, claims, key)


class PrivateKeyJwt(_FormFlow):
    """Client credentials authenticated by a signed assertion (RFC 7523 ``private_key_jwt``).

    Entra wants the certificate's SHA-1 thumbprint as ``x5t``; Okta wants the key's ``kid``.
    """

    credential = "private_key"

    def __init__(
        self,
        http: HttpClient,
        token_endpoint: ConcreteEndpoint,
        client_id: str,
        private_key: SecretStr,
        scope: str | None = None,
        *,
        key_id: str | None = None,
        x5t: str | None = None,
        audience: str | None = None,
        connector: str = "CONNECTOR",
    ) -> None:
        super().__init__(http, token_endpoint, connector)
        self.client_id, self.private_key, self.scope = client_id, private_key, scope
        self.key_id, self.x5t = key_id, x5t
        self.audience = audience or token_endpoint.url
        register_secret(private_key.get_secret_value())

    def assertion(self) -> str:
        """A fresh signed client assertion, valid five minutes."""
        now = int(time.time())
        headers: dict[str, object] = {}
        if self.key_id:
            headers["kid"] = self.key_id
        if self.x5t:
            headers["x5t"] = self.x5t
        claims: dict[str, object] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        value = sign_jwt(self.private_key, claims, headers)
        register_secret(value)
        return value

    async def fetch(self) -> Token:
        """Post client credentials with the assertion."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_assertion_type": CLIENT_ASSERTION,
            "client_assertion": self.assertion(),
        }
        if self.scope:
            form["scope"] = self.scope
        return await self._post(form)


class JwtBearer(_FormFlow):
    """Google service account: a signed JWT grant, impersonating ``subject`` (an admin)."""

    credential = "service_account"

    def __init__(
        self,
        http: HttpClient,
        token_endpoint: ConcreteEndpoint,
        client_email: str,
        private_key: SecretStr,
        scopes: list[str],
        subject: str | None = None,
        key_id: str | None = None,
        connector: str = "CONNECTOR",
    ) -> None:
        super().__init__(http, token_endpoint, connector)
        self.client_email, self.private_key, self.scopes = client_email, private_key, scopes
        self.subject, self.key_id = subject, key_id
        register_secret(private_key.get_secret_value())

    async def fetch(self) -> Token:
        """Post ``grant_type=…jwt-bearer`` with the signed assertion."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self.client_email,
            "scope": " ".join(self.scopes),
            "aud": self.token_endpoint.url,
            "iat": now,
            "exp": now + 3600,
        }
        if self.subject:
            claims["sub"] = self.subject
        headers: dict[str, object] = {"kid": self.key_id} if self.key_id else {}
        assertion = sign_jwt(self.private_key, claims, headers)
        register_secret(assertion)
        return await self._post({"grant_type": JWT_BEARER, "assertion": assertion})


class RefreshTokenFlow(_FormFlow):
    """Access tokens from a stored refresh token; a rotated refresh token is saved back.

    ``load`` returns the stored refresh token (``None``: never authorized); ``save`` stores a
    rotated one. An expired or revoked refresh token raises a
    :class:`~idpsync.http.errors.TokenError` telling the administrator to re-authorize.
    """

    credential = "refresh_token"

    def __init__(
        self,
        http: HttpClient,
        token_endpoint: ConcreteEndpoint,
        client_id: str,
        client_secret: SecretStr | None,
        load: Callable[[], Awaitable[str | None]],
        save: Callable[[str], Awaitable[None]],
        scope: str | None = None,
        connector: str = "CONNECTOR",
    ) -> None:
        super().__init__(http, token_endpoint, connector)
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self.load, self.save = load, save
        if client_secret:
            register_secret(client_secret.get_secret_value())

    async def fetch(self) -> Token:
        """Post ``grant_type=refresh_token``; store a rotated refresh token."""
        from idpsync.http.errors import TokenError

        refresh = await self.load()
        if not refresh:
            raise TokenError(
                self.token_endpoint,
                "no refresh token is stored for this connector (it was never authorized)",
                f"run 'idpsync authorize {self.connector}'",
            )
        register_secret(refresh)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": self.client_id,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret.get_secret_value()
        if self.scope:
            form["scope"] = self.scope
        token = await self._post(form, refresh=True)
        if token.refresh_token and token.refresh_token != refresh:
            await self.save(token.refresh_token)
        return token


class OneLoginCredentials(_FormFlow):
    """OneLogin: ``POST /auth/oauth2/v2/token`` with a JSON body and Basic client auth."""

    def __init__(
        self,
        http: HttpClient,
        token_endpoint: ConcreteEndpoint,
        client_id: str,
        secret: SecretStr,
        connector: str = "CONNECTOR",
    ) -> None:
        super().__init__(http, token_endpoint, connector)
        self.client_id, self.secret = client_id, secret
        register_secret(secret.get_secret_value())

    async def fetch(self) -> Token:
        """Post ``{"grant_type": "client_credentials"}`` as JSON."""
        response = await self.http.request(
            self.token_endpoint,
            json={"grant_type": "client_credentials"},
            authenticate=False,
            accept=_OAUTH_ERRORS,
            headers=_basic(self.client_id, self.secret.get_secret_value()),
        )
        if response.status_code in _OAUTH_ERRORS:
            raise token_error(
                response, self.token_endpoint, self.connector, credential="client_secret"
            )
        return parse_token_response(response, target=self.token_endpoint)


class StaticToken:
    """A fixed token (Okta ``SSWS`` API token, a long-lived bearer token). A 401 is final."""

    def __init__(self, token: SecretStr, scheme: str = "Bearer") -> None:
        self._header = f"{scheme} {token.get_secret_value()}"
        register_secret(token.get_secret_value())

    async def authorization(self) -> str:
        """The fixed header value."""
        return self._header

    async def invalidate(self, rejected: str) -> None:
        """Nothing to refresh: the retry gets the same 401 and the error says so."""
