"""The Google connector against the in-process emulator: snapshot, formula, options, errors."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from idpsync.emulators import Fault, Latency
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.google.resources import photo_etag
from idpsync.http.errors import TokenError
from idpsync.http.settings import HttpSettings
from idpsync.model import MemberKind
from tests.sources.google_support import (
    expected_requests,
    oauth_settings,
    rolling_range,
    sa_settings,
    source,
    truth_edges,
)
from tests.sources.overlap_support import MembersWaitForUsers, members_before_last_users_page

USERS = "/admin/directory/v1/users"


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def emu() -> GoogleEmulator:
    return GoogleEmulator.generate(users=620, groups=205, seed=11, medium_every=20)


async def test_snapshot_is_the_ground_truth_at_the_formula_cost(emu: GoogleEmulator) -> None:
    t = emu.tenant
    archived = t.user_ids[7]
    t.set_archived(archived)
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete, snap.incomplete_reasons
    users = {u.source_id: u for u in snap.users}
    assert set(users) == {t.gid(u) for u in t.users}
    assert {g.source_id for g in snap.groups} == {t.gid(g) for g in t.groups}
    assert {(m.group_id, m.member_id) for m in snap.memberships} == truth_edges(t)
    kinds = {m.member_kind for m in snap.memberships}
    assert kinds == {MemberKind.USER, MemberKind.GROUP}
    for uid, user in t.users.items():
        got = users[t.gid(uid)]
        assert got.active is (user.enabled and uid not in t.archived)
        assert got.manager_id == (t.gid(user.manager_id) if user.manager_id else None)
        assert got.login == t.login(user)
        assert got.photo_ref is None
    assert users[t.gid(archived)].attributes["archived"] is True
    assert len(emu.requests) in rolling_range(t)  # member pages in batches
    assert src.stats.requests in rolling_range(t)
    pages = [r for r in emu.batched if r.path == "/admin/directory/v1/users"]
    assert len(pages) == 2  # 620 users at 500 a page, as calls in the batches
    assert all("maxResults=500" in r.query for r in pages)


def overlap_emulator() -> GoogleEmulator:
    """1,600 users (four pages, one after the other) and 40 groups (one page), 20 ms a request."""
    return GoogleEmulator.generate(users=1600, groups=40, seed=5, latency=Latency(fixed_ms=20))


async def test_member_listings_start_while_users_are_still_listed() -> None:
    emu = overlap_emulator()
    src = source(emu, sa_settings(emu, batch_size=0))
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete and len(snap.users) == 1600
    log = emu.requests.entries()
    assert [r.path for r in log].count(USERS) == 4
    # members start once the one groups page is in (about 2 round trips), the last users page
    # is answered after 5; read users first, no member request could come before it
    assert members_before_last_users_page(log, USERS) > 0
    assert len(log) == expected_requests(emu.tenant)
    assert {(m.group_id, m.member_id) for m in snap.memberships} == truth_edges(emu.tenant)


async def test_users_pages_keep_a_slot_while_members_are_listed() -> None:
    emu = overlap_emulator()
    gate = MembersWaitForUsers(emu, USERS, user_pages=4)
    plain = sa_settings(emu, batch_size=0)  # the gate holds single member requests
    src = source(emu, plain, transport=httpx.ASGITransport(app=gate))
    # a deadlock guard, not a timing check: member requests holding all 8 slots would stall
    # the users chain, and the gate releases them only after the last users page
    snap = await asyncio.wait_for(src.snapshot(), timeout=60)
    await src.aclose()
    assert snap.complete
    assert 0 < gate.peak <= src.http.budget.concurrency - 1
    assert len(emu.requests) == expected_requests(emu.tenant)


async def test_nested_option_reads_derived_members(emu: GoogleEmulator) -> None:
    src = source(emu, sa_settings(emu, nested=True))
    snap = await src.snapshot()
    await src.aclose()
    t = emu.tenant
    assert {(m.group_id, m.member_id) for m in snap.memberships} == truth_edges(t, derived=True)
    assert len(emu.requests) in rolling_range(t, derived=True)
    inner = [r for r in emu.batched if r.path.endswith("/members")]
    assert inner and all("includeDerivedMembership=true" in r.query for r in inner)


async def test_photo_versions_are_the_listings_etags_and_cost_no_request(
    emu: GoogleEmulator,
) -> None:
    t = emu.tenant
    src = source(emu, sa_settings(emu, fetch_photos=True))
    snap = await src.snapshot()
    await src.aclose()
    refs = {u.source_id: u.photo_ref for u in snap.users}
    listed = {t.gid(u): photo_etag(t, user) for u, user in t.users.items() if user.photo_version}
    assert {uid: ref for uid, ref in refs.items() if ref} == listed  # thumbnailPhotoEtag
    assert len(emu.requests) in rolling_range(t)  # no photo request
    assert not [r for r in emu.requests if r.path.endswith("/photos/thumbnail")]
    changed = next(u for u, user in t.users.items() if user.photo_version)
    t.set_photo(changed)
    again = source(emu, sa_settings(emu, fetch_photos=True))
    snap2 = await again.snapshot()
    await again.aclose()
    refs2 = {u.source_id: u.photo_ref for u in snap2.users}
    assert refs2[t.gid(changed)] != refs[t.gid(changed)]
    assert sum(refs2[k] != refs[k] for k in refs) == 1


async def test_domain_scope_and_customer_id(emu: GoogleEmulator) -> None:
    src = source(emu, sa_settings(emu, domain="example.com"))
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete and len(snap.users) == 620
    assert all("domain=example.com" in r.query for r in emu.requests if r.path.endswith("/users"))


async def test_failed_member_listing_marks_incomplete(emu: GoogleEmulator) -> None:
    emu.inject(
        Fault("status", "/admin/directory/v1/groups/{key}/members", nth=4, status=503, times=6)
    )
    src = source(emu, sa_settings(emu, batch_size=0))  # faults go into single requests
    snap = await src.snapshot()
    await src.aclose()
    assert not snap.complete
    assert "members of group" in snap.incomplete_reasons[0]
    assert "503" in snap.incomplete_reasons[0]


async def test_reset_in_users_listing_marks_incomplete(emu: GoogleEmulator) -> None:
    emu.inject(Fault("reset", "/admin/directory/v1/users", nth=2, times=0))
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    assert not snap.complete
    assert "users listing" in snap.incomplete_reasons[0]


async def test_repeated_page_token_is_an_error_not_a_loop(emu: GoogleEmulator) -> None:
    emu.inject(Fault("repeat_page", "/admin/directory/v1/users", nth=2, times=0))
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    assert not snap.complete
    assert "same nextPageToken" in " ".join(snap.incomplete_reasons)


async def test_empty_page_with_token_is_followed(emu: GoogleEmulator) -> None:
    emu.inject(Fault("empty_page", "/admin/directory/v1/users", nth=2))
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete and len(snap.users) == 620
    assert len(emu.requests) - 1 in rolling_range(emu.tenant)


async def test_quota_storm_completes_with_backoff(emu: GoogleEmulator) -> None:
    emu.storm(4, 403, "userRateLimitExceeded")
    emu.storm(2, 429, "rateLimitExceeded")
    emu.storm(1, 403, "rateLimitExceeded")
    src = source(emu, sa_settings(emu, batch_size=0), http=HttpSettings(max_attempts=10))
    started = time.monotonic()
    snap = await src.snapshot()
    elapsed = time.monotonic() - started
    await src.aclose()
    assert snap.complete
    assert src.stats.throttled == 7 and src.stats.retries == 7
    assert src.stats.extra["retry_wait_seconds"] > 0
    assert len(emu.requests) == expected_requests(emu.tenant) + 7
    budget = src.http.budget
    assert budget.rate == pytest.approx(2400 / 60)
    # no burst: the last request was scheduled no earlier than (n - burst) / rate seconds in
    # (waits are switched off in tests, so the schedule is what the budget computed)
    earliest = (src.stats.requests - 1 - budget.rate) / budget.rate
    assert budget.last_wait + elapsed >= earliest - 0.01


async def test_bad_subject_and_undelegated_scopes_fail_clearly(emu: GoogleEmulator) -> None:
    src = source(emu, sa_settings(emu, subject="nobody@example.com"))
    with pytest.raises(TokenError) as bad:
        await src.snapshot()
    await src.aclose()
    assert "invalid_grant" in str(bad.value)
    emu.service_account.delegated.clear()
    src = source(emu)
    with pytest.raises(TokenError) as undelegated:
        await src.snapshot()
    await src.aclose()
    assert "unauthorized_client" in str(undelegated.value)
    assert "BEGIN PRIVATE KEY" not in str(undelegated.value)
    assert emu.service_account.private_key_pem[40:80] not in str(undelegated.value)


async def test_non_admin_subject_is_forbidden(emu: GoogleEmulator) -> None:
    t = emu.tenant
    plain = t.login(t.users[t.user_ids[3]])
    src = source(emu, sa_settings(emu, subject=plain))
    with pytest.raises(Exception) as denied:
        await src.snapshot()
    await src.aclose()
    assert "403" in str(denied.value) and "Not Authorized" in str(denied.value)


async def test_oauth_mode_without_authorization_says_what_to_do(emu: GoogleEmulator) -> None:
    src = source(emu, oauth_settings(emu))
    with pytest.raises(TokenError) as never:
        await src.snapshot()
    await src.aclose()
    assert "idpsync authorize gws" in str(never.value)
