"""The login form's steps: refuse a locked-out attempt, count a failure, open and close sessions.

The throttling rules are in :mod:`idpsync.web.throttle`, the session registry in
:mod:`idpsync.web.sessions`; this module applies them to a request.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request

from idpsync.web import audit, sessions, throttle
from idpsync.web.roles import Role
from idpsync.web.security import verify_password

log = logging.getLogger("idpsync.web")


@dataclass(frozen=True)
class Lockout:
    """A refused sign-in: for how long, and what to tell the administrator."""

    retry_after: int
    """Seconds until the lockout ends (the ``Retry-After`` header)."""
    message: str
    """The line shown on the login page."""


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.service.scheduler.clock()
    return now


def _policy(request: Request) -> throttle.Policy:
    settings = request.app.state.service.loaded.settings.service
    return throttle.Policy(settings.login_max_failures, timedelta(seconds=settings.login_window))


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _keys(request: Request, user_name: str) -> list[str]:
    admin_user: str = request.app.state.service.loaded.settings.service.admin_user
    return throttle.keys(_address(request), user_name, admin_user)


def check_password(request: Request, user_name: str, password: str) -> tuple[str, Role] | None:
    """The account and role that ``user_name`` and ``password`` sign in as, or ``None``.

    The configured administrator (``admin_user``, ``admin_password_hash``) is always ``admin``
    (the break-glass account); ``[service] accounts`` adds local accounts with their role.
    Every configured hash is checked, so the answer takes as long whoever is named.
    """
    settings = request.app.state.service.loaded.settings.service
    found: tuple[str, Role] | None = None
    given = user_name.encode()
    if verify_password(password, settings.admin_password_hash) and secrets.compare_digest(
        given, settings.admin_user.encode()
    ):
        found = (settings.admin_user, Role.ADMIN)
    for name, account in settings.accounts.items():
        good = verify_password(password, account.password_hash)
        if good and found is None and secrets.compare_digest(given, name.encode()):
            found = (name, Role.parse(account.role))
    return found


def lockout(request: Request, user_name: str) -> Lockout | None:
    """The lockout this attempt falls under, if any (checked before the password)."""
    now = _now(request)
    store = request.app.state.service.store
    until = throttle.locked_until(store, _policy(request), _keys(request, user_name), now)
    if until is None:
        return None
    seconds = max(1, math.ceil((until - now).total_seconds()))
    log.warning("sign-in refused (locked out for %d s more) from %s", seconds, _address(request))
    audit.record(request, "login_failed", actor="anonymous", detail={"locked_out": seconds})
    message = (
        f"too many failed sign-ins: signing in is locked for {seconds} s more "
        f"(until {until:%Y-%m-%d %H:%M:%S} UTC); wait, then try again with the right password"
    )
    return Lockout(seconds, message)


def failed(request: Request, user_name: str) -> None:
    """Count a failed sign-in against the client's address and the user name."""
    store = request.app.state.service.store
    throttle.record_failure(store, _policy(request), _keys(request, user_name), _now(request))
    # the name typed is not logged: it may be a password typed into the wrong field
    which = "the administrator's name" if len(_keys(request, user_name)) > 1 else "another name"
    log.warning("failed sign-in with %s from %s", which, _address(request))
    audit.record(request, "login_failed", actor="anonymous", detail={"name": which})


def succeeded(request: Request, user: str, role: Role = Role.ADMIN) -> None:
    """Reset the counters, and start a new session (new nonce, new cookie contents)."""
    store = request.app.state.service.store
    throttle.clear(store, _keys(request, user))
    sessions.start_session(request, user, role, "password")


def sign_out(request: Request) -> None:
    """End the session in the store (a replayed cookie opens nothing) and in the cookie."""
    nonce = request.session.get("sid")
    if isinstance(nonce, str):
        audit.record(request, "logout")
        sessions.close_session(request.app.state.service.store, nonce)
    request.session.clear()
