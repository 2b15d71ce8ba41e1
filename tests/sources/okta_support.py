"""Helpers for the Okta tests: a fake clock shared by emulator and pacer, source builders, truth."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import httpx
from pydantic import SecretStr

from idpsync.emulators.framework import Charge
from idpsync.emulators.okta import OktaEmulator
from idpsync.emulators.okta.limits import bucket_of as emulator_bucket
from idpsync.sources.okta import http_client
from idpsync.sources.okta.reader import OktaSource
from idpsync.sources.okta.settings import OktaSourceSettings

ORG = "https://acme.okta.test"


class FakeClock:
    """Epoch time that only moves when someone sleeps (the pacer) or a test says so."""

    def __init__(self) -> None:
        self.now = float(math.floor(time.time()))
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class RecordingEmulator(OktaEmulator):
    """An Okta emulator that also notes which bucket and minute window each request hit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.windows: Counter[tuple[str, int]] = Counter()

    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        charge = super().charge(method, path, query, headers)
        bucket = emulator_bucket(path)
        if bucket and charge is not None and not charge.retry_after:
            self.windows[(bucket, math.floor(self.clock() / 60))] += 1
        return charge


def emulator(
    users: int = 450, groups: int = 30, seed: int = 7, **options: Any
) -> RecordingEmulator:
    """A generated org on a fake clock (``options['clock']`` wins)."""
    options.setdefault("clock", FakeClock())
    emu = RecordingEmulator.generate(users=users, groups=groups, seed=seed, **options)
    assert isinstance(emu, RecordingEmulator)
    return emu


def source(
    emu: OktaEmulator,
    *,
    oauth: bool = False,
    concurrency: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
    **settings: Any,
) -> OktaSource:
    """An Okta source talking to ``emu`` in-process (or through ``transport``), paced on the
    emulator's clock."""
    if oauth:
        app = emu.register_app()
        settings.setdefault("client_id", app.client_id)
        settings.setdefault("private_key", SecretStr(app.private_key_pem))
        settings.setdefault("key_id", app.key_id)
    else:
        settings.setdefault("api_token", SecretStr(emu.api_token))
    config = OktaSourceSettings(type="okta", base_url=ORG, **settings)
    clock = emu.clock if isinstance(emu.clock, FakeClock) else None
    http = http_client(
        config,
        transport=transport or emu.transport(),
        default_concurrency=concurrency,
        clock=clock,
        sleep=clock.sleep if clock else None,
    )
    return OktaSource(config, http)


def pages(n: int, size: int) -> int:
    """Pages of a listing of ``n`` items at ``size`` per page."""
    return max(1, math.ceil(n / size))


def expected_requests(
    emu: OktaEmulator,
    *,
    oauth: bool = False,
    deprovisioned: bool = True,
    types: tuple[str, ...] = ("OKTA_GROUP", "APP_GROUP", "BUILT_IN"),
    groups_page: int = 10000,
) -> int:
    """The request formula of ``idpsync.sources.okta.reader``, from the emulator's ground truth."""
    t = emu.tenant
    gone = sum(1 for uid in t.users if emu.status_of(uid) == "DEPROVISIONED")
    total = pages(len(t.users) - gone, 200) + pages(len(t.groups), groups_page)
    total += pages(gone, 200) if deprovisioned else 0
    total += sum(
        pages(len(g.members), 1000) for gid, g in t.groups.items() if emu.group_type(gid) in types
    )
    return total + (1 if oauth else 0)


def truth(emu: OktaEmulator, active: frozenset[str]) -> dict[str, Any]:
    """What a complete sync must hold: users with active flags, group names, user edges."""
    t = emu.tenant
    return {
        "users": {uid: emu.status_of(uid) in active for uid in t.users},
        "groups": {gid: g.name for gid, g in t.groups.items()},
        "memberships": {(gid, m) for gid, g in t.groups.items() for m in g.members},
    }
