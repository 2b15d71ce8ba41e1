"""Server-side sessions of the administrator: a logout ends the session everywhere.

The signed cookie carries the user name and a random nonce (``sid``); the store keeps only
the nonce's SHA-256 with the session's end (table ``web_sessions``). A page or API request
with a session cookie is the administrator's only while that row exists and has not expired:
a logout deletes it, so a copy of the cookie replayed afterwards opens nothing — on any
instance sharing the store. Expired rows are deleted at the next sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store

LIFETIME = timedelta(hours=8)
"""How long a session lasts (the cookie's ``max_age`` is the same)."""


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def open_session(store: Store, user: str, now: datetime) -> str:
    """Record a new session for ``user``; the nonce to put in the cookie."""
    nonce = secrets.token_urlsafe(32)
    with store.transaction() as conn:
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.expires_at < now))
        conn.execute(
            t.web_sessions.insert().values(
                id_hash=_hash(nonce), user_name=user, created_at=now, expires_at=now + LIFETIME
            )
        )
    return nonce


def session_user(store: Store, nonce: str, now: datetime) -> str | None:
    """The user of a live session, or ``None`` (unknown, logged out or expired)."""
    c = t.web_sessions.c
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(c.user_name, c.expires_at).where(c.id_hash == _hash(nonce))
        ).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    return str(row.user_name) if expires > now else None


def close_session(store: Store, nonce: str) -> None:
    """End a session (logout): its cookie opens nothing any more."""
    with store.transaction() as conn:
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.id_hash == _hash(nonce)))
