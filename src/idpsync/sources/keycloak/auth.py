"""Keycloak's administrator sign-in: the password grant through the public ``admin-cli``.

The service-account path uses :class:`idpsync.auth.ClientSecret`; this is the other one.
"""

from __future__ import annotations

from pydantic import SecretStr

from idpsync.auth.base import CachedTokenProvider, Token, parse_token_response, token_error
from idpsync.http import ConcreteEndpoint, HttpClient
from idpsync.http.redact import register_secret


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
