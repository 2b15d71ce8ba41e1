"""Server-side sessions of the pages' users: a logout ends the session everywhere.

The signed cookie carries the user name and a random nonce (``sid``); the store keeps only
the nonce's SHA-256 with the session's role, how it was opened and when it ends (table
``web_sessions``). A page or API request with a session cookie is that user's only while the
row exists and has not expired: a logout deletes it, so a copy of the cookie replayed
afterwards opens nothing — on any instance sharing the store. Expired rows are deleted at the
next sign-in.

:func:`start_session` is the one way to sign someone in (the password form and the OIDC
sign-in both call it); see "Sessions" in ``docs/service.md``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import Request

from idpsync.store import schema as t
from idpsync.store.store import Store
from idpsync.web.roles import Role

LIFETIME = timedelta(hours=8)
"""How long a session lasts (the cookie's ``max_age`` is the same)."""


@dataclass(frozen=True)
class SessionUser:
    """Who a live session belongs to."""

    name: str
    role: Role
    how: str
    """How the session was opened: ``password`` or ``oidc``."""


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def open_session(
    store: Store, user: str, now: datetime, role: Role = Role.ADMIN, how: str = "password"
) -> str:
    """Record a new session for ``user`` with ``role``; the nonce to put in the cookie."""
    nonce = secrets.token_urlsafe(32)
    with store.transaction() as conn:
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.expires_at < now))
        conn.execute(
            t.web_sessions.insert().values(
                id_hash=_hash(nonce),
                user_name=user,
                role=role.label,
                how=how,
                created_at=now,
                expires_at=now + LIFETIME,
            )
        )
    return nonce


def start_session(request: Request, user: str, role: Role, how: str) -> None:
    """Sign ``user`` in with ``role``: a new session in the store and a fresh cookie.

    ``how`` names the way the user proved who they are (``password``, ``oidc``); it is kept
    with the session and written to the audit trail with the login. Whatever the cookie held
    before (another user's session, a CSRF token) is dropped. The caller has already checked
    the user's credentials and decided the role.
    """
    from idpsync.web import audit

    svc = request.app.state.service
    now: datetime = svc.scheduler.clock()
    old = request.session.get("sid")
    if isinstance(old, str):
        close_session(svc.store, old)
    request.session.clear()
    request.session["user"] = user
    request.session["sid"] = open_session(svc.store, user, now, role, how)
    audit.record(request, "login", actor=f"user:{user}", detail={"role": role.label, "how": how})


def session_user(store: Store, nonce: str, now: datetime) -> str | None:
    """The user of a live session, or ``None`` (unknown, logged out or expired)."""
    found = session_info(store, nonce, now)
    return found.name if found is not None else None


def session_info(store: Store, nonce: str, now: datetime) -> SessionUser | None:
    """The user, role and sign-in method of a live session, or ``None``."""
    c = t.web_sessions.c
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(c.user_name, c.role, c.how, c.expires_at).where(c.id_hash == _hash(nonce))
        ).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires <= now:
        return None
    # sessions opened before roles existed were the administrator's
    return SessionUser(str(row.user_name), Role.parse(row.role, Role.ADMIN), row.how or "password")


def close_session(store: Store, nonce: str) -> None:
    """End a session (logout): its cookie opens nothing any more."""
    with store.transaction() as conn:
        conn.execute(t.web_sessions.delete().where(t.web_sessions.c.id_hash == _hash(nonce)))
