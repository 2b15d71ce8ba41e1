"""The Keycloak emulator's own behaviour: paging, filters, shapes, auth and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup

BASE = "http://kc.test"
ADMIN = "/admin/realms/acme"
TOKEN = "/realms/acme/protocol/openid-connect/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emu() -> KeycloakEmulator:
    return KeycloakEmulator.generate(users=45, groups=15, seed=3)


@pytest.fixture
async def http(emu: KeycloakEmulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        yield c


async def test_first_and_max_are_exact_and_users_sorted(http: httpx.AsyncClient) -> None:
    everyone = (await http.get(f"{ADMIN}/users", params={"max": "1000"})).json()
    assert len(everyone) == 45
    names = [u["username"] for u in everyone]
    assert names == sorted(names)
    pages = [
        (await http.get(f"{ADMIN}/users", params={"first": str(f), "max": "7"})).json()
        for f in range(0, 49, 7)
    ]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 7, 7, 3]
    assert [u["id"] for p in pages for u in p] == [u["id"] for u in everyone]
    default = (await http.get(f"{ADMIN}/users")).json()
    assert len(default) == 45  # default max 100
    assert (await http.get(f"{ADMIN}/users/count")).json() == 45


@pytest.mark.parametrize("flag", ["true", "True", "TRUE"])
async def test_booleans_in_any_case(http: httpx.AsyncClient, flag: str) -> None:
    brief = (await http.get(f"{ADMIN}/users", params={"briefRepresentation": flag})).json()
    assert all("access" not in u for u in brief)
    full = (await http.get(f"{ADMIN}/users", params={"briefRepresentation": "false"})).json()
    assert all("access" in u for u in full)
    enabled = (await http.get(f"{ADMIN}/users", params={"enabled": flag})).json()
    assert enabled and all(u["enabled"] for u in enabled)


async def test_search_username_exact_and_enabled(
    emu: KeycloakEmulator, http: httpx.AsyncClient
) -> None:
    user = emu.tenant.users[emu.tenant.user_ids[0]]
    name = user.alias.lower()
    prefix = (await http.get(f"{ADMIN}/users", params={"search": name[:4]})).json()
    assert name in [u["username"] for u in prefix]
    assert all(
        any(
            (u.get(k) or "").lower().startswith(name[:4])
            for k in ("username", "email", "firstName", "lastName")
        )
        for u in prefix
    )
    infix = (await http.get(f"{ADMIN}/users", params={"search": f"*{name[2:6]}*"})).json()
    assert name in [u["username"] for u in infix]
    exact = (await http.get(f"{ADMIN}/users", params={"search": f'"{name}"'})).json()
    assert [u["username"] for u in exact] == [name]
    contains = (await http.get(f"{ADMIN}/users", params={"username": name[1:-1]})).json()
    assert name in [u["username"] for u in contains]
    none = (
        await http.get(f"{ADMIN}/users", params={"username": name[1:-1], "exact": "true"})
    ).json()
    assert none == []
    emu.tenant.update_user(user.id, enabled=False)
    off = (await http.get(f"{ADMIN}/users", params={"enabled": "false"})).json()
    assert user.id in [u["id"] for u in off] and not any(u["enabled"] for u in off)
    count = (await http.get(f"{ADMIN}/users/count", params={"enabled": "False"})).json()
    assert count == len(off)


async def test_groups_shape_23_children_default_max_and_counts(
    emu: KeycloakEmulator, http: httpx.AsyncClient
) -> None:
    tree = emu.tree()
    parent = next(g for g in tree.children[None] if not tree.children.get(g))
    for i in range(13):
        emu.tenant.add_group(TenantGroup(id=f"k{i:02}", name=f"k{i:02}"))
        emu.tenant.add_member(parent, f"k{i:02}")
    top = (await http.get(f"{ADMIN}/groups")).json()
    entry = next(g for g in top if g["id"] == parent)
    assert entry["subGroupCount"] == 13 and entry["subGroups"] == []
    kids = (await http.get(f"{ADMIN}/groups/{parent}/children")).json()
    assert len(kids) == 10 and all(k["parentId"] == parent for k in kids)
    assert kids[0]["path"] == f"{entry['path']}/k00"
    rest = (await http.get(f"{ADMIN}/groups/{parent}/children", params={"first": "10"})).json()
    assert [k["name"] for k in rest] == ["k10", "k11", "k12"]
    total = (await http.get(f"{ADMIN}/groups/count")).json()
    only_top = (await http.get(f"{ADMIN}/groups/count", params={"top": "true"})).json()
    assert total == {"count": 28} and only_top == {"count": len(emu.tree().children[None])}


async def test_groups_shape_22_inlines_the_tree() -> None:
    emu = KeycloakEmulator.generate(users=20, groups=15, seed=3, shape=22)
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        top = (await c.get(f"{ADMIN}/groups")).json()
        nested = [g for g in top if g["subGroups"]]
        assert nested and all("subGroupCount" not in g for g in top)
        assert nested[0]["subGroups"][0]["path"].startswith(nested[0]["path"] + "/")
        assert (await c.get(f"{ADMIN}/groups/{nested[0]['id']}/children")).status_code == 405


async def test_user_groups_are_direct_with_path_and_members(
    emu: KeycloakEmulator, http: httpx.AsyncClient
) -> None:
    tree = emu.tree()
    child = next(g for g, p in tree.parent.items() if p)
    uid = emu.tenant.user_ids[0]
    emu.tenant.add_member(child, uid)
    groups = (await http.get(f"{ADMIN}/users/{uid}/groups")).json()
    assert (
        tree.parent[child] not in {g["id"] for g in groups}
        or uid in emu.tenant.groups[tree.parent[child]].members
    )
    mine = next(g for g in groups if g["id"] == child)
    assert mine["path"] == emu.tree().paths[child] and mine["path"].count("/") >= 2
    members = (await http.get(f"{ADMIN}/groups/{child}/members", params={"max": "1000"})).json()
    assert uid in {m["id"] for m in members}


async def test_errors(emu: KeycloakEmulator, http: httpx.AsyncClient) -> None:
    missing = await http.get(f"{ADMIN}/users/does-not-exist")
    assert missing.status_code == 404 and missing.json() == {"error": "User not found"}
    assert (await http.get(f"{ADMIN}/groups/nope/members")).status_code == 404
    no_token = await http.get(f"{ADMIN}/users", headers={"authorization": ""})
    assert no_token.status_code == 401
    emu.set_roles(frozenset({"query-users"}))
    limited = emu.realms.issue("acme", frozenset({"query-users"}))
    forbidden = await http.get(f"{ADMIN}/groups", headers={"authorization": f"Bearer {limited}"})
    assert forbidden.status_code == 403 and forbidden.json() == {"error": "HTTP 403 Forbidden"}
    assert (await http.get("/admin/realms/other/users")).status_code == 404


async def test_token_endpoint_grants_and_oauth_errors() -> None:
    clock = Clock()
    emu = KeycloakEmulator.generate(users=5, groups=3, seed=1, clock=clock)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as c:
        ok = await c.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
            },
        )
        body = ok.json()
        assert (
            body["expires_in"] == 300
            and body["token_type"] == "Bearer"
            and "refresh_token" not in body
        )
        basic = await c.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=(emu.client_id, emu.client_secret),
        )
        assert basic.status_code == 200
        cases = [
            (
                {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
                401,
                "invalid_client",
            ),
            (
                {
                    "grant_type": "client_credentials",
                    "client_id": emu.client_id,
                    "client_secret": "x",
                },
                401,
                "unauthorized_client",
            ),
            (
                {"grant_type": "client_credentials", "client_id": "admin-cli"},
                401,
                "unauthorized_client",
            ),
            (
                {
                    "grant_type": "authorization_code",
                    "client_id": emu.client_id,
                    "client_secret": emu.client_secret,
                },
                400,
                "unsupported_grant_type",
            ),
            ({"client_id": emu.client_id}, 400, "invalid_request"),
        ]
        for form, status, error in cases:
            answer = await c.post(TOKEN, data=form)
            assert (answer.status_code, answer.json()["error"]) == (status, error), form
            assert answer.json()["error_description"]
        admin_url = "/realms/master/protocol/openid-connect/token"
        wrong = await c.post(
            admin_url,
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": "no",
            },
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_grant"
        good = await c.post(
            admin_url,
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": emu.admin_password,
            },
        )
        assert good.status_code == 200 and good.json()["refresh_token"]
        headers = {"authorization": f"Bearer {body['access_token']}"}
        assert (await c.get(f"{ADMIN}/users/count", headers=headers)).status_code == 200
        clock.now += 301
        expired = await c.get(f"{ADMIN}/users/count", headers=headers)
        assert expired.status_code == 401 and expired.json() == {"error": "HTTP 401 Unauthorized"}


async def test_auth_prefix_paths() -> None:
    emu = KeycloakEmulator.generate(users=5, groups=3, seed=1, auth_prefix=True)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as c:
        assert (await c.get("/realms/acme")).status_code == 404
        assert (await c.get("/auth/realms/acme")).json()["realm"] == "acme"
        headers = {"authorization": f"Bearer {emu.issue_token()}"}
        assert (await c.get(f"/auth{ADMIN}/users", headers=headers)).status_code == 200
        assert (await c.get(f"{ADMIN}/users", headers=headers)).status_code == 404
