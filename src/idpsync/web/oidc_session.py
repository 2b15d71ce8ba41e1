"""Start a session for someone the IdP signed in, with the role their claims map to.

A stand-in for ``idpsync.web.sessions.start_session(request, user, role, how)`` (the roles
work brings it); until then the role is kept in the signed session cookie beside the user.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request

from idpsync.web import sessions


def start_session(request: Request, user: str, role: str, how: str) -> None:
    """Sign ``user`` in with ``role``: a new session in the store and a fresh cookie.

    Whatever the cookie held before (a pending sign-in, a CSRF token) is dropped.
    """
    svc = request.app.state.service
    now: datetime = svc.scheduler.clock()
    old = request.session.get("sid")
    if isinstance(old, str):
        sessions.close_session(svc.store, old)
    request.session.clear()
    request.session["user"] = user
    request.session["role"] = role
    request.session["how"] = how
    request.session["sid"] = sessions.open_session(svc.store, user, now)
