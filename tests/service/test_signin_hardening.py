"""Admin sign-in hardening: throttling, sessions revoked at logout, security headers, paging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from idpsync.store import Store
from idpsync.web import create_app
from idpsync.web.throttle import Failures, Policy
from tests.service.support import PASSWORD, Harness, loaded_config, login

LIMITS = "login_max_failures = 3\nlogin_window = 60"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    st = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    yield st
    st.close()


def _harness(tmp_path: Path, store: Store, clock: Clock) -> Harness:
    url = store.engine.url.render_as_string(hide_password=False)
    (tmp_path / "session-secret").write_text("a-session-secret-the-instances-share")
    secret = f'session_secret = "file:{tmp_path / "session-secret"}"'
    loaded = loaded_config(tmp_path, url, extra=f"{LIMITS}\n{secret}")
    app = create_app(loaded, store, background=False, clock=clock)
    return Harness(app, store, loaded, tmp_path / "people.json")


def _client(h: Harness, address: str = "10.0.0.1", **kw: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=h.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kw)  # type: ignore[arg-type]


async def _attempt(web: httpx.AsyncClient, password: str, user: str = "admin") -> httpx.Response:
    page = await web.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    data = {"csrf": csrf.group(1), "username": user, "password": password}
    return await web.post("/login", data=data)


async def test_failures_lock_out_even_the_right_password_until_the_window_passes(
    tmp_path: Path, store: Store
) -> None:
    clock = Clock()
    h = _harness(tmp_path, store, clock)
    async with _client(h) as web:
        for _ in range(3):
            assert (await _attempt(web, "wrong")).status_code == 401
        refused = await _attempt(web, PASSWORD)
        assert refused.status_code == 429
        assert "too many failed sign-ins" in refused.text
        assert refused.headers["retry-after"] == "60"
        assert (await web.get("/")).status_code == 303  # not signed in
        clock.now += timedelta(seconds=59)
        assert (await _attempt(web, PASSWORD)).status_code == 429
        clock.now += timedelta(seconds=2)
        assert (await _attempt(web, PASSWORD)).status_code == 303
        assert (await web.get("/")).status_code == 200


async def test_a_successful_sign_in_resets_the_count(tmp_path: Path, sqlite_store: Store) -> None:
    h = _harness(tmp_path, sqlite_store, Clock())
    async with _client(h) as web:
        for _ in range(2):
            assert (await _attempt(web, "wrong")).status_code == 401
        assert (await _attempt(web, PASSWORD)).status_code == 303
        for _ in range(2):
            assert (await _attempt(web, "wrong")).status_code == 401
        assert (await _attempt(web, PASSWORD)).status_code == 303


async def test_failures_for_the_admin_name_from_many_addresses_lock_the_name(
    tmp_path: Path, sqlite_store: Store
) -> None:
    h = _harness(tmp_path, sqlite_store, Clock())
    for n in range(3):
        async with _client(h, f"10.0.1.{n}") as web:
            assert (await _attempt(web, "wrong")).status_code == 401
    async with _client(h, "10.0.2.1") as web:
        assert (await _attempt(web, PASSWORD)).status_code == 429
        # another name from a fresh address is not locked (and still wrong)
        assert (await _attempt(web, PASSWORD, user="bob")).status_code == 401


async def test_failures_from_one_address_lock_the_address_whatever_the_name(
    tmp_path: Path, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    h = _harness(tmp_path, sqlite_store, Clock())
    async with _client(h, "10.0.3.1") as web:
        for name in ("root", "administrator", "pass-typed-as-name"):
            assert (await _attempt(web, "wrong", user=name)).status_code == 401
        assert (await _attempt(web, PASSWORD)).status_code == 429
    assert "failed sign-in with another name from 10.0.3.1" in caplog.text
    assert "pass-typed-as-name" not in caplog.text and "wrong" not in caplog.text
    async with _client(h, "10.0.3.2") as web:
        assert (await _attempt(web, PASSWORD)).status_code == 303


def test_lockouts_double_and_restart_after_a_quiet_window() -> None:
    policy = Policy(2, timedelta(seconds=60))
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    first = policy.after_failure(policy.after_failure(None, t0), t0)
    assert first.locked_until == t0 + timedelta(seconds=60)
    assert policy.locked_until(first, t0 + timedelta(seconds=59)) is not None
    assert policy.locked_until(first, t0 + timedelta(seconds=60)) is None
    t1 = t0 + timedelta(seconds=61)
    second = policy.after_failure(policy.after_failure(first, t1), t1)
    assert second.locked_until == t1 + timedelta(seconds=120)
    quiet = Failures(1, t0, None, 0)
    assert policy.after_failure(quiet, t0 + timedelta(seconds=60)).failures == 1


async def test_a_cookie_replayed_after_logout_opens_nothing(tmp_path: Path, store: Store) -> None:
    h = _harness(tmp_path, store, Clock())
    # a second instance on the same store sees the logout too
    other = create_app(h.loaded, store, background=False, clock=Clock())
    async with _client(h) as web:
        csrf = await login(web)
        cookie = web.cookies["idpsync_session"]
        before = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other),
            base_url="http://testserver",
            cookies={"idpsync_session": cookie},
        )
        async with before:
            assert (await before.get("/")).status_code == 200  # one session, two instances
        assert (await web.post("/logout", data={"csrf": csrf})).status_code == 303
    for app in (h.app, other):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            cookies={"idpsync_session": cookie},
        ) as replay:
            home = await replay.get("/")
            assert home.status_code == 303
            assert home.headers["location"].startswith("/login")
            assert (await replay.get("/api/runs")).status_code == 401


async def test_a_session_ends_after_its_lifetime(tmp_path: Path, sqlite_store: Store) -> None:
    clock = Clock()
    h = _harness(tmp_path, sqlite_store, clock)
    async with _client(h) as web:
        await login(web)
        assert (await web.get("/")).status_code == 200
        clock.now += timedelta(hours=8, seconds=1)
        assert (await web.get("/")).status_code == 303


SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


async def test_every_page_and_api_answer_carries_the_security_headers(
    tmp_path: Path, sqlite_store: Store
) -> None:
    h = _harness(tmp_path, sqlite_store, Clock())
    async with _client(h) as web:
        answers = [await web.get("/login"), await web.get("/users")]
        await login(web)
        for path in ("/", "/runs", "/users", "/groups", "/api/runs", "/nowhere", "/runs/999"):
            answers.append(await web.get(path))
        static = await web.get("/static/progress.js")
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.url, name)
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
    assert static.status_code == 200 and "cache-control" not in static.headers
    assert static.headers["x-content-type-options"] == "nosniff"


async def test_the_templates_have_no_inline_script_or_style() -> None:
    templates = Path(__file__).parents[2] / "src" / "idpsync" / "web" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text), template.name


@pytest.mark.parametrize("path", ["/users", "/runs", "/groups"])
async def test_a_huge_offset_is_clamped_on_the_pages(
    tmp_path: Path, sqlite_store: Store, path: str
) -> None:
    h = _harness(tmp_path, sqlite_store, Clock())
    async with _client(h) as web:
        await login(web)
        for offset in ("99999999999999999999", "-99999999999999999999"):
            answer = await web.get(path, params={"offset": offset})
            assert answer.status_code == 200, answer.text
        api = await web.get(f"/api{path}", params={"offset": "99999999999999999999"})
        assert api.status_code == 422
        assert "offset" in api.text
