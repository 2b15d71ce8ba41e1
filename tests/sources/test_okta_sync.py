"""End-to-end: the Okta source against the Okta emulator, into the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idpsync.app.runner import run_sync
from idpsync.app.single import run_sync_user
from idpsync.config import ConnectorSettings
from idpsync.emulators import Fault, TenantGroup, TenantUser
from idpsync.http import set_testing
from idpsync.sources.okta.reader import OktaSource
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.store import Store
from tests.sources.okta_support import (
    RecordingEmulator,
    emulator,
    expected_requests,
    source,
    truth,
)

ACTIVE = frozenset({"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"})


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def settings(src: OktaSource) -> ConnectorSettings:
    return ConnectorSettings(source=src.settings)


async def sync(store: Store, src: OktaSource, **kwargs: object):
    return await run_sync(store, "okta", settings(src), src, **kwargs)


def directory(store: Store) -> dict[str, object]:
    with store.transaction() as conn:
        state = store.load_directory(conn, "okta")
    return {
        "users": {u.source_id: u.active for u in state.users.values()},
        "groups": {g.source_id: g.name for g in state.groups.values()},
        "memberships": {(m.group_id, m.member_id) for m in state.memberships},
    }


def assert_matches(store: Store, emu: RecordingEmulator) -> None:
    got, want = directory(store), truth(emu, ACTIVE)
    assert got["groups"] == want["groups"]
    assert got["memberships"] == want["memberships"]
    for uid, active in want["users"].items():
        assert got["users"][uid] == active, (uid, emu.status_of(uid))


async def test_full_sync_matches_ground_truth_with_formula_count_and_no_429(store: Store) -> None:
    emu = emulator()
    src = source(emu)
    result = await sync(store, src)
    assert result.status == "succeeded" and result.complete, result.message
    assert_matches(store, emu)
    assert len(emu.requests) == expected_requests(emu) == src.stats.requests
    assert emu.requests.count("/api/v1/users/{id}/groups") == 0  # never per user
    assert emu.requests.count(status=429) == 0 and src.stats.throttled == 0
    statuses = {emu.status_of(uid) for uid in emu.tenant.users}
    assert statuses >= {"ACTIVE", "SUSPENDED", "DEPROVISIONED", "LOCKED_OUT", "STAGED"}
    await src.aclose()


async def test_oauth_service_app_mode(store: Store) -> None:
    emu = emulator(users=120, groups=12)
    src = source(emu, oauth=True)
    result = await sync(store, src)
    assert result.status == "succeeded", result.message
    assert_matches(store, emu)
    assert emu.requests.count("/oauth2/v1/token", method="POST", status=200) == 1
    assert len(emu.requests) == expected_requests(emu, oauth=True)
    await src.aclose()


async def test_each_kind_of_change_then_sync() -> None:
    from idpsync.store import Store as S

    store = S.open("sqlite://")
    emu = emulator(users=150, groups=14)
    src = source(emu)
    assert (await sync(store, src)).ok
    t = emu.tenant
    active = [uid for uid in t.user_ids if emu.status_of(uid) == "ACTIVE"]
    plain = [gid for gid in t.group_ids if emu.group_type(gid) == "OKTA_GROUP"]
    changes = [
        lambda: t.add_user(TenantUser("00unew", "new.person", "New Person", "New", "Person", None)),
        lambda: t.update_user(active[0], display_name="Renamed Person"),
        lambda: emu.set_status(active[1], "SUSPENDED"),
        lambda: emu.set_status(active[2], "DEPROVISIONED"),
        lambda: emu.set_status(active[2], "ACTIVE"),
        lambda: emu.set_status(active[3], "LOCKED_OUT"),
        lambda: t.add_group(TenantGroup("00gnew", "New group", members={active[4]: None})),
        lambda: t.rename_group(plain[0], "Renamed group"),
        lambda: t.add_member(plain[1], active[5]),
        lambda: t.remove_member(plain[1], next(iter(t.groups[plain[1]].members))),
        lambda: (
            t.move_member(active[6], "00gnew", plain[2])
            if False
            else t.add_member(plain[2], active[6])
        ),
        lambda: t.delete_group(plain[3]),
    ]
    for change in changes:
        change()
        result = await sync(store, src, allow_deletes=True)
        assert result.status == "succeeded", result.message
        assert_matches(store, emu)
    await src.aclose()
    store.close()


async def test_hard_deleted_user_is_cleaned_up() -> None:
    from idpsync.store import Store as S

    store = S.open("sqlite://")
    emu = emulator(users=60, groups=6)
    src = source(emu)
    await sync(store, src)
    gone = next(uid for uid in emu.tenant.user_ids if emu.status_of(uid) == "ACTIVE")
    emu.tenant.delete_user(gone)
    result = await sync(store, src, mode="full")  # a hard delete needs a full read
    assert result.ok and result.summary()["users_deactivated"] == 1
    assert directory(store)["users"][gone] is False  # type: ignore[index]
    await src.aclose()
    store.close()


async def test_single_user_by_id_and_login(store: Store) -> None:
    emu = emulator(users=80, groups=8)
    src = source(emu)
    uid = next(u for u in emu.tenant.user_ids if len(emu.tenant.direct_groups(u)) >= 2)
    login = emu.tenant.login(emu.tenant.users[uid])
    for key in (uid, login):
        emu.requests.clear()
        snap = await src.fetch_user(key)
        assert snap is not None and snap.complete
        assert [u.source_id for u in snap.users] == [uid]
        assert {m.group_id for m in snap.memberships} == set(emu.tenant.direct_groups(uid))
        assert len(emu.requests) == 2
    assert await src.fetch_user("nobody@acme.okta.test") is None
    result = await run_sync_user(store, "okta", settings(src), src, uid)
    assert result.ok, result.message
    got = directory(store)
    assert set(got["users"]) == {uid}  # type: ignore[arg-type]
    assert {g for g, _ in got["memberships"]} == set(emu.tenant.direct_groups(uid))  # type: ignore[union-attr]
    await src.aclose()


async def test_status_mapping_is_configurable() -> None:
    emu = emulator(users=120, groups=4)
    src = source(emu, active_statuses=["ACTIVE"], include_deprovisioned=False)
    snap = await src.snapshot()
    statuses = {u.source_id: u.attributes["status"] for u in snap.users}
    assert "DEPROVISIONED" not in statuses.values()
    assert {u.active for u in snap.users if statuses[u.source_id] == "LOCKED_OUT"} == {False}
    assert all(u.active == (statuses[u.source_id] == "ACTIVE") for u in snap.users)
    assert len(emu.requests) == expected_requests(emu, deprovisioned=False)
    await src.aclose()


async def test_paced_under_every_bucket_without_a_single_429() -> None:
    limits = {"users": 10, "groups": 5, "group": 10, "token": 5}
    emu = emulator(users=1500, groups=40, limits=limits)
    src = source(emu, oauth=True)
    snap = await src.snapshot()
    assert snap.complete, snap.incomplete_reasons
    assert emu.requests.count(status=429) == 0 and src.stats.throttled == 0
    assert len(emu.requests) == expected_requests(emu, oauth=True)
    for (bucket, _window), used in emu.windows.items():
        assert used <= limits[bucket] - -(-limits[bucket] * 2 // 10), (bucket, used)
    assert src.stats.extra["pacing_waits"] > 0
    await src.aclose()


async def test_reserve_share_is_configurable() -> None:
    limits = {"group": 20}
    emu = emulator(users=300, groups=40, limits=limits)
    src = source(emu, reserve=0.5)
    assert (await src.snapshot()).complete
    assert max(n for (b, _), n in emu.windows.items() if b == "group") <= 10
    assert emu.requests.count(status=429) == 0
    await src.aclose()


async def test_recovers_from_a_429_storm_and_honours_the_wait() -> None:
    emu = emulator(users=200, groups=20)
    storm = emu.inject(Fault("status", "/api/v1/groups/{id}/users", nth=3, times=4, status=429))
    src = source(emu)
    snap = await src.snapshot()
    assert snap.complete and storm.fired == 4
    assert src.stats.throttled == 4
    assert src.stats.extra["retry_wait_seconds"] > 0  # the server's reset was honoured
    assert len(emu.requests) == expected_requests(emu) + 4
    await src.aclose()


@pytest.mark.parametrize(
    ("fault", "where"),
    [
        (dict(kind="status", path="/api/v1/users", nth=2, times=0, status=503), "users"),
        (dict(kind="truncate", path="/api/v1/groups/{id}/users", nth=4), "members of group"),
        (dict(kind="status", path="/api/v1/groups", times=0, status=500), "groups"),
        (dict(kind="reset", path="/api/v1/users", nth=3, times=0), "deprovisioned users"),
    ],
)
async def test_fault_mid_listing_marks_incomplete_and_removes_nobody(
    store: Store, fault: dict[str, Any], where: str
) -> None:
    emu = emulator(users=250, groups=10)
    src = source(emu)
    assert (await sync(store, src)).complete
    before = directory(store)
    emu.inject(Fault(**fault))
    result = await sync(store, src, allow_deletes=True, mode="full")
    assert result.status == "partial" and not result.complete
    assert where in (result.message or store.runs("okta")[0]["message"])
    summary = result.summary()
    assert summary["users_deactivated"] == summary["memberships_removed"] == 0
    after = directory(store)
    assert after["users"] == before["users"] and after["memberships"] == before["memberships"]
    await src.aclose()


def test_settings_need_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="api_token, or client_id"):
        OktaSourceSettings(type="okta", base_url="https://x.okta.com")


def saved_state(store: Store) -> dict[str, Any]:
    with store.transaction() as conn:
        return store.connector_state(conn, "okta")


async def incremental(store: Store, src: OktaSource):
    return await sync(store, src, allow_deletes=True, mode="incremental")


async def fresh_directory(emu: RecordingEmulator) -> dict[str, object]:
    """What a full sync of the emulator's tenant gives in a new store."""
    from idpsync.store import Store as S

    other, src = S.open("sqlite://"), source(emu)
    try:
        assert (await sync(other, src, allow_deletes=True)).status == "succeeded"
        return directory(other)
    finally:
        await src.aclose()
        other.close()


@pytest.mark.parametrize("mode", ["timestamps", "system_log"])
async def test_incremental_after_each_kind_of_change_reads_only_what_changed(mode: str) -> None:
    from idpsync.store import Store as S
    from tests.sources.okta_support import pages

    store = S.open("sqlite://")
    emu = emulator(users=900, groups=14)
    src = source(emu, incremental=mode)
    assert (await sync(store, src)).ok and src.stats.extra["mode"] == "full"
    state = saved_state(store)
    assert state == src.state
    assert {"users_since", "groups_since", "full_at", "log_since"} <= set(state)
    t = emu.tenant
    active = [uid for uid in t.user_ids if emu.status_of(uid) == "ACTIVE"]
    plain = [gid for gid in t.group_ids if emu.group_type(gid) == "OKTA_GROUP"]
    g0, g1 = plain[0], plain[1]
    changes = [  # (change, users changed, groups whose members changed)
        (lambda: t.update_user(active[0], display_name="Renamed Person"), 1, []),
        (lambda: emu.set_status(active[1], "SUSPENDED"), 1, []),
        (lambda: emu.set_status(active[2], "DEPROVISIONED"), 1, []),
        (lambda: t.add_user(TenantUser("00unew", "new.one", "New One", "New", "One", None)), 1, []),
        (lambda: t.add_member(g0, "00unew"), 0, [g0]),
        (lambda: t.remove_member(g1, next(iter(t.groups[g1].members))), 0, [g1]),
        (lambda: t.rename_group(plain[2], "Renamed group"), 0, []),
        (
            lambda: t.add_group(TenantGroup("00gnew", "New group", members={active[3]: None})),
            0,
            ["00gnew"],
        ),
        (lambda: t.delete_group(plain[3]), 0, []),
    ]
    for change, users, groups in changes:
        change()
        emu.requests.clear()
        result = await incremental(store, src)
        assert result.status == "succeeded", result.message
        assert src.stats.extra["mode"] == "incremental" == store.runs("okta")[0]["mode"]
        assert_matches(store, emu)
        if mode == "system_log":  # the log explains every change to an existing group
            groups = [g for g in groups if g == "00gnew"]
        members = sum(pages(len(t.groups[g].members), 1000) for g in groups)
        # p(C, 200) + p(G, groups_page_size) + sum over re-listed groups of p(m_g, 1000), T = 0
        # (+ one System Log page a filter: a handful of events)
        log = 2 if mode == "system_log" else 0
        want = pages(users, 200) + pages(len(t.groups), 10000) + members + log
        assert len(emu.requests) == want, [(r.path, r.query) for r in emu.requests]
        assert len(emu.requests) < expected_requests(emu) / 3
        assert saved_state(store) == src.state
        assert saved_state(store)["full_at"] == state["full_at"]
        assert directory(store) == await fresh_directory(emu)
    await src.aclose()
    store.close()


async def test_auto_mode_reads_a_delta_until_the_reconcile_is_due(store: Store) -> None:
    emu = emulator(users=120, groups=6)
    src = source(emu, full_reconcile_hours=1)
    assert src.wants_full({})
    await sync(store, src)
    state = saved_state(store)
    assert not src.wants_full(state)
    assert (await sync(store, src)).ok and src.stats.extra["mode"] == "incremental"
    with store.transaction() as conn:
        store.set_connector_state(conn, "okta", {**state, "full_at": state["full_at"] - 7200})
    assert src.wants_full(saved_state(store))
    assert (await sync(store, src)).ok and src.stats.extra["mode"] == "full"
    assert saved_state(store)["full_at"] > state["full_at"]
    await src.aclose()


@pytest.mark.parametrize(
    ("fault", "where"),
    [
        (dict(kind="status", path="/api/v1/groups", times=0, status=500), "groups"),
        (dict(kind="status", path="/api/v1/groups/{id}/users", times=0, status=500), "members"),
    ],
)
async def test_incremental_failure_is_partial_removes_nobody_and_keeps_the_marks(
    store: Store, fault: dict[str, Any], where: str
) -> None:
    emu = emulator(users=120, groups=6)
    src = source(emu, incremental="timestamps")  # re-lists the moved group (the log would not)
    await sync(store, src)
    state = saved_state(store)
    before = directory(store)
    emu.set_status(next(iter(emu.tenant.user_ids)), "SUSPENDED")
    gid = next(g for g in emu.tenant.group_ids if emu.tenant.groups[g].members)
    emu.tenant.remove_member(gid, next(iter(emu.tenant.groups[gid].members)))
    emu.inject(Fault(**fault))
    result = await incremental(store, src)
    assert result.status == "partial" and not result.complete
    assert where in (result.message or ""), result.message
    assert saved_state(store) == state
    summary = result.summary()
    assert summary["users_deactivated"] == summary["memberships_removed"] == 0
    after = directory(store)
    assert set(after["users"]) >= set(before["users"])  # type: ignore[call-overload]
    assert after["memberships"] == before["memberships"]


async def test_bad_credentials_fail_the_run_without_leaking_secrets(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from pydantic import SecretStr

    emu = emulator(users=20, groups=3)
    wrong = "00WrongTokenValue0123456789abcdefXYZ"
    result = await sync(store, source(emu, api_token=SecretStr(wrong)))
    assert result.status == "failed" and "401" in (result.message or "")
    assert "GET /api/v1/users" in (result.message or "")
    assert len(emu.requests) == 2  # the request and the one retry after a 401, then stop
    stranger = emu.register_app(scopes=("okta.users.read",))
    app = emu.register_app()
    oauth = source(
        emu, oauth=True, client_id=app.client_id, private_key=SecretStr(stranger.private_key_pem)
    )
    failed = await sync(store, oauth)
    assert failed.status == "failed" and "invalid_client" in (failed.message or "")
    scoped = source(
        emu,
        oauth=True,
        client_id=stranger.client_id,
        private_key=SecretStr(stranger.private_key_pem),
        scopes=["okta.users.read"],
    )
    denied = await sync(store, scoped)
    assert denied.status == "failed" and "okta.groups.read" in (denied.message or "")
    text = " ".join([result.message or "", failed.message or "", denied.message or "", caplog.text])
    assert wrong not in text
    for pem in (stranger.private_key_pem, app.private_key_pem):
        assert pem.splitlines()[1] not in text


async def test_bucket_drained_by_another_integration_waits_for_the_reset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from idpsync.http import client as http_client
    from tests.sources.okta_support import FakeClock

    clock = FakeClock()
    emu = emulator(users=300, groups=6, clock=clock, limits={"users": 50})
    monkeypatch.setattr(http_client, "pause", clock.sleep)  # the retry wait moves the clock
    for _ in range(50):  # someone else used the whole users bucket this minute
        emu.limiter.charge("users")
    reset = (clock.now // 60 + 1) * 60
    src = source(emu)
    start = clock.now
    snap = await src.snapshot()
    assert snap.complete
    assert emu.requests.count(status=429) == 1 and src.stats.throttled == 1
    assert clock.slept[0] == pytest.approx(reset - start, abs=1)  # Reset − Date, no more
    assert clock.now >= reset
    assert len(emu.requests) == expected_requests(emu) + 1
    await src.aclose()


async def test_edges_share_one_string_per_member_id() -> None:
    # each member listing parses its own copy of an id; the reader keeps one of them
    emu = emulator(users=60, groups=8)
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    objects: dict[str, set[int]] = {}
    for edge in snap.memberships:
        objects.setdefault(edge.member_id, set()).add(id(edge.member_id))
    assert any(len({e.group_id for e in snap.memberships if e.member_id == m}) > 1 for m in objects)
    assert all(len(found) == 1 for found in objects.values())
