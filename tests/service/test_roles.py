"""Roles: every route declares one, and each role × action is allowed or refused with a 403."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute

from idpsync.store import Store
from idpsync.web.roles import Role
from tests.service.access_support import TOKENS, USERS, access_harness, sign_in
from tests.service.support import wait_idle

PUBLIC = {"/login", "/healthz", "/metrics", "/openapi.json", "/docs", "/redoc"}

# (method, path, body, lowest role allowed)
API_ACTIONS: list[tuple[str, str, dict[str, Any] | None, Role]] = [
    ("GET", "/api/connectors", None, Role.VIEWER),
    ("GET", "/api/runs", None, Role.VIEWER),
    ("GET", "/api/audit", None, Role.VIEWER),
    ("POST", "/api/connectors/hr/sync", {"dry_run": True}, Role.OPERATOR),
    ("POST", "/api/connectors/hr/check", None, Role.OPERATOR),
    ("POST", "/api/targets/nowhere/deliver", None, Role.OPERATOR),
    ("POST", "/api/runs/999/approve", None, Role.ADMIN),
    ("POST", "/api/connectors/hr/approval/dismiss", None, Role.ADMIN),
    ("GET", "/api/tokens", None, Role.ADMIN),
    ("DELETE", "/api/tokens/nobody", None, Role.ADMIN),
]
PAGE_ACTIONS: list[tuple[str, str, dict[str, str], Role]] = [
    ("GET", "/", {}, Role.VIEWER),
    ("GET", "/audit", {}, Role.VIEWER),
    ("GET", "/connectors/hr/approval", {}, Role.VIEWER),
    ("POST", "/connectors/hr/sync", {"dry_run": "true"}, Role.OPERATOR),
    ("POST", "/connectors/hr/approval/dismiss", {}, Role.ADMIN),
    ("POST", "/runs/999/approve", {}, Role.ADMIN),
    ("GET", "/connectors/hr/authorize", {}, Role.ADMIN),
    ("GET", "/users", {}, Role.VIEWER),
    ("GET", "/groups", {}, Role.VIEWER),
    ("GET", "/explain", {}, Role.VIEWER),
    ("GET", "/runs/999", {}, Role.VIEWER),
    ("POST", "/users/999/disable", {}, Role.ADMIN),
    ("POST", "/runs/999/revert", {"dry_run": "true"}, Role.ADMIN),
]


def _requires(dependant: Any) -> set[str]:
    found = set()
    for dep in dependant.dependencies:
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            found.add(name)
        found |= _requires(dep)
    return found


async def test_every_route_declares_the_role_it_needs(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    missing = []
    routes = list(_routes(h.app.routes))
    assert len(routes) > 40  # every router's routes, not only the app's own few
    for route in routes:
        if route.path in PUBLIC or route.path.startswith("/login"):  # sign-in is public
            continue
        if len(_requires(route.dependant)) != 1:
            missing.append(f"{sorted(route.methods or ())} {route.path}")
    assert missing == []


def _routes(routes: Any) -> Any:
    """Every endpoint route, also those of included routers (FastAPI keeps those apart)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "effective_candidates"):
            yield from (c for c in route.effective_candidates() if hasattr(c, "dependant"))


def _allowed(status: int) -> bool:
    return status not in (401, 403)


@pytest.mark.parametrize("role", list(Role))
async def test_tokens_of_each_role(tmp_path: Path, store: Store, role: Role) -> None:
    h = access_harness(tmp_path, store)
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[role]}"}) as api:
        for method, path, body, needs in API_ACTIONS:
            answer = await api.request(method, path, json=body)
            assert _allowed(answer.status_code) == (role >= needs), (role, path, answer.text)
            if not _allowed(answer.status_code):
                assert answer.status_code == 403
                assert f"needs the {needs.label} role" in answer.json()["detail"]
        if role >= Role.OPERATOR:
            await wait_idle(api)


@pytest.mark.parametrize("role", list(Role))
async def test_sessions_of_each_role(tmp_path: Path, store: Store, role: Role) -> None:
    h = access_harness(tmp_path, store)
    async with h.client() as web:
        csrf = await sign_in(web, USERS[role])
        for method, path, body, needs in API_ACTIONS:
            answer = await web.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
            assert _allowed(answer.status_code) == (role >= needs), (role, path, answer.text)
        if role >= Role.OPERATOR:
            await wait_idle(web)
        for method, path, form, needs in PAGE_ACTIONS:
            data = {"csrf": csrf, **form} if method == "POST" else None
            answer = await web.request(method, path, data=data)
            assert _allowed(answer.status_code) == (role >= needs), (role, path)
            if answer.status_code == 403:
                assert "text/html" in answer.headers["content-type"]
                assert f"needs the {needs.label} role" in answer.text
        if role >= Role.OPERATOR:
            await wait_idle(web)


async def test_a_viewer_sees_the_dashboard_without_action_buttons(
    tmp_path: Path, store: Store
) -> None:
    h = access_harness(tmp_path, store)
    async with h.client() as web:
        await sign_in(web, "vera")
        page = (await web.get("/")).text
        assert "Sync now" not in page and "Dry run" not in page and "Authorize" not in page
        assert "(viewer)" in page
        check = (await web.get("/connectors/hr/check")).text
        assert 'id="run-check"' not in check and "needs the operator role" in check
    async with h.client() as web:
        await sign_in(web, "otto")
        page = (await web.get("/")).text
        assert "Sync now" in page and "Authorize" not in page
    async with h.client() as web:
        csrf = await sign_in(web, "admin")
        assert "Authorize" in (await web.get("/")).text
        await web.post("/connectors/hr/sync", data={"csrf": csrf})
        await wait_idle(web)
        assert "Revert this run" in (await web.get("/runs/1")).text
    async with h.client() as web:
        await sign_in(web, "vera")
        run = (await web.get("/runs/1")).text
        assert "Run 1 of hr" in run and "Revert this run" not in run


async def test_the_configured_tokens_keep_acting_as_admin(tmp_path: Path, store: Store) -> None:
    h = access_harness(tmp_path, store)
    async with h.api() as api:  # [service] api_tokens, from before roles
        answer = await api.post("/api/runs/999/approve")
        assert answer.status_code == 404  # allowed; there is no such run


async def test_a_revoked_token_opens_nothing(tmp_path: Path, store: Store) -> None:
    from datetime import UTC, datetime

    from idpsync.store import tokens

    h = access_harness(tmp_path, store)
    assert tokens.revoke(store, "ci-admin", datetime.now(UTC))
    assert not tokens.revoke(store, "ci-admin", datetime.now(UTC))
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[Role.ADMIN]}"}) as api:
        assert (await api.get("/api/connectors")).status_code == 401


async def test_a_local_account_with_a_wrong_password_is_refused(
    tmp_path: Path, store: Store
) -> None:
    h = access_harness(tmp_path, store)
    async with h.client() as web:
        page = await web.get("/login")
        import re

        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        answer = await web.post(
            "/login", data={"csrf": csrf.group(1), "username": "vera", "password": "nope"}
        )
        assert answer.status_code == 401


async def test_an_admin_makes_and_revokes_tokens_over_the_api(tmp_path: Path, store: Store) -> None:
    from idpsync.store import audit as trail

    h = access_harness(tmp_path, store)
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[Role.ADMIN]}"}) as api:
        made = await api.post("/api/tokens", json={"name": "portal", "role": "operator"})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        again = await api.post("/api/tokens", json={"name": "portal"})
        assert again.status_code == 409
        listed = {t["name"]: t for t in (await api.get("/api/tokens")).json()}
        assert listed["portal"]["role"] == "operator"
        assert listed["portal"]["created_by"] == "token:ci-admin"
        assert token not in json.dumps(listed)
    async with h.client(headers={"Authorization": f"Bearer {token}"}) as portal:
        assert (await portal.post("/api/runs/999/approve")).status_code == 403
        assert (await portal.post("/api/targets/nowhere/deliver")).status_code == 404
    async with h.client(headers={"Authorization": f"Bearer {TOKENS[Role.ADMIN]}"}) as api:
        assert (await api.delete("/api/tokens/portal")).status_code == 200
    async with h.client(headers={"Authorization": f"Bearer {token}"}) as portal:
        assert (await portal.get("/api/connectors")).status_code == 401
    made_rows = trail.entries(store, trail.Filter(action="token_create"))
    assert [(r["actor"], r["subject"]) for r in made_rows] == [("token:ci-admin", "token:portal")]
    assert len(trail.entries(store, trail.Filter(action="token_revoke"))) == 1


async def test_start_session_is_the_seam_for_other_sign_in_methods(
    tmp_path: Path, store: Store
) -> None:
    from idpsync.store import audit as trail
    from idpsync.web.sessions import start_session

    h = access_harness(tmp_path, store)

    @h.app.get("/login/test-method")
    def signed(request: Request) -> PlainTextResponse:
        start_session(request, "olga@example.com", Role.OPERATOR, "oidc")
        return PlainTextResponse("ok")

    async with h.client() as web:
        assert (await web.get("/login/test-method")).text == "ok"
        home = (await web.get("/")).text
        assert "olga@example.com (operator)" in home and "Sync now" in home
        assert (await web.post("/api/runs/999/approve")).status_code == 403
    [login] = trail.entries(store, trail.Filter(action="login"))
    assert login["actor"] == "user:olga@example.com"
    assert login["detail"] == {"role": "operator", "how": "oidc"}
