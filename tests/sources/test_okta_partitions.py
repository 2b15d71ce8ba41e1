"""The Okta full read's users as ``lastUpdated`` ranges: coverage by construction, mid-read moves.

Coverage is checked with the emulator's own filter evaluation (the expressions the connector
sends must parse and match there as Okta documents them); the reads against the emulator are
checked from its request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings
from idpsync.emulators import Latency
from idpsync.emulators.okta import query
from idpsync.emulators.okta.api import USER_FILTER
from idpsync.http import set_testing
from idpsync.sources.okta.partitions import BOUNDS_KEY, bounds_of, fewer, lower_filters, top_filter
from idpsync.sources.okta.reader import OktaSource
from idpsync.store import Store
from tests.sources.okta_support import RecordingEmulator, emulator, pages, source, truth

ACTIVE = frozenset({"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"})
STAMP = st.builds(
    "2025-{:02d}-{:02d}T{:02d}:00:{:02d}.000Z".format,
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
)


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def matching(where: str, stamps: list[str]) -> set[int]:
    """Indexes of the stamps the emulator's ``filter`` evaluation lets through."""
    match = query.matcher(query.parse(where, USER_FILTER, search=False))
    return {i for i, s in enumerate(stamps) if match({"lastUpdated": s})}


@given(
    st.lists(STAMP, min_size=1, max_size=60),
    st.lists(STAMP, min_size=1, max_size=8),
    st.integers(1, 9),
    st.none() | STAMP,
)
def test_ranges_cover_every_stamp_and_lower_ranges_never_overlap(
    stamps: list[str], cuts: list[str], count: int, started: str | None
) -> None:
    bounds = fewer(sorted(set(cuts)), count)
    lower = [matching(where, stamps) for where in lower_filters(bounds)]
    top = matching(top_filter(bounds, started), stamps)
    assert set().union(*lower, top) == set(range(len(stamps)))
    assert sum(len(part) for part in lower) == len(set().union(*lower))
    assert bounds[-1] == sorted(set(cuts))[-1] and len(bounds) == min(count, len(set(cuts)))


def test_bounds_are_quantiles_and_the_largest_stamp() -> None:
    users = [{"lastUpdated": f"2025-01-01T00:00:{i:02d}.000Z"} for i in range(40)]
    assert bounds_of(users, 4) == [users[i]["lastUpdated"] for i in (10, 20, 30, 39)]
    assert bounds_of([{"lastUpdated": "2025-01-01T00:00:00.000Z"}] * 9, 4) == []
    assert bounds_of(users, 1) == []
    assert bounds_of([*users, {"id": "00u-without-stamp"}], 4) == []


def spread(emu: RecordingEmulator) -> None:
    """Give every user its own ``lastUpdated`` (one change each, in order)."""
    for uid in emu.tenant.user_ids:
        emu.tenant.update_user(uid, display_name=f"Name {uid}")


async def sync(store: Store, src: OktaSource, **kwargs: Any) -> Any:
    return await run_sync(store, "okta", ConnectorSettings(source=src.settings), src, **kwargs)


def directory(store: Store) -> dict[str, Any]:
    with store.transaction() as conn:
        state = store.load_directory(conn, "okta")
    return {
        "users": {u.source_id: u.active for u in state.users.values()},
        "groups": {g.source_id: g.name for g in state.groups.values()},
        "memberships": {(m.group_id, m.member_id) for m in state.memberships},
        "names": {u.source_id: u.display_name for u in state.users.values()},
    }


def user_filters(emu: RecordingEmulator) -> list[str]:
    """The ``filter`` of every users listing request, in order (``""``: none)."""
    found = []
    for entry in emu.requests:
        if entry.path == "/api/v1/users":
            found.append(parse_qs(entry.query).get("filter", [""])[0])
    return found


async def test_second_full_read_lists_saved_ranges_side_by_side(store: Store) -> None:
    emu = emulator(users=900, groups=8)
    spread(emu)
    src = source(emu, concurrency=6, user_partitions=3)
    assert (await sync(store, src, mode="full")).ok
    assert set(user_filters(emu)) == {"", 'status eq "DEPROVISIONED"'}  # no bounds yet: a chain
    with store.transaction() as conn:
        bounds = store.connector_state(conn, "okta")[BOUNDS_KEY]
    assert len(bounds) == 3
    emu.requests.clear()
    emu.tenant.update_user(emu.tenant.user_ids[0], display_name="changed since")
    result = await sync(store, src, mode="full")
    assert result.ok and result.complete, result.message
    got, want = directory(store), truth(emu, ACTIVE)
    assert got["users"] == want["users"]  # deprovisioned ones too, from the ranges
    assert got["memberships"] == want["memberships"]
    assert got["names"][emu.tenant.user_ids[0]] == "changed since"
    filters = user_filters(emu)
    lower = lower_filters(bounds)
    assert set(filters) == {*lower, f'lastUpdated ge "{bounds[-1]}"'}
    assert filters[0] == lower[0] and filters[-1] == f'lastUpdated ge "{bounds[-1]}"'
    per_range = [300, 300, 299]  # quantiles of 900 distinct stamps; the newest is in the top
    assert len(filters) == sum(pages(n, 200) for n in per_range) + 1
    await src.aclose()


class ChangeMidRead(httpx.AsyncBaseTransport):
    """Makes changes once, at one point of the read.

    ``"middle"``: just before the middle range's second page is asked for, so the changed users
    leave that range before it reads them. ``"top"``: just after the top range's first answer,
    so a read that listed the top range before every lower range had ended would miss them.
    """

    def __init__(self, emu: RecordingEmulator, bounds: list[str], at: str, change: list[Any]):
        self.inner, self.change, self.fired, self.at = emu.transport(), change, 0, at
        self.where = lower_filters(bounds)[1] if at == "middle" else top_filter(bounds, None)

    def fire(self) -> None:
        if not self.fired:
            self.fired += 1
            for change in self.change:
                change()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        asked = parse_qs(request.url.query.decode())
        ours = asked.get("filter") == [self.where]
        if ours and self.at == "middle" and "after" in asked:
            self.fire()
        response = await self.inner.handle_async_request(request)
        if ours and self.at == "top":
            self.fire()
        return response


@pytest.mark.parametrize(
    ("deprovisioned", "at"), [(True, "middle"), (False, "middle"), (True, "top")]
)
async def test_users_changed_mid_read_are_read_once_and_nobody_is_missed(
    store: Store, deprovisioned: bool, at: str
) -> None:
    emu = emulator(users=900, groups=8, latency=Latency(fixed_ms=5))  # the chains interleave
    spread(emu)
    plain = source(emu, concurrency=6, user_partitions=3, include_deprovisioned=deprovisioned)
    assert (await sync(store, plain, mode="full")).ok
    await plain.aclose()
    with store.transaction() as conn:
        bounds = store.connector_state(conn, "okta")[BOUNDS_KEY]
    t = emu.tenant
    # users on the second page of the middle range (ids and stamps share one order here)
    middle, active = [u for u in t.user_ids[520:600] if emu.status_of(u) == "ACTIVE"][:2]
    changes = [
        lambda: t.update_user(middle, display_name="moved mid-read"),
        lambda: emu.set_status(active, "SUSPENDED"),
    ]
    moving = ChangeMidRead(emu, bounds, at, changes)
    src = source(
        emu,
        concurrency=6,
        user_partitions=3,
        include_deprovisioned=deprovisioned,
        transport=moving,
    )
    result = await sync(store, src, mode="full", allow_deletes=True)
    assert moving.fired and result.ok and result.complete, result.message
    got, want = directory(store), truth(emu, ACTIVE)
    gone = {u for u in t.users if emu.status_of(u) == "DEPROVISIONED"}
    assert gone and set(got["users"]) == set(t.users) - (set() if deprovisioned else gone)
    assert got["memberships"] == {(g, m) for g, m in want["memberships"] if m in got["users"]}
    # a user missed by the read would be a leaver: kept inactive (or removed)
    assert got["users"][middle] is True
    if at == "middle":  # read from the top range, as changed
        assert got["users"] == {u: want["users"][u] for u in got["users"]}
        assert got["names"][middle] == "moved mid-read"
        assert got["users"][active] is False
    else:  # read before the change, from their lower range
        assert got["names"][middle] != "moved mid-read" and got["users"][active] is True
    await src.aclose()


async def test_a_failed_range_leaves_the_read_incomplete_and_removes_nobody(store: Store) -> None:
    from idpsync.emulators import Fault

    emu = emulator(users=600, groups=6)
    spread(emu)
    src = source(emu, concurrency=6, user_partitions=3)
    assert (await sync(store, src, mode="full")).ok
    before = directory(store)
    emu.tenant.delete_user(emu.tenant.user_ids[5], permanent=True)
    emu.requests.clear()
    emu.inject(Fault(kind="status", path="/api/v1/users", nth=2, times=0, status=500))
    result = await sync(store, src, mode="full", allow_deletes=True)
    assert result.status == "partial" and not result.complete
    assert any("lastUpdated" in f for f in user_filters(emu))
    assert directory(store)["users"] == before["users"]
    await src.aclose()


async def test_a_failed_first_range_page_lets_the_others_go_on_and_removes_nobody(
    store: Store,
) -> None:
    import asyncio

    from idpsync.emulators import Fault

    emu = emulator(users=600, groups=6)
    spread(emu)
    src = source(emu, concurrency=6, user_partitions=3)
    assert (await sync(store, src, mode="full")).ok
    before = directory(store)
    emu.tenant.delete_user(emu.tenant.user_ids[5], permanent=True)
    emu.inject(Fault(kind="status", path="/api/v1/users", nth=1, times=1, status=400))
    result = await asyncio.wait_for(sync(store, src, mode="full", allow_deletes=True), 60)
    assert result.status == "partial" and not result.complete
    assert directory(store)["users"] == before["users"]
    await src.aclose()
