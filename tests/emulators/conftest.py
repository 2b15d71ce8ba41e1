from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from idpsync.emulators.entra import EntraEmulator

BASE = "http://graph.test"


@pytest.fixture
def emu() -> EntraEmulator:
    return EntraEmulator.generate(users=60, groups=20, seed=3)


@pytest.fixture
async def client(emu: EntraEmulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as http:
        yield http


async def get_all(client: httpx.AsyncClient, url: str, **kw: Any) -> list[dict[str, Any]]:
    """Follow @odata.nextLink to the end; fail on a repeated link."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    next_url: str | None = url
    while next_url:
        assert next_url not in seen, f"repeated next link {next_url}"
        seen.add(next_url)
        response = await client.get(next_url, **kw)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        next_url = body.get("@odata.nextLink")
    return items
