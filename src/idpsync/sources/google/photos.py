"""Users' photos from Google: versions for the snapshot, and the bytes for the run.

Google has no photo metadata call: ``GET users/{userKey}/photos/thumbnail`` answers the image
itself (web-safe base64 ``photoData`` with its ``mimeType``), and ``photo_ref`` is a hash of
those bytes. So the read already holds the bytes the run would download. :class:`PhotoKeeper`
keeps them for the users whose version the store does not hold (the run tells it which it
holds, :meth:`~idpsync.sources.base.Source.known_photos`), up to the run's ``photo_budget``,
and the run takes those first (:meth:`~idpsync.sources.base.Source.photo_at_hand`) with no
second request. Only a user whose bytes were not kept (a photo left pending by an earlier run
and not read in this one) costs one more thumbnail request, when the budget has room left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.http.failure import FailureRule
from idpsync.model import Snapshot
from idpsync.photos import RawPhoto
from idpsync.sources.google import api as g
from idpsync.sources.google.endpoints import PHOTO
from idpsync.sources.lanes import Lanes, gather

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource


class PhotoKeeper:
    """The bytes of photos read this run whose version the store does not hold yet."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}
        """Version stored per user id (given before the read)."""
        self.kept: dict[str, RawPhoto] = {}
        """Bytes read per user id, only of versions not in :attr:`known`."""
        self.room = 0
        """How many photos to keep at most: the run's ``photo_budget`` (memory stays bounded
        however many photos are new; the run takes the kept ones first)."""

    def remember(self, versions: Mapping[str, str], room: int) -> None:
        """The versions the store holds (bytes of those are not kept), and the room."""
        self.known, self.room = dict(versions), room
        self.kept.clear()

    def received(self, user_id: str, raw: RawPhoto) -> None:
        """A photo read: kept when its version is new to the store and there is room."""
        if self.known.get(user_id) != raw.version and (
            user_id in self.kept or len(self.kept) < self.room
        ):
            self.kept[user_id] = raw


async def read_ref(source: GoogleSource, user_id: str) -> str | None:
    """The user's photo version (``None``: no photo), keeping new bytes for the run."""
    body = await source.http.get_json(PHOTO, {"userKey": user_id})
    if body is None:
        return None
    raw = g.photo_raw(body)
    source.photo_keeper.received(user_id, raw)
    return raw.version


async def read_refs(
    source: GoogleSource,
    snap: Snapshot,
    users: list[dict[str, Any]],
    lanes: Lanes,
    rule: FailureRule,
) -> dict[str, str | None]:
    """Every listed user's photo version (one thumbnail request per user with a photo).

    A user whose photo could not be read is left out (and the snapshot marked incomplete).
    """

    async def one(item: dict[str, Any]) -> tuple[str, str | None] | None:
        uid = str(item["id"])
        if not item.get("thumbnailPhotoEtag"):
            return uid, None
        try:
            async with lanes.other():
                return uid, await read_ref(source, uid)
        except SourceError as exc:  # an HttpError, or a photo of the wrong shape
            if rule.fatal(exc):
                raise
            snap.mark_incomplete(f"photo of {item.get('primaryEmail')}: {exc}")
            return None

    found = await gather(*(one(item) for item in users))
    return dict(pair for pair in found if pair is not None)


async def bytes_of(source: GoogleSource, user_id: str) -> RawPhoto | None:
    """The bytes kept from the read, else one thumbnail request (``None``: no photo now)."""
    kept = source.photo_keeper.kept.pop(user_id, None)
    if kept is not None:
        return kept
    body = await source.http.get_json(PHOTO, {"userKey": user_id})
    return None if body is None else g.photo_raw(body)
