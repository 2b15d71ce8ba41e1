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


DEFAULT_MAX_BYTES = 100 * 1024
"""The default largest photo kept (``photo_max_bytes``): IdP thumbnails and Graph's 240×240
JPEGs are a few KiB to a few tens of KiB, so anything past this is not a profile photo."""

DEFAULT_BUDGET = 500
"""The default number of photos a run downloads (``photo_budget``); the rest wait."""


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    """How much photo downloading one run of a connector may do."""

    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest photo kept; a larger one is refused."""
    budget: int = DEFAULT_BUDGET
    """Photos downloaded per run; the others are pending until the next run."""


@dataclass(frozen=True, slots=True)
class RawPhoto:
    """A photo as a source received it, before any check."""

    version: str
    """The ``photo_ref`` these bytes belong to."""
    content_type: str
    """The type the IdP declared (``Content-Type`` or ``mimeType``), as sent."""
    data: bytes
    """The bytes."""


class PhotoRefused(Exception):
    """A photo that may not be kept: too large, or not an image of :data:`IMAGE_TYPES`."""


_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
"""The leading bytes of each image type (its file signature)."""


def sniffed_type(data: bytes) -> str | None:
    """The image type ``data`` starts like, or ``None``."""
    for kind, signatures in _MAGIC.items():
        if data.startswith(signatures):
            return kind
    return None


def checked(raw: RawPhoto, max_bytes: int) -> Photo:
    """``raw`` as a :class:`Photo`, or :class:`PhotoRefused` with a reason a person can act on.

    Both the declared type and the bytes must say the same image type: a declared JPEG whose
    bytes are HTML (an error page, a proxy's login form) is not a photo, and neither is a file
    whose bytes look like an image under a type no target accepts.
    """
    size = len(raw.data)
    if size > max_bytes:
        raise PhotoRefused(f"too large: {size:,} bytes, more than photo_max_bytes ({max_bytes:,})")
    declared = raw.content_type.split(";", 1)[0].strip().lower()[:64]
    if declared not in IMAGE_TYPES:
        allowed = ", ".join(sorted(IMAGE_TYPES))
        raise PhotoRefused(f"content type {declared or 'missing'!r} is not one of {allowed}")
    found = sniffed_type(raw.data)
    if found != declared:
        seen = found or "no known image format"
        raise PhotoRefused(f"declared {declared} but the bytes are {seen}")
    return Photo(digest(raw.data), declared, raw.data)
