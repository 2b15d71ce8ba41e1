"""The admin pages: server-rendered Jinja2 (autoescaped), one small script for progress bars.

Every page needs the administrator's session; every form carries the session's CSRF token.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idpsync.allowlist import allow_list
from idpsync.web import charts, queries, signin
from idpsync.web.api import connector_status, run_check, service, start
from idpsync.web.app import Service
from idpsync.web.audit import record
from idpsync.web.auth import Principal, actor_of, admin, csrf_token, require, signed_in
from idpsync.web.errors import PageError
from idpsync.web.paging import page_offset
from idpsync.web.roles import Role
from idpsync.web.security import csrf_ok

VIEW, OPERATE, ADMINISTER = require(Role.VIEWER), require(Role.OPERATOR), require(Role.ADMIN)

router = APIRouter(include_in_schema=False)
CsrfField = Annotated[str, Form(alias="csrf")]


class LoginRequired(Exception):
    """Raised by pages when nobody is logged in."""


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    svc = service(request)
    who = signed_in(request)
    role = who.role if who is not None else None
    can = {"operate": role is not None and role >= Role.OPERATOR, "admin": role == Role.ADMIN}
    return svc.templates.TemplateResponse(
        request,
        template,
        {"user": admin(request), "role": role, "can": can, "csrf": csrf_token(request), **context},
        status_code=status,
    )


def _caller(request: Request) -> Principal:
    found = signed_in(request)
    assert found is not None  # the route's dependency signed the caller in
    return found


def _need_admin(request: Request) -> Response | None:
    if admin(request) is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return None


def _check_form(request: Request, token: str) -> None:
    if admin(request) is None:
        raise PageError(401, "your session has ended; log in again", "/login")
    if not csrf_ok(request.session.get("csrf"), token):
        raise PageError(403, "missing or wrong CSRF token; reload the page and try again")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The login page."""
    return _page(request, "login.html", error=None)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: CsrfField = "",
) -> Response:
    """Check the administrator's password; a new session on success."""
    if not csrf_ok(request.session.get("csrf"), csrf):
        raise PageError(403, "missing or wrong CSRF token; reload the page and try again", "/login")
    if (locked := signin.lockout(request, username)) is not None:
        refused = _page(request, "login.html", status=429, error=locked.message)
        refused.headers["Retry-After"] = str(locked.retry_after)
        return refused
    found = signin.check_password(request, username, password)
    if found is None:
        signin.failed(request, username)
        return _page(request, "login.html", status=401, error="wrong user name or password")
    signin.succeeded(request, *found)
    return RedirectResponse("/", status_code=303)


@router.post("/logout", dependencies=[VIEW])
def logout(request: Request, csrf: CsrfField = "") -> Response:
    """End the session."""
    _check_form(request, csrf)
    signin.sign_out(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse, dependencies=[VIEW])
def dashboard(request: Request) -> Response:
    """Connectors (health, last and next run, progress, charts), approvals first, targets."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    svc = service(request)
    from idpsync.web.api import targets

    rows = [connector_status(svc, n) for n in svc.loaded.settings.connectors]
    for row in rows:
        row["charts"] = charts.connector_charts(queries.run_history(svc.store, row["name"]))
        row["confirm"] = sync_facts(svc, row["name"])
    waiting = [row for row in rows if row["approval"]]
    shown = targets(request, _caller(request))
    return _page(
        request,
        "dashboard.html",
        connectors=rows,
        waiting=waiting,
        targets=shown,
        lag=charts.lag_bars(shown),
    )


def sync_facts(svc: Service, name: str) -> dict[str, Any]:
    """What the "Sync now" confirmation states: the directory's counts and the newest plan."""
    with svc.store.read() as conn:
        counts = svc.store.counts(conn, name)
    newest = queries.runs(svc.store, name, 1, 0)
    settings = svc.loaded.connector(name)
    return {
        "counts": counts,
        "newest": newest[0] if newest else None,
        "guard": settings.guard,
        "shadow_of": settings.shadow_of,
    }


@router.get("/connectors/{name}/sync", response_class=HTMLResponse, dependencies=[OPERATE])
def sync_confirm(request: Request, name: str) -> Response:
    """The confirmation page of "Sync now" (what the dashboard's dialog shows, without script)."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    svc = service(request)
    if name not in svc.loaded.settings.connectors:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")
    return _page(request, "sync_confirm.html", name=name, facts=sync_facts(svc, name))


@router.post("/connectors/{name}/sync", dependencies=[OPERATE])
async def sync_form(
    request: Request,
    name: str,
    csrf: CsrfField = "",
    dry_run: Annotated[bool, Form()] = False,
) -> Response:
    """Start a sync from the dashboard (after its confirmation) or a dry run."""
    _check_form(request, csrf)
    svc = service(request)
    if name not in svc.loaded.settings.connectors:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")
    if not svc.executor.busy(name):
        record(request, "sync", name, detail={"dry_run": dry_run, "from": "page"})
        start(
            svc,
            name,
            dry_run=dry_run,
            allow_deletes=False,
            incremental=False,
            actor=actor_of(request),
        )
    return RedirectResponse("/", status_code=303)


@router.get("/runs", response_class=HTMLResponse, dependencies=[VIEW])
def runs_page(request: Request, connector: str | None = None, offset: int = 0) -> Response:
    """Run history."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    offset = page_offset(offset)
    rows = queries.runs(service(request).store, connector, 50, offset)
    return _page(request, "runs.html", runs=rows, connector=connector, offset=offset)


@router.post("/runs/{run_id}/approve", dependencies=[ADMINISTER])
async def approve_form(request: Request, run_id: int, csrf: CsrfField = "") -> Response:
    """A guarded run's approval: the connector's approval page (re-check, then apply)."""
    _check_form(request, csrf)
    row = service(request).store.run(run_id) if 0 < run_id < 2**62 else None
    if row is None:
        raise PageError(404, f"there is no run {run_id}", "/runs")
    return RedirectResponse(f"/connectors/{row['connector']}/approval", status_code=303)


@router.get("/connectors/{name}/check", response_class=HTMLResponse, dependencies=[VIEW])
def check_page(request: Request, name: str) -> Response:
    """The connector check page (press the button to run it)."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    if name not in service(request).loaded.settings.connectors:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")
    allowed = allow_list(service(request).loaded, [name])
    return _page(request, "check.html", name=name, result=None, allowed=allowed)


@router.post("/connectors/{name}/check", response_class=HTMLResponse, dependencies=[OPERATE])
async def check_run(request: Request, name: str, csrf: CsrfField = "") -> Response:
    """Run the check and show one row per step."""
    _check_form(request, csrf)
    svc = service(request)
    if name not in svc.loaded.settings.connectors:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")
    result = await asyncio.to_thread(run_check, svc, name)
    allowed = allow_list(svc.loaded, [name])
    return _page(request, "check.html", name=name, result=result, allowed=allowed)


render = _page
"""A page with the session's user and CSRF token (for the other page modules)."""
need_admin = _need_admin
"""A redirect to the login page when nobody is logged in, else ``None``."""
check_form = _check_form
"""Refuse a form post without a session or with a wrong CSRF token (:class:`PageError`)."""
