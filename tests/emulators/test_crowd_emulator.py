"""The Crowd emulator behaves as targets.md §1 describes, driven with plain httpx."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest

from idpsync.emulators.crowd import CrowdEmulator

APP, PASSWORD = "app", "pw-1"
BASE = "http://crowd.test/rest/usermanagement/1/"
JSON = {"Accept": "application/json", "Content-Type": "application/json"}


@pytest.fixture
def emulator() -> CrowdEmulator:
    return CrowdEmulator({APP: PASSWORD}, max_results=2)


@pytest.fixture
async def client(emulator: CrowdEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(
        base_url=BASE, auth=(APP, PASSWORD), headers=JSON, transport=transport
    ) as c:
        yield c


def user(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "first-name": "Ada",
        "last-name": "Lovelace",
        "display-name": "Ada Lovelace",
        "email": f"{name}@example.org",
        "active": True,
        "password": {"value": "secret-1"},
        **extra,
    }


async def test_wrong_application_password_is_401_plain_text(client: httpx.AsyncClient) -> None:
    response = await client.get("user", params={"username": "x"}, auth=(APP, "wrong"))
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        await client.get("user", params={"username": "x"}, auth=("other", PASSWORD))
    ).status_code == 401


async def test_create_get_and_duplicate_user(client: httpx.AsyncClient) -> None:
    created = await client.post("user", json=user("ada"))
    assert created.status_code == 201 and "username=ada" in created.headers["Location"]
    got = (await client.get("user", params={"username": "ADA", "expand": "attributes"})).json()
    assert (got["name"], got["email"], got["first-name"]) == ("ada", "ada@example.org", "Ada")
    assert "password" not in got or "value" not in got["password"]
    again = await client.post("user", json=user("Ada"))
    assert again.status_code == 400 and again.json()["reason"] == "INVALID_USER"
    missing = await client.get("user", params={"username": "nobody"})
    assert missing.status_code == 404
    assert missing.json() == {"reason": "USER_NOT_FOUND", "message": "User <nobody> does not exist"}
    no_password = await client.post(
        "user", json={k: v for k, v in user("b").items() if k != "password"}
    )
    assert no_password.status_code == 400


async def test_put_user_blanks_omitted_fields(
    client: httpx.AsyncClient, emulator: CrowdEmulator
) -> None:
    await client.post("user", json=user("ada"))
    response = await client.put(
        "user", params={"username": "ada"}, json={"name": "ada", "active": False}
    )
    assert response.status_code == 204
    held = emulator.state.snapshot()["users"]["ada"]
    assert held == {
        "first-name": "",
        "last-name": "",
        "display-name": "",
        "email": "",
        "active": False,
        "attributes": {},
    }
    other = await client.put(
        "user", params={"username": "ada"}, json={"name": "bob", "active": True}
    )
    assert other.status_code == 400


async def test_memberships_status_codes(client: httpx.AsyncClient, emulator: CrowdEmulator) -> None:
    await client.post("user", json=user("ada"))
    assert (await client.post("group", json={"name": "eng", "type": "GROUP"})).status_code == 201
    dup = await client.post("group", json={"name": "ENG", "type": "GROUP"})
    assert dup.status_code == 400 and dup.json()["reason"] == "INVALID_GROUP"
    add = await client.post("group/user/direct", params={"groupname": "eng"}, json={"name": "ada"})
    assert add.status_code == 201
    twice = await client.post("user/group/direct", params={"username": "ada"}, json={"name": "eng"})
    assert twice.status_code == 409 and twice.json()["reason"] == "MEMBERSHIP_ALREADY_EXISTS"
    # the entity named in the body is missing: 400; the one in the query string: 404
    body_missing = await client.post(
        "group/user/direct", params={"groupname": "eng"}, json={"name": "ghost"}
    )
    assert (body_missing.status_code, body_missing.json()["reason"]) == (400, "USER_NOT_FOUND")
    query_missing = await client.post(
        "group/user/direct", params={"groupname": "nope"}, json={"name": "ada"}
    )
    assert (query_missing.status_code, query_missing.json()["reason"]) == (404, "GROUP_NOT_FOUND")
    side = await client.post("user/group/direct", params={"username": "ada"}, json={"name": "nope"})
    assert (side.status_code, side.json()["reason"]) == (400, "GROUP_NOT_FOUND")
    test = await client.get("group/user/direct", params={"groupname": "eng", "username": "ADA"})
    assert test.status_code == 200
    gone = await client.delete("group/user/direct", params={"groupname": "eng", "username": "ada"})
    assert gone.status_code == 204
    again = await client.delete("user/group/direct", params={"username": "ada", "groupname": "eng"})
    assert (again.status_code, again.json()["reason"]) == (404, "MEMBERSHIP_NOT_FOUND")
    assert emulator.state.snapshot()["groups"] == {"eng": []}


async def test_paging_without_total_and_capped(client: httpx.AsyncClient) -> None:
    for name in ["c", "a", "e", "b", "d"]:
        await client.post("user", json=user(name))
    seen, start = [], 0
    while True:
        page = (
            await client.get(
                "search",
                params={"entity-type": "user", "start-index": start, "max-results": 50},
            )
        ).json()
        assert set(page) == {"expand", "users"}  # no total count
        names = [u["name"] for u in page["users"]]
        assert len(names) <= 2  # the server caps max-results
        seen += names
        start += len(names)
        if len(names) < 2:
            break
    assert seen == ["a", "b", "c", "d", "e"]


async def test_search_cql_and_membership_xml(client: httpx.AsyncClient) -> None:
    await client.post("user", json=user("ada"))
    await client.post("user", json=user("bob", email="b@other.org"))
    await client.post("group", json={"name": "eng"})
    await client.post("group", json={"name": "leads"})
    await client.post("group/user/direct", params={"groupname": "eng"}, json={"name": "bob"})
    await client.post(
        "group/child-group/direct", params={"groupname": "eng"}, json={"name": "leads"}
    )
    found = (
        await client.get(
            "search",
            params={"entity-type": "user", "restriction": 'email="B@OTHER.org"', "expand": "user"},
        )
    ).json()["users"]
    assert [u["name"] for u in found] == ["bob"] and found[0]["email"] == "b@other.org"
    bad = await client.get("search", params={"entity-type": "user", "restriction": "email ~ x"})
    assert bad.status_code == 400 and bad.json()["reason"] == "ILLEGAL_ARGUMENT"
    assert (await client.get("group/membership")).status_code == 406  # XML only
    xml = await client.get("group/membership", headers={"Accept": "application/xml"})
    root = ET.fromstring(xml.content)
    graph = {
        m.get("group"): (
            [u.get("name") for u in m.iterfind("users/user")],
            [g.get("name") for g in m.iterfind("groups/group")],
        )
        for m in root.iter("membership")
    }
    assert graph == {"eng": (["bob"], ["leads"]), "leads": ([], [])}


async def test_rename_and_attributes(client: httpx.AsyncClient, emulator: CrowdEmulator) -> None:
    await client.post("user", json=user("ada"))
    await client.post("user", json=user("bob"))
    await client.post("group", json={"name": "eng"})
    await client.post("group/user/direct", params={"groupname": "eng"}, json={"name": "ada"})
    taken = await client.post("user/rename", params={"username": "ada"}, json={"new-name": "BOB"})
    assert taken.status_code == 400
    renamed = await client.post(
        "user/rename", params={"username": "ada"}, json={"new-name": "lady"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "lady"
    assert emulator.state.snapshot()["groups"]["eng"] == ["lady"]
    stored = await client.post(
        "user/attribute",
        params={"username": "lady"},
        json={"attributes": [{"name": "k", "values": ["v1", "v2"]}]},
    )
    assert stored.status_code == 204
    got = (await client.get("user/attribute", params={"username": "lady"})).json()
    assert got == {"attributes": [{"name": "k", "values": ["v1", "v2"]}]}


async def test_faults_down_and_read_only(
    client: httpx.AsyncClient, emulator: CrowdEmulator
) -> None:
    emulator.read_only = True
    denied = await client.post("user", json=user("ada"))
    assert denied.status_code == 403
    assert denied.json()["reason"] == "APPLICATION_PERMISSION_DENIED"
    emulator.down = True
    assert (await client.get("user", params={"username": "ada"})).status_code == 503
