"""Conformance: the official ``okta`` SDK (3.x) reads the emulator and gets the ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from okta.client import Client
from okta.pagination import PaginationHelper

from idpsync.emulators import RunningServer
from idpsync.emulators.okta import OktaEmulator


@pytest.fixture(scope="module")
def emu() -> OktaEmulator:
    return OktaEmulator.generate(users=430, groups=14, seed=11)


@pytest.fixture(scope="module")
def server(emu: OktaEmulator) -> Iterator[RunningServer]:
    with emu.serve() as running:
        yield running


@pytest.fixture(autouse=True)
def http_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK refuses a non-https org URL unless this is set (idp-apis.md §6).
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


async def collect(method: Any, limit: int, **kwargs: Any) -> list[Any]:
    """Every page of an SDK list call, following the ``Link`` cursor as the SDK does."""
    items: list[Any] = []
    after = None
    while True:
        data, response, error = await method(limit=limit, after=after, **kwargs)
        assert error is None, error
        items += data
        after = PaginationHelper.extract_next_cursor(response.headers)
        if not after:
            return items


async def read_everything(client: Client) -> dict[str, Any]:
    users = await collect(client.list_users, 200)
    gone = await collect(client.list_users, 200, filter='status eq "DEPROVISIONED"')
    groups = await collect(client.list_groups, 5)
    members = {g.id: await collect(client.list_group_users, 100, group_id=g.id) for g in groups}
    return {
        "users": {u.id: (u.status.value, u.profile.login) for u in [*users, *gone]},
        "plain": {u.id for u in users},
        "groups": {g.id: (g.profile.actual_instance.name, g.type.value) for g in groups},
        "edges": {(gid, u.id) for gid, us in members.items() for u in us},
    }


def expected(emu: OktaEmulator) -> dict[str, Any]:
    t = emu.tenant
    return {
        "users": {uid: (emu.status_of(uid), t.login(u)) for uid, u in t.users.items()},
        "plain": {uid for uid in t.users if emu.status_of(uid) != "DEPROVISIONED"},
        "groups": {gid: (g.name, emu.group_type(gid)) for gid, g in t.groups.items()},
        "edges": set(t.ground_truth().memberships),
    }


async def test_sdk_with_api_token_reads_the_ground_truth(
    emu: OktaEmulator, server: RunningServer
) -> None:
    client = Client({"orgUrl": server.url, "token": emu.api_token})
    got = await read_everything(client)
    assert got == expected(emu)
    assert "DEPROVISIONED" in {status for status, _ in got["users"].values()}
    assert {kind for _, kind in got["groups"].values()} == {"OKTA_GROUP", "APP_GROUP", "BUILT_IN"}
    uid = next(iter(got["plain"]))
    user, _, error = await client.get_user(got["users"][uid][1])  # by login
    assert error is None and user.id == uid
    groups, _, error = await client.list_user_groups(uid)
    assert error is None and {g.id for g in groups} == set(emu.tenant.direct_groups(uid))
    missing, _, error = await client.get_user("nobody")
    assert missing is None and error is not None and "E0000007" in str(error)


async def test_sdk_with_private_key_service_app(emu: OktaEmulator, server: RunningServer) -> None:
    app = emu.register_app()
    client = Client(
        {
            "orgUrl": server.url,
            "authorizationMode": "PrivateKey",
            "clientId": app.client_id,
            "scopes": ["okta.users.read", "okta.groups.read"],
            "privateKey": app.private_key_pem,
            "kid": app.key_id,
        }
    )
    emu.requests.clear()
    assert await read_everything(client) == expected(emu)
    assert emu.requests.count("/oauth2/v1/token", method="POST", status=200) == 1


async def test_sdk_reads_the_system_log_bounded_and_paged() -> None:
    emu = OktaEmulator.generate(users=60, groups=6, seed=5)
    t = emu.tenant
    gid, users = (
        t.group_ids[1],
        [u for u in t.user_ids if u not in t.groups[t.group_ids[1]].members],
    )
    for uid in users[:7]:
        t.add_member(gid, uid)
    emu.set_status(users[0], "SUSPENDED")
    t.remove_member(gid, users[1])
    with emu.serve() as server:
        client = Client({"orgUrl": server.url, "token": emu.api_token})
        wanted = 'eventType eq "group.user_membership.add" or eventType eq "user.lifecycle.suspend"'
        events, after = [], None
        while True:
            data, response, error = await client.list_log_events(
                since="2020-01-01T00:00:00.000Z",
                until="2099-01-01T00:00:00.000Z",
                filter=wanted,
                limit=3,
                after=after,
            )
            assert error is None, error
            events += data
            after = PaginationHelper.extract_next_cursor(response.headers)
            if not after:
                break
        backwards, after = [], None
        while True:  # the same window from its end, as a split read asks for it
            data, response, error = await client.list_log_events(
                since="2020-01-01T00:00:00.000Z",
                until="2099-01-01T00:00:00.000Z",
                filter=wanted,
                limit=3,
                sort_order="DESCENDING",
                after=after,
            )
            assert error is None, error
            backwards += data
            after = PaginationHelper.extract_next_cursor(response.headers)
            if not after:
                break
    assert [e.uuid for e in backwards] == [e.uuid for e in reversed(events)]
    assert [e.event_type for e in events] == [
        *["group.user_membership.add"] * 7,
        "user.lifecycle.suspend",
    ]
    first = {t.type: t.id for t in events[0].target}
    assert first == {"User": users[0], "UserGroup": gid}
    assert all(e.published is not None and e.outcome.result == "SUCCESS" for e in events)
    assert emu.requests.count("/api/v1/logs", status=200) == 6  # ceil(8 / 3) pages each way


async def test_sdk_reads_base_and_custom_profile_properties() -> None:
    emu = OktaEmulator.generate(users=5, groups=2, seed=3)
    uid = emu.tenant.user_ids[1]
    emu.tenant.update_user(
        uid, cost_center="CC-1", division="R&D", company="Acme", employee_type="Contractor",
        custom={"x": {"badge": "B-1"}},
    )  # fmt: skip
    with emu.serve() as running:
        client = Client({"orgUrl": running.url, "token": emu.api_token})
        user, _, error = await client.get_user(uid)
    assert error is None and user is not None
    profile = user.profile
    assert (profile.cost_center, profile.division, profile.organization) == ("CC-1", "R&D", "Acme")
    assert profile.user_type == "Contractor"
    assert profile.additional_properties["badge"] == "B-1"


async def test_sdk_reads_users_by_last_updated_ranges() -> None:
    """``list_users(filter=…)`` with the ``lastUpdated`` ranges a full read splits the users into
    (``sources/okta/partitions.py``) and the incremental read's ``lastUpdated gt``: each range
    is exactly the users whose ``lastUpdated`` lies in it, ``DEPROVISIONED`` ones included, paged
    by the ``Link`` cursor; together the ranges hold every user once."""
    from idpsync.emulators.okta.render import stamp
    from idpsync.sources.okta.partitions import lower_filters, top_filter

    emu = OktaEmulator.generate(users=50, groups=3, seed=2)
    t = emu.tenant
    for n, uid in enumerate(t.user_ids[8:40]):
        t.update_user(uid, display_name=f"Changed {n}")
    emu.set_status(t.user_ids[20], "DEPROVISIONED")
    when = {uid: stamp(emu.versions(uid)[0]) for uid in t.user_ids}
    times = sorted(set(when.values()))
    bounds = [times[len(times) // 3], times[2 * len(times) // 3], times[-1]]
    ranges = [(None, bounds[0]), (bounds[0], bounds[1]), (bounds[1], bounds[2]), (bounds[2], None)]
    filters = [*lower_filters(bounds), top_filter(bounds, None)]
    since = f'lastUpdated gt "{bounds[1]}"'
    with emu.serve() as server:
        client = Client({"orgUrl": server.url, "token": emu.api_token})
        read = [await collect(client.list_users, 7, filter=where) for where in filters]
        changed = await collect(client.list_users, 7, filter=since)
    for (low, high), users in zip(ranges, read, strict=True):
        assert [u.id for u in users] == [
            uid
            for uid in t.user_ids
            if (low is None or when[uid] >= low) and (high is None or when[uid] < high)
        ]
    every = [u for users in read for u in users]
    assert sorted(u.id for u in every) == sorted(t.user_ids)  # each once
    assert {u.id: u.last_updated.strftime("%Y-%m-%dT%H:%M:%S.000Z") for u in every} == when
    assert {u.id: u.status.value for u in every} == {uid: emu.status_of(uid) for uid in when}
    assert "DEPROVISIONED" in {u.status.value for u in every}
    assert [u.id for u in changed] == [uid for uid in t.user_ids if when[uid] > bounds[1]]
    assert emu.requests.count("/api/v1/users", status=200) > len(filters) + 1  # paged
