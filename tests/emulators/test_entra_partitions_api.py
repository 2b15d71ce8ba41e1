"""The Entra emulator's startswith partitions, user counts and ``manager@delta`` (HTTP and SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from idpsync.emulators.entra import EntraEmulator, api
from idpsync.emulators.framework import RunningServer
from idpsync.emulators.tenant import TenantUser
from tests.emulators.conftest import get_all
from tests.emulators.test_entra_delta import run_delta
from tests.emulators.test_msgraph_sdk import collect, graph_client

FIRST = "abcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~"
ODD = ["7seven", "_under", "'quote", "!bang", "#hash", "^caret", "~tilde", "-dash", "Zed", "b'c"]


def add_odd_users(emu: EntraEmulator) -> None:
    boss = emu.tenant.user_ids[0]
    for n, alias in enumerate(ODD):
        user = TenantUser(
            id=f"00000000-0000-4000-8000-{n:012d}",
            alias=alias,
            display_name=f"Odd {n}",
            given_name=None,
            surname=None,
            mail=None,
            manager_id=boss,
        )
        emu.tenant.add_user(user)


def quoted(prefix: str) -> str:
    return "'" + prefix.replace("'", "''") + "'"


async def test_startswith_partitions_cover_the_tenant_with_managers(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    add_odd_users(emu)
    seen: dict[str, dict[str, Any]] = {}
    for prefix in FIRST:
        url = (
            f"/v1.0/users?$filter=startswith(userPrincipalName,{quoted(prefix)})"
            "&$select=id,userPrincipalName&$expand=manager($select=id)&$top=999"
        )
        for user in await get_all(client, url.replace("#", "%23")):
            assert user["userPrincipalName"].lower().startswith(prefix)  # case-insensitive
            assert user["id"] not in seen
            seen[user["id"]] = user
    assert set(seen) == set(emu.tenant.users)
    for user_id, user in seen.items():
        boss = emu.tenant.users[user_id].manager_id
        assert (user.get("manager") or {}).get("id") == boss


async def test_expanded_pages_stay_at_100_with_a_filter(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    body = (
        await client.get(
            "/v1.0/users?$filter=startswith(userPrincipalName,'a')&$top=999"
            "&$expand=manager($select=id)"
        )
    ).json()
    assert len(body["value"]) <= 100


async def test_user_count_needs_consistency_level(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    eventual = {"ConsistencyLevel": "eventual"}
    url = "/v1.0/users?$count=true&$top=1&$select=id"
    assert "@odata.count" not in (await client.get(url)).json()  # ignored, as Graph does
    assert (await client.get(url, headers=eventual)).json()["@odata.count"] == 60
    refused = await client.get("/v1.0/users/$count")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "$count is not currently supported."


async def test_manager_delta(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    t = emu.tenant
    items, link, _ = await run_delta(client, "/v1.0/users/delta?$select=id,displayName,manager")
    first = {u["id"]: u for u in items}
    for user_id, user in t.users.items():
        marks = first[user_id].get("manager@delta")
        if user.manager_id is None:
            assert marks is None
        else:
            assert marks == [{"@odata.type": "#microsoft.graph.user", "id": user.manager_id}]
        assert "manager" not in first[user_id]
    staff = [u for u in t.users.values() if u.manager_id is not None]
    new_boss, old_boss = staff[9].id, staff[1].manager_id
    t.set_manager(staff[0].id, new_boss)
    t.set_manager(staff[1].id, None)
    t.update_user(staff[2].id, display_name="Renamed")
    items, _, _ = await run_delta(client, link)
    later = {u["id"]: u for u in items}
    assert set(later) == {staff[0].id, staff[1].id, staff[2].id}
    assert later[staff[0].id]["manager@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": new_boss}
    ]
    assert later[staff[1].id]["manager@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": old_boss, "@removed": {"reason": "deleted"}}
    ]
    assert "manager@delta" not in later[staff[2].id]  # its manager did not change
    plain, _, _ = await run_delta(client, "/v1.0/users/delta?$select=id,displayName")
    assert not any("manager@delta" in u for u in plain)  # only when selected


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EntraEmulator, RunningServer]]:
    emulator = EntraEmulator.generate(users=120, groups=5, seed=5)
    add_odd_users(emulator)
    with emulator.serve() as server:
        yield emulator, server


async def test_sdk_reads_the_count_and_the_partitions(
    served: tuple[EntraEmulator, RunningServer],
) -> None:
    emulator, server = served
    async with graph_client(emulator, server.url) as (client, adapter):
        counted: RequestConfiguration[Any] = RequestConfiguration()
        counted.headers.add("ConsistencyLevel", "eventual")
        assert await client.users.count.get(counted) == len(emulator.tenant.users)
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            count=True, top=1, select=["id"]
        )
        listed: RequestConfiguration[Any] = RequestConfiguration(query_parameters=params)
        listed.headers.add("ConsistencyLevel", "eventual")
        page = await client.users.get(listed)
        assert page is not None and page.odata_count == len(emulator.tenant.users)
        found: dict[str, str | None] = {}
        for prefix in FIRST:
            query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter=f"startswith(userPrincipalName,{quoted(prefix)})",
                select=["id", "userPrincipalName"],
                expand=["manager($select=id)"],
                top=100,
            )
            first = await client.users.get(RequestConfiguration(query_parameters=query))
            for user in await collect(first, adapter):
                assert user.id is not None and user.id not in found
                found[user.id] = user.manager.id if user.manager else None
    t = emulator.tenant
    assert found == {u.id: u.manager_id for u in t.users.values()}


async def test_a_startswith_filter_tests_only_the_users_of_its_first_character(
    emu: EntraEmulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filter runs over the users whose property starts with the prefix's first character
    (an index), not over every user, and answers the same users (case-insensitive)."""
    add_odd_users(emu)
    upns = {
        u["id"]: u["userPrincipalName"].lower()
        for u in await get_all(client, "/v1.0/users?$select=id,userPrincipalName&$top=999")
    }
    tested: list[str] = []
    compile_filter = api.compile_filter

    def counting(text: str, *, advanced_ok: bool) -> Any:
        test = compile_filter(text, advanced_ok=advanced_ok)
        return lambda o: tested.append(o["id"]) or test(o)

    monkeypatch.setattr(api, "compile_filter", counting)
    for prefix in ("b", "b'", "z", "~", "#"):
        filtered = f"/v1.0/users?$filter=startswith(userPrincipalName,{quoted(prefix)})&$select=id"
        got = {u["id"] for u in await get_all(client, filtered.replace("#", "%23"))}
        assert got == {i for i, upn in upns.items() if upn.startswith(prefix)} != set()
        assert sorted(tested) == sorted(i for i, upn in upns.items() if upn[:1] == prefix[0])
        tested.clear()
