"""The "Authorize" button: the OAuth authorization-code flow (with PKCE) from the admin pages.

For a source that offers :meth:`~idpsync.sources.base.Source.authorization_flow` (Google
Workspace and other sources that act for an administrator), the page redirects to the IdP's
consent page with ``redirect_uri`` = ``<this service>/connectors/NAME/authorize/callback``
(register that URL with the IdP's OAuth client). The callback checks the ``state`` kept in
the session, exchanges the code and stores the refresh token encrypted, like
``idpsync authorize``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idpsync.auth.authorize import AuthorizationCodeFlow, Pkce, authorization_url, exchange_code
from idpsync.errors import SourceError
from idpsync.sources.registry import build_source
from idpsync.web.api import service
from idpsync.web.errors import PageError
from idpsync.web.pages import ADMINISTER, _need_admin, _page

router = APIRouter(include_in_schema=False)


def _flow(request: Request, name: str) -> AuthorizationCodeFlow | None:
    svc = service(request)
    if name not in svc.loaded.settings.connectors:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")
    try:
        source = build_source(svc.loaded, svc.loaded.connector(name))
    except SourceError as exc:
        raise PageError(409, f"{name}: {exc}") from None
    return source.authorization_flow()


@router.get("/connectors/{name}/authorize", response_class=HTMLResponse, dependencies=[ADMINISTER])
def authorize(request: Request, name: str) -> Response:
    """Send the administrator to the IdP's consent page (or say there is nothing to do)."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    flow = _flow(request, name)
    if flow is None:
        return _page(request, "authorize.html", name=name, done=False, error=None)
    state, pkce = secrets.token_urlsafe(24), Pkce.new()
    request.session["oauth"] = {
        "connector": name,
        "state": state,
        "verifier": pkce.verifier,
        "challenge": pkce.challenge,
    }
    callback = str(request.url_for("authorize_callback", name=name))
    return RedirectResponse(authorization_url(flow, callback, state, pkce), status_code=303)


@router.get(
    "/connectors/{name}/authorize/callback", name="authorize_callback", dependencies=[ADMINISTER]
)
async def callback(request: Request, name: str, code: str = "", state: str = "") -> Response:
    """Exchange the code and store the refresh token."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    back = f"/connectors/{name}/authorize"
    saved: dict[str, Any] = request.session.pop("oauth", None) or {}
    if saved.get("connector") != name or not secrets.compare_digest(
        str(saved.get("state", "")), state
    ):
        raise PageError(
            400, "this authorization answer does not belong to this session; start again", back
        )
    flow = _flow(request, name)
    if flow is None or not code:
        raise PageError(400, "the IdP's answer carries no code; start again", back)
    pkce = Pkce(saved["verifier"], saved["challenge"])
    redirect_uri = str(request.url_for("authorize_callback", name=name))
    error = await asyncio.to_thread(_exchange, request, name, flow, code, redirect_uri, pkce)
    return _page(request, "authorize.html", name=name, done=error is None, error=error)


def _exchange(
    request: Request,
    name: str,
    flow: AuthorizationCodeFlow,
    code: str,
    redirect_uri: str,
    pkce: Pkce,
) -> str | None:
    from idpsync.auth.vault import TokenVault, token_key
    from idpsync.http import build_http_client

    svc = service(request)
    settings = svc.loaded.connector(name)

    async def go() -> None:
        http = build_http_client(settings.source.http)
        try:
            token = await exchange_code(http, flow, code, redirect_uri, pkce, name)
        finally:
            await http.aclose()
        assert token.refresh_token is not None
        vault = TokenVault(svc.store, token_key(svc.loaded.settings.store.token_key))
        vault.save(name, token.refresh_token)

    try:
        asyncio.run(go())
    except SourceError as exc:
        return str(exc)
    return None
