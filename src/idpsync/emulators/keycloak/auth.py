"""Keycloak's OpenID Connect token endpoint and the admin roles a token carries.

Two ways in, as on a real server: a confidential client with a service account
(``grant_type=client_credentials``, secret in the form or as HTTP Basic) in the served realm,
and an administrator of realm ``master`` through the public ``admin-cli`` client
(``grant_type=password``). Tokens are opaque strings valid 300 s (the default "Access Token
Lifespan"). Errors carry Keycloak's OAuth bodies, e.g. 401
``{"error":"unauthorized_client","error_description":"Invalid client or Invalid client
credentials"}``.

Realm-management roles: ``view-users`` is a composite holding ``query-users`` and
``query-groups`` (as in Keycloak); ``realm-admin`` holds everything. A master-realm
administrator may read every realm.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

TOKEN_LIFETIME = 300
"""Seconds an access token lives (Keycloak's default access token lifespan)."""
REFRESH_LIFETIME = 1800
"""Seconds a password-grant refresh token lives (SSO session idle default)."""
ROLES = frozenset(
    {"query-users", "query-groups", "view-users", "manage-users", "view-events", "realm-admin"}
)
COMPOSITES: dict[str, frozenset[str]] = {
    "view-users": frozenset({"query-users", "query-groups"}),
    "manage-users": frozenset({"query-users", "query-groups", "view-users"}),
    "realm-admin": ROLES,
}
DEFAULT_ROLES = frozenset({"view-users"})
"""What the emulator's service account holds unless told otherwise."""


def effective_roles(roles: frozenset[str]) -> frozenset[str]:
    """``roles`` with their composites expanded."""
    out = set(roles)
    for role in roles:
        out |= COMPOSITES.get(role, frozenset())
    return frozenset(out)


class OAuthError(Exception):
    """A token request refused with an OAuth error body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        """Keycloak's JSON error body."""
        return {"error": self.error, "error_description": self.description}


@dataclass
class Client:
    """A client of a realm."""

    client_id: str
    secret: str | None
    """``None`` for a public client (``admin-cli``)."""
    service_account: bool = False
    roles: frozenset[str] = frozenset()
    """Realm-management roles of the service-account user."""


@dataclass
class Issued:
    """What a token grants."""

    realm: str
    """Realm the token was issued in (``master`` for administrators)."""
    roles: frozenset[str]
    expires_at: float
    all_realms: bool = False


@dataclass
class Realms:
    """The realms' clients and administrators, and every token issued."""

    clock: Callable[[], float] = time.time
    clients: dict[str, dict[str, Client]] = field(default_factory=dict)
    admins: dict[str, str] = field(default_factory=dict)
    """Master-realm administrators: username → password."""
    tokens: dict[str, Issued] = field(default_factory=dict)

    def knows(self, realm: str) -> bool:
        """Whether the realm exists."""
        return realm in self.clients

    def add_client(self, realm: str, client: Client) -> None:
        """Register a client in a realm (creating the realm)."""
        self.clients.setdefault(realm, {})[client.client_id] = client

    def issue(self, realm: str, roles: frozenset[str], all_realms: bool = False) -> str:
        """A new access token."""
        token = secrets.token_urlsafe(32)
        expires = self.clock() + TOKEN_LIFETIME
        self.tokens[token] = Issued(realm, effective_roles(roles), expires, all_realms)
        return token

    def expire_all(self) -> None:
        """Every token issued so far is expired."""
        for issued in self.tokens.values():
            issued.expires_at = 0.0

    def check(self, authorization: str | None) -> Issued | None:
        """The grant behind a ``Bearer`` header; ``None`` when missing, unknown or expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        issued = self.tokens.get(authorization[7:].strip())
        if issued is None or issued.expires_at <= self.clock():
            return None
        return issued

    def token_request(
        self, realm: str, form: Mapping[str, str], authorization: str | None
    ) -> dict[str, object]:
        """Answer a token request or raise :class:`OAuthError`."""
        if not self.knows(realm):
            raise OAuthError(404, "Realm does not exist", "Realm does not exist")
        client_id, secret = client_credentials(form, authorization)
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "Missing form parameter: grant_type")
        if grant not in ("client_credentials", "password"):
            raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
        client = self.authenticate(realm, client_id, secret)
        if grant == "client_credentials":
            return self._service_account(realm, client)
        return self._password(realm, client, form)

    def authenticate(self, realm: str, client_id: str | None, secret: str | None) -> Client:
        """The realm's client with this id, when the secret is right (else :class:`OAuthError`)."""
        client = self.clients[realm].get(client_id or "")
        if client is None:
            raise OAuthError(401, "invalid_client", "Invalid client or Invalid client credentials")
        if client.secret is not None and secret != client.secret:
            raise OAuthError(
                401, "unauthorized_client", "Invalid client or Invalid client credentials"
            )
        return client

    def _service_account(self, realm: str, client: Client) -> dict[str, object]:
        if client.secret is None:
            raise OAuthError(
                401, "unauthorized_client", "Public client not allowed to retrieve service account"
            )
        if not client.service_account:
            raise OAuthError(
                400, "unauthorized_client", "Client not enabled to retrieve service account"
            )
        token = self.issue(realm, client.roles)
        return _token_body(token, refresh=None)

    def _password(self, realm: str, client: Client, form: Mapping[str, str]) -> dict[str, object]:
        username, password = form.get("username", ""), form.get("password", "")
        if realm != "master" or self.admins.get(username.lower()) != password or not password:
            raise OAuthError(401, "invalid_grant", "Invalid user credentials")
        token = self.issue(realm, frozenset({"realm-admin"}), all_realms=True)
        return _token_body(token, refresh=secrets.token_urlsafe(32))


def _token_body(token: str, refresh: str | None) -> dict[str, object]:
    body: dict[str, object] = {
        "access_token": token,
        "expires_in": TOKEN_LIFETIME,
        "refresh_expires_in": REFRESH_LIFETIME if refresh else 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "profile email",
    }
    if refresh:
        body["refresh_token"] = refresh
        body["session_state"] = secrets.token_hex(16)
    return body


def client_credentials(
    form: Mapping[str, str], authorization: str | None
) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic (preferred, as Keycloak does) or the form."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            raw = base64.b64decode(authorization[6:].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(400, "invalid_request", "Invalid Basic authorization") from None
        user, _, password = raw.partition(":")
        return unquote(user), unquote(password)
    return form.get("client_id"), form.get("client_secret")
