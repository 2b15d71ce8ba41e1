"""The photo store on SQLite and PostgreSQL: deduplicated bytes, versions, garbage, removals."""

from __future__ import annotations

from idpsync.app import photo_round
from idpsync.app.photo_round import PhotoRound
from idpsync.model import DirUser, Snapshot, SourceUser
from idpsync.photos import Photo, PhotoLimits, RawPhoto, digest
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.store import Store
from idpsync.store import photos as stored
from idpsync.store.photos import PhotoState, StoredPhotos
from idpsync.store.stage import DeltaSnapshot

FACE = b"\xff\xd8\xff\xe0 a face \xff\xd9"
OTHER = b"\xff\xd8\xff\xe0 another \xff\xd9"


def photo(data: bytes) -> Photo:
    return Photo(digest(data), "image/jpeg", data)


def user(sid: str, ref: str | None) -> SourceUser:
    return SourceUser(sid, f"{sid}@example.com", photo_ref=ref)


def keep(store: Store, name: str, rows: dict[str, tuple[str, bytes]]) -> None:
    """Store ``rows`` (user id → version, bytes) as one run would."""
    work = PhotoRound({}, active=True)
    for sid, (version, data) in rows.items():
        work.photos.append(photo(data))
        work.after[sid] = PhotoState(version, digest(data), version)
    with store.transaction() as conn:
        photo_round.record(conn, name, work, Snapshot(complete=False))


def blobs(store: Store) -> int:
    with store.read() as conn:
        return stored.blob_count(conn)


def states(store: Store, name: str = "c") -> dict[str, PhotoState]:
    with store.read() as conn:
        return stored.states(conn, name)


def test_the_same_bytes_are_stored_once(store: Store) -> None:
    keep(store, "c", {"u1": ("v1", FACE), "u2": ("v7", FACE)})
    keep(store, "d", {"u1": ("v1", FACE)})
    assert blobs(store) == 1
    with store.transaction() as conn:
        assert stored.keep_blobs(conn, [photo(FACE), photo(OTHER)]) == 1


def test_the_reader_returns_only_the_current_version(store: Store) -> None:
    keep(store, "c", {"u1": ("v1", FACE)})
    keep(store, "d", {"u1": ("w1", OTHER)})
    reader = StoredPhotos(store, "c")
    found = reader.user_photo(DirUser("u1", "u1", photo_ref="v1"))
    assert found == Photo(digest(FACE), "image/jpeg", FACE)
    assert reader.user_photo(DirUser("u1", "u1", photo_ref="v2")) is None  # not downloaded yet
    assert reader.user_photo(DirUser("u1", "u1", photo_ref=None)) is None
    assert reader.user_photo(DirUser("u1", "u1", photo_ref="w1")) is None  # the other connector
    assert StoredPhotos(store).user_photo(DirUser("u1", "u1", photo_ref="w1")) is not None


def test_an_incomplete_read_forgets_nothing(store: Store) -> None:
    keep(store, "c", {"u1": ("v1", FACE), "u2": ("v2", OTHER)})
    work = PhotoRound(states(store), active=True)
    with store.transaction() as conn:
        snap = Snapshot([user("u1", None)], complete=False)
        photo_round.record(conn, "c", work, snap)
    assert set(states(store)) == {"u1", "u2"} and blobs(store) == 2


def test_a_complete_read_forgets_gone_photos_and_users_and_their_bytes(store: Store) -> None:
    keep(store, "c", {"u1": ("v1", FACE), "u2": ("v2", OTHER), "u3": ("v3", FACE)})
    work = PhotoRound(states(store), active=True)
    with store.transaction() as conn:  # u1 has no photo now, u2 is gone, u3 still shows FACE
        photo_round.record(conn, "c", work, Snapshot([user("u1", None), user("u3", "v3")]))
    assert set(states(store)) == {"u3"} and blobs(store) == 1
    work = PhotoRound(states(store), active=True)
    with store.transaction() as conn:  # a complete delta removes the users it names only
        delta = DeltaSnapshot([user("u9", None)], removed_users=["u3"])
        photo_round.record(conn, "c", work, delta)
    assert states(store) == {} and blobs(store) == 0


def test_a_user_skipped_by_the_read_keeps_the_photo(store: Store) -> None:
    keep(store, "c", {"u1": ("v1", FACE)})
    snap = Snapshot([])
    snap.skip("user", "u1", "u1", "a bad record")
    with store.transaction() as conn:
        photo_round.record(conn, "c", PhotoRound(states(store), active=True), snap)
    assert set(states(store)) == {"u1"}


def test_what_a_state_still_needs() -> None:
    state = PhotoState(version="v1", digest="d", wanted="v3", refused="v2", reason="too large")
    assert not state.needs("v1") and not state.needs("v2") and state.needs("v3")
    assert state.pending and not PhotoState("v1", "d", "v1").pending


async def test_a_pending_user_a_complete_read_no_longer_lists_is_not_downloaded() -> None:
    before = {
        "gone": PhotoState(wanted="v1"),
        "kept": PhotoState(wanted="v2"),
        "removed": PhotoState(wanted="v3"),
    }
    asked: list[str] = []

    class Source(NoSource):
        def photo_limits(self) -> PhotoLimits:
            return PhotoLimits()

        async def photo(self, source_id: str, version: str) -> RawPhoto | None:
            asked.append(source_id)
            return RawPhoto(version, "image/jpeg", FACE)

    await photo_round.download(Source(), Snapshot([user("kept", "v2")]), before)
    assert asked == ["kept"]
    asked.clear()  # an incomplete read: the unseen wait their turn
    await photo_round.download(Source(), Snapshot([], complete=False), before)
    assert sorted(asked) == ["gone", "kept", "removed"]
    asked.clear()
    await photo_round.download(Source(), DeltaSnapshot([], removed_users=["removed"]), before)
    assert sorted(asked) == ["gone", "kept"]


class NoSource(Source):
    type = "test"

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        return Snapshot()
