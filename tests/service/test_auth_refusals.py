"""Every write endpoint refuses unauthenticated and CSRF-less requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from idpsync.store import Store
from idpsync.web import pages
from tests.service.support import harness, login

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _concrete(path: str) -> str:
    return path.replace("{name}", "hr").replace("{run_id}", "1")


@pytest.fixture
def h(tmp_path: Path, sqlite_store: Store):  # type: ignore[no-untyped-def]
    return harness(tmp_path, sqlite_store)


@pytest.fixture
def sqlite_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    st = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    yield st
    st.close()


async def test_every_write_route_is_refused_without_auth_or_csrf(h) -> None:  # type: ignore[no-untyped-def]
    spec = h.app.openapi()
    api_writes = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method.upper() in WRITE_METHODS
    ]
    assert len(api_writes) >= 4  # sync, sync-user, check, approve
    form_writes = [
        (method, route.path)
        for route in pages.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method in WRITE_METHODS and route.path != "/login"
    ]
    assert len(form_writes) >= 4
    async with h.client() as anonymous:
        for method, path in api_writes + form_writes:
            answer = await anonymous.request(method, _concrete(path), json={"key": "x"})
            assert answer.status_code == 401, (method, path, answer.status_code)
    async with h.client(headers={"Authorization": "Bearer not-a-token"}) as forged:
        for method, path in api_writes:
            answer = await forged.request(method, _concrete(path), json={"key": "x"})
            assert answer.status_code == 401, (method, path)
    async with h.client() as web:
        await login(web)
        for method, path in api_writes:
            answer = await web.request(method, _concrete(path), json={"key": "x"})
            assert answer.status_code == 403, (method, path, answer.status_code)
            wrong = await web.request(
                method, _concrete(path), json={"key": "x"}, headers={"X-CSRF-Token": "guess"}
            )
            assert wrong.status_code == 403, (method, path)
        for method, path in form_writes:
            answer = await web.request(method, _concrete(path), data={"csrf": "guess"})
            assert answer.status_code == 403, (method, path, answer.status_code)
        assert h.store.runs() == []  # nothing ran


async def test_login_form_needs_csrf(h) -> None:  # type: ignore[no-untyped-def]
    async with h.client() as web:
        await web.get("/login")
        answer = await web.post(
            "/login",
            data={"csrf": "guess", "username": "admin", "password": "correct horse battery staple"},
        )
        assert answer.status_code == 403
        assert (await web.get("/api/runs")).status_code == 401


async def test_session_with_csrf_header_may_write(h) -> None:  # type: ignore[no-untyped-def]
    async with h.client() as web:
        csrf = await login(web)
        answer = await web.post("/api/connectors/hr/check", headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200
