"""Entra connector: single-user reads, 429 storms, certificate credentials."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import idpsync.http.client as http_client
from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.http import set_testing
from idpsync.http.settings import HttpSettings
from idpsync.model import MemberKind
from idpsync.store import Store
from tests.emulators.certs import new_key, self_signed
from tests.sources.entra_support import EntraWorld


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def world_on(tmp_path: Path, emu: EntraEmulator, **kw: object) -> EntraWorld:
    return EntraWorld(emu, Store.open(f"sqlite:///{tmp_path / 'd.db'}"), **kw)  # type: ignore[arg-type]


async def test_fetch_user_by_guest_upn_with_groups_and_manager(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=150, groups=20, seed=4)
    world = world_on(tmp_path, emu, policy=PolicySettings(transitive=True))
    t = emu.tenant
    guest = next(u for u in t.users.values() if u.guest and t.direct_groups(u.id))
    source = world.source()
    snap = await source.fetch_user(t.login(guest))
    await source.aclose()
    assert snap is not None and snap.complete
    assert [u.source_id for u in snap.users] == [guest.id]
    user_edges = {e.group_id for e in snap.memberships if e.member_kind is MemberKind.USER}
    assert user_edges == set(t.direct_groups(guest.id))
    assert {g.source_id for g in snap.groups} == set(t.transitive_groups(guest.id))
    assert "#EXT#" in t.login(guest)
    assert emu.requests.count("/v1.0/users/{id}") == 1


async def test_sync_user_applies_one_users_change(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=150, groups=20, seed=4)
    world = world_on(tmp_path, emu)
    assert (await world.sync()).status == "succeeded"
    t = emu.tenant
    user = next(u for u in t.users.values() if not u.guest and u.manager_id)
    other = next(u for u in t.users.values() if u.id != user.id and not u.guest)
    t.update_user(user.id, display_name="Single Sync")
    t.update_user(other.id, display_name="Not Synced")
    t.set_manager(user.id, other.id)
    emu.requests.clear()
    result = await world.sync_user(user.id)
    assert result.ok, result.message
    state = world.directory()
    assert state.users[user.id].display_name == "Single Sync"
    assert state.users[user.id].manager_id == other.id
    assert state.users[other.id].display_name != "Not Synced"
    # token + user (with $expand=manager) + memberOf: no listing of the tenant
    assert len(emu.requests) == 3
    source = world.source()
    assert await source.fetch_user("nobody@contoso.example") is None
    await source.aclose()


class Recording(httpx.AsyncBaseTransport):
    """Counts requests in flight and the Retry-After of every 429."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.max_in_flight = 0
        self.retry_after: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1
        if response.status_code == 429:
            self.retry_after.append(float(response.headers["retry-after"]))
        return response


async def test_429_storm_completes_honouring_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    emu = EntraEmulator.generate(
        users=60, groups=8, seed=2, clock=lambda: now[0], bucket_capacity=8
    )
    waits: list[float] = []

    async def advance(seconds: float) -> None:  # the HTTP layer's wait moves the emulator's clock
        waits.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(http_client, "pause", advance)
    recording = Recording(emu.transport())
    # one request per listing (a batched read is throttled per item: test_entra_batch.py)
    plain = {"batch": False, "expand_members": False}
    world = world_on(tmp_path, emu, transport=recording, options=plain)
    http = HttpSettings(concurrency=4, max_attempts=30)
    result = await world.sync(http=http)
    assert result.status == "succeeded", result.message
    throttled = emu.requests.count("*", status=429)
    assert throttled > 5 and result.stats["throttled"] == throttled
    assert sorted(waits) == sorted(recording.retry_after)  # every wait is the server's
    assert result.stats["retry_wait_seconds"] == pytest.approx(sum(recording.retry_after))
    assert recording.max_in_flight <= 4
    assert len(world.directory().users) == 60


async def test_certificate_credential(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=30, groups=5, seed=1)
    key = new_key()
    cert = self_signed(key)
    emu.register_app("cert-app", certificate_pem=cert)
    from cryptography.hazmat.primitives import serialization

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "c.pem").write_bytes(cert)
    world = world_on(tmp_path, emu)
    settings = world.settings().source.model_dump()
    settings.update(
        client_id="cert-app",
        client_secret=None,
        certificate={
            "private_key": f"file:{tmp_path / 'k.pem'}",
            "certificate": f"file:{tmp_path / 'c.pem'}",
        },
    )
    from idpsync.sources.entra import http_client as client
    from idpsync.sources.entra.reader import EntraSource
    from idpsync.sources.entra.settings import EntraSourceSettings

    entra = EntraSourceSettings.model_validate(settings)
    src = EntraSource(entra, client(entra, transport=emu.transport()), policy=PolicySettings())
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete and len(snap.users) == 30
    form = [r for r in emu.requests.entries() if "oauth2" in r.path]
    assert form and form[0].status == 200
