from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser


async def run_delta(client: httpx.AsyncClient, url: str) -> tuple[list[dict[str, Any]], str, int]:
    """Follow a delta round to its deltaLink: (items, deltaLink, pages)."""
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while True:
        assert next_url is not None
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        items.extend(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        next_url = body["@odata.nextLink"]


def merge_members(items: list[dict[str, Any]]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for item in items:
        if "@removed" in item:
            continue
        current = members.setdefault(item["id"], set())
        for edge in item.get("members@delta", []):
            if "@removed" in edge:
                current.discard(edge["id"])
            else:
                current.add(edge["id"])
    return members


@pytest.mark.parametrize("spelling", ["delta", "delta()", "microsoft.graph.delta"])
async def test_users_delta_spellings(
    emu: EntraEmulator, client: httpx.AsyncClient, spelling: str
) -> None:
    items, link, _ = await run_delta(client, f"/v1.0/users/{spelling}?$select=id,displayName")
    assert {u["id"] for u in items} == set(emu.tenant.users)
    assert all(set(u) == {"id", "displayName"} for u in items)
    assert list(items[0]) == ["id", "displayName"]
    assert f"/v1.0/users/{spelling}?$deltatoken=" in link and link.startswith("http://graph.test")


async def test_users_delta_after_changes(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    t = emu.tenant
    emu.delta.page_objects = 7
    _, link, pages = await run_delta(
        client, "/v1.0/users/delta?$select=id,displayName,accountEnabled"
    )
    assert pages == -(-60 // 7)
    renamed, disabled, soft, hard = t.user_ids[:4]
    t.update_user(renamed, display_name="New Name")
    t.update_user(disabled, enabled=False)
    t.delete_user(soft)
    t.delete_user(hard, permanent=True)
    added = t.add_user(TenantUser("new-user-id", "new.user", "New User", "New", "User", None))
    items, link2, _ = await run_delta(client, link)
    by_id = {i["id"]: i for i in items}
    assert by_id[renamed]["displayName"] == "New Name"
    assert by_id[disabled]["accountEnabled"] is False
    assert by_id[soft]["@removed"] == {"reason": "changed"}
    assert by_id[hard]["@removed"] == {"reason": "deleted"}
    assert by_id[added.id]["displayName"] == "New User"
    assert set(by_id) - {renamed, disabled, soft, hard, added.id} <= {
        u.id for u in t.users.values()
    }  # subordinates whose manager was deleted
    nothing, _, _ = await run_delta(client, link2)
    assert nothing == []


async def test_groups_delta_splits_large_groups_and_merges(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    t = emu.tenant
    emu.delta.page_links = 13
    items, link, pages = await run_delta(client, "/v1.0/groups/delta()?$select=displayName,members")
    everyone = next(g.id for g in t.groups.values() if g.name == "All Users")
    assert sum(1 for i in items if i["id"] == everyone) >= -(-60 // 13)
    assert merge_members(items) == {gid: set(g.members) for gid, g in t.groups.items()}
    assert pages > len(t.groups) // 2
    target, other = t.group_ids[2], t.group_ids[3]
    leaving = next(iter(t.groups[target].members))
    joining = next(u for u in t.user_ids if u not in t.groups[target].members)
    t.remove_member(target, leaving)
    t.add_member(target, joining)
    t.rename_group(other, "Renamed group")
    gone = next(g.id for g in t.groups.values() if g.name == "Diamond right")
    t.delete_group(gone)
    new = t.add_group(TenantGroup("new-group", "New group", members={joining: None}))
    changes, _, _ = await run_delta(client, link)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for item in changes:
        by_id.setdefault(item["id"], []).append(item)
    edges = by_id[target][0]["members@delta"]
    assert {"@odata.type": "#microsoft.graph.user", "id": joining} in edges
    assert {
        "@odata.type": "#microsoft.graph.user",
        "id": leaving,
        "@removed": {"reason": "deleted"},
    } in edges
    assert by_id[other][0]["displayName"] == "Renamed group"
    assert by_id[gone][0]["@removed"] == {"reason": "changed"}
    assert by_id[new.id][0]["members@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": joining}
    ]


async def test_latest_and_expired_tokens(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    latest = (await client.get("/v1.0/users/delta?$deltatoken=latest")).json()
    assert latest["value"] == [] and "$deltatoken=" in latest["@odata.deltaLink"]
    emu.tenant.update_user(emu.tenant.user_ids[0], display_name="Changed")
    items, link, _ = await run_delta(client, latest["@odata.deltaLink"])
    assert [i["id"] for i in items] == [emu.tenant.user_ids[0]]
    emu.expire_delta_tokens()
    expired = await client.get(link)
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "syncStateNotFound"
    garbage = await client.get("/v1.0/users/delta?$deltatoken=%%%")
    assert garbage.status_code == 400


def id_filter(ids: list[str]) -> str:
    return quote(" or ".join(f"id eq '{i}'" for i in ids))


async def test_groups_delta_filtered_by_ids_keeps_the_filter_in_its_links(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    t = emu.tenant
    emu.delta.page_links = 13
    chosen, other = t.group_ids[:3], t.group_ids[3]
    url = f"/v1.0/groups/delta?$select=displayName,members&$filter={id_filter(chosen)}"
    items, link, _ = await run_delta(client, url)
    assert merge_members(items) == {gid: set(t.groups[gid].members) for gid in chosen}
    latest = await client.get(f"{url}&$deltatoken=latest")
    assert latest.status_code == 200 and latest.json()["value"] == []
    since_latest = latest.json()["@odata.deltaLink"]
    joining = next(u for u in t.user_ids if u not in t.groups[chosen[0]].members)
    t.add_member(chosen[0], joining)
    t.add_member(other, next(u for u in t.user_ids if u not in t.groups[other].members))
    t.rename_group(chosen[1], "Renamed")
    for start in (link, since_latest):  # the filter is in both links (none in the URL)
        assert "$filter" not in start
        changes, _, _ = await run_delta(client, start)
        assert {i["id"] for i in changes} == {chosen[0], chosen[1]}
        by_id = {i["id"]: i for i in changes}
        assert by_id[chosen[0]]["members@delta"] == [
            {"@odata.type": "#microsoft.graph.user", "id": joining}
        ]
        assert by_id[chosen[1]]["displayName"] == "Renamed"


@pytest.mark.parametrize(
    "text",
    ["displayName eq 'x'", "id eq 'a' and id eq 'b'", "startswith(id,'a')", "id ne 'a'"],
)
async def test_groups_delta_refuses_other_filters(client: httpx.AsyncClient, text: str) -> None:
    answer = await client.get(f"/v1.0/groups/delta?$filter={quote(text)}")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "Request_UnsupportedQuery"


async def test_groups_delta_filters_at_most_fifty_ids(client: httpx.AsyncClient) -> None:
    fifty = [f"g{n}" for n in range(50)]
    assert (await client.get(f"/v1.0/groups/delta?$filter={id_filter(fifty)}")).status_code == 200
    answer = await client.get(f"/v1.0/groups/delta?$filter={id_filter([*fifty, 'g50'])}")
    assert answer.status_code == 400
    assert "50" in answer.json()["error"]["message"]


async def test_groups_delta_without_members_tracks_only_the_groups_own_changes(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    t = emu.tenant
    latest = await client.get("/v1.0/groups/delta?$select=displayName&$deltatoken=latest")
    link = latest.json()["@odata.deltaLink"]
    moved, renamed = t.group_ids[0], t.group_ids[1]
    t.add_member(moved, next(u for u in t.user_ids if u not in t.groups[moved].members))
    t.rename_group(renamed, "Renamed")
    t.add_member(renamed, next(u for u in t.user_ids if u not in t.groups[renamed].members))
    gone = t.group_ids[2]
    t.delete_group(gone)
    new = t.add_group(TenantGroup("new-group", "New group"))
    changes, _, _ = await run_delta(client, link)
    assert [i["id"] for i in changes] == [renamed, gone, new.id]
    assert all("members@delta" not in i for i in changes)
    assert changes[1]["@removed"] == {"reason": "changed"}
