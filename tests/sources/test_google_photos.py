"""End-to-end: a Google photo's bytes are requested only when its ETag changed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.emulators.google import GoogleEmulator
from idpsync.model import DirUser
from idpsync.store import Store
from idpsync.store.photos import StoredPhotos
from tests.sources.google_support import connector, sa_settings, source

THUMBNAIL = "/admin/directory/v1/users/*/photos/thumbnail"
GIF = b"GIF89a" + b"a small gif" * 10


pytestmark = pytest.mark.usefixtures("no_sleep")


async def sync(emu: GoogleEmulator, store: Store, **options: object) -> RunResult:
    settings = sa_settings(emu, fetch_photos=True, **options)
    src = source(emu, settings)
    try:
        return await run_sync(store, "gws", connector(settings), src, mode="full")
    finally:
        await src.aclose()


def photo_of(store: Store, user_id: str) -> bytes | None:
    with store.transaction() as conn:
        user: DirUser = store.load_directory(conn, "gws").users[user_id]
    found = StoredPhotos(store).user_photo(user)  # no connector: the version decides
    return None if found is None else found.data


async def test_a_photo_is_downloaded_once_and_again_only_when_its_etag_changes(
    tmp_path: Path,
) -> None:
    emu = GoogleEmulator.generate(users=40, groups=3, seed=2)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    t = emu.tenant
    with_photo = [u for u, user in t.users.items() if user.photo_version]
    first = await sync(emu, store)
    assert first.status == "succeeded", first.message
    assert emu.requests.count(THUMBNAIL) == len(with_photo) > 1  # the downloads only
    assert first.stats["photos_downloaded"] == len(with_photo)
    assert photo_of(store, t.gid(with_photo[0])) is not None

    emu.requests.clear()
    same = await sync(emu, store)
    assert emu.requests.count(THUMBNAIL) == 0 and same.stats["photos_downloaded"] == 0

    user = with_photo[0]
    t.set_photo(user, data=base64.b64encode(GIF).decode(), content_type="image/gif")
    emu.requests.clear()
    again = await sync(emu, store)
    assert emu.requests.count(THUMBNAIL) == 1 and again.stats["photos_downloaded"] == 1
    assert photo_of(store, t.gid(user)) == GIF
    store.close()


async def test_a_declared_type_google_does_not_allow_is_refused(tmp_path: Path) -> None:
    emu = GoogleEmulator.generate(users=20, groups=2, seed=2)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    t = emu.tenant
    user = next(u for u, x in t.users.items() if x.photo_version)
    t.set_photo(user, data=base64.b64encode(b"BM" + b"\0" * 60).decode(), content_type="image/bmp")
    result = await sync(emu, store)
    assert result.status == "succeeded"
    refused = result.details["photos"]["refused"]
    assert [r["source_id"] for r in refused] == [t.gid(user)]
    assert "'image/bmp'" in refused[0]["reason"]
    assert photo_of(store, t.gid(user)) is None
    store.close()


async def test_a_budget_downloads_that_many_a_run_and_none_twice(tmp_path: Path) -> None:
    emu = GoogleEmulator.generate(users=40, groups=3, seed=2)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    with_photo = [u for u, user in emu.tenant.users.items() if user.photo_version]
    stored = 0
    for _ in range(2):
        emu.requests.clear()
        result = await sync(emu, store, photo_budget=2)
        stored += result.stats["photos_downloaded"]
        assert emu.requests.count(THUMBNAIL) == 2  # this run's downloads, never one twice
        assert result.stats["photos_downloaded"] == 2
        assert result.stats["photos_pending"] == len(with_photo) - stored
    store.close()
