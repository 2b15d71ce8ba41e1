"""An incremental Google read takes the ids of groups named only by member events from the
staged mirror's addresses; every other named group is still read (``.named``)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.injection import Latency
from idpsync.model import Snapshot
from idpsync.sources.google import incremental
from idpsync.sources.google.named import addresses, settled
from idpsync.store import Store
from idpsync.store import schema as tables
from tests.sources.test_google_e2e import assert_matches_tenant
from tests.sources.test_google_incremental import REPORTS, emulator, sync
from tests.sources.test_google_incremental_move import (
    GROUP_READS,
    GROUPS_LISTING,
    move_one_percent,
)
from tests.sources.test_google_memberlog import LISTINGS, first_user, outsider, ticking

pytestmark = pytest.mark.usefixtures("no_sleep")


def staged_group(store: Store, group_id: str) -> dict[str, object]:
    c = tables.source_groups.c
    with store.read() as conn:
        data = conn.execute(sa.select(c.data).where(c.source_id == group_id)).scalar_one()
    return dict(data)


def forget_address(store: Store, group_id: str) -> None:
    """The staged group ``group_id`` without its address (as staged by an older version)."""
    data = {k: v for k, v in staged_group(store, group_id).items() if k != "attributes"}
    c = tables.source_groups.c
    with store.transaction() as conn:
        conn.execute(tables.source_groups.update().where(c.source_id == group_id).values(data=data))


def requests_of(emu: object, pattern: str) -> int:
    """Requests for ``pattern``, alone or inside a batch."""
    return emu.requests.count(pattern) + emu.batched.count(pattern)  # type: ignore[attr-defined]


def partial(emu: GoogleEmulator) -> list[str]:
    """Groups with users in them and users outside them."""
    t = emu.tenant
    return [
        g
        for g in t.group_ids
        if any(m in t.users for m in t.groups[g].members)
        and len(t.groups[g].members) < len(t.users)
    ]


async def test_a_group_whose_address_the_mirror_lacks_is_read(store: Store) -> None:
    db = store  # both stores: the users' addresses are read in a thread meanwhile
    emu = emulator()
    assert (await sync(db, emu)).stats["read"] == "full"
    t = emu.tenant
    lacking, *others = partial(emu)[5:9]
    forget_address(db, t.gid(lacking))
    ticking(emu)
    for group in [lacking, *others]:  # member events only
        t.add_member(group, outsider(emu, group))
        t.remove_member(group, first_user(emu, group))
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    # the three others from the mirror; the one without an address read by its address (the
    # listing started beside the log, since one staged group has no address, is cancelled)
    assert result.stats["groups_from_mirror"] == 3
    assert requests_of(emu, GROUP_READS) == 1
    assert emu.requests.count(GROUPS_LISTING, method="GET") <= 1
    assert result.stats["groups_listed"] == 0 and result.stats["groups_reread"] == 0
    assert requests_of(emu, LISTINGS) == 0
    assert_matches_tenant(db, emu)
    # its record was read, so the stage holds its address again
    assert staged_group(db, t.gid(lacking))["attributes"] == {"email": t.group_email(lacking)}


async def test_a_group_with_another_event_in_the_window_is_read(db: Store) -> None:
    emu = emulator()
    assert (await sync(db, emu)).stats["read"] == "full"
    t = emu.tenant
    renamed, moved = partial(emu)[2:4]
    ticking(emu)
    t.rename_group(renamed, "Renamed group")
    t.add_member(renamed, outsider(emu, renamed))
    t.add_member(moved, outsider(emu, moved))
    emu.requests.clear()
    emu.batched.clear()
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    assert result.stats["groups_from_mirror"] == 1  # the moved one
    assert requests_of(emu, GROUP_READS) == 1  # the renamed one: its new name
    assert emu.requests.count(GROUPS_LISTING, method="GET") == 0  # no listing started
    assert result.stats["members_applied"] == 2 and result.stats["groups_reread"] == 0
    assert_matches_tenant(db, emu)


async def test_the_users_addresses_are_read_while_the_log_is(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = GoogleEmulator.generate(
        users=600, groups=30, seed=7, medium_every=3, latency=Latency(fixed_ms=20)
    )
    assert (await sync(db, emu)).stats["read"] == "full"
    ticking(emu)
    move_one_percent(emu)
    monkeypatch.setattr(incremental, "ACTIVITY_PAGE", 5)  # the log in several pages
    emu.requests.clear()
    started: list[int] = []  # log pages answered when the mirror's addresses were asked for
    real = incremental.staged_addresses

    def watched(staged: Snapshot) -> dict[str, str]:
        started.append(emu.requests.count(REPORTS))
        return real(staged)

    monkeypatch.setattr(incremental, "staged_addresses", watched)
    result = await sync(db, emu)
    assert result.status == "succeeded" and result.stats["read"] == "delta", result.message
    pages = emu.requests.count(REPORTS)
    assert pages >= 3 and started and started[0] < pages - 1, (started, pages)
    assert_matches_tenant(db, emu)


def test_addresses_resolve_only_an_address_one_staged_group_holds() -> None:
    staged = {
        "g1": {"email": "One@X"},
        "g2": {"email": "two@x"},
        "g3": {"email": "TWO@x"},  # two groups claim it: neither is taken from the mirror
        "g4": {},  # staged before the mirror kept addresses
    }
    known, every = addresses(staged)
    assert known == {"one@x": "g1"} and not every
    assert addresses({"g1": {"email": "a@x"}}) == ({"a@x": "g1"}, True)
    named = ["one@x", "two@x", "new@x"]
    assert settled(named, known, set()) == {"one@x": "g1"}
    assert settled(named, known, {"one@x"}) == {}  # another event: read it
