"""A target's photo bookkeeping in ``target_objects``: the digest it holds, and who is due a check.

Each mapped user row carries ``photo_digest`` (the photo idpsync last left in the target, NULL
for none) and ``photo_pending`` (the user's photo is to be looked at by the next delivery's
photo pass). Marking is cheap (one indexed update), so delivery marks a user whenever the
directory says the photo may differ, and the pass reads only the marked rows, joined with the
directory's user rows, without loading the whole directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from idpsync.model import USER_FIELDS, DirUser
from idpsync.store import schema as t
from idpsync.targets.state import TargetState


@dataclass(frozen=True, slots=True)
class PhotoRow:
    """A mapped user of the target as the photo pass sees it."""

    connector: str
    """The owning connector."""
    source_id: str
    """The user's source id."""
    remote_id: str
    """The user's id in the target."""
    digest: str | None
    """The digest of the photo the target holds (as idpsync left it)."""
    pending: bool
    """Whether the row is marked for a check."""
    user: DirUser | None
    """The directory's user (``None``: gone from the directory)."""


def _where(state: TargetState, connector: str, source_id: str) -> list[Any]:
    o = t.target_objects.c
    return [
        o.target == state.name,
        o.object_type == "user",
        o.connector == connector,
        o.source_id == source_id,
    ]


def mark(state: TargetState, connector: str, source_id: str) -> None:
    """Mark a mapped user's photo for a check by the next photo pass."""
    with state.store.transaction() as conn:
        conn.execute(
            t.target_objects.update()
            .where(*_where(state, connector, source_id))
            .values(photo_pending=True)
        )


def settle(state: TargetState, connector: str, source_id: str, digest: str | None) -> None:
    """Record the photo the target now holds (``None``: none) and clear the mark."""
    with state.store.transaction() as conn:
        conn.execute(
            t.target_objects.update()
            .where(*_where(state, connector, source_id))
            .values(photo_digest=digest, photo_pending=False)
        )


def digests(state: TargetState) -> dict[tuple[str, str], str | None]:
    """(connector, source id) → the recorded digest, for every mapped user of the target."""
    o = t.target_objects.c
    query = sa.select(o.connector, o.source_id, o.photo_digest).where(
        o.target == state.name, o.object_type == "user"
    )
    with state.store.engine.connect() as conn:
        return {(r.connector, r.source_id): r.photo_digest for r in conn.execute(query)}


def rows(state: TargetState, *, everyone: bool = False) -> Iterator[PhotoRow]:
    """The marked users of the target (every mapped user with ``everyone``), with the directory's.

    Read in one query, ordered by connector and source id, before any is sent.
    """
    o, u = t.target_objects.c, t.users.c
    joined = t.target_objects.outerjoin(
        t.users, sa.and_(u.connector == o.connector, u.source_id == o.source_id)
    )
    query = (
        sa.select(
            o.connector,
            o.source_id,
            o.remote_id,
            o.photo_digest,
            o.photo_pending,
            u.id.label("user_row"),
            *(getattr(u, name) for name in _USER_COLUMNS),
        )
        .select_from(joined)
        .where(o.target == state.name, o.object_type == "user")
        .order_by(o.connector, o.source_id)
    )
    if not everyone:
        query = query.where(o.photo_pending == sa.true())  # "= true": the index serves it
    with state.store.engine.connect() as conn:
        found = conn.execute(query).all()
    for row in found:
        yield PhotoRow(
            connector=row.connector,
            source_id=row.source_id,
            remote_id=row.remote_id,
            digest=row.photo_digest,
            pending=bool(row.photo_pending),
            user=_user(row) if row.user_row is not None else None,
        )


_USER_COLUMNS = USER_FIELDS
"""The ``users`` columns read back into a :class:`DirUser` (named as its fields)."""


def _user(row: Any) -> DirUser:
    return DirUser(
        source_id=row.source_id,
        **{name: getattr(row, name) for name in _USER_COLUMNS if name != "attributes"},
        attributes=row.attributes or {},
    )
