"""The full read's concurrency: the users chain overlaps the member listings, failures cancel.

Nothing here measures time. The emulator records each request when it answers it, so the order
of its request log shows which requests were in flight together: with a small per-request
latency, member listings that run alongside the users chain are answered before its last page,
whereas a read that lists users first and members afterwards answers every member listing after
the last users page.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import httpx
import pytest

from idpsync.emulators import Fault, Latency
from idpsync.emulators.entra import EntraEmulator
from idpsync.http import set_testing
from idpsync.http.settings import HttpSettings
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld, pages

USERS, GROUPS = 1234, 40
USERS_PATH = "/v1.0/users"
MEMBERS_PATH = "/v1.0/groups/{id}/members"


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def make(tmp_path: Path) -> EntraWorld:
    emu = EntraEmulator.generate(users=USERS, groups=GROUPS, seed=11, latency=Latency(fixed_ms=5))
    plain = {"batch": False, "expand_members": False}  # one request per member listing
    return EntraWorld(emu, Store.open(f"sqlite:///{tmp_path / 'd.db'}"), options=plain)


def _is(path: str, pattern: str) -> bool:
    return pattern == path or (
        pattern == MEMBERS_PATH and path.startswith("/v1.0/groups/") and path.endswith("/members")
    )


async def test_member_listings_are_answered_before_the_last_users_page(tmp_path: Path) -> None:
    world = make(tmp_path)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    entries = world.emu.requests.entries()
    log = [r.path for r in entries]
    counts = [i for i, r in enumerate(entries) if "count=true" in r.query]
    assert len(counts) == 1  # partition_users = "auto": the tenant is below the threshold
    users = [i for i, path in enumerate(log) if _is(path, USERS_PATH) and i not in counts]
    members = [i for i, path in enumerate(log) if _is(path, MEMBERS_PATH)]
    assert len(users) == pages(USERS, 100)  # managers on: pages of 100, one after the other
    assert len(members) >= GROUPS
    # Sequential code answers every member listing after the last users page.
    overlapping = [i for i in members if i < users[-1]]
    assert len(overlapping) > len(members) // 2, (len(overlapping), len(members))
    # The delta links are taken before any listing.
    links = [i for i, path in enumerate(log) if path.endswith("/delta")]
    listings = [i for i, path in enumerate(log) if not path.endswith(("/delta", "/token"))]
    assert len(links) == 2 and max(links) < min(listings)
    world.store.close()


@pytest.mark.parametrize(
    ("failing", "other", "other_total"),
    [
        (MEMBERS_PATH, USERS_PATH, pages(USERS, 100)),
        (USERS_PATH, MEMBERS_PATH, None),
    ],
    ids=["members-403-stops-users", "users-403-stops-members"],
)
async def test_a_fatal_error_in_one_branch_cancels_the_other(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    failing: str,
    other: str,
    other_total: int | None,
) -> None:
    world = make(tmp_path)
    world.emu.inject(Fault("status", failing, nth=2, status=403, times=0))
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        result = await world.sync(mode="full")
        await asyncio.sleep(0)
        gc.collect()
    assert result.status == "failed"
    assert "Read.All" in result.message  # the missing permission is named
    assert "Task was destroyed" not in caplog.text
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    log = [r.path for r in world.emu.requests.entries()]
    done = sum(1 for path in log if _is(path, other))
    total = other_total if other_total is not None else GROUPS
    assert done < total  # the other branch stopped early instead of reading to its end
    world.store.close()


class InFlight(httpx.AsyncBaseTransport):
    """Counts the requests in flight at once (all, member listings, and member listings while
    the users chain has not ended) over another transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.users_done = False
        self.now = {"all": 0, "members": 0}
        self.most = {"all": 0, "members": 0, "members_beside_users": 0}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kinds = ["all"] + (["members"] if _is(request.url.path, MEMBERS_PATH) else [])
        for kind in kinds:
            self.now[kind] += 1
            self.most[kind] = max(self.most[kind], self.now[kind])
        if not self.users_done:
            beside = max(self.most["members_beside_users"], self.now["members"])
            self.most["members_beside_users"] = beside
        try:
            response = await self.inner.handle_async_request(request)
        finally:
            for kind in kinds:
                self.now[kind] -= 1
        if request.url.path == "/v1.0/users":  # a page of the users chain
            await response.aread()
            self.users_done = self.users_done or "@odata.nextLink" not in response.text
        return response


async def test_member_listings_leave_one_slot_to_the_users_chain(tmp_path: Path) -> None:
    world = make(tmp_path)
    counter = InFlight(world.emu.transport())
    world.transport = counter
    result = await world.sync(mode="full", http=HttpSettings(concurrency=4))
    assert result.status == "succeeded", result.message
    # one slot stays with the users chain until it ends; then the member listings take all four
    assert counter.most["all"] == 4 and counter.most["members_beside_users"] == 3
    assert counter.users_done
    world.store.close()
