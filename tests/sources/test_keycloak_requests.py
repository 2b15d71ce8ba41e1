"""How few requests the Keycloak connector sends, and in what order (issue #20).

Counted and ordered in the emulator's request log, never timed: large default pages (a realm's
users and each group's members in one answer), member listings that start while the tree is
still read, the events clock read beside the listings, and admin events in one page.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from idpsync.emulators.injection import Latency
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.keycloak.auth import DEFAULT_ROLES
from idpsync.model import Snapshot
from idpsync.sources.keycloak.tree import identified_once
from idpsync.sources.shape import identified
from idpsync.store import Store
from tests.sources.keycloak_support import (
    expected_requests,
    no_waits,
    settings_for,
    source_for,
    source_over,
    truth,
)
from tests.sources.overlap_support import ASGIApp, Scope
from tests.sources.test_keycloak_sync import assert_matches, sync

__all__ = ["no_waits"]
ADMIN = "/admin/realms/acme"


async def test_default_pages_read_users_and_each_group_in_one_answer() -> None:
    # 10,500 users and a group of everyone: more than a page of the old default (10,000)
    emu = KeycloakEmulator.generate(users=10_500, groups=12, seed=3)
    source = source_for(emu, auth_prefix=False)
    snap = await source.snapshot()
    await source.aclose()
    assert snap.complete and len(snap.users) == 10_500
    groups = len(emu.tree().parent)
    assert emu.requests.count(f"{ADMIN}/users") == 1
    assert emu.requests.count("*/groups/{id}/members") == groups
    assert len(emu.requests) == expected_requests(emu, detection=0)
    assert {(m.group_id, m.member_id) for m in snap.memberships if m.member_kind == "user"} == (
        truth(emu).user_edges
    )


async def test_member_lists_start_while_the_tree_is_still_read() -> None:
    # a five-level chain of sub-groups: four children listings one after the other
    emu = KeycloakEmulator.generate(
        users=200, groups=20, seed=9, shape=23, latency=Latency(fixed_ms=5)
    )
    source = source_for(emu, auth_prefix=False)
    snap = await source.snapshot()
    await source.aclose()
    assert snap.complete
    paths = [r.path for r in emu.requests.entries()]
    last_children = max(i for i, p in enumerate(paths) if p.endswith("/children"))
    first_members = min(i for i, p in enumerate(paths) if p.endswith("/members"))
    assert first_members < last_children
    assert len(paths) == expected_requests(emu, detection=0)


class ConfigWaitsForUsers:
    """ASGI wrapper: ``events/config`` is answered only once the users listing has arrived.

    A read that asks for the events clock before it lists anything never ends (the test's
    deadlock guard fails it); one that asks beside the listings is answered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.users_asked = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if path == f"{ADMIN}/users":
            self.users_asked.set()
        if path.endswith("/events/config"):
            await self.users_asked.wait()
        await self.app(scope, receive, send)


async def test_events_clock_is_asked_beside_the_listings() -> None:
    emu = KeycloakEmulator.generate(users=50, groups=12, seed=4, admin_events=True)
    emu.set_roles(DEFAULT_ROLES | {"view-events"})
    gate = ConfigWaitsForUsers(emu)
    settings = settings_for(emu, auth_prefix=False, admin_events=True)
    source = source_over(settings, httpx.ASGITransport(app=gate))
    # a deadlock guard, not a timing check (see ConfigWaitsForUsers)
    snap = await asyncio.wait_for(source.snapshot(), timeout=30)
    await source.aclose()
    assert snap.complete
    assert source.saved_state is not None
    assert emu.requests.count("*/events/config") == 1
    assert len(emu.requests) == expected_requests(emu, detection=0) + 1


async def test_admin_events_come_in_one_page(store: Store) -> None:
    emu = KeycloakEmulator.generate(users=700, groups=12, seed=5, admin_events=True)
    emu.set_roles(DEFAULT_ROLES | {"view-events"})
    on = {"admin_events": True, "auth_prefix": False}
    first = await sync(store, emu, **on)
    assert first.status == "succeeded", first.message
    t = emu.tenant
    for uid in t.user_ids[:650]:  # 1,300 events: more than a page of the old 1,000
        t.update_user(uid, given_name="Renamed")
        t.update_user(uid, surname="Twice")
    emu.requests.clear()
    second = await sync(store, emu, **on)
    assert second.status == "succeeded", second.message
    assert second.stats["read"] == "delta" and second.stats["admin_events"] >= 1_300
    assert emu.requests.count("*/admin-events") == 1
    # token, events/config, the events, and each renamed user once
    assert len(emu.requests) == 3 + 650
    assert_matches(store, emu)


def test_member_ids_are_checked_once_with_the_same_answer() -> None:
    items: list[Any] = [{"id": "a"}, {"id": "b"}, "not an object", {"id": ""}, {"id": ["x"]}]
    plain, once, known = Snapshot(), Snapshot(), set[str]()
    assert identified_once(once, "members", items, known) == identified(plain, "members", items)
    assert known == {"a", "b"} and once.incomplete_reasons == plain.incomplete_reasons
    again = Snapshot()
    assert identified_once(again, "members", [{"id": "a"}, {"id": 7}], known) == [
        {"id": "a"},
        {"id": 7},
    ]
    assert again.complete and known == {"a", "b"}
