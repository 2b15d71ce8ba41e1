"""A 404 on a group's member listing: gone only when the group itself answers 404 too."""

from __future__ import annotations

import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.model import DirectoryState
from idpsync.store import Store
from tests.sources.google_support import connector, sa_settings, source

NAME = "gws"
MEMBERS = "/admin/directory/v1/groups/{key}/members"
GROUP = "/admin/directory/v1/groups/{key}"


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def emu() -> GoogleEmulator:
    return GoogleEmulator.generate(users=120, groups=20, seed=5, medium_every=10)


async def sync(store: Store, emu: GoogleEmulator) -> RunResult:
    settings = sa_settings(emu, batch_size=0)  # faults are injected into single requests
    src = source(emu, settings)
    try:
        return await run_sync(store, NAME, connector(settings), src)
    finally:
        await src.aclose()


def directory(store: Store) -> DirectoryState:
    with store.transaction() as conn:
        return store.load_directory(conn, NAME)


async def test_members_answering_404_is_partial_and_removes_nothing(
    store: Store, emu: GoogleEmulator
) -> None:
    assert (await sync(store, emu)).status == "succeeded"
    before = directory(store)
    assert len(before.groups) == 20 and before.memberships
    emu.inject(Fault("status", MEMBERS, status=404, times=0))
    result = await sync(store, emu)
    assert result.status == "partial" and not result.complete
    summary = result.summary()
    assert summary["groups_deleted"] == 0 and summary["memberships_removed"] == 0
    after = directory(store)
    assert after.groups == before.groups and after.memberships == before.memberships
    assert "GET /admin/directory/v1/groups/{groupKey}/members" in result.message
    assert "still finds the group" in result.message


async def test_group_deleted_between_listing_and_members_is_gone(emu: GoogleEmulator) -> None:
    gone = emu.tenant.gid(emu.tenant.group_ids[3])
    emu.inject(Fault("status", f"/admin/directory/v1/groups/{gone}/members", status=404))
    emu.inject(Fault("status", f"/admin/directory/v1/groups/{gone}", status=404))
    src = source(emu, sa_settings(emu, batch_size=0))
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete, snap.incomplete_reasons
    assert gone not in {g.source_id for g in snap.groups}
    assert len(snap.groups) == 19
    assert not any(m.group_id == gone for m in snap.memberships)


async def test_members_404_and_group_unreadable_is_incomplete(emu: GoogleEmulator) -> None:
    emu.inject(Fault("status", MEMBERS, status=404))
    emu.inject(Fault("status", GROUP, status=500, times=0))
    src = source(emu, sa_settings(emu, batch_size=0))
    snap = await src.snapshot()
    await src.aclose()
    assert not snap.complete
    assert any("answered 404" in r and "failed" in r for r in snap.incomplete_reasons)
