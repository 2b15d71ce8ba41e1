"""A small HTTP source for the tests: client credentials, two listing endpoints, probes."""

from __future__ import annotations

from pydantic import SecretStr

from idpsync.auth import ClientSecret
from idpsync.diagnostics import read_probe, token_probe
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient
from idpsync.model import Snapshot, SourceUser
from idpsync.sources.base import Probe, Progress, Source, no_progress

TOKEN = Endpoint("token", "POST", "{base}/oauth2/token", "obtain an access token", token=True)
USERS = Endpoint("list_users", "GET", "/v1/users", "list users", permission="users.read")
MEMBER_OF = Endpoint(
    "member_of", "GET", "/v1/users/{id}/groups", "groups of a user", permission="groups.read"
)
ENDPOINTS = (TOKEN, USERS, MEMBER_OF)


class DemoSource(Source):
    """Reads ``/v1/users`` with a client-credentials token from ``token_base``."""

    type = "demo"

    def __init__(self, http: HttpClient, token_base: str, client_id: str, secret: str) -> None:
        super().__init__()
        self.http = http
        self.stats = http.stats
        self.token_target = TOKEN.resolve("", {"base": token_base})
        http.auth = ClientSecret(
            http,
            self.token_target,
            client_id,
            SecretStr(secret),
            scope="users.read",
            connector="demo",
        )

    def endpoints(self) -> list[ConcreteEndpoint]:
        return [
            self.token_target,
            USERS.resolve(self.http.base_url),
            MEMBER_OF.resolve(self.http.base_url, partial=True),
        ]

    def probes(self) -> list[Probe]:
        assert isinstance(self.http.auth, ClientSecret)
        return [
            token_probe(self.http.auth, TOKEN),
            read_probe(self.http, USERS, params={"limit": "1"}),
        ]

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        body = await self.http.get_json(USERS)
        snap = Snapshot()
        for item in body["users"]:
            snap.users.append(SourceUser(source_id=item["id"], login=item["login"]))
        return snap

    async def aclose(self) -> None:
        await self.http.aclose()
