"""Token providers: what the HTTP client asks for an ``Authorization`` header.

A :class:`TokenProvider` hands out a header value and can be told that a value was rejected
(a 401): it then fetches a fresh token once. :class:`CachedTokenProvider` is the base of every
OAuth flow: it keeps the current token, refreshes it :data:`REFRESH_MARGIN` seconds before it
expires, and does so under an ``asyncio.Lock`` so concurrent requests trigger one token
request, not many. Token requests go through the same :class:`~idpsync.http.HttpClient`, so
they get the same retries and the same error translation ("Token request failed: …").
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import httpx

from idpsync.auth.remedies import credential_remedy
from idpsync.http.body import json_body
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.errors import MalformedAnswer, NotFromIdp, TokenError
from idpsync.http.redact import register_secret, truncate
from idpsync.http.translate_status import not_json

REFRESH_MARGIN = 60.0
"""Seconds before expiry at which a token is renewed."""


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when it stops working."""

    value: str
    expires_at: float
    """``time.time()`` at which the IdP stops accepting it."""
    scheme: str = "Bearer"
    refresh_token: str | None = None
    """A refresh token the token response carried (authorization-code and refresh flows)."""

    @property
    def header(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.scheme} {self.value}"


class CachedTokenProvider(ABC):
    """Caches a token, refreshes it shortly before expiry, once, under a lock."""

    def __init__(self, margin: float = REFRESH_MARGIN) -> None:
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._margin = margin
        self.fetches = 0
        """Tokens fetched so far (for statistics and tests)."""

    @abstractmethod
    async def fetch(self) -> Token:
        """Obtain a new token from the IdP."""

    async def token(self) -> Token:
        """The current token, renewed first when it is missing or about to expire."""
        async with self._lock:
            if self._token is None or self._token.expires_at - self._margin <= time.time():
                self._token = await self.fetch()
                self.fetches += 1
                register_secret(self._token.value)
            return self._token

    async def refresh(self) -> Token:
        """Fetch a new token now, whatever the state of the current one."""
        async with self._lock:
            self._token = await self.fetch()
            self.fetches += 1
            register_secret(self._token.value)
            return self._token

    async def authorization(self) -> str:
        """The ``Authorization`` header value of the current token."""
        return (await self.token()).header

    async def invalidate(self, rejected: str) -> None:
        """Forget the token if it is the rejected one (another request may have renewed it)."""
        async with self._lock:
            if self._token is not None and self._token.header == rejected:
                self._token = None


def parse_token_response(
    response: httpx.Response, scheme: str = "Bearer", target: ConcreteEndpoint | None = None
) -> Token:
    """A :class:`Token` from an OAuth token response (``access_token``, ``expires_in``).

    An answer that is not a JSON object, lacks a string ``access_token`` or has an
    ``expires_in`` that is not a number of seconds raises a :class:`TokenError` naming the
    token endpoint (``target``; by default the URL the response came from).
    An answer that is an HTML page (a proxy's sign-in page) raises
    :class:`~idpsync.http.errors.NotFromIdp` when ``target`` is given.
    """
    if target is not None and (foreign := not_json(response, target)) is not None:
        raise foreign
    where = target or ConcreteEndpoint(_TOKEN, str(response.request.url))
    try:
        body = json_body(response, where)
    except MalformedAnswer as exc:
        raise _bad_answer(where, response, "its answer is not JSON") from exc
    if not isinstance(body, dict):
        raise _bad_answer(where, response, "its answer is not a JSON object")
    value = body.get("access_token")
    if not isinstance(value, str) or not value:
        raise _bad_answer(where, response, "its answer carries no access_token")
    register_secret(value)
    refresh = body.get("refresh_token")
    refresh = refresh if isinstance(refresh, str) and refresh else None
    if refresh:
        register_secret(refresh)
    expires_in = _seconds(body.get("expires_in"))
    if expires_in is None:
        raise _bad_answer(where, response, "its expires_in is not a number of seconds")
    return Token(value, time.time() + expires_in, scheme, refresh)


_TOKEN = Endpoint("token", "POST", "/token", "obtain an access token", token=True)


def _seconds(raw: object) -> float | None:
    """``expires_in`` as seconds: a number or a numeric string (Azure AD v1 sends one)."""
    if raw is None or raw == "" or raw == 0:
        return 3600.0  # absent (or 0, as some IdPs send): the usual hour
    if isinstance(raw, bool):
        return None
    try:
        seconds = float(raw) if isinstance(raw, int | float | str) else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _bad_answer(target: ConcreteEndpoint, response: httpx.Response, what: str) -> TokenError:
    return TokenError(
        target,
        f"the token endpoint answered {response.status_code} but {what}",
        "check token_url (and base_url): it must be the IdP's OAuth token endpoint, not a web "
        "page or a proxy's",
        status=response.status_code,
    )


OAUTH_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_client": (
        "the IdP rejected the client credentials (invalid_client)",
        "check client_id and the client secret or certificate; it may have expired or been rotated",
    ),
    "invalid_grant": (
        "the IdP refused the grant (invalid_grant)",
        "check the credentials; for a refresh token, run 'idpsync authorize {connector}'",
    ),
    "unauthorized_client": (
        "the application may not use this grant type (unauthorized_client)",
        "enable the client-credentials (service account) grant for the application in the IdP",
    ),
    "invalid_scope": (
        "the IdP refused the requested scope (invalid_scope)",
        "grant the application the scopes it requests, or fix the scopes in the configuration",
    ),
    "invalid_request": (
        "the IdP found the token request malformed (invalid_request)",
        "check token_url and the client settings",
    ),
}
"""OAuth ``error`` code → (cause, remedy)."""

AADSTS: dict[str, tuple[str, str]] = {
    "AADSTS7000215": (
        "the client secret is wrong",
        "use the secret's Value (not its ID) from the app registration",
    ),
    "AADSTS7000222": (
        "the client secret has expired",
        "create a new client secret in the app registration and update the configuration",
    ),
    "AADSTS700016": ("the application is not found in the tenant", "check client_id and tenant"),
    "AADSTS90002": ("the tenant is not found", "check the tenant id or domain"),
    "AADSTS700027": (
        "the certificate assertion was rejected",
        "upload the certificate to the app registration and check its thumbprint",
    ),
    "AADSTS700082": (
        "the refresh token expired due to inactivity",
        "run 'idpsync authorize {connector}'",
    ),
    "AADSTS50173": ("the refresh token was revoked", "run 'idpsync authorize {connector}'"),
    "AADSTS500011": (
        "the token scope names a resource Entra does not know",
        "set cloud to the tenant's national cloud (global, usgov, dod or china) and leave "
        "scope unset; base_url's host never belongs in the scope",
    ),
}
"""Entra ``AADSTS`` codes (start of ``error_description``) → (cause, remedy)."""


def token_error(
    response: httpx.Response,
    target: Any,
    connector: str = "CONNECTOR",
    refresh: bool = False,
    credential: str | None = None,
) -> TokenError | NotFromIdp:
    """A :class:`TokenError` from an OAuth error response, in an administrator's words.

    ``credential`` (:data:`idpsync.auth.remedies.Credential`) picks the remedy for what was
    sent; an answer that is not JSON is a :class:`NotFromIdp` (a proxy or web filter answered).
    """
    if (foreign := not_json(response, target)) is not None:
        return foreign
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = {}
    body = body if isinstance(body, dict) else {}
    code = str(body.get("error") or f"HTTP {response.status_code}")
    description = str(body.get("error_description") or "")
    cause, remedy = OAUTH_ERRORS.get(
        code, (f"the IdP refused to issue a token ({code})", "check the connector's credentials")
    )
    specific = credential_remedy(credential, code)
    if specific is not None:
        cause, remedy = specific
    if refresh and code == "invalid_grant":
        cause = "the refresh token has expired or was revoked (invalid_grant)"
        remedy = "re-authorize: run 'idpsync authorize {connector}'"
    for prefix, (aad_cause, aad_remedy) in AADSTS.items():
        if description.startswith(prefix + ":") or description == prefix:
            cause, remedy = f"{aad_cause} ({prefix})", aad_remedy
    if description:
        cause += f" — {truncate(description, 200)}"
    return TokenError(
        target,
        cause,
        remedy.format(connector=connector),
        error_code=code,
        status=response.status_code,
        body=response.text,
    )
