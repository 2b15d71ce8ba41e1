"""Conformance: python-keycloak's KeycloakAdmin against the emulator on a real port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError

from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup

# 230 users and more than 100 members in "All Users" make the SDK page (PAGE_SIZE = 100);
# twelve children under one group exceed the /children default max of 10.


def _emulator(shape: int) -> KeycloakEmulator:
    emu = KeycloakEmulator.generate(users=230, groups=20, seed=11, shape=shape)
    parent = emu.tenant.group_ids[1]
    for i in range(12):
        emu.tenant.add_group(TenantGroup(id=f"child-{i:02}", name=f"child {i:02}"))
        emu.tenant.add_member(parent, f"child-{i:02}")
    return emu


@pytest.fixture(params=[23, 22], ids=["kc23", "kc22"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[KeycloakEmulator, str]]:
    emu = _emulator(request.param)
    with emu.serve() as server:
        yield emu, server.url


def _admin(emu: KeycloakEmulator, url: str) -> KeycloakAdmin:
    return KeycloakAdmin(
        server_url=url + "/",
        realm_name=emu.realm,
        client_id=emu.client_id,
        client_secret_key=emu.client_secret,
    )


def _walk(groups: list[dict[str, Any]], parent: str | None, out: dict[str, Any]) -> None:
    for group in groups:
        out[group["id"]] = (group["path"], parent)
        _walk(group.get("subGroups") or [], group["id"], out)


def test_users_groups_hierarchy_and_members_match_ground_truth(
    served: tuple[KeycloakEmulator, str],
) -> None:
    emu, url = served
    admin = _admin(emu, url)
    tenant, tree = emu.tenant, emu.tree()
    users = admin.get_users({})
    assert {u["id"]: u["username"] for u in users} == {
        u.id: u.alias.lower() for u in tenant.users.values()
    }
    assert admin.users_count() == len(tenant.users)
    seen: dict[str, Any] = {}
    _walk(admin.get_groups(full_hierarchy=True), None, seen)
    assert seen == {g: (tree.paths[g], tree.parent[g]) for g in tree.parent}
    assert len([g for g in seen if seen[g][1] == tenant.group_ids[1]]) >= 12
    for gid in tree.parent:
        members = {m["id"] for m in admin.get_group_members(gid)}
        assert members == {m for m in tenant.groups[gid].members if m in tenant.users}
    assert emu.requests.count("*/groups/{id}/members", status=200) > len(tree.parent)


def test_single_user_and_direct_groups(served: tuple[KeycloakEmulator, str]) -> None:
    emu, url = served
    admin = _admin(emu, url)
    tenant, tree = emu.tenant, emu.tree()
    uid = next(m for g in tree.parent if tree.parent[g] for m in tenant.groups[g].members)
    assert admin.get_user(uid)["username"] == tenant.users[uid].alias.lower()
    groups = admin.get_user_groups(uid)
    direct = [g for g in tenant.direct_groups(uid) if g in tenant.groups]
    assert {g["id"]: g["path"] for g in groups} == {g: tree.paths[g] for g in direct}
    with pytest.raises(KeycloakGetError) as info:
        admin.get_user("00000000-0000-4000-8000-000000000000")
    assert info.value.response_code == 404
    assert b"User not found" in info.value.response_body


def test_admin_cli_password_grant(served: tuple[KeycloakEmulator, str]) -> None:
    emu, url = served
    admin = KeycloakAdmin(
        server_url=url + "/",
        username=emu.admin_user,
        password=emu.admin_password,
        realm_name=emu.realm,
        user_realm_name="master",
    )
    assert admin.users_count() == len(emu.tenant.users)
    assert emu.requests.count("/realms/master/protocol/openid-connect/token", method="POST") == 1


def test_sdk_reads_user_attributes_only_in_the_full_representation() -> None:
    emu = KeycloakEmulator.generate(users=5, groups=2, seed=3)
    uid = emu.tenant.user_ids[1]
    emu.tenant.update_user(uid, custom={"x": {"costCenter": "CC-9", "sites": ["Oslo", "Bergen"]}})
    with emu.serve() as server:
        admin = _admin(emu, server.url)
        full = {u["id"]: u for u in admin.get_users({"briefRepresentation": False})}
        brief = {u["id"]: u for u in admin.get_users({"briefRepresentation": True})}
        one = admin.get_user(uid)
    assert full[uid]["attributes"]["costCenter"] == ["CC-9"]
    assert full[uid]["attributes"]["sites"] == ["Oslo", "Bergen"]
    assert "attributes" not in brief[uid]
    assert one["attributes"]["costCenter"] == ["CC-9"]
