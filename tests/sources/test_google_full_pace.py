"""A full read's pace: the quota's burst, member listings from the first groups page on, and
the longest listing's chain in small batches (:mod:`idpsync.sources.google.rolling`)."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest
from starlette.responses import Response

from idpsync.emulators.framework import Charge, Reply
from idpsync.emulators.google import GoogleEmulator
from idpsync.http.settings import HttpSettings
from idpsync.model import Snapshot
from idpsync.sources.google import batch as b
from idpsync.sources.google.reader import GoogleSource
from tests.sources.google_support import rendered_members, sa_settings, source, truth_edges

GROUPS = "/admin/directory/v1/groups"
USERS = "/admin/directory/v1/users"

pytestmark = pytest.mark.usefixtures("no_sleep")


async def read(src: GoogleSource) -> Snapshot:
    try:
        return await src.snapshot()
    finally:
        await src.aclose()


def edges(snap: Snapshot) -> set[tuple[str, str]]:
    return {(m.group_id, m.member_id) for m in snap.memberships}


def noting(emu: GoogleEmulator) -> list[list[str]]:
    """Each batch request's calls (path and query), in the order the batches came."""
    batches: list[list[str]] = []
    real = emu._batch

    async def noted(request: Any) -> Any:
        body: bytes = await request.body()
        batches.append(
            [line.split()[1] for line in body.decode().splitlines() if line[:4] == "GET "]
        )
        return await real(request)

    emu._batch = noted  # type: ignore[method-assign]
    return batches


async def test_member_listings_start_with_the_first_groups_page() -> None:
    """The users and groups pages are calls in the batches, and the member listings of the
    first groups page's groups go in the batch that asks for the second groups page."""
    emu = GoogleEmulator.generate(users=600, groups=450, seed=7, medium_every=3)
    batches = noting(emu)
    snap = await read(source(emu, sa_settings(emu)))
    assert snap.complete and len(snap.groups) == 450 and len(snap.users) == 600
    assert edges(snap) == truth_edges(emu.tenant)
    assert [len(c) for c in batches[:1]] == [2]  # the first pages of users and groups
    assert not emu.requests.count(GROUPS) and not emu.requests.count(USERS)  # no single one
    second = next(c for c in batches if any(p.startswith(GROUPS) and "pageToken" in p for p in c))
    assert any("/members?" in p for p in second)  # the first groups page's largest, at least
    assert any(p.startswith(USERS) and "pageToken" in p for p in second)  # users' 2nd page


async def test_a_full_read_sends_the_quota_burst_without_waiting_for_the_budget() -> None:
    """At 1,200 queries a minute the budget sends 20 a second; the quota (whole at the start)
    takes the read's ~150 member calls at once."""
    emu = GoogleEmulator.generate(users=300, groups=150, seed=7, medium_every=3)
    src = source(emu, sa_settings(emu, quota=1200))
    snap = await read(src)
    assert snap.complete and edges(snap) == truth_edges(emu.tenant)
    assert len(emu.batched) >= 150  # far more than the budget's one second
    assert src.http.budget.waited == 0
    assert src.stats.throttled == 0 and all(r.status == 200 for r in emu.batched)


async def test_a_refused_call_ends_the_burst_and_is_asked_again() -> None:
    """Another application used the quota: the first refused inner call ends the burst (the
    rest at the budget's pace) and its page is asked again; nothing is left out."""
    emu = GoogleEmulator.generate(users=900, groups=60, seed=7, medium_every=3)
    src = source(emu, sa_settings(emu))
    real, credit = emu.charge, []

    def charge(method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        if path.endswith("/members") and "pageToken=" in query and not credit:
            credit.append(src.credit)
            emu.storm(1, 403, "rateLimitExceeded")
        return real(method, path, query, headers)

    emu.charge = charge  # type: ignore[method-assign]
    snap = await read(src)
    assert snap.complete and edges(snap) == truth_edges(emu.tenant)
    assert credit and credit[0] > 0  # the burst was on when the call was refused
    assert src.credit == 0
    assert src.stats.throttled == 1 and src.stats.retries == 1
    assert sum(1 for r in emu.batched if r.status == 403) == 1


async def test_the_longest_listing_goes_in_batches_of_the_budget_second() -> None:
    """Quota 300 a minute: a batch carrying the largest group's page has at most 5 other
    member calls (the rest of the burst goes in other batches), so the chain's round trips
    stay short."""
    emu = GoogleEmulator.generate(users=900, groups=60, seed=7, medium_every=3)
    t = emu.tenant
    biggest = max(t.groups, key=lambda g: rendered_members(t, g))
    largest, depth = t.gid(biggest), math.ceil(rendered_members(t, biggest) / 200)
    assert depth >= 3
    batches = noting(emu)
    src = source(emu, sa_settings(emu, quota=300))
    snap = await read(src)
    assert snap.complete and edges(snap) == truth_edges(t)
    waited = src.http.budget.waited  # the burst paid for the other calls, not the budget:
    assert waited < (len(emu.batched) - depth) / 5  # less than they alone take at 5 a second
    chain = [calls for calls in batches if any(largest in path for path in calls)]
    assert len(chain) == depth
    # the budget's second of member calls with the largest group's page, and the chains' pages
    assert all(sum("/members?" in path for path in calls) <= 1 + 5 for calls in chain)
    assert sum(len(calls) for calls in batches) == len(emu.batched)


async def test_a_groups_listing_that_fails_midway_reads_no_group() -> None:
    """The second groups page always answers 503: the member listings already started for the
    first page's groups are dropped with the groups, and the read is incomplete (a guard of the
    rule for the listing read page by page; the read of the whole listing at once did the same).
    """
    emu = GoogleEmulator.generate(users=300, groups=450, seed=7, medium_every=3)
    api, answer = emu._api, emu.answer

    async def failing(request: Any) -> Any:  # the page read alone, after the batches
        if request.url.path == GROUPS and request.query_params.get("pageToken"):
            return Response(b'{"error": {"code": 503}}', 503)
        return await api(request)

    def refused(raw_path: str, params: dict[str, str], auth: str | None) -> Reply:  # batched
        if raw_path == GROUPS and params.get("pageToken"):
            return emu.error_reply(503, "backendError", "Injected failure.")
        return answer(raw_path, params, auth)

    emu._api, emu.answer = failing, refused  # type: ignore[method-assign]
    snap = await read(source(emu, sa_settings(emu)))
    assert not snap.complete and snap.groups == [] and list(snap.memberships) == []
    assert any("groups listing could not be read" in r for r in snap.incomplete_reasons)
    assert len(snap.users) == 300
    asked = [r for r in emu.batched if r.path == GROUPS and "pageToken" in r.query]
    tries = HttpSettings().max_attempts
    assert len(asked) == tries and all(r.status == 503 for r in asked)  # in batches, then
    assert emu.requests.count(GROUPS) == tries  # alone, from that page, with the retries


def test_batch_answers_are_split_as_multipart_says() -> None:
    """The boundary split: a quoted boundary, a preamble, LF line breaks, a base64 part, parts
    out of order, a part without a usable Content-ID, and a body longer than its
    Content-Length (cut there; the e-mail parser it replaced kept the rest)."""
    page = b'{"members": [], "nextPageToken": "t"}'
    inner = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(page) + page + b"junk"
    body = (
        b"preamble\r\n--b0\r\nContent-Type: application/http\r\nContent-ID: <response-item-1>\r\n"
        b"\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{}\r\n"
        b"--b0\nContent-Type: application/http\nContent-ID: <response-item-0>\n"
        b"Content-Transfer-Encoding: base64\n\n"
        + base64.b64encode(inner)
        + b"\n--b0\r\nContent-ID: <other>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}\r\n--b0--\r\n"
    )
    assert b.decode('multipart/mixed; boundary="b0"', body) == {0: (200, page), 1: (404, b"{}")}
    assert b.decode("application/json", body) == {}
