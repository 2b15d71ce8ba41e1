"""Users' photos as bytes, shared by the sources, the store and the targets.

The sources download them, the store keeps them (content-addressed, so a picture many users
share is kept once) and the targets deliver them.

A user's ``photo_ref`` (:class:`idpsync.model.DirUser`) is the IdP's *version* of the photo (an
etag or a hash): it decides whether the bytes must be downloaded again. A :class:`Photo` is the
bytes themselves, named by their :func:`digest`, which decides whether a target must receive them
again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from idpsync.model import DirUser

IMAGE_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/gif"})
"""The content types a photo may have; anything else is refused when it is downloaded."""


def digest(data: bytes) -> str:
    """The name of a photo's bytes: ``sha256:`` and the hex digest."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo's bytes, as stored and delivered."""

    digest: str
    """:func:`digest` of :attr:`data`."""
    content_type: str
    """One of :data:`IMAGE_TYPES`."""
    data: bytes
    """The image itself."""


class PhotoReader(Protocol):
    """Where delivery finds a user's current photo (the store implements it)."""

    def user_photo(self, user: DirUser) -> Photo | None:
        """The bytes of ``user``'s photo at its current ``photo_ref``.

        ``None`` when the user has no photo or its bytes were not (yet) downloaded.
        """
        ...
