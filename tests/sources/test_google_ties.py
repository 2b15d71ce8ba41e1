"""Two events of one pair in the same millisecond, settled by ``members.get`` (.ties)."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.sources.google.memberlog import TIE, UNKNOWN_MEMBER
from idpsync.store import Store
from tests.sources.test_google_e2e import assert_matches_tenant
from tests.sources.test_google_incremental import assert_full_read_agrees, emulator, sync
from tests.sources.test_google_memberlog import (
    LISTINGS,
    first_user,
    full_then_changes,
    nest,
    outsider,
    ticking,
)

ONE_MEMBER = "/admin/directory/v1/groups/{g}/members/{m}"


pytestmark = pytest.mark.usefixtures("no_sleep")


def asked(emu: GoogleEmulator, path: str) -> int:
    """Calls to ``path``, alone or inside a batch request."""
    return emu.requests.count(path) + emu.batched.count(path)


async def tied(db: Store) -> tuple[GoogleEmulator, str, str]:
    """After a full read: one user added and removed, one member removed and added again, each
    pair's two events in one millisecond. The groups: (ends without, ends with)."""
    emu = emulator()
    await full_then_changes(db, emu)
    ticking(emu, step=0.0)
    t = emu.tenant
    gone, kept = t.group_ids[2], t.group_ids[5]
    user, member = outsider(emu, gone), first_user(emu, kept)
    t.add_member(gone, user)
    t.remove_member(gone, user)  # absent at the end
    t.remove_member(kept, member)
    t.add_member(kept, member)  # present at the end
    emu.requests.clear()
    emu.batched.clear()
    return emu, gone, kept


async def test_a_tie_is_settled_by_one_member_read_not_the_listing(
    db: Store, tmp_path: Path
) -> None:
    emu, _, _ = await tied(db)
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert result.stats["ties_settled"] == 2 and result.stats["groups_reread"] == 0
    assert "reread_reasons" not in result.stats
    assert asked(emu, ONE_MEMBER) == 2  # one each, in one batch request
    assert asked(emu, LISTINGS) == 0
    assert_matches_tenant(db, emu)
    await assert_full_read_agrees(db, emu, tmp_path)


@pytest.mark.parametrize("kind", ["status", "truncate"])
async def test_a_failed_member_read_reads_the_group_again(
    db: Store, tmp_path: Path, kind: str
) -> None:
    """A 503 (the absent pair's call) or a cut body (the present pair's 200), every time."""
    emu, gone, kept = await tied(db)
    t = emu.tenant
    victim, other = (gone, kept) if kind == "status" else (kept, gone)
    emu.inject(Fault(kind, f"/admin/directory/v1/groups/{t.gid(victim)}/members/*", times=0))
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert result.stats["ties_settled"] == 1 and result.stats["groups_reread"] == 1
    assert result.stats["reread_reasons"] == {TIE: 1}
    assert emu.batched.count(f"/admin/directory/v1/groups/{t.gid(victim)}/members") == 1
    assert asked(emu, f"/admin/directory/v1/groups/{t.gid(other)}/members") == 0
    assert_matches_tenant(db, emu)
    await assert_full_read_agrees(db, emu, tmp_path)


async def test_a_tie_beside_another_reason_keeps_the_listing(db: Store) -> None:
    emu, gone, kept = await tied(db)
    t = emu.tenant
    nest(emu, gone, t.group_ids[8])  # a nested group: its address is no user's
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert result.stats["ties_settled"] == 1 and result.stats["groups_reread"] == 1
    assert result.stats["reread_reasons"] == {UNKNOWN_MEMBER: 1}
    assert asked(emu, f"/admin/directory/v1/groups/{t.gid(gone)}/members/{{m}}") == 0
    assert asked(emu, f"/admin/directory/v1/groups/{t.gid(gone)}/members") == 1
    assert asked(emu, f"/admin/directory/v1/groups/{t.gid(kept)}/members") == 0
    assert_matches_tenant(db, emu)
