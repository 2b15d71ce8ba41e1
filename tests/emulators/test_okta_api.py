"""The Okta emulator's behaviour: auth, paging, filters, statuses, errors, rate limits."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idpsync.emulators import Fault
from idpsync.emulators.okta import OktaEmulator

ORG = "https://acme.okta.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_010.0

    def __call__(self) -> float:
        return self.now


def client(emu: OktaEmulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=emu.transport(), base_url=ORG)


def ssws(emu: OktaEmulator, space: bool = True) -> dict[str, str]:
    return {"Authorization": f"SSWS{' ' if space else ''}{emu.api_token}"}


def assertion(key: str, client_id: str, aud: str = f"{ORG}/oauth2/v1/token", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(now),
    } | claims
    return jwt.encode({"alg": "RS256"}, body, RSAKey.import_key(key))


def token_form(
    app_id: str, signed: str, scope: str = "okta.users.read okta.groups.read"
) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }


async def all_pages(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: str
) -> tuple[list[Any], int]:
    response = await http.get(url, params=params, headers=headers)
    items, pages = response.json(), 1
    while True:
        links = response.headers.get_list("link")
        assert 'rel="self"' in links[0]
        nxt = [lk for lk in links if 'rel="next"' in lk]
        if not nxt:
            return items, pages
        response = await http.get(nxt[0].split(">")[0][1:], headers=headers)
        items += response.json()
        pages += 1


async def test_users_pages_limits_and_deprovisioned_are_hidden() -> None:
    emu = OktaEmulator.generate(users=450, groups=5, seed=2)
    gone = {u for u in emu.tenant.users if emu.status_of(u) == "DEPROVISIONED"}
    assert gone
    async with client(emu) as http:
        items, pages = await all_pages(http, "/api/v1/users", ssws(emu), limit="1000")
        assert pages == 3 and len(items) == 450 - len(gone)  # limit cut to 200
        assert not gone & {u["id"] for u in items}
        found, _ = await all_pages(
            http, "/api/v1/users", ssws(emu), filter='status eq "DEPROVISIONED"'
        )
        assert {u["id"] for u in found} == gone
        searched, _ = await all_pages(
            http, "/api/v1/users", ssws(emu), search='status eq "DEPROVISIONED"'
        )
        assert {u["id"] for u in searched} == gone
        bad = await http.get("/api/v1/users", params={"limit": "0"}, headers=ssws(emu))
        assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000001"
        bad = await http.get(
            "/api/v1/users", params={"filter": 'nickName eq "x"'}, headers=ssws(emu)
        )
        assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000031"


async def test_last_updated_filters_follow_changes() -> None:
    emu = OktaEmulator.generate(users=60, groups=8, seed=2)
    t = emu.tenant
    async with client(emu) as http:
        first = (await http.get("/api/v1/users", headers=ssws(emu))).json()
        mark = max(u["lastUpdated"] for u in first)
        uid, gid = t.user_ids[3], t.group_ids[2]
        emu.set_status(uid, "SUSPENDED")
        t.add_member(gid, t.user_ids[5]) if t.user_ids[5] not in t.groups[
            gid
        ].members else t.remove_member(gid, t.user_ids[5])
        since = f'lastUpdated gt "{mark}"'
        changed = (
            await http.get("/api/v1/users", params={"filter": since}, headers=ssws(emu))
        ).json()
        assert [(u["id"], u["status"]) for u in changed] == [(uid, "SUSPENDED")]
        groups = (await http.get("/api/v1/groups", headers=ssws(emu))).json()
        gmark = max(g["lastMembershipUpdated"] for g in groups if g["id"] != gid)
        moved = (
            await http.get(
                "/api/v1/groups",
                params={"filter": f'lastMembershipUpdated gt "{gmark}"'},
                headers=ssws(emu),
            )
        ).json()
        assert [g["id"] for g in moved] == [gid]
        apps = (
            await http.get(
                "/api/v1/groups", params={"filter": 'type eq "APP_GROUP"'}, headers=ssws(emu)
            )
        ).json()
        assert apps and {g["type"] for g in apps} == {"APP_GROUP"}


async def test_group_members_page_at_up_to_1000_and_everyone_is_built_in() -> None:
    emu = OktaEmulator.generate(users=1200, groups=3, seed=2)
    everyone = next(g for g in emu.tenant.group_ids if emu.group_type(g) == "BUILT_IN")
    assert emu.tenant.groups[everyone].name == "Everyone"
    async with client(emu) as http:
        url = f"/api/v1/groups/{everyone}/users"
        items, pages = await all_pages(http, url, ssws(emu), limit="5000")
        assert pages == 2 and len(items) == 1200
        _, default_pages = await all_pages(http, url, ssws(emu))
        assert default_pages == 2  # default limit 1000
        groups = (
            await http.get(f"/api/v1/users/{items[0]['id']}/groups", headers=ssws(emu))
        ).json()
        assert everyone in {g["id"] for g in groups}


async def test_api_token_with_and_without_space_and_bad_tokens() -> None:
    emu = OktaEmulator.generate(users=5, groups=2)
    async with client(emu) as http:
        assert (await http.get("/api/v1/users", headers=ssws(emu, space=False))).status_code == 200
        assert (await http.get("/api/v1/users", headers=ssws(emu))).status_code == 200
        for header in ({}, {"Authorization": "SSWS wrong"}, {"Authorization": "Bearer nope"}):
            answer = await http.get("/api/v1/groups", headers=header)
            assert answer.status_code == 401 and answer.json()["errorCode"] == "E0000011"


async def test_service_app_token_flow_checks_signature_audience_and_scopes() -> None:
    emu = OktaEmulator.generate(users=5, groups=2)
    app = emu.register_app(scopes=("okta.users.read",))
    other = RSAKey.generate_key(2048).as_pem(private=True).decode()
    async with client(emu) as http:
        ok = await http.post(
            "/oauth2/v1/token",
            data=token_form(
                app.client_id, assertion(app.private_key_pem, app.client_id), "okta.users.read"
            ),
        )
        assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
        bearer = {"Authorization": f"Bearer {ok.json()['access_token']}"}
        assert (await http.get("/api/v1/users", headers=bearer)).status_code == 200
        denied = await http.get("/api/v1/groups", headers=bearer)
        assert denied.status_code == 403 and denied.json()["errorCode"] == "E0000006"
        assert 'scope="okta.groups.read"' in denied.headers["www-authenticate"]
        cases = [
            (token_form(app.client_id, assertion(other, app.client_id)), "invalid_client"),
            (
                token_form(
                    app.client_id, assertion(app.private_key_pem, app.client_id, aud="https://x/")
                ),
                "invalid_client",
            ),
            (
                token_form(
                    app.client_id, assertion(app.private_key_pem, app.client_id, sub="else")
                ),
                "invalid_client",
            ),
            (
                token_form(app.client_id, assertion(app.private_key_pem, app.client_id)),
                "invalid_scope",
            ),
            (
                {**token_form(app.client_id, "x"), "grant_type": "password"},
                "unsupported_grant_type",
            ),
        ]
        for form, error in cases:
            answer = await http.post("/oauth2/v1/token", data=form)
            assert answer.status_code in (400, 401) and answer.json()["error"] == error, form
        emu.expire_tokens()
        assert (await http.get("/api/v1/users", headers=bearer)).status_code == 401


async def test_rate_limit_headers_429_and_window_reset() -> None:
    clock = Clock()
    emu = OktaEmulator.generate(users=5, groups=2, clock=clock, limits={"users": 3})
    async with client(emu) as http:
        answers = [await http.get("/api/v1/users", headers=ssws(emu)) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a.headers["x-rate-limit-limit"] for a in answers} == {"3"}
        assert {a.headers["x-rate-limit-reset"] for a in answers} == {"1800000060"}
        assert answers[3].json()["errorCode"] == "E0000047" and "date" in answers[3].headers
        other = await http.get("/api/v1/groups", headers=ssws(emu))  # another bucket
        assert other.status_code == 200 and other.headers["x-rate-limit-limit"] == "500"
        clock.now = 1_800_000_060.0
        again = await http.get("/api/v1/users", headers=ssws(emu))
        assert again.status_code == 200 and again.headers["x-rate-limit-reset"] == "1800000120"


async def test_concurrency_limit_answers_429_with_zero_limit() -> None:
    emu = OktaEmulator.generate(users=5, groups=2, concurrency=0)
    async with client(emu) as http:
        answer = await http.get("/api/v1/users", headers=ssws(emu))
    assert answer.status_code == 429
    assert answer.headers["x-rate-limit-limit"] == answer.headers["x-rate-limit-remaining"] == "0"


async def test_faults_answer_in_okta_format() -> None:
    emu = OktaEmulator.generate(users=5, groups=2)
    emu.inject(Fault("status", "/api/v1/users", status=429))
    emu.inject(Fault("status", "/api/v1/groups", status=503))
    async with client(emu) as http:
        storm = await http.get("/api/v1/users", headers=ssws(emu))
        down = await http.get("/api/v1/groups", headers=ssws(emu))
    assert storm.json()["errorCode"] == "E0000047" and int(storm.headers["x-rate-limit-reset"]) > 0
    assert down.status_code == 503 and down.json()["errorCode"] == "E0000009"


@pytest.mark.parametrize("status", ["SUSPENDED", "DEPROVISIONED", "LOCKED_OUT"])
def test_set_status_is_a_change(status: str) -> None:
    emu = OktaEmulator.generate(users=5, groups=2)
    uid = emu.tenant.user_ids[0]
    before = emu.versions(uid)[0]
    emu.set_status(uid, status)
    assert emu.status_of(uid) == status and emu.versions(uid)[0] > before
    with pytest.raises(ValueError, match="unknown Okta user status"):
        emu.set_status(uid, "GONE")
