"""The relying party's side of OpenID Connect: discovery, keys, the code exchange, the ID token.

:class:`Provider` talks to the IdP named by ``[service.oidc] issuer``. It reads the provider's
``/.well-known/openid-configuration`` (kept for an hour) and its published keys (read again
when a token names a key it does not know, as after a key rotation). :meth:`Provider.start`
builds the authorization URL of one sign-in — a fresh ``state``, ``nonce`` and PKCE verifier
(S256) — and :meth:`Provider.finish` redeems the returned code at the token endpoint (the
request built and the client authenticated with authlib's OAuth 2 pieces) and checks the ID
token: its signature against the published keys, then its
issuer, audience, expiry and nonce (authlib's ID token claims, on joserfc).

Every failure is a :class:`Refused` whose message tells the administrator what went wrong and
what to check, and never contains a code, a token or the client secret.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet

from idpsync.config_service import OidcSettings

METADATA_TTL = 3600.0
"""Seconds the discovery document and the keys are kept before they are read again."""
FLOW_LIFETIME = 600.0
"""Seconds a started sign-in may take at the provider before its callback is refused."""
JSON = "application/json"
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""Signature algorithms accepted for ID tokens (never ``none``, never a shared secret)."""


class Refused(Exception):
    """A sign-in that cannot go on: ``message`` is safe to show and to log."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Pending:
    """One started sign-in, kept in the browser's signed session cookie until its callback."""

    state: str
    nonce: str
    verifier: str
    started: float

    def saved(self) -> dict[str, Any]:
        """The form kept in the session."""
        return asdict(self)

    @classmethod
    def load(cls, saved: object) -> Pending | None:
        """The pending sign-in from the session, or ``None`` when there is none (or it is odd)."""
        if not isinstance(saved, dict):
            return None
        try:
            return cls(
                str(saved["state"]),
                str(saved["nonce"]),
                str(saved["verifier"]),
                float(saved["started"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


_CLAIM_PROBLEMS = {
    "iss": "was issued by another issuer than the configured one (iss)",
    "aud": "was issued for another application (its audience is not this client id)",
    "azp": "was issued to another application (azp)",
    "nonce": "does not belong to this sign-in (nonce mismatch: a replayed or injected token)",
    "exp": "has expired (check this machine's clock)",
    "iat": "has an unusable issue time (check this machine's clock)",
    "nbf": "is not valid yet (check this machine's clock)",
    "sub": "names no subject",
}


class Provider:
    """The configured OpenID provider, as seen from idpsync (see module docstring)."""

    def __init__(
        self,
        settings: OidcSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.transport = transport
        """How requests reach the provider (``None``: the network; tests use an emulator)."""
        self.clock = clock
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    @property
    def issuer(self) -> str:
        """The configured issuer, without a trailing slash."""
        return self.settings.issuer.rstrip("/")

    def _http(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, timeout=self.settings.timeout, follow_redirects=False, **kw
        )

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                answer = await http.get(url, headers={"Accept": JSON})
        except httpx.HTTPError as exc:
            why = _why(exc)
            raise Refused(
                f"cannot reach the provider for its {what} at {url}: {why}", 502
            ) from None
        if answer.status_code != 200:
            raise Refused(f"the provider answered HTTP {answer.status_code} for its {what}", 502)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Refused(f"the provider's {what} at {url} is not a JSON object", 502)
        return body

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (its issuer must be the configured one)."""
        now = self.clock()
        if self._metadata is not None and now - self._metadata[0] < METADATA_TTL:
            return self._metadata[1]
        url = f"{self.issuer}/.well-known/openid-configuration"
        found = await self._get_json(url, "discovery document")
        if str(found.get("issuer", "")).rstrip("/") != self.issuer:
            raise Refused(
                f"the discovery document at {url} names another issuer; set "
                "[service.oidc] issuer to the provider's issuer exactly",
                502,
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(key), str):
                raise Refused(f"the discovery document at {url} has no {key}", 502)
        self._metadata = (now, found)
        return found

    async def keys(self, fresh: bool = False) -> KeySet:
        """The provider's published signing keys (read again when ``fresh``)."""
        now = self.clock()
        if not fresh and self._keys is not None and now - self._keys[0] < METADATA_TTL:
            return self._keys[1]
        url = str((await self.metadata())["jwks_uri"])
        body = await self._get_json(url, "signing keys")
        try:
            found = KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise Refused(f"the provider's signing keys at {url} cannot be read", 502) from None
        self._keys = (now, found)
        return found

    async def start(self, redirect_uri: str) -> tuple[str, Pending]:
        """The URL that sends the browser to the provider, and what the callback must match."""
        meta = await self.metadata()
        pending = Pending(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            started=self.clock(),
        )
        url = prepare_grant_uri(
            meta["authorization_endpoint"],
            client_id=self.settings.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=" ".join(self.settings.scopes),
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            code_challenge_method="S256",
        )
        return str(url), pending

    def _client_auth(self, meta: dict[str, Any]) -> ClientAuth:
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        secret = self.settings.client_secret.get_secret_value()
        return ClientAuth(self.settings.client_id, secret, method)

    async def finish(self, code: str, pending: Pending, redirect_uri: str) -> dict[str, Any]:
        """Exchange ``code`` (with the PKCE verifier) and return the checked ID token's claims."""
        if self.clock() - pending.started > FLOW_LIFETIME:
            raise Refused("this sign-in took too long (over 10 minutes); start it again", 400)
        meta = await self.metadata()
        token = await self._redeem(meta, code, pending.verifier, redirect_uri)
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise Refused("the provider sent no ID token (is the openid scope allowed?)", 502)
        access = token.get("access_token")
        return await self.check_id_token(raw, pending.nonce, access, meta)

    async def _redeem(
        self, meta: dict[str, Any], code: str, verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        """POST the code and the verifier to the token endpoint (client authenticated)."""
        body = prepare_token_request(
            "authorization_code",
            redirect_uri=redirect_uri,
            code=code,
            code_verifier=verifier,
            client_id=self.settings.client_id,
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": JSON}
        url, headers, body = self._client_auth(meta).prepare(
            "POST", str(meta["token_endpoint"]), headers, body
        )
        try:
            async with self._http() as http:
                answer = await http.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            reason = _why(exc)
            raise Refused(f"the provider's token endpoint failed: {reason}", 502) from None
        try:
            token = answer.json()
        except ValueError:
            token = None
        if not isinstance(token, dict):
            raise Refused(f"the provider's token endpoint answered HTTP {answer.status_code}", 502)
        if answer.status_code != 200 or "error" in token:
            raise Refused(
                f"the provider refused to redeem the sign-in ({error_code(token.get('error'))}); "
                "check the client id, the client secret and the registered redirect URL",
                502,
            )
        return token

    async def check_id_token(
        self, raw: str, nonce: str, access_token: object, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The claims of ``raw`` once its signature, issuer, audience, times and nonce hold."""
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in ASYMMETRIC] or ["RS256"]
        try:
            try:
                decoded = jwt.decode(raw, await self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:  # a key published since the keys were read
                decoded = jwt.decode(raw, await self.keys(fresh=True), algorithms=algorithms)
        except BadSignatureError:
            raise Refused("the ID token's signature does not match the provider's keys") from None
        except InvalidKeyIdError:
            unknown = "the ID token is signed with a key the provider does not publish"
            raise Refused(unknown) from None
        except JoseError as exc:
            raise Refused(f"the ID token is unusable ({error_code(exc.error)})") from None
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": str(meta["issuer"])},
            "aud": {"essential": True, "value": self.settings.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        }
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.settings.client_id}
        if isinstance(access_token, str):
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(self.clock()), leeway=self.settings.leeway)
        except ExpiredTokenError:
            raise Refused(f"the ID token {_CLAIM_PROBLEMS['exp']}") from None
        except ClaimError as exc:
            problem = _CLAIM_PROBLEMS.get(exc.claim, f"has an unusable {exc.claim} claim")
            raise Refused(f"the ID token {problem}") from None
        except JoseError as exc:
            raise Refused(f"the ID token is unusable ({error_code(exc.error)})") from None
        return dict(claims)


def error_code(text: object) -> str:
    """An error code from the provider, when it looks like one (free text is not repeated)."""
    value = str(text or "")
    if value and len(value) <= 60 and all(c.isalnum() or c in "_-." for c in value):
        return value
    return "no usable error code"


def _why(exc: Exception) -> str:
    """A short reason for a transport failure (the exception's kind, never a URL's query)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__
