"""Who is calling: API clients (bearer tokens) and the logged-in administrator (session).

Reads need either. Writes need a bearer token, or the session **and** its CSRF token in the
``X-CSRF-Token`` header (the pages' forms send it as the ``csrf`` field instead).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from idpsync.web.security import csrf_ok, new_csrf, token_client
from idpsync.web.sessions import session_user

bearer = HTTPBearer(auto_error=False, description="An API token from 'idpsync serve --new-token'")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _tokens(request: Request) -> dict[str, str]:
    return dict(request.app.state.service.loaded.settings.service.api_tokens)


def admin(request: Request) -> str | None:
    """The logged-in administrator's name, if any (a session the store still knows)."""
    if not hasattr(request.state, "admin"):  # asked several times per request: look up once
        request.state.admin = _live_session_user(request)
    found: str | None = request.state.admin
    return found


def _live_session_user(request: Request) -> str | None:
    user, nonce = request.session.get("user"), request.session.get("sid")
    if not (isinstance(user, str) and isinstance(nonce, str)):
        return None
    svc = request.app.state.service
    return user if session_user(svc.store, nonce, svc.scheduler.clock()) == user else None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = new_csrf()
        request.session["csrf"] = token
    return token


def _client(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is None:
        return None
    return token_client(credentials.credentials, _tokens(request))


UNAUTHENTICATED = HTTPException(
    401,
    "authentication required: send 'Authorization: Bearer <API token>' or log in",
    headers={"WWW-Authenticate": "Bearer"},
)


def reader(request: Request, credentials: Credentials) -> str:
    """Dependency of read endpoints: an API client or the administrator."""
    who = _client(request, credentials) or admin(request)
    if who is None:
        raise UNAUTHENTICATED
    return who


def writer(
    request: Request,
    credentials: Credentials,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> str:
    """Dependency of write endpoints: an API client, or the administrator with a CSRF token."""
    client = _client(request, credentials)
    if client is not None:
        return client
    user = admin(request)
    if user is None:
        raise UNAUTHENTICATED
    if not csrf_ok(request.session.get("csrf"), x_csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token header)")
    return user


Reader = Annotated[str, Depends(reader)]
Writer = Annotated[str, Depends(writer)]
