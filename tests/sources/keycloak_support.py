"""Helpers for the Keycloak connector tests: a source over an emulator, and the ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.http import set_testing
from idpsync.http.settings import HttpSettings
from idpsync.sources.keycloak import http_client
from idpsync.sources.keycloak.reader import KeycloakSource, request_count
from idpsync.sources.keycloak.settings import KeycloakSourceSettings

BASE = "http://kc.test"


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    """Retries without real waiting."""
    set_testing(True)
    yield
    set_testing(False)


def settings_for(emu: KeycloakEmulator, **overrides: Any) -> KeycloakSourceSettings:
    """Service-account settings for ``emu`` (``overrides`` replace any key)."""
    raw: dict[str, Any] = {
        "type": "keycloak",
        "base_url": BASE,
        "realm": emu.realm,
        "client_id": emu.client_id,
        "client_secret": SecretStr(emu.client_secret),
        "http": HttpSettings(max_attempts=2),
    }
    raw.update(overrides)
    raw = {k: v for k, v in raw.items() if v is not None}
    return KeycloakSourceSettings.model_validate(raw)


def source_over(
    settings: KeycloakSourceSettings, transport: httpx.AsyncBaseTransport
) -> KeycloakSource:
    """A connector with its own HTTP client over ``transport``."""
    return KeycloakSource(settings, http_client(settings, transport))


def source_for(emu: KeycloakEmulator, **overrides: Any) -> KeycloakSource:
    """A connector talking to ``emu`` in-process."""
    return source_over(settings_for(emu, **overrides), emu.transport())


@dataclass
class Truth:
    """What a perfect read of the emulator holds."""

    users: dict[str, str]
    """id → username."""
    paths: dict[str, str]
    """group id → path."""
    names: dict[str, str]
    """group id → name."""
    user_edges: set[tuple[str, str]]
    group_edges: set[tuple[str, str]]
    """(parent, child)."""

    def flattened(self, parents: dict[str, str | None]) -> set[tuple[str, str]]:
        """User edges copied to every ancestor."""
        out = set()
        for gid, uid in self.user_edges:
            node: str | None = gid
            while node is not None:
                out.add((node, uid))
                node = parents[node]
        return out


def truth(emu: KeycloakEmulator) -> Truth:
    """The emulator's current realm as the connector should read it."""
    t, tree = emu.tenant, emu.tree()
    return Truth(
        users={u.id: u.alias.lower() for u in t.users.values()},
        paths=dict(tree.paths),
        names={g: t.groups[g].name for g in tree.parent},
        user_edges={(g, m) for g in tree.parent for m in t.groups[g].members if m in t.users},
        group_edges={(p, c) for c, p in tree.parent.items() if p is not None},
    )


def expected_requests(
    emu: KeycloakEmulator, detection: int, page: int = 1_000_000, mpage: int = 1_000_000
) -> int:
    """The module docstring's formula for ``emu``'s realm."""
    t, tree = emu.tenant, emu.tree()
    subs = [len(tree.children.get(g, [])) for g in tree.parent] if emu.shape >= 23 else []
    members = [sum(1 for m in t.groups[g].members if m in t.users) for g in tree.parent]
    return request_count(
        len(t.users), len(tree.children.get(None, [])), subs, members, page, mpage, detection
    )
