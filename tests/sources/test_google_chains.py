"""A full read's users and groups listings as calls in the batches (:mod:`.google.chains`):
one batch a page of the longest chain, and a failed part asked again, read alone, or the read
incomplete."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from idpsync.emulators import Fault
from idpsync.emulators.google import GoogleEmulator
from idpsync.http.settings import HttpSettings
from idpsync.model import EdgeList, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import no_progress
from idpsync.sources.google import chains, endpoints
from idpsync.sources.google.rolling import Roller
from idpsync.sources.google.users import UserPages
from idpsync.sources.lanes import Lanes
from tests.sources.google_support import fail_users, sa_settings, source, truth_edges
from tests.sources.test_google_full_pace import USERS, read

pytestmark = pytest.mark.usefixtures("no_sleep")


def users_heavy() -> GoogleEmulator:
    """2,600 users (6 pages at 500) and 12 groups of at most 4 pages: the users listing is
    the longest chain."""
    emu = GoogleEmulator.generate(users=2600, groups=12, seed=3, medium_every=3)
    t = emu.tenant
    for group in t.groups:
        for member in t.member_list(group)[700:]:
            t.remove_member(group, member)
    return emu


def users_calls(emu: GoogleEmulator) -> list[Any]:
    return [r for r in emu.batched.entries() if r.path == USERS]


def same_read(snap: Snapshot, emu: GoogleEmulator) -> None:
    t = emu.tenant
    assert snap.complete, snap.incomplete_reasons
    assert {u.source_id for u in snap.users} == {t.gid(u) for u in t.users}
    assert len(snap.users) == len(t.users)  # each user once
    assert {(m.group_id, m.member_id) for m in snap.memberships} == truth_edges(t)


@pytest.mark.usefixtures("short_trips")
async def test_the_users_chain_rides_one_batch_a_page() -> None:
    """When the users listing is the longest chain, every batch carries its next page: the
    read is the token and one batch a users page (the API's minimum), and nothing alone.

    Every round trip counts as short (``short_trips``): each answer is taken before the next
    main batch leaves. On a loaded machine an in-process trip went over 0.2 s, the users page
    (not yet :meth:`~idpsync.sources.google.chains.PageChain.due`) was taken after the next
    main batch had left without it, and the read took 8 requests."""
    emu = users_heavy()
    snap = await read(source(emu, sa_settings(emu)))
    same_read(snap, emu)
    assert len(users_calls(emu)) == 6
    assert len(emu.requests) == 1 + 6  # the groups and every member page rode along
    assert emu.requests.count(USERS) == 0


async def test_a_users_part_refused_once_is_asked_again_in_a_batch() -> None:
    """A 503 on the users listing's third page inside a batch: that page again, in a later
    batch; the listing goes on in the batches and the read is complete."""
    emu = users_heavy()
    fault = emu.inject(Fault("status", USERS, nth=3, status=503))
    src = source(emu, sa_settings(emu))
    snap = await read(src)
    same_read(snap, emu)
    assert fault.fired == 1 and "batch_fallbacks" not in src.stats.extra
    calls = users_calls(emu)
    assert [r.status for r in calls] == [200, 200, 503, 200, 200, 200, 200]
    assert calls[2].query == calls[3].query  # the same page token twice
    assert emu.requests.count(USERS) == 0


async def test_a_users_part_of_the_wrong_shape_reads_the_rest_alone() -> None:
    """The users listing's second page comes back cut in half inside the batch: the rest of the
    listing is read alone from that page (single requests, the client's retries); no user is
    lost or read twice."""
    emu = users_heavy()
    emu.inject(Fault("truncate", USERS, nth=2))
    src = source(emu, sa_settings(emu))
    snap = await read(src)
    same_read(snap, emu)
    assert src.stats.extra["batch_fallbacks"] == 1
    assert len(users_calls(emu)) == 2  # the first page, and the second (cut)
    assert emu.requests.count(USERS) == 5  # pages 2 to 6 alone


async def test_a_users_listing_failing_in_batches_and_alone_leaves_the_read_incomplete() -> None:
    """Every users page after the first fails, in the batch and alone: no user is taken from
    the part that was read and the read is incomplete (so nobody is removed)."""
    emu = users_heavy()
    fail_users(emu)
    snap = await read(source(emu, sa_settings(emu)))
    assert not snap.complete and snap.users == []
    assert any("users listing could not be read" in r for r in snap.incomplete_reasons)
    assert len(snap.groups) == 12  # the groups and members were read all the same
    assert [r.status for r in users_calls(emu)] == [200, 404]  # in a batch, then alone
    assert emu.requests.count(USERS) == HttpSettings().max_attempts  # alone, with retries


async def test_ended_listings_are_kept_while_the_read_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the users and groups listings are read to their end, each member listing that
    ends is filtered to listed users and groups while the other listings are still being
    read, not all after the last page; the snapshot is the same."""
    emu = GoogleEmulator.generate(users=600, groups=450, seed=7, medium_every=3)
    t = emu.tenant
    for group in t.group_ids[400:]:  # on the last groups page: long listings after the rest
        for uid in t.user_ids[: 600 - len(t.member_list(group))]:
            t.add_member(group, uid)
    filtered, at_batches = [0], []
    real_kept, real_batch = EdgeList.extend_kept, emu._batch

    def counted(self: EdgeList, part: EdgeList, ok: Any) -> int:
        filtered[0] += 1
        return real_kept(self, part, ok)

    async def noted(request: Any) -> Any:
        at_batches.append(filtered[0])
        return await real_batch(request)

    monkeypatch.setattr(EdgeList, "extend_kept", counted)
    emu._batch = noted  # type: ignore[method-assign]
    src = source(emu, sa_settings(emu))
    snap = await read(src)
    same_read(snap, emu)
    assert at_batches[-1] > 0  # listings were kept before the last batch was asked
    assert filtered[0] == len(snap.groups)  # each once: none again after the read


async def test_a_group_found_gone_after_listings_were_kept_leaves_no_edge_to_it() -> None:
    """A group whose member listing answers 404 (and the group too) is found gone at the end
    of the read, after listings naming it as a member were kept early: its edges go, as they
    would in one pass after the last page, and the skipped count is the same."""
    emu = GoogleEmulator.generate(users=600, groups=450, seed=7, medium_every=3)
    t = emu.tenant
    gone = t.group_ids[449]  # on the last groups page: its listing ends last
    for uid in t.user_ids[:600]:
        t.add_member(gone, uid)
    parents = t.group_ids[:5]  # on the first groups page: kept early
    for parent in parents:
        t.add_member(parent, gone)
    path = f"/admin/directory/v1/groups/{t.gid(gone)}"
    emu.inject(Fault("status", f"{path}/members", status=404, times=0))
    emu.inject(Fault("status", path, status=404, times=0))
    src = source(emu, sa_settings(emu))
    snap = await read(src)
    assert snap.complete, snap.incomplete_reasons
    assert t.gid(gone) not in {g.source_id for g in snap.groups}
    found = {(m.group_id, m.member_id) for m in snap.memberships}
    assert not any(t.gid(gone) in edge for edge in found)
    assert found == {e for e in truth_edges(t) if t.gid(gone) not in e}
    assert src.stats.extra["members_skipped"] == 5 + sum(  # the 5 edges to it, the externals
        1 for g in t.groups if g != gone for m in t.member_list(g) if m in t.others
    )


def last_page(key: str, *members: str) -> tuple[int, bytes]:
    """A listing's last page (no next page token) as an inner answer: users by id."""
    return 200, json.dumps({key: [{"id": m, "type": "USER"} for m in members]}).encode()


def ignore(_: object) -> None:
    """A chain's pages and failure, not wanted here."""


class Alone(chains.PageChain):
    """A chain whose rest, read alone, ends at once."""

    async def rest_alone(self, source: Any, lanes: Lanes) -> None:
        self.ended = True


async def end(roller: Roller, chain: chains.PageChain, *, alone: bool) -> None:
    """The chain's last page, in a batch or read alone."""
    if alone:
        await roller._alone_chain(chain)
    else:
        roller._chain_step(chain, last_page(chain.endpoint.records or ""))


async def turns() -> None:
    """A few turns of the event loop, no time passing (the roller's work is all done)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize("last", ["in a batch", "alone"])
async def test_settle_is_told_when_a_listing_ends_not_on_a_timer(last: str) -> None:
    """:func:`~idpsync.sources.google.chains.settle` keeps a member listing within a few turns
    of the event loop of the roller ending it (once the users and groups listings ended, the
    last of them in a batch or read alone), no time passing: the roller wakes it (a look every
    0.1 s had not looked yet)."""
    fake = SimpleNamespace(stats=SimpleNamespace(extra={}), _skipped=lambda count: None)
    roller = Roller(cast(Any, fake), Snapshot(), Lanes(2), no_progress)
    groups = [SourceGroup("g1", "one"), SourceGroup("g2", "two")]
    users = UserPages(photos=False)
    users.users.append(SourceUser("u1", "one"))
    listings = (Alone(endpoints.USERS, {}, ignore, ignore, urgent=False),
                Alone(endpoints.GROUPS, {}, ignore, ignore, urgent=True))  # fmt: skip
    first, then = listings if last == "in a batch" else reversed(listings)
    early: dict[int, int] = {}
    settling = asyncio.ensure_future(chains.settle(roller, listings, users, groups, early))
    try:
        roller.add(groups[:1], {})
        roller._take(0, last_page("members", "u1", "outsider"))
        await end(roller, first, alone=last == "in a batch")
        await turns()
        assert early == {}  # one of the listings goes on: nothing is kept yet
        await end(roller, then, alone=last == "alone")
        await turns()
        assert early == {0: 1}  # kept to its edge to a listed user
        roller.add(groups[1:], {})
        roller._take(1, last_page("members", "u1"))
        await turns()
        assert early == {0: 1, 1: 0}
        assert [len(edges or []) for edges in roller.found.values()] == [1, 1]
    finally:
        settling.cancel()
        await asyncio.gather(settling, return_exceptions=True)


@pytest.mark.parametrize("batch", [50, 0])
async def test_a_group_listed_twice_is_one_group_with_its_edges(batch: int) -> None:
    """A groups listing that repeats a group (its pages shifted under the read): the read
    completes with the group once and its edges; it failed with a ``KeyError`` (the group's
    member listing was taken for the first copy, then looked for again for the second)."""
    emu = GoogleEmulator.generate(users=300, groups=12, seed=3)
    t = emu.tenant
    t.group_ids = [*t.group_ids[:3], t.group_ids[5], *t.group_ids[3:]]
    snap = await read(source(emu, sa_settings(emu, batch_size=batch)))
    same_read(snap, emu)
    assert sorted(g.source_id for g in snap.groups) == sorted(t.gid(g) for g in t.groups)
