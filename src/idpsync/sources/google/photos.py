"""Users' photos from Google: their versions from the listing, their bytes when they changed.

The users listing gives each user's ``thumbnailPhotoEtag`` (the ETag of their photo): that is
the photo's version (``photo_ref``), so a read costs no photo request at all. The bytes come
from ``GET users/{userKey}/photos/thumbnail`` (web-safe base64 ``photoData`` with its
``mimeType``), asked for by the run only for a user whose version the store does not hold
(:mod:`idpsync.app.photo_round`): an unchanged photo is never downloaded again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from idpsync.photos import RawPhoto
from idpsync.sources.google import api as g
from idpsync.sources.google.endpoints import PHOTO

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource


def version(item: Mapping[str, Any]) -> str | None:
    """A listed user's photo version: its ``thumbnailPhotoEtag`` (``None``: no photo)."""
    etag = item.get("thumbnailPhotoEtag")
    return str(etag) if isinstance(etag, str) and etag else None


async def bytes_of(source: GoogleSource, user_id: str, at: str) -> RawPhoto | None:
    """The user's photo bytes, one thumbnail request (``None``: no photo now).

    They are recorded as the bytes of version ``at``, the ETag the read saw: should the photo
    have changed since, the next read sees a new ETag and downloads it again.
    """
    body = await source.http.get_json(PHOTO, {"userKey": user_id})
    return None if body is None else replace(g.photo_raw(body), version=at)
