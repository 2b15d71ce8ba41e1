"""The System Log window read from both ends (:mod:`idpsync.sources.okta.logsplit`): the chains
run side by side and stop where they are proven to meet, generated windows (bursts, many equal
timestamps) give exactly the events of one ascending chain, and a failing chain is never taken
as a complete log."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from idpsync.emulators import Fault
from idpsync.emulators.okta.syslog import ACTOR, timestamp
from idpsync.emulators.okta.syslog import Event as LogEntry
from idpsync.http import set_testing
from idpsync.sources.okta import logsplit, syslog
from idpsync.sources.okta.endpoints import LOGS
from idpsync.sources.okta.logsplit import Entry, Side, met
from tests.sources.okta_support import RecordingEmulator, emulator, pages, source
from tests.sources.test_okta_sync import directory, fresh_directory
from tests.sources.test_okta_syslog import incremental, plain_groups, synced


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def log_requests(emu: RecordingEmulator) -> list[tuple[str, str]]:
    """``(filter, sortOrder)`` of every System Log request, in the order they came."""
    found = []
    for r in emu.requests:
        if r.path == "/api/v1/logs":
            query = parse_qs(r.query)
            found.append((query["filter"][0], query.get("sortOrder", ["ASCENDING"])[0]))
    return found


def churn(emu: RecordingEmulator, groups: int, adds: int, removes: int) -> tuple[int, int]:
    """``adds`` outsiders into and ``removes`` members out of each of ``groups`` groups."""
    t = emu.tenant
    added = removed = 0
    for gid in plain_groups(emu)[:groups]:
        outsiders = [u for u in t.user_ids if u not in t.groups[gid].members][:adds]
        members = list(t.groups[gid].members)[:removes]
        for uid in outsiders:
            t.add_member(gid, uid)
        for uid in members:
            t.remove_member(gid, uid)
        added, removed = added + len(outsiders), removed + len(members)
    return added, removed


async def test_each_filter_is_read_from_both_ends_and_the_chains_stop_where_they_meet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = emulator(users=600, groups=20, medium_every=3)
    store, src = await synced(emu)
    added, removed = churn(emu, groups=10, adds=4, removes=3)
    monkeypatch.setattr(syslog, "LOG_PAGE", 7)
    emu.requests.clear()
    await incremental(store, src)
    asked = log_requests(emu)
    for kinds, events in ((logsplit.FILTERS[0], added), (logsplit.FILTERS[1], removed)):
        wanted = logsplit.filter_of(kinds)
        order = [o for f, o in asked if f == wanted]
        up, down = order.count("ASCENDING"), order.count("DESCENDING")
        # one chain would take pages(events, 7) requests one after the other; two chains
        # meet after about half each, with at least two events seen from both sides
        assert order[0] == "ASCENDING" and down >= 1, order
        assert order.index("DESCENDING") < len(order) - 1 - order[::-1].index("ASCENDING")
        assert up + down <= pages(events + 2, 7) + 1, order
        assert max(up, down) <= pages(events, 7) // 2 + 1, order
    chains = src.stats.extra["system_log_chains"]
    assert "first page" not in chains  # the filters from the start, no page of every type first
    assert [c["events"] for c in chains.values()] == [added, removed]
    assert {c["met"] for c in chains.values()} == {"mirrored in one millisecond"}
    assert src.stats.extra["system_log"] == f"{added + removed} events"
    assert emu.requests.count("/api/v1/groups/{id}/users") == 0  # the log explained them all
    assert directory(store) == await fresh_directory(emu)


def entries(times: list[int], ids: list[str]) -> list[Entry]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    change: logsplit.Change = ("skip", "", "", False)
    return [
        Entry(base + timedelta(milliseconds=t), i, change) for t, i in zip(times, ids, strict=True)
    ]


def side(descending: bool, times: list[int], ids: list[str]) -> Side:
    found = Side(descending, entries(times, ids))
    found.uuids = set(ids)
    return found


def test_a_meeting_is_proven_by_time_or_by_a_mirrored_overlap_only() -> None:
    # crossed in time: nothing can hide between them
    assert met(side(False, [1, 2, 3], list("abc")), side(True, [5, 4, 2], list("fed"))) == (
        "crossed in time"
    )
    # not yet met
    assert met(side(False, [1, 2], list("ab")), side(True, [5, 4], list("fe"))) is None
    # one millisecond, the tail seen from both sides in mirrored order
    up, down = side(False, [1, 1, 1], list("abc")), side(True, [1, 1, 1], list("dcb"))
    assert met(up, down) == "mirrored in one millisecond"
    # one shared event proves nothing about the order of ties
    assert met(side(False, [1, 1], list("ab")), side(True, [1, 1], list("cb"))) is None
    # ties served in the same order both ways: shared events, but not mirrored, never a meeting
    assert met(side(False, [1, 1, 1], list("abc")), side(True, [1, 1, 1], list("abc"))) is None
    # a chain that ended read the window alone
    ended = side(True, [1], ["a"])
    ended.ended = True
    assert met(Side(False), ended) == "read to its end"


def logged(rng: random.Random, at: float, kind: str, users: list[str], groups: list[str]) -> Any:
    targets = [{"id": rng.choice(users), "type": "User"}]
    if kind != logsplit.DELETED:
        targets.append({"id": rng.choice(groups), "type": "UserGroup"})
    body = {
        "uuid": f"{rng.getrandbits(128):032x}",
        "published": timestamp(at),
        "eventType": kind,
        "severity": "INFO",
        "actor": dict(ACTOR),
        "outcome": {"result": "SUCCESS"},
        "target": targets,
    }
    return LogEntry(at, body)


async def one_chain(emu: RecordingEmulator, params: dict[str, str]) -> list[str]:
    """The uuids of one ascending chain over the whole filter, in order."""
    src = source(emu)
    query = {
        **params,
        "filter": logsplit.filter_of((logsplit.ADD, logsplit.REMOVE, logsplit.DELETED)),
        "sortOrder": "ASCENDING",
    }
    uuids: list[str] = []
    async for page in src.http.pages(LOGS, params=query):
        uuids += [e["uuid"] for e in page.records]
    await src.aclose()
    return uuids


@pytest.mark.parametrize("seed", range(40))
async def test_generated_windows_give_exactly_the_events_of_one_ascending_chain(
    seed: int,
) -> None:
    """Random windows: bursts in one millisecond, many equal timestamps, empty filters, events
    just outside the window, random page sizes."""
    rng = random.Random(seed)
    emu = emulator(users=30, groups=4)
    emu.syslog.scan()
    emu.syslog.events.clear()
    users, groups = emu.tenant.user_ids, emu.tenant.group_ids
    start = float(int(emu.clock()) - 3600)
    spread = rng.choice([1, 3, 50, 2000])  # 1: every event in one millisecond
    kinds = rng.choice([[logsplit.ADD], [logsplit.ADD, logsplit.REMOVE, logsplit.DELETED]])
    moments = sorted(rng.randrange(spread) for _ in range(rng.randrange(0, 80)))
    for ms in moments:
        emu.syslog.events.append(logged(rng, start + ms / 1000, rng.choice(kinds), users, groups))
    low = rng.choice([0, moments[len(moments) // 3] if moments else 0])
    since = datetime.fromtimestamp(start + low / 1000, UTC)
    until = datetime.fromtimestamp(start + spread / 1000 + rng.choice([0, 1]) / 1000, UTC)
    params = {
        "since": timestamp(since.timestamp()),
        "until": timestamp(until.timestamp()),
        "limit": str(rng.choice([1, 2, 3, 5, 1000])),
    }
    expected = await one_chain(emu, params)
    src = source(emu)
    emu.requests.clear()
    merged, costs = await logsplit.read_windows(src, params, syslog.classify)
    await src.aclose()
    assert sorted(e.uuid for e in merged) == sorted(expected)  # each event once, none missing
    assert len({e.uuid for e in merged}) == len(merged)
    assert [e.at for e in merged] == sorted(e.at for e in merged)
    limit = int(params["limit"])
    assert len(costs) == len(logsplit.FILTERS)
    for window in costs.values():
        assert window["met"] is not None
        assert sum(window["requests"]) <= pages(window["events"] + 2, limit) + 1
    if limit == 1000:  # one page holds every generated window: one request a filter
        assert all(w["requests"] == [1, 0] for w in costs.values()), costs


async def test_an_add_and_a_remove_in_one_millisecond_are_settled_by_the_users_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The two filters cannot order them: one request for the user's groups, not the group's
    every member page (a group of 100,000 would be 100 pages)."""
    emu = emulator(users=600, groups=20, medium_every=3)
    store, src = await synced(emu)
    churn(emu, groups=6, adds=4, removes=3)
    t = emu.tenant
    gid, back = plain_groups(emu)[7], plain_groups(emu)[8]
    outsider = next(u for u in t.user_ids if u not in t.groups[gid].members)
    t.add_member(gid, outsider)
    t.remove_member(gid, outsider)  # published in the same millisecond as the add
    member = next(iter(t.groups[back].members))
    t.remove_member(back, member)
    t.add_member(back, member)  # and back in: the tie's other outcome
    monkeypatch.setattr(syslog, "LOG_PAGE", 7)
    emu.requests.clear()
    await incremental(store, src)
    assert emu.requests.count("/api/v1/groups/{id}/users") == 0
    assert emu.requests.count("/api/v1/users/{id}/groups") == 2
    assert emu.requests.count(f"/api/v1/users/{outsider}/groups") == 1
    assert src.stats.extra["system_log_ties"] == 2
    assert directory(store) == await fresh_directory(emu)


async def test_a_tie_whose_user_cannot_be_read_re_lists_the_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = emulator(users=600, groups=20, medium_every=3)
    store, src = await synced(emu)
    t = emu.tenant
    gid = plain_groups(emu)[7]
    outsider = next(u for u in t.user_ids if u not in t.groups[gid].members)
    t.add_member(gid, outsider)
    t.remove_member(gid, outsider)
    emu.inject(Fault(kind="status", path=f"/api/v1/users/{outsider}/groups", times=0, status=500))
    monkeypatch.setattr(syslog, "LOG_PAGE", 1)
    emu.requests.clear()
    await incremental(store, src)
    assert emu.requests.count(f"/api/v1/groups/{gid}/users") == 1
    assert directory(store) == await fresh_directory(emu)


class FailingDescending(httpx.AsyncBaseTransport):
    """Answers every request through ``inner`` but a DESCENDING log request with a 500."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.failed = inner, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/logs" and b"DESCENDING" in request.url.query:
            self.failed += 1
            return httpx.Response(500, json={"errorCode": "E0000009"}, request=request)
        return await self.inner.handle_async_request(request)


async def test_a_failing_chain_never_passes_for_a_complete_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The descending chain fails: the log is not used, the moved groups are re-listed."""
    emu = emulator(users=600, groups=20, medium_every=3)
    store, _ = await synced(emu)
    churn(emu, groups=6, adds=4, removes=3)
    monkeypatch.setattr(syslog, "LOG_PAGE", 7)
    failing = FailingDescending(emu.transport())
    src = source(emu, transport=failing)
    emu.requests.clear()
    await incremental(store, src)
    assert failing.failed >= 1
    assert src.stats.extra["system_log"].startswith("failed")
    assert emu.requests.count("/api/v1/groups/{id}/users") == 6  # re-listed instead
    assert directory(store) == await fresh_directory(emu)
