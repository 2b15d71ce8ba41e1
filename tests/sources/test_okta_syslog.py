"""Incremental Okta reads from the System Log: request counts, same result as the other paths,
replays, and every fallback to re-listing the groups whose ``lastMembershipUpdated`` moved."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from idpsync.emulators import Fault
from idpsync.emulators.okta.syslog import Event as LogEntry
from idpsync.http import set_testing
from idpsync.model import Snapshot
from idpsync.sources.base import DeltaResult
from idpsync.sources.okta import delta as okta_delta
from idpsync.sources.okta import syslog
from idpsync.sources.okta.logsplit import filter_of
from idpsync.sources.okta.reader import OktaSource
from idpsync.sources.okta.syslog import ADD, DELETED, REMOVE, interpret
from idpsync.store import Store
from idpsync.store.staged_mirror import StagedMirror
from tests.sources.okta_support import FakeClock, RecordingEmulator, emulator, pages, source
from tests.sources.test_okta_sync import (
    assert_matches,
    directory,
    fresh_directory,
    saved_state,
    sync,
)

ADD_FILTER = filter_of((ADD,))


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


async def synced(emu: RecordingEmulator, **settings: Any) -> tuple[Store, OktaSource]:
    store, src = Store.open("sqlite://"), source(emu, **settings)
    result = await sync(store, src, allow_deletes=True)
    assert result.status == "succeeded", result.message
    return store, src


async def incremental(store: Store, src: OktaSource) -> None:
    result = await sync(store, src, allow_deletes=True, mode="incremental")
    assert result.status == "succeeded" and result.complete, result.message
    assert src.stats.extra["mode"] == "incremental"


def plain_groups(emu: RecordingEmulator) -> list[str]:
    t = emu.tenant
    return [g for g in t.group_ids if emu.group_type(g) == "OKTA_GROUP" and t.groups[g].members]


def one_percent_change(emu: RecordingEmulator) -> list[str]:
    """Profiles of 1 % of the users, one member added to and one removed from 20 groups."""
    t = emu.tenant
    for uid in t.user_ids[::100]:
        t.update_user(uid, job_title="Changed")
    moved = plain_groups(emu)[:20]
    for index, gid in enumerate(moved):
        outsider = next(u for u in t.user_ids[index * 7 :] if u not in t.groups[gid].members)
        t.add_member(gid, outsider)
        t.remove_member(gid, next(iter(t.groups[gid].members)))
    return moved


async def test_log_path_reads_no_group_members_and_agrees_with_the_other_paths() -> None:
    emu = emulator(users=1500, groups=40, medium_every=3)
    log_store, log_src = await synced(emu)
    ts_store, ts_src = await synced(emu, incremental="timestamps")
    moved = one_percent_change(emu)
    changed = len(emu.tenant.user_ids[::100])
    emu.requests.clear()
    await incremental(log_store, log_src)
    log_requests = [(r.path, r.query) for r in emu.requests]
    emu.requests.clear()
    await incremental(ts_store, ts_src)
    ts_requests = len(emu.requests)
    # p(C, 200) + one page of each log filter + p(G, 10000) + nothing re-listed
    assert len(log_requests) == pages(changed, 200) + 2 + 1, log_requests
    assert emu.requests.count("/api/v1/groups/{id}/users") == len(moved)  # timestamps path
    members = sum(pages(len(emu.tenant.groups[g].members), 1000) for g in moved)
    assert ts_requests == pages(changed, 200) + 1 + members
    assert log_src.stats.extra["system_log"] == "40 events"
    assert directory(log_store) == directory(ts_store) == await fresh_directory(emu)
    assert_matches(log_store, emu)
    assert saved_state(log_store)["log_since"] > saved_state(ts_store)["users_since"]


@pytest.mark.parametrize("path", ["system_log", "timestamps"])
async def test_a_delta_reads_the_staged_records_and_edges_of_the_change_only(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator(users=600, groups=20, medium_every=3)
    store, src = await synced(emu, incremental=path)
    one_percent_change(emu)
    read: list[tuple[bool, bool, bool]] = []
    build = okta_delta.build_delta

    def spy(staged: Snapshot, found: okta_delta.Found, state: dict[str, Any]) -> DeltaResult:
        result = build(staged, found, state)
        assert isinstance(staged, StagedMirror)
        read.append((staged.users_loaded, staged.groups_loaded, staged.edges_loaded))
        return result

    monkeypatch.setattr(okta_delta, "build_delta", spy)
    await incremental(store, src)
    assert read == [(False, True, False)]  # the groups whole (to compare); users, edges by id
    assert directory(store) == await fresh_directory(emu)


async def test_replays_are_harmless_and_add_then_remove_nets_out() -> None:
    emu = emulator(users=300, groups=10)
    store, src = await synced(emu)
    t = emu.tenant
    gid = plain_groups(emu)[0]
    outsider = next(u for u in t.user_ids if u not in t.groups[gid].members)
    t.add_member(gid, outsider)
    await incremental(store, src)
    t.remove_member(gid, outsider)
    t.add_member(gid, outsider)
    t.remove_member(gid, outsider)
    for _ in range(2):  # the second run replays the whole window again
        emu.requests.clear()
        await incremental(store, src)
        assert emu.requests.count("/api/v1/groups/{id}/users") == 0
        assert (gid, outsider) not in directory(store)["memberships"]  # type: ignore[operator]
        assert directory(store) == await fresh_directory(emu)


async def test_a_logged_deletion_is_confirmed_then_the_user_leaves() -> None:
    emu = emulator(users=200, groups=8)
    store, src = await synced(emu)
    full_store, full_src = await synced(emu)
    t = emu.tenant
    gone = next(u for u in t.user_ids if emu.status_of(u) == "ACTIVE" and t.member_of.get(u))
    emu.set_status(gone, "DEPROVISIONED")
    t.delete_user(gone)
    emu.requests.clear()
    await incremental(store, src)
    assert emu.requests.count("/api/v1/users/{id}", status=404) == 1
    assert emu.requests.count("/api/v1/groups/{id}/users") == 0
    assert directory(store)["users"][gone] is False  # type: ignore[index]
    assert (await sync(full_store, full_src, allow_deletes=True, mode="full")).ok
    assert directory(store) == directory(full_store)  # what a full read makes of a deletion


@pytest.mark.parametrize("why", ["failing", "no_scope", "old_mark", "no_group", "timestamps"])
async def test_fallbacks_re_list_the_moved_groups(why: str) -> None:
    emu = emulator(users=200, groups=8)
    settings: dict[str, Any] = {"incremental": "timestamps"} if why == "timestamps" else {}
    if why == "no_scope":
        settings = {"oauth": True, "scopes": ["okta.users.read", "okta.groups.read"]}
    store, src = await synced(emu, **settings)
    gid = plain_groups(emu)[0]
    emu.tenant.remove_member(gid, next(iter(emu.tenant.groups[gid].members)))
    if why == "failing":
        emu.inject(Fault(kind="status", path="/api/v1/logs", times=0, status=403))
    elif why == "old_mark":
        old = (datetime.now(UTC) - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        state = {**saved_state(store), "log_since": old}
        with store.transaction() as conn:
            store.set_connector_state(conn, "okta", state)
    elif why == "no_group":  # an event that names no group: the whole log is unusable
        emu.syslog.scan()
        entry = emu.syslog.events[-1]
        body = copy.deepcopy(entry.body)
        body["target"] = [t for t in body["target"] if t["type"] == "User"]
        emu.syslog.events.append(LogEntry(entry.at, body))
    emu.requests.clear()
    await incremental(store, src)
    assert emu.requests.count("/api/v1/groups/{id}/users") == 1
    logs = emu.requests.count("/api/v1/logs")
    assert logs == (2 if why in ("failing", "no_group") else 0)  # each filter's first page
    assert src.stats.extra["system_log"].startswith(
        {"failing": "failed", "no_group": "unusable"}.get(why, "not used")
    )
    assert directory(store) == await fresh_directory(emu)


async def test_an_unreadable_event_re_lists_only_its_group() -> None:
    emu = emulator(users=200, groups=8)
    store, src = await synced(emu)
    t = emu.tenant
    first, second = plain_groups(emu)[:2]
    t.remove_member(first, next(iter(t.groups[first].members)))
    t.remove_member(second, next(iter(t.groups[second].members)))
    emu.syslog.scan()
    entry = emu.syslog.events[-1]  # the second group's event loses its user
    entry.body["target"] = [x for x in entry.body["target"] if x["type"] == "UserGroup"]
    emu.requests.clear()
    await incremental(store, src)
    assert emu.requests.count(f"/api/v1/groups/{second}/users") == 1
    assert emu.requests.count("/api/v1/groups/{id}/users") == 1
    assert directory(store) == await fresh_directory(emu)


async def test_a_failed_re_listing_on_the_log_path_is_partial_and_keeps_the_marks() -> None:
    from idpsync.emulators import TenantGroup

    emu = emulator(users=200, groups=8)
    store, src = await synced(emu)
    state, before = saved_state(store), directory(store)
    t = emu.tenant
    gid = plain_groups(emu)[0]
    t.remove_member(gid, next(iter(t.groups[gid].members)))  # explained by the log
    t.add_group(TenantGroup("00gnew", "New group", members={t.user_ids[0]: None}))  # re-listed
    emu.inject(Fault(kind="status", path="/api/v1/groups/00gnew/users", times=0, status=500))
    result = await sync(store, src, allow_deletes=True, mode="incremental")
    assert result.status == "partial" and "00gnew" in (result.message or "")
    assert saved_state(store) == state  # the same window is read again next time
    assert result.summary()["memberships_removed"] == 0
    assert directory(store)["memberships"] >= before["memberships"]  # type: ignore[operator]


def event(kind: str, *targets: tuple[str, str], result: str = "SUCCESS") -> dict[str, Any]:
    return {
        "eventType": kind,
        "outcome": {"result": result},
        "target": [{"type": t, "id": i} for t, i in targets],
    }


def test_interpret_reads_targets_by_type_and_skips_what_did_not_happen() -> None:
    changes = interpret(
        [
            event(ADD, ("UserGroup", "g1"), ("User", "u1")),  # order in the array does not matter
            event(REMOVE, ("User", "u2"), ("UserGroup", "g1")),
            event(ADD, ("User", "u3"), ("UserGroup", "g2"), result="FAILURE"),
            event(ADD, ("UserGroup", "g3")),  # no user: re-list g3
            event(ADD, ("User", "u4"), ("User", "u5"), ("UserGroup", "g4")),  # two users: same
            event(DELETED, ("User", "u6")),
        ]
    )
    assert changes is not None
    assert changes.edges == [("g1", "u1", True), ("g1", "u2", False)]
    assert changes.unreadable == {"g3", "g4"} and changes.deleted == {"u6"}
    assert changes.groups() == {"g1", "g3", "g4"} and changes.events == 6
    assert interpret([event(ADD, ("User", "u1"))]) is None  # no group at all
    assert interpret([event("user.session.start", ("User", "u1"))]) is None
    assert interpret(["not an event"]) is None


def test_org_concurrency_sets_the_default_and_caps_http_concurrency() -> None:
    from pydantic import SecretStr, ValidationError

    from idpsync.sources.okta import http_client
    from idpsync.sources.okta.endpoints import endpoint_table
    from idpsync.sources.okta.settings import OktaSourceSettings

    base = {"type": "okta", "base_url": "https://acme.okta.test", "api_token": SecretStr("t")}
    assert OktaSourceSettings(**base).default_concurrency() == 12  # 15 - 3
    bigger = OktaSourceSettings(**base, org_concurrency=75)
    assert http_client(bigger).budget.concurrency == 72
    assert http_client(OktaSourceSettings(**base, http={"concurrency": 30}, org_concurrency=35))
    with pytest.raises(ValidationError, match="above org_concurrency = 15"):
        OktaSourceSettings(**base, http={"concurrency": 20})
    urls = [e.url for e in endpoint_table(OktaSourceSettings(**base))]
    assert urls[-1] == "https://acme.okta.test/api/v1/logs"
    plain = OktaSourceSettings(**base, incremental="timestamps")
    assert all(not e.url.endswith("/logs") for e in endpoint_table(plain))


class HeldAnswers(httpx.AsyncBaseTransport):
    """Answers nothing until ``wanted`` requests are in flight together (at most 5 s: a read
    that waits for one answer before asking for something else waits that long)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, wanted: int) -> None:
        self.inner, self.wanted = inner, wanted
        self.asked: list[tuple[str, str]] = []
        self.all_in = asyncio.Event()
        self.together: bool | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.together is None:
            self.asked.append((request.url.path, request.url.params.get("filter", "")))
            if len(self.asked) >= self.wanted:
                self.all_in.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_in.wait(), 5.0)
            if self.together is None:
                self.together = self.all_in.is_set()
        return await self.inner.handle_async_request(request)


async def test_changed_users_log_and_groups_are_all_asked_for_before_any_answer() -> None:
    """The log's window ends by this machine's clock, so it waits for no first answer, and its
    two filters' first pages go out at once (no page of every type before them)."""
    emu = emulator(users=600, groups=20, medium_every=3)
    store, _ = await synced(emu)
    one_percent_change(emu)
    held = HeldAnswers(emu.transport(), wanted=4)
    emu.requests.clear()
    await incremental(store, source(emu, transport=held))
    assert held.together is True, held.asked  # users, groups and both log filters in flight
    assert sorted(held.asked)[:2] == [("/api/v1/groups", ""), ("/api/v1/logs", ADD_FILTER)]
    assert [r.path for r in emu.requests].count("/api/v1/logs") == 2
    assert directory(store) == await fresh_directory(emu)


@pytest.mark.parametrize("ahead", [0.0, 5.0, 30.0])
async def test_the_window_by_this_clock_reaches_the_servers_time_or_the_log_is_not_used(
    ahead: float,
) -> None:
    """Okta's clock ``ahead`` s ahead of this machine's, the changes published by the read's
    first request (as the emulator does): a window short of the server's time is not used."""
    emu = emulator(users=200, groups=8)
    store, src = await synced(emu)
    state = saved_state(store)
    gid = plain_groups(emu)[0]
    emu.tenant.remove_member(gid, next(iter(emu.tenant.groups[gid].members)))
    assert isinstance(emu.clock, FakeClock)
    emu.clock.now = time.time() + ahead
    emu.requests.clear()
    await incremental(store, src)
    used = ahead < syslog.LEAD
    assert emu.requests.count("/api/v1/groups/{id}/users") == (0 if used else 1)
    assert src.stats.extra["system_log"].startswith("1 events" if used else "unusable: this clock")
    assert directory(store) == await fresh_directory(emu)
    mark = saved_state(store)["log_since"]  # never later than the server's first answer + 1 s
    assert state["log_since"] <= mark <= syslog.log_mark(src.started)  # type: ignore[operator]


async def test_a_logged_group_is_never_read_whole_only_the_named_users_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The log explains the moved groups: of the stage, the edges of the users its events name
    are read, not every member of a group that got one new member (it may hold everyone)."""
    emu = emulator(users=600, groups=20, medium_every=3)
    store, src = await synced(emu)
    logged = len(emu.tenant.membership_log)
    moved = one_percent_change(emu)
    named = {c.member_id for c in emu.tenant.membership_log[logged:]}
    by_group: list[set[str]] = []
    by_member: list[set[str]] = []
    of_groups, of_members = StagedMirror.edges_of_groups, StagedMirror.edges_of_members

    def groups_spy(self: StagedMirror, ids: Any) -> Any:
        by_group.append(set(ids))
        return of_groups(self, ids)

    def members_spy(self: StagedMirror, ids: Any) -> Any:
        by_member.append(set(ids))
        return of_members(self, ids)

    monkeypatch.setattr(StagedMirror, "edges_of_groups", groups_spy)
    monkeypatch.setattr(StagedMirror, "edges_of_members", members_spy)
    await incremental(store, src)
    assert src.stats.extra["system_log"] == f"{2 * len(moved)} events"
    assert not any(ids & set(moved) for ids in by_group), by_group
    assert by_member == [named]
    assert directory(store) == await fresh_directory(emu)
