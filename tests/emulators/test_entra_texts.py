"""The Entra emulator renders each directory object once per tenant version, however often listed.

A full read at L asks for about a million ``memberOf`` entries naming 5,000 groups; rendering
each entry again made the emulator's own CPU part of what a benchmark measured (issue #20).
A change through the control API is a new tenant version: the next answer shows it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from idpsync.emulators.entra import EntraEmulator, render
from idpsync.emulators.tenant import Tenant, TenantGroup
from tests.emulators.conftest import get_all

GROUPS = "/v1.0/users?$select=id,displayName&$expand=memberOf&$top=999"
MANAGERS = "/v1.0/users?$select=id&$expand=manager($select=id)&$top=999"
USER = {"@odata.type": "#microsoft.graph.user"}


async def control(client: httpx.AsyncClient, operation: str, **args: Any) -> None:
    answer = await client.post(f"/_emulator/tenant/{operation}", json=args)
    assert answer.status_code == 200, answer.text


async def test_groups_render_once_a_version_and_a_later_change_is_in_the_next_answer(
    emu: EntraEmulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    group_json = render.group_json

    def counted(tenant: Tenant, group: TenantGroup) -> dict[str, Any]:
        rendered.append(group.id)
        return group_json(tenant, group)

    monkeypatch.setattr(render, "group_json", counted)
    first = {u["id"]: u for u in await get_all(client, GROUPS)}
    entries = sum(len(u["memberOf"]) for u in first.values())
    assert entries > len(emu.tenant.groups)  # groups are listed again and again
    assert len(rendered) == len(set(rendered)) <= len(emu.tenant.groups)  # each once
    assert await get_all(client, GROUPS) == list(first.values())
    assert len(rendered) == len(set(rendered))  # the same version: nothing rendered again

    managers = {u["id"]: u.get("manager") for u in await get_all(client, MANAGERS)}
    for url in (GROUPS, MANAGERS):  # the joined texts are the bytes json.dumps gives
        answer = await client.get(url)
        assert answer.content == json.dumps(answer.json(), ensure_ascii=False).encode()

    uid = next(u for u, body in first.items() if 0 < len(body["memberOf"]) < 20)
    gid = first[uid]["memberOf"][0]["id"]
    other = next(g for g in emu.tenant.group_ids if g not in emu.tenant.direct_groups(uid))
    boss = next(u for u in emu.tenant.user_ids if u != uid and USER | {"id": u} != managers[uid])
    await control(client, "rename_group", group_id=gid, name="Renamed after the page")
    await control(client, "update_user", user_id=uid, display_name="New Name")
    await control(client, "add_member", group_id=other, member_id=uid)
    await control(client, "set_manager", user_id=uid, manager_id=boss)
    after = {u["id"]: u for u in await get_all(client, GROUPS)}
    assert after[uid]["displayName"] == "New Name"
    groups = {g["id"]: g["displayName"] for g in after[uid]["memberOf"]}
    assert groups[gid] == "Renamed after the page" and other in groups
    assert len(rendered) > len(set(rendered))  # a new version renders again
    managers = {u["id"]: u.get("manager") for u in await get_all(client, MANAGERS)}
    assert managers[uid] == USER | {"id": boss}
    items = [{"id": str(n), "method": "GET", "url": url[5:]} for n, url in enumerate([GROUPS])]
    answer = await client.post("/v1.0/$batch", json={"requests": items})
    assert answer.content == json.dumps(answer.json(), ensure_ascii=False).encode()
    (item,) = answer.json()["responses"]
    assert {u["id"]: u for u in item["body"]["value"]} == after
