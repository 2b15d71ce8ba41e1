"""End-to-end: Entra photo bytes downloaded only for new versions, checked, stored, reported."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.app.runner import run_sync
from idpsync.cli import app
from idpsync.cli.sync import photo_line
from idpsync.emulators import Fault
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.entra.render import photo_bytes
from idpsync.emulators.tenant import TenantUser
from idpsync.http import set_testing
from idpsync.model import DirUser
from idpsync.photos import digest
from idpsync.store import Store
from idpsync.store import photos as stored
from idpsync.store.run_query import RunFilter, page
from tests.sources.entra_support import EntraWorld
from tests.test_cli import make_config

VALUE = "/v1.0/users/{id}/photo/$value"
JPEG = b"\xff\xd8\xff\xe0" + b"a face" * 20 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"a png" * 20


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def make(store: Store, **options: object) -> EntraWorld:
    emu = EntraEmulator.generate(users=30, groups=4, seed=5)
    world = EntraWorld(emu, store)
    world.options = {"fetch_photos": True, "fetch_managers": False, **options}
    return world


def sqlite(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'd.db'}")


def with_photo(world: EntraWorld) -> list[TenantUser]:
    return sorted((u for u in world.emu.tenant.users.values() if u.photo_version), key=str)


def set_photo(world: EntraWorld, user: TenantUser, data: bytes, kind: str = "image/jpeg") -> None:
    world.emu.tenant.set_photo(user.id, data=base64.b64encode(data).decode(), content_type=kind)


def downloads(world: EntraWorld) -> int:
    return world.emu.requests.count(VALUE)


def photo_of(world: EntraWorld, user_id: str) -> bytes | None:
    """What delivery would get for the user as the directory holds them now."""
    user: DirUser = world.directory().users[user_id]
    found = stored.StoredPhotos(world.store, world.name).user_photo(user)
    return None if found is None else found.data


def blobs(store: Store) -> int:
    with store.read() as conn:
        return stored.blob_count(conn)


async def test_downloaded_once_then_never_while_unchanged(store: Store) -> None:
    world = make(store)
    first = await world.sync()
    assert first.status == "succeeded", first.message
    users = with_photo(world)
    assert downloads(world) == len(users) > 2
    assert first.stats["photos_downloaded"] == len(users)
    assert first.details["photos"] == {"downloaded": len(users), "refused": [], "failed": [],
                                       "pending": 0}  # fmt: skip
    emulated = world.emu.tenant.users[users[0].id]
    assert photo_of(world, emulated.id) == photo_bytes(emulated)  # what Graph serves
    assert blobs(store) == len(users)

    world.emu.requests.clear()
    again = await world.sync(mode="full")
    assert again.status == "succeeded" and downloads(world) == 0
    assert again.stats["photos_downloaded"] == 0

    set_photo(world, emulated, JPEG)
    world.emu.requests.clear()
    changed = await world.sync(mode="full")
    assert downloads(world) == 1 and changed.stats["photos_downloaded"] == 1
    assert photo_of(world, emulated.id) == JPEG
    assert blobs(store) == len(users)  # the old picture is garbage, the new one stored
    world.emu.requests.clear()
    await world.sync(mode="incremental")
    assert downloads(world) == 0


async def test_refused_photos_are_reported_and_the_users_still_sync(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path), photo_max_bytes=500)
    big, html, png_as_jpeg, png = with_photo(world)[:4]
    set_photo(world, big, JPEG * 10)
    set_photo(world, html, b"<html>sign in</html>", "text/html")
    set_photo(world, png_as_jpeg, PNG, "image/jpeg")
    set_photo(world, png, PNG, "image/png")
    result = await world.sync()
    assert result.status == "succeeded", result.message
    reasons = {r["source_id"]: r["reason"] for r in result.details["photos"]["refused"]}
    assert set(reasons) == {big.id, html.id, png_as_jpeg.id}
    assert "too large" in reasons[big.id] and "photo_max_bytes (500)" in reasons[big.id]
    assert "'text/html'" in reasons[html.id]
    assert "declared image/jpeg but the bytes are image/png" in reasons[png_as_jpeg.id]
    assert result.stats["photos_refused"] == 3
    assert set(world.directory().users) == set(world.emu.tenant.users)  # everyone synced
    assert photo_of(world, png.id) == PNG and photo_of(world, big.id) is None
    row = world.store.run(result.run_id)
    assert row is not None
    listed = page(world.store, row, RunFilter(outcome="photo_refused"), 10, 0)
    assert {e["source_id"] for e in listed.entries} == set(reasons)
    assert "JPEG" not in str(row["report"]) and "sign in" not in str(row["report"])

    world.emu.requests.clear()
    await world.sync(mode="full")  # a refused version is not downloaded again
    assert downloads(world) == 0
    set_photo(world, big, JPEG)
    await world.sync(mode="full")
    assert downloads(world) == 1 and photo_of(world, big.id) == JPEG


async def test_a_refused_new_version_keeps_the_stored_bytes(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path), photo_max_bytes=500)
    user = with_photo(world)[0]
    set_photo(world, user, JPEG)
    await world.sync()
    set_photo(world, user, JPEG * 10)
    result = await world.sync(mode="full")
    assert result.stats["photos_refused"] == 1
    assert photo_of(world, user.id) is None  # not the user's current version …
    with world.store.read() as conn:
        assert stored.states(conn, world.name)[user.id].digest == digest(JPEG)  # … but kept


async def test_the_budget_leaves_the_rest_pending_for_the_next_runs(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path), photo_budget=2)
    users = with_photo(world)
    first = await world.sync()
    assert first.status == "succeeded"
    assert downloads(world) == 2
    assert first.details["photos"]["pending"] == len(users) - 2
    assert len(world.directory().users) == len(world.emu.tenant.users)
    got = {u.id for u in users if photo_of(world, u.id) is not None}
    assert len(got) == 2
    world.emu.requests.clear()
    second = await world.sync(mode="incremental")  # a delta sees no change, yet the pending go
    assert second.stats["read"] == "delta"
    assert downloads(world) == 2 and second.stats["photos_pending"] == len(users) - 4
    got = {u.id for u in users if photo_of(world, u.id) is not None}
    assert len(got) == 4


async def test_two_users_with_the_same_picture_share_one_stored_copy(store: Store) -> None:
    world = make(store)
    one, two = with_photo(world)[:2]
    set_photo(world, one, JPEG)
    set_photo(world, two, JPEG)
    await world.sync()
    assert photo_of(world, one.id) == photo_of(world, two.id) == JPEG
    assert blobs(store) == len(with_photo(world)) - 1


async def test_gone_photos_and_users_take_their_bytes_with_them(store: Store) -> None:
    world = make(store)
    one, two, three = with_photo(world)[:3]
    set_photo(world, one, JPEG)
    set_photo(world, two, JPEG)
    await world.sync()
    count = blobs(store)
    world.emu.tenant.set_photo(one.id, present=False)
    await world.sync(mode="full")
    assert blobs(store) == count  # two still shows it
    world.emu.tenant.set_photo(two.id, present=False)
    world.emu.tenant.delete_user(three.id)
    await world.sync(mode="full")
    assert blobs(store) == count - 2
    with world.store.read() as conn:
        assert not {one.id, two.id, three.id} & set(stored.states(conn, world.name))


async def test_an_incomplete_read_removes_no_photo(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path))
    user = with_photo(world)[0]
    await world.sync()
    count = blobs(world.store)
    world.emu.tenant.set_photo(user.id, present=False)
    world.emu.inject(Fault("status", "/v1.0/groups/{id}/members", status=503, times=0))
    result = await world.sync(mode="full")
    assert result.status == "partial", result.message
    assert blobs(world.store) == count
    with world.store.read() as conn:
        assert stored.states(conn, world.name)[user.id].digest is not None


async def test_a_refused_permission_stops_the_downloads_but_not_the_sync(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path))
    world.emu.inject(Fault("status", VALUE, status=403, times=0))
    result = await world.sync()
    assert result.status == "succeeded", result.message
    assert len(world.directory().users) == len(world.emu.tenant.users)
    failed = result.details["photos"]["failed"]
    assert failed and all("ProfilePhoto.Read.All" in f["reason"] for f in failed)
    assert downloads(world) < len(with_photo(world))  # stopped (those in flight answered)
    assert result.stats["photos_pending"] + len(failed) == len(with_photo(world))
    world.emu.faults.clear()
    world.emu.requests.clear()
    await world.sync(mode="full")
    assert downloads(world) == len(with_photo(world))  # the failed and the pending, next run


async def test_a_single_user_sync_downloads_only_that_users_photo(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path), photo_budget=0)
    first = await world.sync()
    assert downloads(world) == 0 and first.stats["photos_pending"] == len(with_photo(world))
    world.options["photo_budget"] = 5
    user = with_photo(world)[0]
    world.emu.requests.clear()
    result = await world.sync_user(user.id)
    assert result.status == "succeeded", result.message
    assert downloads(world) == 1 and result.details["photos"]["downloaded"] == 1
    assert photo_of(world, user.id) == photo_bytes(world.emu.tenant.users[user.id])
    assert len(states_of(world)) == len(with_photo(world))  # the others still wait


async def test_a_dry_run_downloads_nothing(tmp_path: Path) -> None:
    world = make(sqlite(tmp_path))
    source = world.source()
    try:
        result = await run_sync(world.store, world.name, world.settings(), source, dry_run=True)
    finally:
        await source.aclose()
    assert result.status == "dry_run" and downloads(world) == 0
    assert states_of(world) == {}


def states_of(world: EntraWorld) -> dict[str, stored.PhotoState]:
    with world.store.read() as conn:
        return stored.states(conn, world.name)


async def test_runs_show_lists_the_refusals_and_sync_prints_the_counts(tmp_path: Path) -> None:
    store = sqlite(tmp_path)
    world = make(store, photo_max_bytes=1000)
    big = with_photo(world)[0]
    set_photo(world, big, JPEG * 10)
    result = await world.sync()
    cfg = make_config(tmp_path, store.engine.url.render_as_string(hide_password=False))
    shown = CliRunner().invoke(
        app, ["runs", "show", str(result.run_id), "--outcome", "photo_refused", "-c", str(cfg)]
    )
    assert shown.exit_code == 0, shown.output
    assert "photo_refused (1)" in shown.output, shown.output
    assert "too large: 1,260 bytes" in re.sub(r"[│\s]+", " ", shown.output)
    whole = CliRunner().invoke(
        app, ["runs", "show", str(result.run_id), "--format", "report", "-c", str(cfg)]
    )
    assert json.loads(whole.stdout)["photos"]["refused"][0]["source_id"] == big.id
    text = photo_line(result.details["photos"], result.run_id)
    assert text.startswith(f"photos: {len(with_photo(world)) - 1} downloaded, 1 refused")
    assert f"idpsync runs show {result.run_id} --outcome photo_refused" in text
    assert (
        photo_line({"downloaded": 0, "pending": 3}, 1)
        == "photos: 0 downloaded, 3 pending (next run)"
    )
