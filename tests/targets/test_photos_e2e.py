"""Users' photos delivered into scim2-server and slapd, read back, and sent only when they change.

The bytes come from :class:`Photos`, a small in-memory photo store (``photo_ref`` → bytes),
standing in for the store that downloads them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import ldap3
import pytest

from idpsync.model import DirUser
from idpsync.photos import Photo, digest
from idpsync.store import Store
from idpsync.targets import http_client, photo_state, run_delivery
from idpsync.targets.delivery import deliver
from idpsync.targets.ldap import LdapTarget
from idpsync.targets.ldap_link import LdapLink
from idpsync.targets.session import DeliveryResult, Session
from idpsync.targets.state import TargetState
from tests.targets.scim_support import TOKEN, Directory, ScimServer, target_settings
from tests.targets.slapd_support import ROOT_DN, ROOT_PW, SUFFIX, Slapd, ldap_settings

pytestmark = pytest.mark.slow
T = TypeVar("T")

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
JPEG_2 = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(255, -1, -1)) * 8 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64)) * 4


class Photos:
    """An in-memory :class:`~idpsync.photos.PhotoReader`: bytes by the user's ``photo_ref``."""

    def __init__(self) -> None:
        self.by_ref: dict[str, Photo] = {}

    def put(self, ref: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self.by_ref[ref] = Photo(digest(data), content_type, data)

    def user_photo(self, user: DirUser) -> Photo | None:
        return self.by_ref.get(user.photo_ref) if user.photo_ref else None


class Counting(httpx.AsyncBaseTransport):
    """Forwards to the real server and records the writes (method, path, body)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.writes: list[tuple[str, str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes.append((request.method, request.url.path, request.content))
        return await self.inner.handle_async_request(request)


async def deliver_scim(
    store: Store,
    url: str,
    reader: Photos,
    *,
    dry_run: bool = False,
    photo_key: str = "photo",
    reconcile: bool = False,
) -> tuple[DeliveryResult, Counting]:
    settings = target_settings(url).model_copy(update={"attributes": {"photos": photo_key}})
    counting = Counting()
    async with http_client(settings, transport=counting) as client:
        result = await run_delivery(
            store, "scim", settings, client, photos=reader, dry_run=dry_run, reconcile=reconcile
        )
    assert result.status in ("ok", "dry_run"), result.message
    return result, counting


def scim_photos(url: str) -> dict[str, Any]:
    """Each user's ``photos`` as the server returns them (plain httpx, not idpsync's code)."""
    with httpx.Client(base_url=url + "/", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        users = c.get("Users", params={"count": 100}).json()["Resources"]
    return {u["userName"]: u.get("photos") for u in users}


def decoded(value: str) -> tuple[str, bytes]:
    head, _, data = value.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head[5:-7], base64.b64decode(data)


async def test_scim_photo_sent_once_then_only_when_its_bytes_change(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    photos = Photos()
    photos.put("v1", JPEG)
    directory.user("u1", "ada", photo_ref="v1")
    directory.user("u2", "bob")
    await directory.sync(sqlite_store)
    first, _ = await deliver_scim(sqlite_store, scim_server.url, photos)
    assert first.counts == {"photos_sent": 1} and first.warnings == []
    held = scim_photos(scim_server.url)
    assert held["bob"] is None
    (value,) = held["ada"]
    assert (value["type"], value["primary"]) == ("photo", True)
    assert decoded(value["value"]) == ("image/jpeg", JPEG)

    again, counting = await deliver_scim(sqlite_store, scim_server.url, photos)
    assert counting.writes == [] and again.counts == {}

    photos.put("v2", JPEG)  # a new version in the IdP, the same bytes: nothing to send
    directory.user("u1", "ada", photo_ref="v2")
    await directory.sync(sqlite_store)
    same, counting = await deliver_scim(sqlite_store, scim_server.url, photos)
    assert counting.writes == [] and same.counts == {}

    photos.put("v3", PNG, "image/png")
    directory.user("u1", "ada", photo_ref="v3")
    await directory.sync(sqlite_store)
    dry, counting = await deliver_scim(sqlite_store, scim_server.url, photos, dry_run=True)
    assert counting.writes == [] and dry.would_send == [
        f"PATCH {scim_server.url}/Users/" + _id(scim_server.url, "ada")
    ]
    changed, counting = await deliver_scim(sqlite_store, scim_server.url, photos)
    assert [(m, b'"photos"' in body) for m, _, body in counting.writes] == [("PATCH", True)]
    assert changed.counts == {"photos_sent": 1}
    assert decoded(scim_photos(scim_server.url)["ada"][0]["value"]) == ("image/png", PNG)

    directory.user("u1", "ada")  # the photo was removed in the IdP
    await directory.sync(sqlite_store)
    removed, _ = await deliver_scim(sqlite_store, scim_server.url, photos)
    assert removed.counts == {"photos_removed": 1}
    assert scim_photos(scim_server.url)["ada"] is None


def _id(url: str, login: str) -> str:
    with httpx.Client(base_url=url + "/", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        found = c.get("Users", params={"filter": f'userName eq "{login}"'}).json()["Resources"]
    return str(found[0]["id"])


async def test_scim_photo_waits_for_its_bytes_and_can_be_turned_off(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    photos = Photos()
    directory.user("u1", "ada", photo_ref="v1")
    await directory.sync(sqlite_store)
    off, _ = await deliver_scim(sqlite_store, scim_server.url, photos, photo_key="")
    assert off.counts == {}
    photos.put("v1", JPEG)
    _, counting = await deliver_scim(sqlite_store, scim_server.url, photos, photo_key="")
    assert counting.writes == [] and scim_photos(scim_server.url)["ada"] is None

    waiting = Photos()  # on, but the bytes are not downloaded yet: nothing sent, kept due
    none_yet, counting = await deliver_scim(sqlite_store, scim_server.url, waiting)
    assert counting.writes == [] and none_yet.counts == {}
    arrived, _ = await deliver_scim(sqlite_store, scim_server.url, photos, photo_key="thumbnail")
    assert arrived.counts == {"photos_sent": 1}  # no new change: the mark was kept
    (value,) = scim_photos(scim_server.url)["ada"]
    assert value["type"] == "thumbnail" and decoded(value["value"])[1] == JPEG


class CountingLink(LdapLink):
    """A real LDAP link that counts the modify operations it sends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.modified: list[str] = []

    async def run(self, operation: str, dn: str, call: Callable[[ldap3.Connection], T]) -> T:
        if operation == "MODIFY":
            self.modified.append(dn)
        return await super().run(operation, dn, call)


async def deliver_ldap(
    store: Store, slapd: Slapd, photos: Photos, *, reconcile: bool = False
) -> tuple[DeliveryResult, list[str]]:
    settings = ldap_settings(slapd.url)
    assert settings.ldap is not None
    link = CountingLink(url=slapd.url, bind_dn=ROOT_DN, password=ROOT_PW, timeout=5)
    target = LdapTarget(link, settings.options, settings.ldap)
    session = Session(store, "ldap", settings, target, photos=photos)
    try:
        result = await deliver(session, reconcile_first=reconcile)
    finally:
        await target.close()
    assert result.status == "ok", result.message
    return result, link.modified


def jpeg_photo(slapd: Slapd, login: str) -> list[bytes]:
    """``jpegPhoto`` of ``uid=login`` as slapd holds it (raw bytes)."""
    with slapd.connect() as conn:
        conn.search(
            f"uid={login},ou=people,{SUFFIX}",
            "(objectClass=*)",
            ldap3.BASE,
            attributes=["jpegPhoto"],
        )
        return list(conn.response[0]["raw_attributes"].get("jpegPhoto") or [])


async def test_ldap_jpeg_photo_replaced_only_on_change_and_a_png_is_not_delivered(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    photos = Photos()
    photos.put("v1", JPEG)
    photos.put("v2", JPEG_2)
    photos.put("v3", PNG, "image/png")
    directory.user("u1", "ada", photo_ref="v1", given_name="Ada", family_name="Lovelace")
    await directory.sync(sqlite_store)
    first, _ = await deliver_ldap(sqlite_store, slapd, photos)
    assert first.counts.get("photos_sent") == 1
    assert jpeg_photo(slapd, "ada") == [JPEG]

    again, modified = await deliver_ldap(sqlite_store, slapd, photos)
    assert modified == [] and again.counts == {}
    reconciled, modified = await deliver_ldap(sqlite_store, slapd, photos, reconcile=True)
    assert modified == [] and "photos_sent" not in reconciled.counts

    directory.user("u1", "ada", photo_ref="v2", given_name="Ada", family_name="Lovelace")
    await directory.sync(sqlite_store)
    changed, modified = await deliver_ldap(sqlite_store, slapd, photos)
    assert len(modified) == 1 and changed.counts == {"photos_sent": 1}
    assert jpeg_photo(slapd, "ada") == [JPEG_2]

    directory.user("u1", "ada", photo_ref="v3", given_name="Ada", family_name="Lovelace")
    await directory.sync(sqlite_store)
    png, _ = await deliver_ldap(sqlite_store, slapd, photos)
    assert png.counts == {"photo_unsupported": 1, "photos_removed": 1}
    assert "image/png" in png.warnings[0] and "ada (u1)" in png.warnings[0]
    assert jpeg_photo(slapd, "ada") == []  # the old JPEG is no longer ada's photo


async def test_ldap_down_during_the_photo_pass_keeps_the_mark_for_the_next_delivery(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    directory.user("u1", "ada", photo_ref="v1")
    await directory.sync(sqlite_store)
    waiting, _ = await deliver_ldap(sqlite_store, slapd, Photos())  # bytes not there yet
    assert waiting.counts == {} and jpeg_photo(slapd, "ada") == []
    photos = Photos()
    photos.put("v1", JPEG)
    slapd.kill()
    settings = ldap_settings(slapd.url)
    assert settings.ldap is not None
    link = CountingLink(url=slapd.url, bind_dn=ROOT_DN, password=ROOT_PW, timeout=2)
    target = LdapTarget(link, settings.options, settings.ldap)
    down = await deliver(Session(sqlite_store, "ldap", settings, target, photos=photos))
    await target.close()
    assert down.status == "down" and "photos_sent" not in down.counts
    assert [r.source_id for r in photo_state.rows(TargetState(sqlite_store, "ldap"))] == ["u1"]
    slapd.start()
    back, _ = await deliver_ldap(sqlite_store, slapd, photos)
    assert back.counts == {"photos_sent": 1} and jpeg_photo(slapd, "ada") == [JPEG]
