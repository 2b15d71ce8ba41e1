"""Reading and writing stored photos (tables: :mod:`idpsync.store.photo_tables`).

The writes run inside a sync run's transaction (:mod:`idpsync.app.photo_round` decides what
to write); :class:`StoredPhotos` is what delivery reads through
(:class:`idpsync.photos.PhotoReader`).

On PostgreSQL the writes take a transaction-scoped advisory lock first: the bytes are shared
between connectors, and without it one connector's garbage collection could delete a blob that
another connector's run, not yet committed, has just decided to point at (SQLite's
``BEGIN IMMEDIATE`` already serialises writers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.model import DirUser
from idpsync.photos import Photo
from idpsync.store.photo_tables import photo_blobs as _blobs
from idpsync.store.photo_tables import user_photos as _rows
from idpsync.store.store import Store, now

CHUNK = 500
"""Ids per ``IN (…)`` list (well under SQLite's and PostgreSQL's parameter limits)."""


@dataclass(frozen=True, slots=True)
class PhotoState:
    """What the store holds for one user's photo."""

    version: str | None = None
    """The version whose bytes are stored (``None``: none stored)."""
    digest: str | None = None
    """The stored bytes' digest."""
    wanted: str | None = None
    """The newest version the source reported."""
    refused: str | None = None
    """A version that failed the checks (not downloaded again)."""
    reason: str | None = None
    """Why ``refused`` was refused."""

    def needs(self, ref: str) -> bool:
        """Whether version ``ref`` must still be downloaded."""
        return ref not in (self.version, self.refused)

    @property
    def pending(self) -> bool:
        """Whether a version was reported that is neither stored nor refused."""
        return self.wanted is not None and self.needs(self.wanted)


def states(conn: Connection, connector: str) -> dict[str, PhotoState]:
    """Every stored photo state of ``connector``, by IdP user id."""
    c = _rows.c
    query = sa.select(c.source_id, c.version, c.digest, c.wanted, c.refused, c.reason)
    found = conn.execute(query.where(c.connector == connector))
    return {sid: PhotoState(*rest) for sid, *rest in found}


def lock(conn: Connection) -> None:
    """Serialise photo writes across connectors until the transaction ends (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('idpsync:photos'))"))


def keep_blobs(conn: Connection, photos: Iterable[Photo]) -> int:
    """Store the bytes of ``photos`` not stored yet (by digest); returns how many were new."""
    unique = {p.digest: p for p in photos}
    if not unique:
        return 0
    known: set[str] = set()
    for part in _chunks(list(unique), CHUNK):
        known.update(conn.scalars(sa.select(_blobs.c.digest).where(_blobs.c.digest.in_(part))))
    at = now()
    new = [
        {"digest": d, "content_type": p.content_type, "size": len(p.data), "data": p.data}
        for d, p in unique.items()
        if d not in known
    ]
    if new:
        conn.execute(_blobs.insert(), [{**row, "stored_at": at} for row in new])
    return len(new)


def put_states(conn: Connection, connector: str, found: Mapping[str, PhotoState]) -> None:
    """Replace the rows of the users in ``found`` with their new state."""
    forget(conn, connector, found)
    at = now()
    rows = [
        {
            "connector": connector,
            "source_id": sid,
            "version": s.version,
            "digest": s.digest,
            "wanted": s.wanted,
            "refused": s.refused,
            "reason": s.reason,
            "updated_at": at,
        }
        for sid, s in found.items()
    ]
    for part in _chunks(rows, CHUNK):
        conn.execute(_rows.insert(), part)


def forget(conn: Connection, connector: str, source_ids: Iterable[str]) -> None:
    """Delete the photo rows of these users (their bytes stay until :func:`collect_garbage`)."""
    c = _rows.c
    for part in _chunks(list(source_ids), CHUNK):
        conn.execute(_rows.delete().where(c.connector == connector, c.source_id.in_(part)))


def collect_garbage(conn: Connection) -> int:
    """Delete the bytes no user's row points at any more; returns how many blobs went."""
    used = sa.exists().where(_rows.c.digest == _blobs.c.digest)
    return conn.execute(_blobs.delete().where(~used)).rowcount or 0


def blob_count(conn: Connection) -> int:
    """How many distinct images the store holds."""
    return int(conn.scalar(sa.select(sa.func.count()).select_from(_blobs)) or 0)


class StoredPhotos:
    """The store as a :class:`~idpsync.photos.PhotoReader` for delivery.

    A user's photo is found by IdP id and version: only bytes downloaded for the user's
    current ``photo_ref`` are returned, never an older picture. ``connector`` narrows the
    lookup to one connector's users; without it the version alone disambiguates (two
    connectors reading the same IdP user hold the same bytes for the same version).
    """

    def __init__(self, store: Store, connector: str | None = None) -> None:
        self.store = store
        self.connector = connector

    def user_photo(self, user: DirUser) -> Photo | None:
        """The bytes of ``user``'s current photo, or ``None`` (none, or not downloaded yet)."""
        if user.photo_ref is None:
            return None
        b, c = _blobs.c, _rows.c
        where: list[Any] = [c.source_id == user.source_id, c.version == user.photo_ref]
        if self.connector is not None:
            where.append(c.connector == self.connector)
        query = sa.select(b.digest, b.content_type, b.data).join(_rows, c.digest == b.digest)
        with self.store.read() as conn:
            row = conn.execute(query.where(*where).limit(1)).first()
        return None if row is None else Photo(row[0], row[1], bytes(row[2]))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
