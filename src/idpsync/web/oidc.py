"""Sign-in to the admin pages through the organisation's IdP (OpenID Connect).

With a ``[service.oidc]`` table the login page offers "Sign in with …" beside the password
form (the configured administrator stays as the break-glass account):

1. ``GET /login/oidc`` starts a sign-in: a fresh ``state``, ``nonce`` and PKCE verifier are
   kept in the browser's signed session cookie, and the browser goes to the provider.
2. The provider sends it back to ``GET /login/oidc/callback`` with a code. The ``state`` must
   be the one this browser started (each sign-in can be completed once), the code is redeemed
   with the verifier, and the ID token is checked (:mod:`idpsync.web.oidc_client`).
3. The token's claims decide: the e-mail domain when ``allowed_domains`` is set, then the
   role — the strongest of ``roles`` whose values appear in ``role_claim``. Someone matching
   none is refused with a page saying so; nobody gets a role by default.

Refusals are HTML pages and log lines that say what failed, never a code, token or secret.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from idpsync.config_service import ROLES, OidcSettings
from idpsync.web.auth import admin, csrf_token
from idpsync.web.errors import PageError
from idpsync.web.oidc_client import Pending, Provider, Refused, error_code
from idpsync.web.roles import Role
from idpsync.web.sessions import start_session

log = logging.getLogger("idpsync.web")
router = APIRouter(include_in_schema=False)
FLOW_KEY = "oidc"
"""The session key holding the pending sign-in."""
LONGEST_NAME = 200


@dataclass(frozen=True)
class Identity:
    """Who the provider signed in, and what they may do here."""

    user: str
    """The name shown on the pages and in the logs."""
    role: str
    """``viewer``, ``operator`` or ``admin``."""


def install(app: FastAPI, transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Add the sign-in routes; offer the button on the login page when OIDC is configured.

    ``transport`` is how requests reach the provider (``None``: the network).
    """
    service = app.state.service
    settings: OidcSettings | None = service.loaded.settings.service.oidc
    app.state.oidc = Provider(settings, transport) if settings is not None else None
    service.templates.env.globals["oidc_sign_in"] = settings.display_name if settings else None
    app.include_router(router)


def claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The text values of a claim; dots in ``path`` reach into objects (``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return []
        value = value.get(part)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def role_for(claims: dict[str, Any], settings: OidcSettings) -> str | None:
    """The strongest role whose configured values appear in the role claim (case ignored)."""
    held = {v.casefold() for v in claim_values(claims, settings.role_claim)}
    for role in reversed(ROLES):
        if held & {v.casefold() for v in settings.roles.get(role, [])}:
            return role
    return None


def user_name(claims: dict[str, Any], settings: OidcSettings) -> str:
    """The configured name claim, else ``email``, else ``sub``; control characters dropped."""
    for key in (settings.user_claim, "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            clean = "".join(c for c in value.strip() if c.isprintable())
            return clean[:LONGEST_NAME] or "?"
    raise Refused("the ID token names nobody (no sub claim)")


def check_domain(claims: dict[str, Any], settings: OidcSettings) -> None:
    """Refuse an e-mail address outside ``allowed_domains`` (when that list is set)."""
    if not settings.allowed_domains:
        return
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Refused(
            "the provider sent no e-mail address, and only some e-mail domains may sign in; "
            'ask for the "email" scope'
        )
    if claims.get("email_verified") is False:
        raise Refused("your e-mail address is not verified at the provider")
    domain = email.rsplit("@", 1)[1].lower()
    if domain not in settings.allowed_domains:
        raise Refused(f"e-mail addresses at {domain} may not sign in here")


def decide(claims: dict[str, Any], settings: OidcSettings) -> Identity:
    """Who signed in and with which role, or :class:`Refused` (domain, no mapped role)."""
    user = user_name(claims, settings)
    check_domain(claims, settings)
    role = role_for(claims, settings)
    if role is None:
        raise Refused(
            f"you are signed in at the provider as {user}, but no value of your "
            f"{settings.role_claim!r} claim is given a role here; ask the administrator to add "
            "one of your groups to [service.oidc.roles]"
        )
    return Identity(user, role)


def _provider(request: Request) -> Provider:
    provider: Provider | None = getattr(request.app.state, "oidc", None)
    if provider is None:
        raise PageError(404, "sign-in through an identity provider is not configured", "/login")
    return provider


def _redirect_uri(request: Request, provider: Provider) -> str:
    return provider.settings.redirect_url or str(request.url_for("oidc_callback"))


def _refused(request: Request, exc: Refused) -> Response:
    """The refusal page (``signin_refused.html``) and its log line."""
    log.warning(
        "OIDC sign-in refused: %s", "".join(c if c.isprintable() else "?" for c in exc.message)
    )
    templates = request.app.state.service.templates
    context = {"user": admin(request), "csrf": csrf_token(request), "message": exc.message}
    page: Response = templates.TemplateResponse(
        request, "signin_refused.html", context, status_code=exc.status
    )
    return page


@router.get("/login/oidc")
async def oidc_start(request: Request) -> Response:
    """Send the browser to the provider to sign in."""
    provider = _provider(request)
    try:
        url, pending = await provider.start(_redirect_uri(request, provider))
    except Refused as exc:
        return _refused(request, exc)
    request.session[FLOW_KEY] = pending.saved()
    return RedirectResponse(url, status_code=303)


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(
    request: Request,
    state: str = "",
    code: str = "",
    error: str = "",
) -> Response:
    """Finish a sign-in: check the state, redeem the code, check the token, map the role."""
    provider = _provider(request)
    pending = Pending.load(request.session.pop(FLOW_KEY, None))  # one use, whatever happens
    try:
        identity = await _finish(request, provider, pending, state, code, error)
    except Refused as exc:
        return _refused(request, exc)
    await run_in_threadpool(
        start_session, request, identity.user, Role.parse(identity.role), "oidc"
    )
    log.info("signed in %s through OIDC with role %s", identity.user, identity.role)
    return RedirectResponse("/", status_code=303)


async def _finish(
    request: Request,
    provider: Provider,
    pending: Pending | None,
    state: str,
    code: str,
    error: str,
) -> Identity:
    if error:
        raise Refused(f"the provider did not sign you in ({error_code(error)})", 400)
    if pending is None:
        raise Refused(
            "this browser has no sign-in in progress (it was completed, or the cookie was lost); "
            "start again from the login page",
            400,
        )
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise Refused(
            "the answer does not belong to the sign-in this browser started (state mismatch); "
            "start again from the login page",
            400,
        )
    if not code:
        raise Refused("the provider sent no code", 400)
    claims = await provider.finish(code, pending, _redirect_uri(request, provider))
    return decide(claims, provider.settings)
