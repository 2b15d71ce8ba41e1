"""Helpers for the OneLogin connector tests: a source wired to an emulator in-process."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from idpsync.config import ConnectorSettings
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.model import DirectoryState, Snapshot
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.sources.onelogin import http_client
from idpsync.sources.onelogin.reader import OneLoginSource
from idpsync.sources.onelogin.settings import OneLoginSourceSettings
from idpsync.store import Store

BASE = "https://acme.onelogin.com"


class Clock:
    """A settable clock in epoch seconds, 10 minutes into an hour."""

    def __init__(self) -> None:
        self.now = 1_780_002_000.0 - 1_780_002_000.0 % 3600 + 600

    def __call__(self) -> float:
        return self.now


def settings(emu: OneLoginEmulator, **options: Any) -> OneLoginSourceSettings:
    """Source settings for the emulator (the secret passed as a resolved value)."""
    return OneLoginSourceSettings(
        type="onelogin",
        base_url=BASE,
        client_id=emu.client_id,
        client_secret=SecretStr(emu.client_secret),
        **options,
    )


def connector(emu: OneLoginEmulator, **options: Any) -> ConnectorSettings:
    """A connector around :func:`settings`."""
    return ConnectorSettings(source=settings(emu, **options))


def source(
    emu: OneLoginEmulator,
    cfg: ConnectorSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> OneLoginSource:
    """The connector's source over ``emu.transport()`` (or ``transport``)."""
    assert isinstance(cfg.source, OneLoginSourceSettings)
    http = http_client(cfg.source, connector="ol", transport=transport or emu.transport())
    return OneLoginSource(cfg.source, http)


def pages(n: int, size: int = 50) -> int:
    """P(n) of the module docstring."""
    return max(1, math.ceil(n / size))


def full_requests(users: int, groups: int, roles: int, mode: str) -> int:
    """The documented formula for a full snapshot."""
    g = 1 if mode in ("groups", "both") else 0
    r = 1 if mode in ("roles", "both") else 0
    return 1 + 1 + g * pages(groups) + r * pages(roles) + pages(users)


class Incremental(Source):
    """Drives :meth:`OneLoginSource.snapshot_since` through the ordinary runner."""

    type = "onelogin"

    def __init__(self, inner: OneLoginSource, since: datetime) -> None:
        super().__init__()
        self.inner, self.since = inner, since
        self.stats = inner.stats

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        return await self.inner.snapshot_since(self.since, progress)


class OtherIntegration(httpx.AsyncBaseTransport):
    """Spends the account's whole budget just before our ``nth`` request (a competing app)."""

    def __init__(self, emu: OneLoginEmulator, nth: int) -> None:
        self.emu, self.nth, self.seen = emu, nth, 0
        self.inner = emu.transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen == self.nth:
            self.emu.budget.exhaust(leave=0)
        return await self.inner.handle_async_request(request)


def open_store(path: Path) -> Iterator[Store]:
    """A SQLite store at ``path``, closed when the fixture that yields from it ends."""
    st = Store.open(f"sqlite:///{path}")
    yield st
    st.close()


def directory(store: Store) -> DirectoryState:
    """The ``ol`` connector's directory as the store holds it."""
    with store.transaction() as conn:
        return store.load_directory(conn, "ol")
