"""Downloading a user's photo bytes from Graph (``GET /users/{id}/photo/$value``).

The reader learns each photo's version from its metadata (``/photo``, the ``@odata.mediaEtag``);
the run asks for the bytes only of versions the store does not hold
(:mod:`idpsync.app.photo_round`), one request each. Graph answers the raw image with its
``Content-Type`` (``image/jpeg``), and 404 ``ImageNotFound`` when the user has no photo (any
more). The bytes are taken to be of the version just read: should the photo change in between,
the next read sees a new version and downloads it again.
"""

from __future__ import annotations

from idpsync.http import HttpClient
from idpsync.http.errors import NotFound
from idpsync.photos import RawPhoto
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra import records as rec

ACCEPT = {"Accept": "application/octet-stream, application/json"}
"""What Microsoft's own SDK sends for ``$value`` (the bytes, or a JSON error)."""


async def download(http: HttpClient, user_id: str, version: str) -> RawPhoto | None:
    """The photo of ``user_id`` as Graph sends it; ``None`` when the user has no photo now."""
    try:
        response = await http.request(ep.PHOTO_VALUE, {"id": user_id}, headers=ACCEPT)
    except NotFound as exc:
        if rec.is_missing(exc, "ImageNotFound"):
            return None
        raise
    return RawPhoto(version, response.headers.get("content-type", ""), response.content)
