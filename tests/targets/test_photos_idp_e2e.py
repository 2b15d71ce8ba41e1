"""A photo's whole way: Graph's bytes downloaded by a sync, stored, delivered to scim2-server
through the store's own reader (no reader given), and read back; sent again only on a change."""

from __future__ import annotations

import base64

import httpx
import pytest

from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.entra.render import photo_bytes
from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from idpsync.targets.session import DeliveryResult
from tests.sources.entra_support import EntraWorld
from tests.targets.scim_support import TOKEN, ScimServer, target_settings
from tests.targets.test_photos_e2e import Counting

pytestmark = pytest.mark.slow

JPEG = b"\xff\xd8\xff\xe0" + b"a new face" * 30 + b"\xff\xd9"


def held_photos(url: str) -> dict[str, bytes | None]:
    """Each user's photo bytes as scim2-server returns them (plain httpx, not idpsync's code)."""
    with httpx.Client(base_url=url + "/", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        users = c.get("Users", params={"count": 200}).json()["Resources"]
    held: dict[str, bytes | None] = {}
    for user in users:
        photos = user.get("photos")
        held[user["userName"]] = (
            base64.b64decode(photos[0]["value"].partition(",")[2]) if photos else None
        )
    return held


async def deliver(store: Store, url: str) -> tuple[DeliveryResult, int]:
    """Deliver with the store's own photos; the number of writes sent."""
    settings = target_settings(url)
    counting = Counting()
    async with http_client(settings, transport=counting) as client:
        result = await run_delivery(store, "scim", settings, client)
    assert result.status == "ok", result.message
    return result, len(counting.writes)


async def test_an_entra_photo_reaches_scim_once_and_again_only_when_it_changes(
    sqlite_store: Store, scim_server: ScimServer
) -> None:
    emu = EntraEmulator.generate(users=12, groups=2, seed=9)
    world = EntraWorld(emu, sqlite_store)
    world.options = {"fetch_photos": True, "fetch_managers": False}
    assert (await world.sync()).status == "succeeded"
    with_photo = [u for u in emu.tenant.users.values() if u.photo_version]
    assert len(with_photo) >= 2
    logins = {u.id: world.directory().users[u.id].login for u in emu.tenant.users.values()}

    first, _ = await deliver(sqlite_store, scim_server.url)
    assert first.counts.get("photos_sent") == len(with_photo)
    held = held_photos(scim_server.url)
    assert {logins[u.id]: held[logins[u.id]] for u in with_photo} == {
        logins[u.id]: photo_bytes(u) for u in with_photo
    }  # Graph's own bytes, byte for byte

    assert (await world.sync(mode="full")).status == "succeeded"
    again, writes = await deliver(sqlite_store, scim_server.url)
    assert writes == 0 and "photos_sent" not in again.counts

    changed = with_photo[0]
    emu.tenant.set_photo(changed.id, data=base64.b64encode(JPEG).decode())
    assert (await world.sync(mode="full")).status == "succeeded"
    after, writes = await deliver(sqlite_store, scim_server.url)
    assert after.counts.get("photos_sent") == 1 and writes == 1
    assert held_photos(scim_server.url)[logins[changed.id]] == JPEG
