"""Delivering users' photos: only when the photo's digest differs from what the target holds.

- **Where the bytes come from**: the session's :class:`~idpsync.photos.PhotoReader`
  (:func:`idpsync.targets.run_delivery` passes it; none given: no photo is delivered).
- **A new user** is created with its photo in the create request (SCIM ``POST`` body, LDAP
  add; :func:`creation_photo`) when the bytes are there and the target holds the type; the
  digest is recorded at once and the user is not marked.
- **When a photo is looked at**: delivery *marks* a mapped user (``target_objects.photo_pending``)
  when the user is created without its photo or adopted in the target, when a change touches
  ``photo_ref``, when a rejected user is retried and after a relink. At the end of every
  delivery the photo pass reads the marked users (a reconcile: every mapped user) and, for
  each, compares the digest of the user's current photo with ``target_objects.photo_digest``:
  equal sends nothing; different sends the photo (or removes it when the user has none any
  more) and records the new digest.
- **Bytes not downloaded yet** (the user has a ``photo_ref`` but the reader has no bytes): the
  target keeps what it holds and the user stays marked, so a later delivery sends the photo once
  the bytes are there.
- **A type the target cannot hold** (LDAP ``jpegPhoto`` is JPEG only): nothing is converted;
  the photo is not delivered, a photo idpsync delivered before is removed (it is no longer the
  user's photo), and a warning names the user and the type (``counts["photo_unsupported"]``).
- **A reconcile** reads the photos the target holds (:func:`compare_held`): one removed or
  replaced there is recorded as such, so the pass sets it again (``counts["photos_repaired"]``).
- **A photo the target refuses** (a 4xx about it): a warning (``counts["photo_rejected"]``);
  the user is not tried again until the photo changes. A target that is down stops the delivery
  as for any change; the marks stay and the next delivery resumes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from idpsync.photos import Photo
from idpsync.targets import photo_state
from idpsync.targets.base import FOREIGN_PHOTO, RemoteUser
from idpsync.targets.errors import DryRunRejected, NotFound, Rejected
from idpsync.targets.photo_state import PhotoRow
from idpsync.targets.session import Session
from idpsync.targets.state import lease_deadline

log = logging.getLogger("idpsync.targets")

Key = tuple[str, str]
"""(connector, source id) of a directory user."""

RENEW_EVERY = 100
"""Photos looked at between two renewals of the delivery's lease."""


@runtime_checkable
class PhotoTarget(Protocol):
    """A target that can hold users' photos."""

    def photo_types(self) -> frozenset[str]:
        """The content types the target can hold (empty: none)."""

    async def set_photo(self, remote_id: str, photo: Photo | None) -> None:
        """Replace the user's photo with ``photo`` (``None``: remove it)."""


def photos_on(session: Session) -> bool:
    """Whether this delivery sends photos: a reader, a photo key in effect, a target for them."""
    target = session.target
    return (
        session.photos is not None
        and session.photo_setting is not None
        and isinstance(target, PhotoTarget)
        and bool(target.photo_types())
    )


def creation_photo(session: Session, connector: str, source_id: str) -> Photo | None:
    """The photo a new user is created with: its current one, if the target can hold it.

    ``None`` when photos are off, the user has none, its bytes are not downloaded yet or the
    target cannot hold its type: the user is then marked and the photo pass does as it does
    for any user (sends it later, or warns).
    """
    if not photos_on(session):
        return None
    user = session.directory(connector).users.get(source_id)
    if user is None or not user.photo_ref:
        return None
    assert session.photos is not None and isinstance(session.target, PhotoTarget)
    photo = session.photos.user_photo(user)
    if photo is None or photo.content_type not in session.target.photo_types():
        return None
    return photo


def compare_held(session: Session, matched: Mapping[Key, tuple[str, RemoteUser]]) -> None:
    """A reconcile: record what the target holds where it is not the photo idpsync left there.

    The photo pass after the reconcile (every mapped user) then sets the user's photo again.
    ``matched``: the users found in the target, as read (with their ``photos``). A photo the
    target holds for a user idpsync never delivered one to and whose IdP has none is left
    alone (the application's own). Each differing user gets a warning.
    """
    if not photos_on(session) or session.dry_run:
        return
    recorded = photo_state.digests(session.state)
    for (connector, sid), (_, remote) in sorted(matched.items()):
        user = session.directory(connector).users.get(sid)
        if remote.photos is None or user is None:
            continue
        held = remote.photos[0] if len(remote.photos) == 1 else None
        if len(remote.photos) > 1:
            held = FOREIGN_PHOTO  # several values: never what idpsync sends
        was = recorded.get((connector, sid))
        if held == was or (was is None and not user.photo_ref):
            continue
        photo_state.settle(session.state, connector, sid, held)
        message = (
            f"photo of user {user.login!r} ({connector}) in the target is not the one idpsync "
            "delivered; the reconcile sets it again"
        )
        session.result.bump("photos_repaired")
        session.result.warnings.append(message)
        log.warning("target %s: %s", session.state.name, message)


def note(session: Session, connector: str, source_id: str) -> None:
    """Mark a user's photo for a check at the end of the delivery (kept across deliveries).

    A target that cannot hold photos marks nothing; one whose photos are turned off does, so
    turning them on later delivers what changed meanwhile. In dry-run the mark lives in memory.
    """
    if not isinstance(session.target, PhotoTarget):
        return
    if session.dry_run:
        session.photo_marks.add((connector, source_id))
    else:
        photo_state.mark(session.state, connector, source_id)


async def deliver_photos(session: Session, *, everyone: bool = False) -> None:
    """The photo pass: look at each marked user (every mapped user with ``everyone``)."""
    if not photos_on(session):
        return
    found: Iterable[PhotoRow] = photo_state.rows(
        session.state, everyone=everyone or session.dry_run
    )
    if session.dry_run and not everyone:
        found = [r for r in found if r.pending or (r.connector, r.source_id) in session.photo_marks]
    for count, row in enumerate(found, 1):
        await _settle(session, row)
        if count % RENEW_EVERY == 0 and not session.dry_run:
            session.state.update(lease_until=lease_deadline())


async def _settle(session: Session, row: PhotoRow) -> None:
    """Bring one user's photo in the target to the directory's, if it differs."""
    user = row.user
    if user is None:  # left the directory: its photo in the target is left as it is
        _record(session, row, row.digest)
        return
    assert session.photos is not None
    photo = session.photos.user_photo(user) if user.photo_ref else None
    if user.photo_ref and photo is None:
        if not row.pending:  # bytes not downloaded yet: try again next delivery
            _record(session, row, mark=True)
        return
    wanted = _fitting(session, row, photo)
    digest = wanted.digest if wanted is not None else None
    if digest == row.digest:
        _record(session, row, digest)
        return
    assert isinstance(session.target, PhotoTarget)
    try:
        await session.target.set_photo(row.remote_id, wanted)
    except DryRunRejected as exc:
        session.result.would_send.append(f"{exc.method} {exc.url}")
        return
    except (Rejected, NotFound) as exc:
        _warn(session, row, "photo_rejected", f"was refused by the target: {str(exc)[:300]}")
        _record(session, row, row.digest)
        return
    session.result.bump("photos_sent" if wanted is not None else "photos_removed")
    _record(session, row, digest)


def _fitting(session: Session, row: PhotoRow, photo: Photo | None) -> Photo | None:
    """``photo`` if the target can hold its type; otherwise ``None``, with a warning."""
    assert isinstance(session.target, PhotoTarget)
    if photo is None or photo.content_type in session.target.photo_types():
        return photo
    kinds = ", ".join(sorted(session.target.photo_types()))
    _warn(
        session,
        row,
        "photo_unsupported",
        f"is {photo.content_type} and the target holds only {kinds}: not delivered "
        "(nothing is converted; change the photo in the IdP)",
    )
    return None


def _record(
    session: Session, row: PhotoRow, digest: str | None = None, *, mark: bool = False
) -> None:
    if session.dry_run:
        return
    if mark:
        photo_state.mark(session.state, row.connector, row.source_id)
    else:
        photo_state.settle(session.state, row.connector, row.source_id, digest)


def _warn(session: Session, row: PhotoRow, counter: str, why: str) -> None:
    who = f"{row.user.login} ({row.source_id})" if row.user else repr(row.source_id)
    message = f"photo of user {who} {why}"
    session.result.bump(counter)
    session.result.warnings.append(message)
    log.warning("target %s: %s", session.state.name, message)
