"""Conformance: msgraph-sdk reads the users listing and the users delta as the Entra connector asks.

The members' side of a full read lists users with ``$expand=memberOf($select=id)``
(``sources/entra/members_side.py``); an incremental read follows a users delta link taken with
``manager`` in its ``$select`` and reads ``manager@delta`` (``sources/entra/delta.py``).
"""

from __future__ import annotations

from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.group import Group
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from idpsync.emulators.entra import EntraEmulator
from tests.emulators.test_msgraph_sdk import collect, graph_client

CAP = 20
"""Graph returns at most this many objects of an expanded collection (and no next link)."""


async def test_sdk_lists_users_with_their_groups_expanded() -> None:
    """``GET /users?$expand=memberOf($select=id)``: at most 100 users a page (the SDK follows
    each next link, which keeps the expansion), each user's groups as ``Group`` objects, and a
    user in more groups than the cap shows exactly the cap."""
    emulator = EntraEmulator.generate(users=230, groups=30, seed=7)
    t = emulator.tenant
    busy = t.user_ids[5]
    for gid in t.group_ids:
        t.add_member(gid, busy)
    assert len(t.direct_groups(busy)) > CAP
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        top=999, select=["id", "userPrincipalName"], expand=["memberOf($select=id)"]
    )
    with emulator.serve() as server:
        async with graph_client(emulator, server.url) as (client, adapter):
            first = await client.users.get(RequestConfiguration(query_parameters=params))
            assert first is not None and first.value is not None
            assert len(first.value) == 100 and first.odata_next_link is not None
            users = await collect(first, adapter)
    assert emulator.requests.count("/v1.0/users", status=200) == 3  # ⌈230 / 100⌉
    groups = {u.id: sorted(g.id for g in u.member_of or []) for u in users}
    assert groups == {uid: sorted(t.direct_groups(uid)[:CAP]) for uid in t.user_ids}
    assert len(groups[busy]) == CAP
    assert sum(1 for ids in groups.values() if ids) > 100  # later pages carry the expansion too
    assert all(isinstance(g, Group) for u in users for g in u.member_of or [])
    assert all(u.user_principal_name == t.login(t.users[u.id]) for u in users)


async def _round(client: Any, url: str) -> tuple[dict[str, Any], str]:
    """Every user of one delta round from ``url`` (next links followed), and its delta link."""
    page = await client.users.delta.with_url(url).get()
    users: dict[str, Any] = {}
    while page is not None and page.odata_next_link:
        users.update({u.id: u for u in page.value or []})
        page = await client.users.delta.with_url(page.odata_next_link).get()
    assert page is not None and page.odata_delta_link, "a round ends with a delta link"
    users.update({u.id: u for u in page.value or []})
    return users, page.odata_delta_link


def _managers(users: dict[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """``manager@delta`` of each user that has it: ``(id, removed)`` pairs."""
    return {
        uid: [(str(m["id"]), "@removed" in m) for m in u.additional_data["manager@delta"]]
        for uid, u in users.items()
        if "manager@delta" in u.additional_data
    }


async def test_sdk_follows_a_users_delta_with_managers() -> None:
    """The users delta with ``manager`` in ``$select``: a first round names every user's manager
    in ``manager@delta``; a ``$deltatoken=latest`` link and the round's own delta link later
    name only the changed managers (a removed one with ``@removed``), over several pages."""
    emulator = EntraEmulator.generate(users=120, groups=6, seed=9)
    t = emulator.tenant
    emulator.delta.page_objects = 25
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=["id", "displayName", "manager"]
    )
    with emulator.serve() as server:
        latest = (
            f"{server.url}/v1.0/users/delta()?$deltatoken=latest&$select=id,displayName,manager"
        )
        async with graph_client(emulator, server.url) as (client, _):
            first = await client.users.delta.get(RequestConfiguration(query_parameters=query))
            assert first is not None and first.odata_next_link is not None
            everyone, link = await _round(client, first.odata_next_link)
            everyone.update({u.id: u for u in first.value or []})
            nothing, from_latest = await _round(client, latest)
            before = {u.id: [(u.manager_id, False)] for u in t.users.values() if u.manager_id}
            others = t.user_ids[30:70]  # more changed users than one page holds
            managed = [u for u in t.users.values() if u.manager_id and u.id not in others]
            moved, dropped, renamed = managed[:3]
            new_boss = next(u for u in t.user_ids if u not in (moved.id, moved.manager_id))
            old_boss = dropped.manager_id
            t.set_manager(moved.id, new_boss)
            t.set_manager(dropped.id, None)
            t.update_user(renamed.id, display_name="Renamed")
            for other in others:
                t.update_user(other, display_name=f"Changed {other[:4]}")
            later, _ = await _round(client, link)
            since_latest, _ = await _round(client, from_latest)
    assert set(everyone) == set(t.user_ids) and nothing == {}
    assert _managers(everyone) == before
    changed = {moved.id, dropped.id, renamed.id, *others}
    for changes in (later, since_latest):
        assert set(changes) == changed
        assert _managers(changes) == {moved.id: [(new_boss, False)], dropped.id: [(old_boss, True)]}
        assert changes[renamed.id].display_name == "Renamed"
