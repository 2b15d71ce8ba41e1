"""Entra's full read from the members' side (``memberships``: ``$expand=memberOf``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.entra_ways import entra_shape
from benchmarks.profiles import Shape, entra_members_side, entra_minimum
from pydantic import ValidationError

from idpsync.emulators import Fault
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import TenantGroup
from idpsync.sources.entra import delta_parts
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld
from tests.sources.test_entra_sync import assert_matches_tenant

ROLE = {"@odata.type": "#microsoft.graph.directoryRole", "id": "role-0"}
UNIT = {"@odata.type": "#microsoft.graph.administrativeUnit", "id": "unit-0"}


def tenant(users: int = 2500) -> EntraEmulator:
    """A tenant the ``auto`` side reads from the members' side (25 users pages of 100), with a
    user in 25 groups and a group in 22 (both beyond the expansion's 20)."""
    emu = EntraEmulator.generate(users=users, groups=40, seed=7, medium_every=3)
    t = emu.tenant
    for group_id in t.group_ids[:25]:
        t.add_member(group_id, t.user_ids[5])
    t.add_group(TenantGroup("g-child", "Child of many", members={t.user_ids[6]: None}))
    for group_id in t.group_ids[:22]:
        if group_id != "g-child":
            t.add_member(group_id, "g-child")
    return emu


def world_on(tmp_path: Path, emu: EntraEmulator, name: str = "d", **options: Any) -> EntraWorld:
    store = Store.open(f"sqlite:///{tmp_path / f'{name}.db'}")
    return EntraWorld(emu, store, options=options)


def reads(emu: EntraEmulator, path: str) -> int:
    """Requests to ``path`` (a pattern), on their own or inside a batch."""
    return emu.requests.count(path) + emu.batched.count(path)


def directory(world: EntraWorld) -> tuple[Any, ...]:
    state = world.directory()
    users = {k: (u.login, u.active, u.manager_id) for k, u in state.users.items()}
    groups = {k: g.name for k, g in state.groups.items()}
    edges = {(e.group_id, e.member_id, e.member_kind) for e in state.memberships}
    return users, groups, edges


async def test_both_sides_give_the_same_directory(tmp_path: Path) -> None:
    emu = tenant()
    members = world_on(tmp_path, emu, "members")  # auto: the users are partitioned
    assert (await members.sync(mode="full")).status == "succeeded"
    assert_matches_tenant(members)
    assert reads(emu, "/v1.0/groups/{id}/members") == 0
    groups = world_on(tmp_path, emu, "groups", memberships="groups")
    assert (await groups.sync(mode="full")).status == "succeeded"
    assert reads(emu, "/v1.0/groups/{id}/members") > 0
    assert directory(members) == directory(groups)
    assert any(k == "group" for *_, k in directory(members)[2])  # groups in groups too
    assert members.state()[delta_parts.PARTS]  # the groups delta partitions' links were taken
    emu.tenant.rename_group(emu.tenant.group_ids[3], "Renamed")
    later = await members.sync()
    assert later.status == "succeeded" and later.stats["read"] == "delta"
    assert_matches_tenant(members)


async def test_requests_at_the_members_side_formula(tmp_path: Path) -> None:
    """Users twice at 100 a page (memberOf, then managers), groups at 100 with their parents,
    and a ``memberOf`` listing only for the objects whose expansion holds 20."""
    emu = tenant()
    t = emu.tenant
    world = world_on(tmp_path, emu, memberships="members")
    assert (await world.sync(mode="full")).status == "succeeded"
    heavy_users = [u for u in t.user_ids if len(t.direct_groups(u)) >= 20]
    heavy_groups = [g for g in t.group_ids if len(t.direct_groups(g)) >= 20]
    assert heavy_users == [t.user_ids[5]] and heavy_groups == ["g-child"]
    assert reads(emu, "/v1.0/users/{id}/memberOf") == len(heavy_users)
    assert reads(emu, "/v1.0/groups/{id}/memberOf") == len(heavy_groups)
    assert reads(emu, "/v1.0/groups") == math.ceil(len(t.group_ids) / 100)
    assert reads(emu, "/v1.0/users/{id}/manager") == 0
    users = [e for e in emu.batched.entries() if e.path == "/v1.0/users"]
    expanded = [e for e in users if "memberOf" in e.query]
    managed = [e for e in users if "manager" in e.query]
    assert len(expanded) == len(managed) > 2 * 25 // 2  # two passes, each ≥ 25 pages
    assert all("%24top=100" in e.query or "$top=100" in e.query for e in expanded + managed)
    # Fewer round trips than the groups' side reads the same tenant with.
    calls = len(emu.requests)
    emu.requests.clear()
    groups = world_on(tmp_path, emu, "groups", memberships="groups")
    assert (await groups.sync(mode="full")).status == "succeeded"
    assert calls <= len(emu.requests) + 2


async def test_entries_other_than_groups_count_toward_the_cap(tmp_path: Path) -> None:
    """Directory roles and administrative units in ``memberOf`` give no edge, but an expansion
    of 20 entries of which some are roles is still listed whole."""
    emu = tenant()
    t = emu.tenant
    few, near = t.user_ids[10], t.user_ids[11]
    for group_id in t.group_ids:
        if len(t.direct_groups(near)) < 18:
            t.add_member(group_id, near)  # 18 groups: 20 entries with its role and unit
    near_groups = len(t.direct_groups(near))
    extra = {few: [ROLE], near: [ROLE, UNIT]}
    world = world_on(tmp_path, emu, memberships="members")
    world.transport = Rewrite(emu.transport(), with_roles(extra))
    assert (await world.sync(mode="full")).status == "succeeded"
    assert_matches_tenant(world)
    apart = {e.path.split("/")[3] for e in emu.batched.entries() if e.path.endswith("/memberOf")}
    assert near_groups < 20 <= near_groups + 2  # the roles took it to the cap
    assert near in apart and few not in apart
    edges = {(e.group_id, e.member_id) for e in world.directory().memberships}
    assert not {g for g, _ in edges} & {"role-0", "unit-0"}


async def test_a_failed_member_of_listing_removes_nobody(tmp_path: Path) -> None:
    emu = tenant()
    t = emu.tenant
    heavy = t.user_ids[5]
    world = world_on(tmp_path, emu, memberships="members")
    assert (await world.sync(mode="full")).status == "succeeded"
    t.remove_member(t.group_ids[0], heavy)  # a real leaver the failed read must not apply
    emu.inject(Fault("status", f"/v1.0/users/{heavy}/memberOf", status=400, times=0))
    result = await world.sync(mode="full")
    assert result.status == "partial"
    assert heavy in result.message and "/users/{id}/memberOf" in result.message
    assert result.summary()["memberships_removed"] == 0
    edges = {(e.group_id, e.member_id) for e in world.directory().memberships}
    assert (t.group_ids[0], heavy) in edges
    truth = t.ground_truth()
    active = {k for k, u in world.directory().users.items() if u.active}
    assert active == {k for k, u in truth.users.items() if u.enabled}  # no one deactivated


async def test_a_failed_managers_pass_updates_no_user(tmp_path: Path) -> None:
    """Without its managers a user is left out of the read (incomplete), never blanked."""
    emu = tenant()
    world = world_on(tmp_path, emu, memberships="members")
    assert (await world.sync(mode="full")).status == "succeeded"
    before = directory(world)
    emu.tenant.update_user(emu.tenant.user_ids[3], display_name="Renamed")
    world.transport = Rewrite(emu.transport(), refuse_managers)
    result = await world.sync(mode="full")
    assert result.status == "partial" and "/users" in result.message
    assert directory(world) == before  # nobody blanked, nobody removed, nobody updated


class Rewrite(httpx.AsyncBaseTransport):
    """The emulator, with each batch item's answer passed to ``change(url, answer)`` first."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, change: Callable[[str, dict[str, Any]], None]
    ) -> None:
        self.inner = inner
        self.change = change

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/$batch") or response.status_code != 200:
            return response
        await response.aread()
        urls = {r["id"]: r["url"] for r in json.loads(request.content)["requests"]}
        body = json.loads(response.content)
        for answer in body["responses"]:
            self.change(urls[answer["id"]], answer)
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        return httpx.Response(response.status_code, headers=headers, json=body)


def with_roles(extra: dict[str, list[Any]]) -> Callable[[str, dict[str, Any]], None]:
    """Entries other than groups added to some users' ``memberOf`` (expanded: at most 20)."""

    def change(url: str, answer: dict[str, Any]) -> None:
        page = answer.get("body")
        if answer.get("status") != 200 or not isinstance(page, dict):
            return
        path = url.split("?")[0]
        if path.startswith("/users/") and path.endswith("/memberOf"):
            page["value"] = page["value"] + extra.get(path.split("/")[2], [])
            return
        for item in page.get("value", []):
            if isinstance(item, dict) and isinstance(item.get("memberOf"), list):
                item["memberOf"] = (item["memberOf"] + extra.get(item["id"], []))[:20]

    return change


def refuse_managers(url: str, answer: dict[str, Any]) -> None:
    """The managers' pass fails (a 400 that retrying cannot fix)."""
    if url.startswith("/users?") and "manager" in url:
        error = {"code": "Request_BadRequest", "message": "refused"}
        answer.update(status=400, headers={}, body={"error": error})


async def test_round_trips_at_the_design_formula(tmp_path: Path) -> None:
    """The connector's round trips are ``benchmarks.profiles.entra_minimum`` of the tenant's
    shape (the design floor's count), now from the members' side."""
    emu = tenant()
    t = emu.tenant
    truth = t.ground_truth()
    members = [len(truth.groups[g].members) for g in t.group_ids]
    aliases = {uid: u.alias for uid, u in truth.users.items()}
    shape = Shape(len(truth.users), len(truth.groups), members)
    shape = entra_shape(shape, aliases, truth.memberships, list(t.group_ids))
    assert entra_members_side(shape)
    world = world_on(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    assert len(emu.requests) == entra_minimum(shape)


def test_the_members_side_without_batch_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``memberships = "members"`` with ``batch = false`` is refused, not read from the groups'
    side in silence; ``auto`` and ``groups`` stay valid without ``batch``."""
    monkeypatch.setenv("ENTRA_SECRET", "not-a-real-secret")
    base = {
        "type": "entra",
        "tenant": "contoso.onmicrosoft.com",
        "client_id": "app",
        "client_secret": "env:ENTRA_SECRET",
        "batch": False,
    }
    with pytest.raises(ValidationError, match=r'memberships = "members".*batch = true'):
        EntraSourceSettings.model_validate(base | {"memberships": "members"})
    for side in ("auto", "groups"):
        assert EntraSourceSettings.model_validate(base | {"memberships": side}).batch is False
    batched = EntraSourceSettings.model_validate(base | {"batch": True, "memberships": "members"})
    assert batched.memberships == "members"
