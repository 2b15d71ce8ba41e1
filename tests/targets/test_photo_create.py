"""A new user's photo goes in the create request: SCIM ``POST /Users``, LDAP add.

No request more than for a user without a photo; the photo pass then has nothing to send.
A photo the create cannot carry (bytes not there yet, a type the target cannot hold, a create
refused with it) follows in the photo pass as before.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from idpsync.store import Store
from idpsync.targets import http_client, photo_state, run_delivery
from idpsync.targets.session import DeliveryResult
from idpsync.targets.state import TargetState
from tests.targets.scim_support import Directory, ScimServer, target_settings
from tests.targets.slapd_support import Slapd
from tests.targets.strict_scim import ScimFail, StrictScim
from tests.targets.test_photos_e2e import (
    JPEG,
    PNG,
    Photos,
    decoded,
    deliver_ldap,
    deliver_scim,
    jpeg_photo,
    scim_photos,
)
from tests.targets.test_scim_strict import URL


def digests(store: Store, name: str) -> dict[str, tuple[str | None, bool]]:
    """Each mapped user's recorded photo digest and mark."""
    rows = photo_state.rows(TargetState(store, name), everyone=True)
    return {r.source_id: (r.digest, r.pending) for r in rows}


@pytest.mark.slow
async def test_scim_creates_the_user_with_the_photo_in_the_post(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    photos = Photos()
    photos.put("v1", JPEG)
    directory.user("u1", "ada", photo_ref="v1")
    directory.user("u2", "bob", photo_ref="v2")  # bytes not downloaded yet
    await directory.sync(sqlite_store)
    first, counting = await deliver_scim(sqlite_store, scim_server.url, photos)
    writes = [(m, path, b'"photos"' in body) for m, path, body in counting.writes]
    assert writes == [("POST", "/v2/Users", True), ("POST", "/v2/Users", False)]
    assert first.counts == {"photos_sent": 1}
    (value,) = scim_photos(scim_server.url)["ada"]
    assert (value["type"], value["primary"]) == ("photo", True)
    assert decoded(value["value"]) == ("image/jpeg", JPEG)
    held = digests(sqlite_store, "scim")
    assert held["u1"] == (photos.by_ref["v1"].digest, False)
    assert held["u2"] == (None, True)  # waits for its bytes, marked

    photos.put("v2", JPEG)
    again, counting = await deliver_scim(sqlite_store, scim_server.url, photos)
    assert [m for m, _, _ in counting.writes] == ["PATCH"]  # bob's, now that it is there
    assert again.counts == {"photos_sent": 1}


@pytest.mark.slow
async def test_ldap_adds_the_entry_with_its_jpeg_and_a_png_follows_as_before(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    photos = Photos()
    photos.put("v1", JPEG)
    photos.put("v2", PNG, "image/png")
    directory.user("u1", "ada", photo_ref="v1")
    directory.user("u2", "bob", photo_ref="v2")
    await directory.sync(sqlite_store)
    first, modified = await deliver_ldap(sqlite_store, slapd, photos)
    assert modified == []  # no modify after the adds: the JPEG went with ada's
    assert jpeg_photo(slapd, "ada") == [JPEG] and jpeg_photo(slapd, "bob") == []
    assert first.counts == {"photos_sent": 1, "photo_unsupported": 1}
    assert "bob (u2)" in first.warnings[0] and "image/png" in first.warnings[0]

    again, modified = await deliver_ldap(sqlite_store, slapd, photos, reconcile=True)
    assert modified == [] and "photos_sent" not in again.counts


async def test_a_create_refused_with_the_photo_still_creates_the_person(
    sqlite_store: Store, directory: Directory
) -> None:
    server = StrictScim()

    def no_photos(method: str, path: str, body: Any) -> ScimFail | None:
        if body and "photos" in json.dumps(body):
            return ScimFail(413, "request body too large")
        return None

    server.reject = no_photos
    photos = Photos()
    photos.put("v1", JPEG)
    directory.user("u1", "ada", photo_ref="v1")
    await directory.sync(sqlite_store)
    settings = target_settings(URL)
    async with http_client(settings, transport=httpx.ASGITransport(app=server)) as client:
        result: DeliveryResult = await run_delivery(
            sqlite_store, "scim", settings, client, photos=photos
        )
    assert result.status == "ok", result.message
    writes = [r for r in server.requests if not r.startswith("GET")]
    assert writes[:2] == ["POST /Users", "POST /Users"] and writes[2].startswith("PATCH /Users/")
    assert [u["userName"] for u in server.users.values()] == ["ada"]  # created, without photo
    assert "photos" not in next(iter(server.users.values()))
    assert result.counts == {"photo_rejected": 1}
    assert "ada (u1)" in result.warnings[0] and "too large" in result.warnings[0]
