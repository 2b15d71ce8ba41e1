"""Keycloak's sign-in: where the realm is served, and the token of whoever reads it.

Keycloak 16 and older serve everything under ``/auth``. Unless ``auth_prefix`` says which,
:class:`RealmRoot` asks once (``GET {root}/realms/{realm}``, then under ``/auth``) before
the first token request; the answer becomes the ``{base}`` of every endpoint.

:class:`SignIn` is the token flow the HTTP client is built with: on its first token request it
finds the root, then signs in either as a confidential client's service account
(:class:`idpsync.auth.ClientSecret`) or as an administrator through the public ``admin-cli``
(:class:`PasswordGrant`), at the token endpoint of that root. :func:`missing_role` says, in
Keycloak's words, which role a refused (403) reader lacks.
"""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from idpsync.auth import ClientSecret
from idpsync.auth.base import CachedTokenProvider, Token, parse_token_response, token_error
from idpsync.errors import SourceError
from idpsync.http import ConcreteEndpoint, HttpClient
from idpsync.http import errors as e
from idpsync.http.redact import register_secret
from idpsync.sources.keycloak.endpoints import REALM, root_url, token_target
from idpsync.sources.keycloak.settings import KeycloakSourceSettings


class PasswordGrant(CachedTokenProvider):
    """An administrator's token: ``grant_type=password`` through the public ``admin-cli``."""

    def __init__(
        self,
        http: HttpClient,
        token_endpoint: ConcreteEndpoint,
        client_id: str,
        username: str,
        password: SecretStr,
    ) -> None:
        super().__init__()
        self.http, self.token_endpoint = http, token_endpoint
        http.allow_credentials_to(token_endpoint.url)
        self.client_id, self.username, self.password = client_id, username, password
        register_secret(password.get_secret_value())

    async def fetch(self) -> Token:
        """Post the administrator's credentials."""
        form = {
            "grant_type": "password",
            "client_id": self.client_id,
            "username": self.username,
            "password": self.password.get_secret_value(),
        }
        response = await self.http.request(
            self.token_endpoint, data=form, authenticate=False, accept=(400, 401)
        )
        if response.status_code in (400, 401):
            raise token_error(response, self.token_endpoint, credential="password")
        return parse_token_response(response, target=self.token_endpoint)


class RealmRoot:
    """The server's root URL for this realm: configured, or found by asking (see above)."""

    def __init__(self, settings: KeycloakSourceSettings) -> None:
        self.settings = settings
        self.configured = root_url(settings)
        """``base_url`` (with ``/auth`` when ``auth_prefix = true``)."""
        self.found: str | None = self.configured if settings.auth_prefix is not None else None
        """The root the realm answered under; ``None`` until it is known."""
        self._lock = asyncio.Lock()

    @property
    def current(self) -> str:
        """The root found, else the configured one (for tables shown before any request)."""
        return self.found or self.configured

    async def url(self, http: HttpClient) -> str:
        """The root, asking the server first when ``auth_prefix`` is unset (once per run)."""
        if self.found is None:
            async with self._lock:
                if self.found is None:
                    self.found = await self._detect(http)
        return self.found

    async def _detect(self, http: HttpClient) -> str:
        realm = self.settings.realm
        for root in (self.configured, self.configured + "/auth"):
            target = REALM.resolve(root, {"base": root, "realm": realm})
            response = await http.request(target, authenticate=False, accept=(404,))
            if response.status_code == 200:
                return root
        raise SourceError(
            f"Keycloak realm {realm!r} not found at {self.configured}/realms/… nor at "
            f"{self.configured}/auth/realms/… . Remedy: check base_url (the server's root URL, "
            "without /admin) and realm"
        )


class SignIn(CachedTokenProvider):
    """The connector's token flow: the root first, then the configured kind of sign-in."""

    def __init__(self, http: HttpClient, settings: KeycloakSourceSettings, root: RealmRoot) -> None:
        super().__init__()
        self.http, self.settings, self.root = http, settings, root
        self._flow: CachedTokenProvider | None = None

    async def fetch(self) -> Token:
        """A new token from the token endpoint under the realm's root."""
        if self._flow is None:
            self._flow = self._sign_in(await self.root.url(self.http))
        return await self._flow.fetch()

    def _sign_in(self, root: str) -> CachedTokenProvider:
        s, target = self.settings, token_target(self.settings, root)
        if s.client_id is not None and s.client_secret is not None:
            return ClientSecret(self.http, target, s.client_id, s.client_secret)
        assert s.username is not None and s.password is not None
        return PasswordGrant(self.http, target, s.admin_client_id, s.username, s.password)


def missing_role(exc: e.Forbidden, settings: KeycloakSourceSettings) -> e.Forbidden:
    """A 403 in Keycloak's words: which realm-management role is missing, where to add it."""
    role = exc.target.endpoint.permission or "view-users"
    client, realm = settings.client_id, settings.realm
    if client:
        who = f"the service-account user of client {client!r}"
        where = f"Clients → {client} → Service account roles → Assign role"
    else:
        who = f"administrator {settings.username!r}"
        where = f"Users → {settings.username} → Role mapping → Assign role"
    cause = f"403 forbidden: {who} lacks the realm-management role {role!r} in realm {realm!r}"
    wanted = (
        "view-events (admin_events = true reads the realm's admin events)"
        if role == "view-events"
        else "view-users (it includes query-users and query-groups)"
    )
    remedy = (
        f"in the Keycloak admin console (realm {realm}) open {where} → Filter by clients → "
        f"realm-management and assign {wanted}"
    )
    return e.Forbidden(exc.target, cause, remedy, permission=role, status=exc.status)
