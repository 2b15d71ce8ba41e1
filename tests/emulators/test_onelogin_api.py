"""The OneLogin emulator's wire format, read with plain httpx (no connector code)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from idpsync.emulators.onelogin import OneLoginEmulator

BASE = "https://acme.onelogin.test"


class Clock:
    """A settable clock (epoch seconds)."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> OneLoginEmulator:
    return OneLoginEmulator.generate(users=123, groups=55, roles=4, seed=2, clock=clock)


@pytest.fixture
async def http(emu: OneLoginEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as client:
        yield client


def basic(emu: OneLoginEmulator, secret: str | None = None) -> str:
    raw = f"{emu.client_id}:{secret or emu.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


async def token(http: httpx.AsyncClient, authorization: str) -> httpx.Response:
    return await http.post(
        "/auth/oauth2/v2/token",
        json={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
    )


async def test_token_with_basic_and_legacy_headers(
    emu: OneLoginEmulator, http: httpx.AsyncClient
) -> None:
    answer = await token(http, basic(emu))
    assert answer.status_code == 200
    body = answer.json()
    assert body["expires_in"] == 36000 and body["token_type"] == "bearer"
    assert body["account_id"] == emu.account.account_id
    legacy = f"client_id:{emu.client_id}, client_secret:{emu.client_secret}"
    assert (await token(http, legacy)).status_code == 200
    wrong = await token(http, basic(emu, "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["status"] == {
        "error": True,
        "code": 401,
        "type": "Unauthorized",
        "message": "Authentication Failure",
    }
    no_grant = await http.post(
        "/auth/oauth2/v2/token", json={}, headers={"Authorization": basic(emu)}
    )
    assert no_grant.status_code == 400


@pytest.mark.parametrize("scheme", ["bearer:{}", "bearer {}", "Bearer {}"])
async def test_three_bearer_spellings(
    emu: OneLoginEmulator, http: httpx.AsyncClient, scheme: str
) -> None:
    answer = await http.get(
        "/api/2/users", headers={"Authorization": scheme.format(emu.issue_token())}
    )
    assert answer.status_code == 200 and len(answer.json()) == 50


async def test_errors_in_v1_and_v2_envelopes(
    emu: OneLoginEmulator, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/api/2/users")).json() == {
        "statusCode": 401,
        "name": "UnauthorizedError",
        "message": "Unauthorized",
    }
    v1 = await http.get("/api/1/users", headers={"Authorization": "bearer:unknown"})
    assert v1.status_code == 401 and v1.json()["status"]["message"] == "Authentication Failure"
    auth = {"Authorization": f"bearer {emu.issue_token()}"}
    missing = await http.get("/api/1/users/8888888", headers=auth)
    assert missing.json()["status"]["message"] == "User for id 8888888 was not found"
    missing2 = await http.get("/api/2/users/8888888", headers=auth)
    assert missing2.json()["name"] == "NotFoundError"
    emu.expire_tokens()
    assert (await http.get("/api/2/users", headers=auth)).status_code == 401


async def test_v2_paging_headers_cursor_encodings_and_limit_cap(
    emu: OneLoginEmulator, http: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {emu.issue_token()}"}
    first = await http.get("/api/2/users", params={"limit": 500}, headers=auth)
    assert len(first.json()) == 50  # the cap
    h = first.headers
    assert (h["Total-Count"], h["Total-Pages"], h["Current-Page"], h["Page-Items"]) == (
        "123",
        "3",
        "1",
        "50",
    )
    assert 'rel="next"' in h["Link"] and "Before-Cursor" not in h
    cursor = h["After-Cursor"]  # URL-encoded once, as OneLogin sends it
    single = await http.get(
        "/api/2/users", params={"cursor": httpx.URL(f"?c={cursor}").params["c"]}, headers=auth
    )
    double = await http.get(f"/api/2/users?cursor={quote(cursor, safe='')}", headers=auth)
    assert single.json() == double.json()
    assert single.json()[0]["id"] == emu.account.user_ids[50]
    assert single.headers["Current-Page"] == "2" and "Before-Cursor" in single.headers
    last = await http.get("/api/2/users", params={"page": 3}, headers=auth)
    assert len(last.json()) == 23 and "After-Cursor" not in last.headers
    padded = (await http.get("/api/2/users", params={"limit": 7}, headers=auth)).headers
    assert padded["After-Cursor"].endswith("%3D")  # base64 padding, URL-encoded
    twice = quote(padded["After-Cursor"], safe="")  # what the 4.x SDK sends: %253D
    page2 = await http.get(f"/api/2/users?cursor={twice}", headers=auth)
    assert [u["id"] for u in page2.json()] == emu.account.user_ids[7:14]
    bad = await http.get("/api/2/users", params={"cursor": "!!!"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["statusCode"] == 400


async def test_v2_filters_and_updated_since(
    emu: OneLoginEmulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    auth = {"Authorization": f"bearer {emu.issue_token()}"}
    some = emu.account.users[emu.account.user_ids[7]]
    by_name = await http.get("/api/2/users", params={"username": some.username}, headers=auth)
    assert [u["id"] for u in by_name.json()] == [some.id]
    wild = await http.get("/api/2/users", params={"firstname": "zo*"}, headers=auth)
    assert wild.json() and all(u["firstname"] == "Zoë" for u in wild.json())
    clock.now += 60
    emu.account.update_user(some.id, title="Boss")
    since = "2026-01-01T00:00:00Z"
    changed = await http.get("/api/2/users", params={"updated_since": since}, headers=auth)
    assert [u["id"] for u in changed.json()] == [some.id]
    assert changed.json()[0]["title"] == "Boss" and changed.json()[0]["role_ids"] == some.role_ids
    slim = await http.get("/api/2/users", params={"fields": "username"}, headers=auth)
    assert set(slim.json()[0]) == {"id", "username"}


async def test_v1_envelope_after_cursor_groups_and_user_roles(
    emu: OneLoginEmulator, http: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"bearer:{emu.issue_token()}"}
    seen: list[int] = []
    params: dict[str, str] = {}
    while True:
        body = (await http.get("/api/1/groups", params=params, headers=auth)).json()
        assert body["status"]["code"] == 200
        seen += [g["id"] for g in body["data"]]
        if not body["pagination"]["after_cursor"]:
            break
        assert body["pagination"]["next_link"].startswith(f"{BASE}/api/1/groups?after_cursor=")
        params = {"after_cursor": body["pagination"]["after_cursor"]}
    assert seen == sorted(emu.account.groups) and len(seen) == 55
    users = (await http.get("/api/1/users", headers=auth)).json()
    assert len(users["data"]) == 50 and "role_ids" not in users["data"][0]
    holder = next(u for u in emu.account.users.values() if u.role_ids)
    roles = (await http.get(f"/api/1/users/{holder.id}/roles", headers=auth)).json()
    assert roles["data"] == [holder.role_ids]
    nobody = next(u for u in emu.account.users.values() if not u.role_ids)
    assert (await http.get(f"/api/1/users/{nobody.id}/roles", headers=auth)).json()["data"] == [[]]


async def test_hourly_budget_headers_429_and_reset(clock: Clock) -> None:
    emu = OneLoginEmulator.generate(users=5, groups=2, roles=2, clock=clock, hourly_limit=3)
    clock.now = 1_780_000_000.0 - 1_780_000_000.0 % 3600 + 600  # 10 min into an hour
    auth = {"Authorization": f"bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as http:
        answers = [await http.get("/api/2/users", headers=auth) for _ in range(3)]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
        assert answers[0].headers["X-RateLimit-Limit"] == "3"
        assert answers[0].headers["X-RateLimit-Reset"] == "3000"
        refused = await http.get("/api/1/groups", headers=auth)
        assert refused.status_code == 429 and refused.json()["status"]["code"] == 429
        limit = (await http.get("/auth/rate_limit", headers=auth)).json()["data"]
        assert limit == {
            "X-RateLimit-Limit": 3,
            "X-RateLimit-Remaining": 0,
            "X-RateLimit-Reset": 3000,
        }
        clock.now += 3000
        assert (await http.get("/api/2/users", headers=auth)).status_code == 200
    assert emu.requests.count("/api/{v}/{r}", status=429) == 1


async def test_roles_and_role_users(emu: OneLoginEmulator, http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"bearer {emu.issue_token()}"}
    roles = (await http.get("/api/2/roles", headers=auth)).json()
    assert [r["name"] for r in roles][:1] == ["Engineering"]
    role = roles[1]["id"]
    users = (await http.get(f"/api/2/roles/{role}/users", headers=auth)).json()
    truth = sorted(uid for r, uid in emu.account.truth().role_members() if r == role)
    assert [u["id"] for u in users] == truth[:50]
    assert (await http.get("/api/2/roles/1", headers=auth)).status_code == 404
