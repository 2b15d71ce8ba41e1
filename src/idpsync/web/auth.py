"""Who is calling, and what their role allows: API tokens (bearer) and signed-in users (session).

Every route depends on :func:`require` with the lowest role it is allowed to
(:class:`~idpsync.web.roles.Role`): ``require(Role.VIEWER)`` for pages and reads,
``require(Role.OPERATOR)`` for syncs, checks and deliveries, ``require(Role.ADMIN)`` for
approvals, dismissals, settings and tokens. A caller below that role gets a 403 that names
the role needed (an HTML page on the pages, JSON under ``/api``).

Writes under ``/api`` with a session (not a token) must also send the session's CSRF token in
the ``X-CSRF-Token`` header (the pages' forms send it as the ``csrf`` field instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from idpsync.store import tokens
from idpsync.web.errors import PageError
from idpsync.web.roles import Role
from idpsync.web.security import csrf_ok, hash_token, new_csrf, token_client
from idpsync.web.sessions import session_info

bearer = HTTPBearer(auto_error=False, description="An API token from 'idpsync tokens create'")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """A caller that proved who they are: a signed-in user or an API token."""

    name: str
    role: Role
    kind: Literal["session", "token"]

    @property
    def actor(self) -> str:
        """How the audit trail and ``runs.actor`` name the caller."""
        return f"{'user' if self.kind == 'session' else 'token'}:{self.name}"


class SignInNeeded(Exception):
    """A page was asked for without a session: the answer is a redirect to ``/login``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """Answer :class:`SignInNeeded`: to the login page, coming back here after."""
    assert isinstance(exc, SignInNeeded)
    return RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303)


def _session(request: Request) -> Principal | None:
    if not hasattr(request.state, "signed_in"):  # asked several times per request: look up once
        request.state.signed_in = _live_session(request)
    found: Principal | None = request.state.signed_in
    return found


def _live_session(request: Request) -> Principal | None:
    user, nonce = request.session.get("user"), request.session.get("sid")
    if not (isinstance(user, str) and isinstance(nonce, str)):
        return None
    svc = request.app.state.service
    found = session_info(svc.store, nonce, svc.scheduler.clock())
    if found is None or found.name != user:
        return None
    return Principal(user, found.role, "session")


def admin(request: Request) -> str | None:
    """The signed-in user's name, if any (a session the store still knows), whatever the role."""
    found = _session(request)
    return found.name if found is not None else None


def signed_in(request: Request) -> Principal | None:
    """The signed-in user with their role, if any."""
    return _session(request)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = new_csrf()
        request.session["csrf"] = token
    return token


def _client(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    if credentials is None:
        return None
    svc = request.app.state.service
    stored = tokens.find(svc.store, hash_token(credentials.credentials))
    if stored is not None:
        found = Principal(stored.name, Role.parse(stored.role), "token")
    else:
        # tokens in [service] api_tokens could do everything before roles: they stay admin
        name = token_client(credentials.credentials, dict(svc.loaded.settings.service.api_tokens))
        if name is None:
            return None
        found = Principal(name, Role.ADMIN, "token")
    from idpsync.web.audit import token_used

    token_used(request, found.actor)
    return found


def actor_of(request: Request) -> str:
    """The audit actor of the request's caller (``anonymous`` when nobody is known)."""
    found: Principal | None = getattr(request.state, "principal", None) or _session(request)
    return found.actor if found is not None else "anonymous"


UNAUTHENTICATED = HTTPException(
    401,
    "authentication required: send 'Authorization: Bearer <API token>' or log in",
    headers={"WWW-Authenticate": "Bearer"},
)


def refusal(role: Role, who: Principal) -> str:
    """Why a caller is refused: the role needed and the role they have."""
    return (
        f"this needs the {role.label} role; {who.actor} has the {who.role.label} role "
        "(ask an administrator for more access)"
    )


def _page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def _unknown(request: Request) -> Exception:
    if not _page(request):
        return UNAUTHENTICATED
    if request.method in SAFE_METHODS:
        return SignInNeeded(request.url.path)
    return PageError(401, "your session has ended; log in again", "/login")


def _check(request: Request, role: Role, credentials: Any, csrf_header: str | None) -> Principal:
    client = _client(request, credentials)
    who = client or _session(request)
    if who is None:
        raise _unknown(request)
    request.state.principal = who
    if who.role < role:
        from idpsync.web.audit import record

        record(request, "refused", request.url.path, detail={"needs": role.label})
        if _page(request):
            raise PageError(403, refusal(role, who))
        raise HTTPException(403, refusal(role, who))
    api_write = not _page(request) and request.method not in SAFE_METHODS
    if client is None and api_write and not csrf_ok(request.session.get("csrf"), csrf_header):
        raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token header)")
    return who


@cache
def require(role: Role) -> Any:
    """The dependency of a route that needs ``role`` (or a higher one); it gives the caller."""

    def dependency(
        request: Request,
        credentials: Credentials,
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Principal:
        return _check(request, role, credentials, x_csrf_token)

    dependency.__name__ = f"require_{role.label}"
    return Depends(dependency)


Viewer = Annotated[Principal, require(Role.VIEWER)]
Operator = Annotated[Principal, require(Role.OPERATOR)]
Admin = Annotated[Principal, require(Role.ADMIN)]
Reader = Viewer
"""Older name of :data:`Viewer` (read endpoints)."""
Writer = Operator
"""Older name of :data:`Operator` (endpoints that start work)."""
