"""The photos of one sync run: which bytes to download, the checks, and what the store keeps.

**Where.** The source reads each user's photo *version* (``photo_ref``) with the rest of the
snapshot; the bytes are downloaded here, after the read and before the run's transaction:

1. :func:`prepare`, before the read: the store's photo rows of the connector.
2. :func:`download`, after the read: every user whose version the store neither holds nor
   refused (and users left pending by an earlier run), the oldest waiters first, at most
   ``photo_budget`` of them; the others are
   *pending* and wait for the next run. Each photo is checked
   (:func:`idpsync.photos.checked`: ``photo_max_bytes``, the declared type and the bytes both
   one of :data:`~idpsync.photos.IMAGE_TYPES`). Network calls stay outside the database
   transaction, which holds the connector's lock.
3. :func:`record`, inside the run's one transaction: new bytes (content-addressed, so shared
   bytes are stored once), each user's row, the rows of users whose photo is gone, and the bytes
   nobody points at any more. A dry, guarded or failed run rolls this back with the rest.

An unchanged version costs no request. A refused or failed photo never fails the run nor
touches the user's other fields, and never removes stored bytes: only a *complete* read saying
a user has no photo (or no longer exists) does, as an incomplete read never removes anything.
Photos are downloaded for every user the source read, before the policy's filters.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Connection

from idpsync.errors import SourceError
from idpsync.http.errors import HttpError
from idpsync.model import Snapshot
from idpsync.photos import Photo, PhotoLimits, PhotoRefused, RawPhoto, checked
from idpsync.sources.base import Source
from idpsync.store import photos as stored
from idpsync.store.photos import PhotoState
from idpsync.store.stage import DeltaSnapshot, is_mirror
from idpsync.store.store import Store

STOP_STATUSES = frozenset({401, 403})
"""Answers after which no other photo is tried this run (each would be refused alike)."""
PARALLEL = 8
"""Downloads at once (the source's HTTP budget bounds them too); a stop is seen by the rest."""


@dataclass
class PhotoRound:
    """What one run did about photos, for the store and the run's report."""

    before: dict[str, PhotoState]
    """The connector's rows before the run, by user id."""
    active: bool = False
    """Whether the source downloads photos (else the round only forgets gone ones)."""
    after: dict[str, PhotoState] = field(default_factory=dict)
    """Rows to write (users whose state changed)."""
    photos: list[Photo] = field(default_factory=list)
    """Bytes downloaded and accepted."""
    refused: list[dict[str, str]] = field(default_factory=list)
    """``source_id``, ``key``, ``reason`` of each photo refused by the checks."""
    failed: list[dict[str, str]] = field(default_factory=list)
    """The same for each download that failed (tried again next run)."""
    pending: int = 0
    """Photos left for a later run (the budget, or a stop after 401/403)."""
    stored: int = 0
    """Distinct new images written to the store."""
    removed: int = 0
    """Images deleted because nobody shows them any more."""

    def stats(self) -> dict[str, int]:
        """Counters for the run's ``stats``."""
        return {
            "photos_downloaded": len(self.photos),
            "photos_refused": len(self.refused),
            "photos_failed": len(self.failed),
            "photos_pending": self.pending,
            "photos_stored": self.stored,
            "photos_removed": self.removed,
        }

    def report(self) -> dict[str, Any]:
        """The run report's ``photos`` section (never the bytes)."""
        return {
            "downloaded": len(self.photos),
            "refused": self.refused,
            "failed": self.failed,
            "pending": self.pending,
        }

    def left_out(self) -> list[dict[str, Any]]:
        """Refused and failed photos as the run's left-out objects (``runs show``)."""
        return [
            {"outcome": outcome, "object_type": "user", **entry}
            for outcome, entries in (("photo_refused", self.refused), ("photo_failed", self.failed))
            for entry in entries
        ]


def prepare(store: Store, name: str, source: Source) -> dict[str, PhotoState]:
    """The connector's photo rows (which versions' bytes the store holds, which wait)."""
    with store.read() as conn:
        return stored.states(conn, name)


async def download(
    source: Source, snap: Snapshot, before: dict[str, PhotoState], *, whole: bool = True
) -> PhotoRound:
    """Download what changed, within the source's limits (see the module docstring).

    ``whole=False`` (a single-user sync): only the users read, not others left pending.
    """
    limits = source.photo_limits()
    work = PhotoRound(before, active=limits is not None)
    if limits is None:
        return work
    logins = {u.source_id: u.login for u in snap.users}
    read = {u.source_id for u in snap.users}
    todo = _candidates(snap, before if whole else {k: v for k, v in before.items() if k in read})
    chosen, waiting = todo[: limits.budget], todo[limits.budget :]
    stop, slots = asyncio.Event(), asyncio.Semaphore(PARALLEL)
    results = await asyncio.gather(*(_fetch(source, s, ref, stop, slots) for s, ref in chosen))
    for (sid, ref), result in zip(chosen, results, strict=True):
        _settle(work, sid, ref, logins.get(sid, sid), result, limits)
    for sid, ref in waiting:
        _wait(work, sid, ref)
    return work


def _candidates(snap: Snapshot, before: dict[str, PhotoState]) -> list[tuple[str, str]]:
    """``(user id, version)`` to download: earlier runs' pending ones first, then the new.

    A pending user the read saw gets the version read now (``None``: the photo is gone); one
    it did not see keeps the version an earlier run saw, unless the read says the user is gone
    (a complete full read that does not list them, a delta that names them removed).
    """
    read = {u.source_id: u.photo_ref for u in snap.users}
    gone = set(snap.removed_users) if isinstance(snap, DeltaSnapshot) else set()
    unseen_gone = is_mirror(snap)
    waited = [
        (sid, read.get(sid, s.wanted))
        for sid, s in before.items()
        if s.pending and sid not in gone and (sid in read or not unseen_gone)
    ]
    fresh = [(u.source_id, u.photo_ref) for u in snap.users]
    found: dict[str, str] = {}
    for sid, ref in [*waited, *fresh]:
        if ref is not None and sid not in found and before.get(sid, PhotoState()).needs(ref):
            found[sid] = ref
    return list(found.items())


async def _fetch(
    source: Source, sid: str, ref: str, stop: asyncio.Event, slots: asyncio.Semaphore
) -> RawPhoto | SourceError | bool | None:
    """The bytes, ``None`` (no photo now), the error, or ``False`` (not tried: stopped)."""
    async with slots:
        if stop.is_set():
            return False
        try:
            return await source.photo(sid, ref)
        except SourceError as exc:
            if isinstance(exc, HttpError) and exc.status in STOP_STATUSES:
                stop.set()
            return exc


def _settle(
    work: PhotoRound,
    sid: str,
    ref: str,
    key: str,
    result: RawPhoto | SourceError | bool | None,
    limits: PhotoLimits,
) -> None:
    """Turn one download's outcome into the user's new row and the report."""
    old = work.before.get(sid, PhotoState())
    if result is False:
        _wait(work, sid, ref)
    elif result is None:
        why = "the IdP has no photo for this user any more (tried again next run)"
        work.failed.append({"source_id": sid, "key": key, "reason": why})
        _wait(work, sid, ref, count=False)
    elif isinstance(result, SourceError):
        work.failed.append({"source_id": sid, "key": key, "reason": str(result)})
        _wait(work, sid, ref, count=False)
    elif isinstance(result, RawPhoto):
        try:
            photo = checked(result, limits.max_bytes)
        except PhotoRefused as exc:
            work.refused.append({"source_id": sid, "key": key, "reason": str(exc)})
            new = replace(old, wanted=ref, refused=result.version, reason=str(exc))
            work.after[sid] = new
            return
        work.photos.append(photo)
        work.after[sid] = PhotoState(result.version, photo.digest, ref)


def _wait(work: PhotoRound, sid: str, ref: str, *, count: bool = True) -> None:
    """``ref`` waits for a later run (the row is written only if that is news)."""
    old = work.before.get(sid, PhotoState())
    work.pending += count
    if old.wanted != ref:
        work.after[sid] = replace(old, wanted=ref)


def record(
    conn: Connection, name: str, work: PhotoRound, snap: Snapshot, *, whole: bool = True
) -> None:
    """Write the round in the run's transaction; forget photos a complete read says are gone.

    ``whole=False``: ``snap`` is one user's read (a single-user sync), which says nothing about
    the users it does not hold.
    """
    if not reads_users(work):
        return  # nothing stored, nothing new: the common case of a connector without photos
    gone = _gone(snap, work.before, whole=whole)
    if not (work.after or work.photos or gone):
        return
    stored.lock(conn)
    work.stored = stored.keep_blobs(conn, work.photos)
    stored.put_states(conn, name, {k: v for k, v in work.after.items() if k not in gone})
    stored.forget(conn, name, gone)
    work.removed = stored.collect_garbage(conn)


def reads_users(work: PhotoRound) -> bool:
    """Whether :func:`record` reads the run's user records (a photo stored, or new)."""
    return bool(work.before or work.after or work.photos)


def _gone(snap: Snapshot, before: dict[str, PhotoState], *, whole: bool) -> set[str]:
    """Users whose photo rows go: a complete read says they have no photo or are gone."""
    if not snap.complete:
        return set()
    read = {u.source_id: u.photo_ref for u in snap.users}
    gone = {sid for sid, ref in read.items() if ref is None and sid in before}
    if not whole:
        return gone
    if is_mirror(snap):
        kept = {r.source_id for r in snap.skipped if r.kind == "user"}
        gone |= {sid for sid in before if sid not in read and sid not in kept}
    elif isinstance(snap, DeltaSnapshot):
        gone |= {sid for sid in snap.removed_users if sid in before}
    return gone
