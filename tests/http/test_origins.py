"""Credentials and next-page links stay on the configured origins (issue #26, point 1).

Each connector's HTTP client is asked, with a working token, to follow a next-page link to
another origin and to send an authenticated request there; both are refused before anything
is sent (the emulator sees no request; the hostile server on 127.0.0.2 sees none either).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr

from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.framework import Emulator
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient, build_http_client, errors
from idpsync.http.settings import HttpSettings
from idpsync.sources.entra import endpoints as entra_endpoints
from idpsync.sources.entra import http_client as entra_client
from idpsync.sources.entra.reader import EntraSource
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.sources.google import endpoints as google_endpoints
from idpsync.sources.keycloak import endpoints as keycloak
from idpsync.sources.keycloak.reader import KeycloakSource
from idpsync.sources.okta import endpoints as okta
from idpsync.sources.onelogin import endpoints as onelogin_endpoints
from idpsync.targets.client import TargetClient
from idpsync.targets.errors import TargetDown
from tests.http.conftest import SECRET, assert_clean
from tests.http.demo_source import USERS, DemoSource
from tests.http.hostile import Hostile
from tests.http.idp import FakeIdp
from tests.http.servers import LocalServer, Reply
from tests.sources import google_support, keycloak_support, okta_support, onelogin_support

pytestmark = pytest.mark.asyncio

Built = tuple[Emulator, HttpClient, Endpoint, dict[str, str]]


async def entra() -> Built:
    emu = EntraEmulator.generate(users=5, groups=2, seed=1)
    settings = EntraSourceSettings.model_validate(
        {
            "type": "entra",
            "tenant": emu.tenant.tenant_id,
            "client_id": emu.client_id,
            "client_secret": SecretStr(emu.client_secret),
            "base_url": "http://graph.test/v1.0",
            "token_url": f"http://login.test/{emu.tenant.tenant_id}/oauth2/v2.0/token",
        }
    )
    http = entra_client(settings, transport=emu.transport())
    source = EntraSource(settings, http, policy=PolicySettings())
    return emu, source.http, entra_endpoints.USERS, {}


async def google() -> Built:
    emu = GoogleEmulator.generate(users=5, groups=2, seed=1)
    return emu, google_support.source(emu).http, google_endpoints.USERS, {}


async def keycloak_() -> Built:
    emu = KeycloakEmulator.generate(users=5, groups=2, seed=1)
    source = keycloak_support.source_for(emu)
    assert isinstance(source, KeycloakSource)
    await source.prepare()  # detects the path prefix
    return emu, source.http, keycloak.USERS, dict(source.values)


async def okta_() -> Built:
    emu = okta_support.emulator(users=5, groups=2)
    return emu, okta_support.source(emu).http, okta.USERS, {}


async def onelogin() -> Built:
    emu = OneLoginEmulator.generate(users=5, groups=2, seed=1)
    source = onelogin_support.source(emu, onelogin_support.connector(emu))
    return emu, source.http, onelogin_endpoints.USERS, {}


CONNECTORS: dict[str, Callable[[], Awaitable[Built]]] = {
    "entra": entra,
    "google": google,
    "keycloak": keycloak_,
    "okta": okta_,
    "onelogin": onelogin,
}


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
async def test_each_connector_refuses_foreign_links_and_credentials(kind: str) -> None:
    emu, http, endpoint, values = await CONNECTORS[kind]()
    try:
        header = await http.auth.authorization() if http.auth else ""  # a working token
        assert header
        before = len(emu.requests.entries())
        with Hostile() as evil:
            link = f"{evil.origin}/page2?cursor=abc"
            with pytest.raises(errors.ForeignOrigin) as followed:
                await http.request(endpoint, values, url=link)
            with pytest.raises(errors.ForeignOrigin) as sent:
                await http.request(ConcreteEndpoint(endpoint, f"{evil.origin}/users"))
            assert evil.requests == []
        assert len(emu.requests.entries()) == before  # refused before anything was sent
    finally:
        await http.aclose()
    assert followed.value.origin == evil.origin == sent.value.origin
    assert f"another origin, {evil.origin}" in str(followed.value)
    assert "incomplete" in str(followed.value)
    assert f"refused to send credentials to {evil.origin}" in str(sent.value)
    token = header.split(" ", 1)[1]
    assert token not in str(followed.value) + str(sent.value)


async def test_a_same_origin_relative_link_is_followed() -> None:
    async with LocalServer(FakeIdp()) as server:
        http = build_http_client(HttpSettings(max_attempts=1), base_url=server.url)
        source = DemoSource(http, server.url, "app", SECRET)
        response = await source.http.request(USERS, url="/v1/users?page=2")
        await source.aclose()
    assert response.status_code == 200
    assert server.requests[-1].query == {"page": "2"}


@pytest.mark.parametrize(
    "link",
    [
        "https://127.0.0.1:{port}/v1/users",  # same host, other scheme
        "http://127.0.0.1:1/v1/users",  # same host, other port
        "http://localhost:{port}/v1/users",  # another name for the same host
    ],
)
async def test_scheme_port_and_host_all_count(link: str) -> None:
    async with LocalServer(FakeIdp()) as server:
        http = build_http_client(HttpSettings(max_attempts=1), base_url=server.url)
        source = DemoSource(http, server.url, "app", SECRET)
        with pytest.raises(errors.ForeignOrigin):
            await source.http.request(USERS, url=link.format(port=server.port))
        await source.aclose()
        assert server.requests == []  # not even the token was fetched


async def test_a_token_endpoint_on_its_own_origin_is_allowed_and_nothing_else() -> None:
    async with LocalServer(FakeIdp()) as api, LocalServer(FakeIdp()) as login:
        http = build_http_client(HttpSettings(max_attempts=1), base_url=api.url)
        source = DemoSource(http, login.url, "app", SECRET)
        allowed = http.credential_origins()
        await source.aclose()
    assert allowed == {("http", "127.0.0.1", api.port), ("http", "127.0.0.1", login.port)}


async def test_a_redirect_is_never_followed() -> None:
    with Hostile() as evil:
        target = f"{evil.origin}/v1/users?page=2"
        redirect = FakeIdp(users=lambda _r, _i: Reply(302, headers={"Location": target}))
        async with LocalServer(redirect) as server:
            http = build_http_client(HttpSettings(max_attempts=1), base_url=server.url)
            source = DemoSource(http, server.url, "app", SECRET)
            with pytest.raises(errors.ForeignOrigin) as info:
                await source.snapshot()
            await source.aclose()
        assert evil.requests == []
    assert f"redirect to {evil.origin}" in str(info.value)
    assert info.value.status == 302
    assert_clean(str(info.value))


async def test_credentials_in_explicit_headers_count_too() -> None:
    with Hostile() as evil:
        http = build_http_client(HttpSettings(max_attempts=1), base_url="http://127.0.0.1:1")
        target = ConcreteEndpoint(USERS, f"{evil.origin}/v1/users")
        with pytest.raises(errors.ForeignOrigin):
            await http.request(target, headers={"authorization": "Basic " + SECRET})
        unauthenticated = await http.request(target)  # no secret: an ordinary request
        await http.aclose()
        assert evil.credentials_seen() == []
        assert len(evil.requests) == 1
    assert unauthenticated.status_code == 200


async def target_client(base: str) -> tuple[HttpClient, TargetClient]:
    client = build_http_client(HttpSettings(max_attempts=1), base_url=base)
    return client, TargetClient(client, authorization="Bearer " + SECRET)


@pytest.mark.parametrize("path", ["{evil}/scim/v2/Users/1", "{evil_https}/Users"])
async def test_a_target_refuses_urls_off_its_origin(path: str) -> None:
    with Hostile() as evil:
        async with LocalServer(lambda _r: Reply(200, {"Resources": []})) as scim:
            client, layer = await target_client(scim.url + "/scim/v2/")
            url = path.format(evil=evil.origin, evil_https=f"https://127.0.0.1:{scim.port}")
            users = Endpoint("list_users", "GET", "/Users", "list users")
            with pytest.raises(TargetDown) as info:
                await layer.send(ConcreteEndpoint(users, url))
            ok = await layer.send(users)  # its own origin still works
            await client.aclose()
        assert evil.requests == []
    assert ok.status_code == 200
    assert "refused to send a request to" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("kind", ["scim", "crowd"])
async def test_every_target_call_stays_on_the_targets_origin(kind: str) -> None:
    from idpsync.config import TargetSettings
    from idpsync.http.origins import origin_of
    from idpsync.targets import base_url, endpoints

    extra = {"application": "app", "password": SecretStr("pw")} if kind == "crowd" else {}
    settings = TargetSettings.model_validate(
        {"type": kind, "url": "https://app.example.com:8443/base", **extra}
    )
    table = endpoints(settings)
    assert len({e.name for e in table}) == len(table) > 5
    for endpoint in table:
        url = endpoint.resolve(base_url(settings), partial=True).url
        assert url.startswith(base_url(settings) + "/"), url
        assert origin_of(url) == ("https", "app.example.com", 8443)
