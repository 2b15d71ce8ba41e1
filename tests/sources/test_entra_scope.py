"""Entra token scope: from the national cloud (or ``scope``), never from ``base_url``'s host."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest

from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.http import set_testing
from idpsync.http.errors import TokenError
from idpsync.sources.entra import http_client as client
from idpsync.sources.entra.reader import EntraSource
from idpsync.sources.entra.settings import EntraSourceSettings
from tests.sources.entra_support import source_settings


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


class Recording(httpx.AsyncBaseTransport):
    """The emulator's transport, remembering every token request's form."""

    def __init__(self, emu: EntraEmulator) -> None:
        self.inner = emu.transport()
        self.scopes: list[str] = []
        self.token_urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            form = dict(parse_qsl((await request.aread()).decode()))
            self.scopes.append(form.get("scope", ""))
            self.token_urls.append(str(request.url))
        return await self.inner.handle_async_request(request)


def source(
    emu: EntraEmulator, transport: httpx.AsyncBaseTransport, **options: object
) -> EntraSource:
    settings = source_settings(emu, **options)
    return EntraSource(settings, client(settings, transport=transport), policy=PolicySettings())


async def test_a_gateway_base_url_still_asks_entra_for_graph() -> None:
    emu = EntraEmulator.generate(users=12, groups=3, seed=4)
    recording = Recording(emu)
    src = source(emu, recording, base_url="https://graph-gw.corp.example/v1.0")
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete and len(snap.users) == 12
    assert set(recording.scopes) == {"https://graph.microsoft.com/.default"}


@pytest.mark.parametrize(
    ("cloud", "scope", "login", "graph"),
    [
        ("global", "https://graph.microsoft.com/.default", "login.microsoftonline.com",
         "https://graph.microsoft.com/v1.0/users"),
        ("usgov", "https://graph.microsoft.us/.default", "login.microsoftonline.us",
         "https://graph.microsoft.us/v1.0/users"),
        ("dod", "https://dod-graph.microsoft.us/.default", "login.microsoftonline.us",
         "https://dod-graph.microsoft.us/v1.0/users"),
        ("china", "https://microsoftgraph.chinacloudapi.cn/.default", "login.chinacloudapi.cn",
         "https://microsoftgraph.chinacloudapi.cn/v1.0/users"),
    ],
)  # fmt: skip
async def test_the_cloud_chooses_hosts_and_scope(
    cloud: str, scope: str, login: str, graph: str
) -> None:
    emu = EntraEmulator.generate(users=5, groups=2, seed=4)
    recording = Recording(emu)
    settings = source_settings(emu, cloud=cloud).model_copy(
        update={"base_url": None, "token_url": None}
    )
    src = EntraSource(settings, client(settings, transport=recording), policy=PolicySettings())
    urls = [e.url for e in src.endpoints()]
    assert urls[0] == f"https://{login}/{emu.tenant.tenant_id}/oauth2/v2.0/token"
    assert graph in urls
    snap = await src.snapshot()  # the in-process emulator answers for any host
    await src.aclose()
    assert snap.complete
    assert set(recording.scopes) == {scope}
    assert recording.token_urls[0].startswith(f"https://{login}/")


async def test_an_explicit_scope_wins_and_an_unknown_resource_is_explained() -> None:
    emu = EntraEmulator.generate(users=5, groups=2, seed=4)
    recording = Recording(emu)
    src = source(emu, recording, scope="https://graph-gw.corp.example/.default")
    with pytest.raises(TokenError) as caught:
        await src.snapshot()
    await src.aclose()
    assert recording.scopes == ["https://graph-gw.corp.example/.default"]
    error = caught.value
    assert error.error_code == "invalid_resource"
    assert error.cause.startswith(
        "the token scope names a resource Entra does not know (AADSTS500011)"
    )
    assert error.remedy == (
        "set cloud to the tenant's national cloud (global, usgov, dod or china) and leave "
        "scope unset; base_url's host never belongs in the scope"
    )


def test_unknown_cloud_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="cloud"):
        EntraSourceSettings.model_validate(
            {"type": "entra", "tenant": "t", "client_id": "c", "client_secret": "env:X",
             "cloud": "mars"}
        )  # fmt: skip
