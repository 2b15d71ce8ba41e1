"""The Keycloak emulator renders each user once per tenant version, however often it is listed.

A full read at L lists a million member rows; rendering each again for every answer made the
emulator's own CPU, on a small machine, part of what a benchmark measured (issue #20).
"""

from __future__ import annotations

import httpx
import pytest

from idpsync.emulators.keycloak import KeycloakEmulator, api, reads
from idpsync.emulators.tenant import TenantUser

ADMIN = "http://kc.test/admin/realms/acme"


async def test_each_user_is_rendered_once_per_tenant_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = KeycloakEmulator.generate(users=40, groups=12, seed=6)
    rendered: list[str] = []
    render = api.render_user

    def counted(user: TenantUser, brief: bool) -> dict[str, object]:
        rendered.append(user.id)
        return render(user, brief)

    monkeypatch.setattr(api, "render_user", counted)
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    brief = {"briefRepresentation": "true", "max": "1000"}
    async with httpx.AsyncClient(transport=emu.transport(), headers=headers) as http:

        async def everything() -> list[object]:
            got = [(await http.get(f"{ADMIN}/users", params=brief)).json()]
            for gid in emu.tree().parent:
                got.append((await http.get(f"{ADMIN}/groups/{gid}/members", params=brief)).json())
            return got

        first = await everything()
        assert len(rendered) == 40  # every user once, though listed again in its groups
        assert await everything() == first and len(rendered) == 40
        user = emu.tenant.user_ids[0]
        emu.tenant.update_user(user, given_name="Renamed")
        after = await everything()
    assert len(rendered) == 80  # a new tenant version renders again
    assert after[0][[u["id"] for u in after[0]].index(user)]["firstName"] == "Renamed"
    assert after != first


async def test_member_lists_sort_by_a_key_computed_once_a_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = KeycloakEmulator.generate(users=40, groups=12, seed=6)
    keys: list[str] = []
    username = api.username

    def counted(user: TenantUser) -> str:
        keys.append(user.id)
        return username(user)

    monkeypatch.setattr(api, "username", counted)
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    params = {"briefRepresentation": "true", "max": "1000"}
    async with httpx.AsyncClient(transport=emu.transport(), headers=headers) as http:
        for gid in emu.tree().parent:
            members = (await http.get(f"{ADMIN}/groups/{gid}/members", params=params)).json()
            names = [m["username"] for m in members]
            assert names == sorted(names)  # Keycloak's order, by username
    assert sum(len(reads.sorted_members(emu, g)) for g in emu.tree().parent) > 40
    # each user's username once for the sort and once for the rendering, however many
    # groups list them
    assert len(keys) <= 2 * 40


async def test_a_change_after_a_member_list_was_rendered_is_in_the_next_answer() -> None:
    emu = KeycloakEmulator.generate(users=40, groups=12, seed=6)
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    params = {"briefRepresentation": "true", "max": "1000"}
    async with httpx.AsyncClient(transport=emu.transport(), headers=headers) as http:

        async def members(gid: str) -> list[dict[str, object]]:
            answer = await http.get(f"{ADMIN}/groups/{gid}/members", params=params)
            assert answer.status_code == 200
            listed: list[dict[str, object]] = answer.json()
            return listed

        async def control(operation: str, **args: str) -> None:
            answer = await http.post(f"http://kc.test/_emulator/tenant/{operation}", json=args)
            assert answer.status_code == 200, answer.text

        sizes = {g: len(reads.sorted_members(emu, g)) for g in emu.tree().parent}
        gid = max((g for g in sizes if sizes[g] < 40), key=sizes.__getitem__)  # not everyone
        before = await members(gid)
        assert len(before) >= 3
        stays, leaves = str(before[0]["id"]), str(before[1]["id"])
        joins = next(u for u in emu.tenant.user_ids if u not in {str(m["id"]) for m in before})
        await control("update_user", user_id=stays, given_name="Renamed", alias="zz-last")
        await control("remove_member", group_id=gid, member_id=leaves)
        await control("add_member", group_id=gid, member_id=joins)
        after = await members(gid)
    ids = [str(m["id"]) for m in after]
    assert leaves not in ids and joins in ids and len(after) == len(before)
    assert after[-1]["id"] == stays and after[-1]["firstName"] == "Renamed"  # sorted again
    assert [m["username"] for m in after] == sorted(str(m["username"]) for m in after)
