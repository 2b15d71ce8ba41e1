"""httpcore asks for ``sniffio`` several times per request; an absent one is not searched for."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest

from idpsync.emulators.entra import EntraEmulator
from idpsync.http import build_httpx_client
from idpsync.http.settings import HttpSettings


class Spy(MetaPathFinder):
    """Records every module the import system goes looking for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.names.append(fullname)
        return None


async def test_a_missing_sniffio_is_not_searched_for_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = build_httpx_client(HttpSettings())
    if sys.modules.get("sniffio") is not None:
        await client.aclose()
        pytest.skip("sniffio is installed: httpcore imports it once and keeps it")
    spy = Spy()
    with EntraEmulator.generate(users=3, groups=1).serve() as server:
        monkeypatch.setattr(sys, "meta_path", [spy, *sys.meta_path])
        async with client:
            for _ in range(3):  # real connections: httpcore's pool, locks and events
                response = await client.get(f"{server.url}/v1.0/users")
                assert response.status_code == 401
    assert "sniffio" not in spy.names
