"""The Keycloak connector's incremental reads from admin events, and its large default pages."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from idpsync.app.runner import RunResult
from idpsync.emulators import Fault
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.keycloak.auth import DEFAULT_ROLES
from idpsync.emulators.keycloak.cost import ServerCost
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.sources.keycloak import events
from idpsync.store import Store
from tests.sources.keycloak_support import no_waits, settings_for, source_for
from tests.sources.test_keycloak_sync import NAME, assert_matches, sync

__all__ = ["no_waits"]
ROLES = DEFAULT_ROLES | {"view-events"}
ON = {"admin_events": True, "auth_prefix": False}


def realm(users: int = 60, groups: int = 15, seed: int = 31) -> KeycloakEmulator:
    emu = KeycloakEmulator.generate(users=users, groups=groups, seed=seed, admin_events=True)
    emu.set_roles(ROLES)
    return emu


def saved(store: Store) -> dict[str, Any]:
    with store.transaction() as conn:
        return store.connector_state(conn, NAME)


def change_everything(emu: KeycloakEmulator) -> None:
    """A user of every kind of change (as test_keycloak_sync's), made through the Admin API."""
    t, tree = emu.tenant, emu.tree()
    ids = t.user_ids
    t.add_user(
        TenantUser(id="new-1", alias="new.person", display_name="New Person", given_name="New",
                   surname="Person", mail="new.person@contoso.example")
    )  # fmt: skip
    t.update_user(ids[0], given_name="Renamed")
    t.update_user(ids[1], alias="changed.login")
    t.update_user(ids[2], enabled=False)
    t.delete_user(ids[3])
    nested = next(g for g, p in tree.parent.items() if p)
    t.rename_group(tree.parent[nested] or "", "Renamed parent")
    t.add_group(TenantGroup(id="grp-new", name="Fresh", members={"new-1": None}))
    t.add_member(nested, ids[4])
    some = next(g for g in tree.parent if any(m in t.users for m in t.groups[g].members))
    t.remove_member(some, next(m for m in t.groups[some].members if m in t.users))
    t.add_member(some, ids[5])
    t.remove_member(some, ids[5])  # joined and left again: the latest event wins


def read_kind(result: RunResult) -> str:
    return str(result.stats.get("read"))


async def test_incremental_equals_a_full_read_of_the_same_realm(store: Store) -> None:
    emu = realm()
    first = await sync(store, emu, **ON)
    assert first.status == "succeeded", first.message
    marks = saved(store)
    assert marks["read_ms"] - marks["since_ms"] == 300_000
    change_everything(emu)
    emu.requests.clear()
    second = await sync(store, emu, **ON)
    assert second.status == "succeeded", second.message
    assert read_kind(second) == "delta"
    assert_matches(store, emu)
    # events/config, one page of events, the users named (new, three changed, one deleted),
    # the groups of the user who joined and left in one millisecond (all events of this
    # emulator share the stamp of its next answer), the tree again (a rename, a new group)
    assert emu.requests.count("*/events/config") == 1
    assert emu.requests.count("*/admin-events") == 1
    assert emu.requests.count("*/users/*") == 6
    assert emu.requests.count("*/users/*/groups") == 1
    assert emu.requests.count("*/members") == 0
    assert emu.requests.count("/admin/realms/acme/users") == 0
    tree_reads = emu.requests.count("/admin/realms/acme/groups") + emu.requests.count("*/children")
    assert len(emu.requests) == 1 + 1 + 1 + 6 + tree_reads  # and the token
    assert second.stats["admin_events"] >= 10 and second.stats["tree_read"] is True
    assert saved(store)["since_ms"] >= marks["since_ms"]
    # a full read of the same realm has nothing left to do
    full = await sync(store, emu, admin_events=False, auth_prefix=False)
    assert read_kind(full) == "full" and len(full.plan) == 0


async def test_only_memberships_changed_reads_no_tree_and_no_users(store: Store) -> None:
    emu = realm(seed=32)
    await sync(store, emu, **ON)
    t = emu.tenant
    gid = next(g for g in emu.tree().parent if any(m in t.users for m in t.groups[g].members))
    leaver = next(m for m in t.groups[gid].members if m in t.users)
    joiner = next(u for u in t.user_ids if u not in t.groups[gid].members)
    t.remove_member(gid, leaver)
    t.add_member(gid, joiner)
    emu.requests.clear()
    result = await sync(store, emu, **ON)
    assert read_kind(result) == "delta"
    assert result.summary()["memberships_added"] == 1
    assert result.summary()["memberships_removed"] == 1
    assert len(emu.requests) == 3  # token, events/config, admin-events
    assert_matches(store, emu)


async def test_replayed_events_change_nothing(store: Store) -> None:
    emu = realm(seed=33)
    await sync(store, emu, **ON)
    change_everything(emu)
    await sync(store, emu, **ON)
    again = await sync(store, emu, **ON)  # the same events, inside the overlap
    assert read_kind(again) == "delta" and len(again.plan) == 0
    assert_matches(store, emu)


async def fell_back(store: Store, emu: KeycloakEmulator, **source: Any) -> RunResult:
    result = await sync(store, emu, **{**ON, **source})
    assert result.status == "succeeded", result.message
    assert read_kind(result) == "full (saved delta state no longer valid)"
    assert str(result.stats["admin_events"]).startswith("unusable: ")
    assert_matches(store, emu)
    return result


async def test_events_off_on_the_realm_means_a_full_read(store: Store) -> None:
    emu = realm(seed=34)
    await sync(store, emu, **ON)
    emu.set_admin_events(False)
    emu.tenant.update_user(emu.tenant.user_ids[0], surname="Unrecorded")
    result = await fell_back(store, emu)
    assert "does not save admin events" in result.stats["admin_events"]
    assert saved(store)["since_ms"]  # the old marks stay; the next runs read everything


async def test_events_turned_on_again_mean_a_full_read(store: Store) -> None:
    emu = realm(seed=35)
    await sync(store, emu, **ON)
    emu.set_admin_events(False)
    emu.tenant.delete_user(emu.tenant.user_ids[0])  # never recorded
    emu.set_admin_events(True)
    result = await fell_back(store, emu)
    assert "turned on again" in result.stats["admin_events"]


async def test_an_event_it_cannot_read_means_a_full_read(store: Store) -> None:
    emu = realm(seed=36)
    await sync(store, emu, **ON)
    emu.tenant.update_user(emu.tenant.user_ids[0], surname="Changed")
    emu.events.sync()
    odd = {**emu.events.events[-1], "resourceType": "GROUP_MEMBERSHIP", "resourcePath": "users/x"}
    emu.events.events.append(odd)
    await fell_back(store, emu)


async def test_a_listing_that_fails_means_a_full_read(store: Store) -> None:
    emu = realm(seed=37)
    await sync(store, emu, **ON)
    emu.tenant.update_user(emu.tenant.user_ids[0], surname="Changed")
    emu.inject(Fault("status", "*/admin-events", nth=1, times=0, status=503))
    await fell_back(store, emu)


async def test_without_view_events_every_run_reads_everything(store: Store) -> None:
    emu = realm(seed=38)
    emu.set_roles(DEFAULT_ROLES)
    first = await sync(store, emu, **ON)
    assert first.status == "succeeded"
    assert "view-events" in first.stats["admin_events"]
    assert saved(store) == {}  # nothing to continue from: the next run is full again


async def test_a_membership_of_an_unknown_group_means_a_full_read(store: Store) -> None:
    emu = realm(seed=39)
    await sync(store, emu, **ON)
    emu.events.enabled = False  # the group appears without its own event
    emu.tenant.add_group(TenantGroup(id="g-quiet", name="Quiet"))
    emu.events.sync()
    emu.events.enabled = True
    emu.tenant.add_member("g-quiet", emu.tenant.user_ids[0])
    result = await fell_back(store, emu)
    assert "never read" in result.stats["admin_events"]


def test_interpret_latest_event_of_a_pair_wins() -> None:
    def ev(ms: int, op: str, path: str, kind: str = "GROUP_MEMBERSHIP") -> dict[str, Any]:
        return {"time": ms, "operationType": op, "resourceType": kind, "resourcePath": path}

    path = "users/u1/groups/g1"
    got = events.interpret([ev(30, "DELETE", path), ev(20, "CREATE", path)], 10, 15)
    assert got.edges == {("g1", "u1"): False} and got.users == set()
    old = events.interpret([ev(5, "CREATE", path), ev(20, "UPDATE", "users/u2", "USER")], 10, 15)
    assert old.edges == {} and old.users == {"u2"}  # before the mark: dropped
    failed = {**ev(20, "CREATE", path), "error": "rejected"}
    assert events.interpret([failed], 10, 15).edges == {}
    tie = events.interpret([ev(20, "CREATE", path), ev(20, "DELETE", path)], 10, 15)
    assert tie.edges == {} and tie.unsure == {("g1", "u1")}  # the user's groups settle it
    with pytest.raises(events.Unusable):
        events.interpret([ev(20, "UPDATE", path)], 10, 15)
    with pytest.raises(events.Unusable):
        events.interpret([ev(20, "UPDATE", "events/config", "REALM")], 10, 15)
    assert events.interpret([ev(12, "UPDATE", "events/config", "REALM")], 10, 15).events == 1


def test_when_a_full_read_is_due() -> None:
    emu = realm(seed=40)
    source = source_for(emu, **ON, full_sync_every_hours=2)
    now = time.time()
    fresh = events.new_state(1_000, 300, now - 3600)
    assert not source.wants_full(fresh)
    assert source.wants_full({**fresh, "full_at": now - 3 * 3600})
    assert source.wants_full({}) and source.wants_full({"since_ms": "x"})
    assert source_for(emu, auth_prefix=False).wants_full(fresh)  # admin_events off


def test_admin_events_refuse_flattened_subgroups() -> None:
    emu = realm(seed=41)
    with pytest.raises(ValidationError, match="flatten_subgroups = false"):
        settings_for(emu, admin_events=True, flatten_subgroups=True)


async def test_default_pages_read_users_in_one_request_without_offsets(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=1500, groups=12, seed=42, cost=ServerCost(1, 1))
    result = await sync(store, emu, auth_prefix=False)
    assert result.status == "succeeded"
    users = [c for c in emu.costs if c.route == "users"]
    assert [(c.rows, c.first) for c in users] == [(1500, 0)]
    assert all(c.first == 0 for c in emu.costs)  # no listing went past its first page
    emu.costs.clear()
    await sync(store, emu, auth_prefix=False, page_size=500, members_page_size=100)
    paged = [c for c in emu.costs if c.route == "users"]
    assert [c.first for c in paged] == [0, 500, 1000, 1500]
    assert sum(c.seconds for c in paged) > sum(c.seconds for c in users)


def test_event_endpoints_are_listed_only_when_used() -> None:
    emu = realm(seed=43)
    listed = {t.endpoint.name: t.url for t in source_for(emu, **ON).endpoints()}
    assert listed["admin_events"].endswith("/admin/realms/acme/admin-events")
    assert listed["events_config"].endswith("/admin/realms/acme/events/config")
    plain = {t.endpoint.name for t in source_for(emu, auth_prefix=False).endpoints()}
    assert not plain & {"admin_events", "events_config"}
