"""API tokens kept in the store (``idpsync tokens create``): name, hash, role, revocation.

Only the token's ``sha256$…`` hash is stored; the token itself is shown once, when it is made.
Revoking keeps the row (so the name is not reused and the audit trail stays readable).
Tokens listed in ``[service] api_tokens`` are not here: they are the configuration's, and act
as ``admin`` (what every token could do before roles existed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store


@dataclass(frozen=True)
class StoredToken:
    """One token's row (never the token itself)."""

    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo:
        return value
    return value.replace(tzinfo=UTC)


def _token(row: Any) -> StoredToken:
    created = _aware(row.created_at)
    assert created is not None
    return StoredToken(row.name, row.role, created, row.created_by, _aware(row.revoked_at))


def add(store: Store, name: str, digest: str, role: str, by: str, at: datetime) -> bool:
    """Record a new token; ``False`` when the name is taken (revoked names included)."""
    c = t.api_tokens.c
    with store.transaction() as conn:
        if conn.execute(sa.select(c.name).where(c.name == name)).first() is not None:
            return False
        conn.execute(
            t.api_tokens.insert().values(
                name=name, hash=digest, role=role, created_at=at, created_by=by
            )
        )
    return True


def revoke(store: Store, name: str, at: datetime) -> bool:
    """Revoke a live token; ``False`` when there is no live token of that name."""
    c = t.api_tokens.c
    with store.transaction() as conn:
        done = conn.execute(
            t.api_tokens.update()
            .where(c.name == name, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
    return bool(done.rowcount)


def find(store: Store, digest: str) -> StoredToken | None:
    """The live token with this hash, or ``None`` (unknown or revoked)."""
    c = t.api_tokens.c
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.api_tokens).where(c.hash == digest, c.revoked_at.is_(None))
        ).first()
    return _token(row) if row is not None else None


def listing(store: Store) -> list[StoredToken]:
    """Every token, revoked ones included, by name."""
    with store.read() as conn:
        rows = conn.execute(sa.select(t.api_tokens).order_by(t.api_tokens.c.name))
        return [_token(r) for r in rows]
