from __future__ import annotations

import json

import httpx
import pytest

from idpsync.emulators import Fault, Latency, TokenBucket
from idpsync.emulators.entra import EntraEmulator, bucket_size, request_cost
from idpsync.emulators.injection import compile_pattern

from .conftest import BASE, get_all


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_path_patterns() -> None:
    regex = compile_pattern("/v1.0/groups/{id}/members")
    assert regex.fullmatch("/v1.0/groups/abc/members")
    assert not regex.fullmatch("/v1.0/groups/abc/transitiveMembers")
    assert not regex.fullmatch("/v1.0/groups/a/b/members")
    assert compile_pattern("*/users").fullmatch("/beta/users")


def test_latency_is_seeded_and_bounded() -> None:
    a = Latency(fixed_ms=10, tail_ms=100, tail_probability=0.5, seed=4)
    b = Latency(fixed_ms=10, tail_ms=100, tail_probability=0.5, seed=4)
    delays = [a.next_delay() for _ in range(200)]
    assert delays == [b.next_delay() for _ in range(200)]
    assert all(0.010 <= d <= 0.110 for d in delays)
    assert any(d == 0.010 for d in delays) and any(d > 0.011 for d in delays)


def test_token_bucket_refuses_then_refills() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 10.0, clock)
    assert [bucket.charge(4).allowed for _ in range(3)] == [True, True, False]
    refused = bucket.charge(4)
    assert not refused.allowed and refused.retry_after == 2  # 2 tokens left, 1 token/s
    clock.now += 2
    assert bucket.charge(4).allowed
    clock.now += 100
    assert bucket.charge(10).allowed and not bucket.charge(1).allowed


def test_resource_unit_costs() -> None:
    assert request_cost(["users"], {}) == 2
    assert request_cost(["users"], {"$select": "id"}) == 1
    assert request_cost(["groups", "g", "members"], {}) == 3
    assert request_cost(["groups", "g", "members"], {"$top": "5"}) == 2
    assert request_cost(["groups", "g", "transitiveMembers"], {"$expand": "x"}) == 6
    assert request_cost(["users", "u", "transitiveMemberOf"], {}) == 5
    assert request_cost(["groups"], {"$select": "id"}) == 1  # never below 1
    assert (bucket_size(49), bucket_size(50), bucket_size(500), bucket_size(501)) == (
        3500,
        5000,
        5000,
        8000,
    )


async def test_rate_limit_answers_429_with_retry_after() -> None:
    clock = FakeClock()
    emu = EntraEmulator.generate(users=30, groups=5, seed=1, clock=clock, bucket_capacity=10)
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        answers = [await c.get("/v1.0/users") for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        assert all(r.headers["x-ms-resource-unit"] == "2" for r in answers)
        throttled = answers[-1]
        assert throttled.headers["retry-after"] == "2"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert "x-ms-throttle-information" in throttled.headers
        assert "x-ms-throttle-limit-percentage" in answers[4].headers
        clock.now += 2
        assert (await c.get("/v1.0/users")).status_code == 200
    assert emu.requests.count("/v1.0/users", status=429) == 1


async def test_no_rate_limit_option() -> None:
    emu = EntraEmulator.generate(users=5, groups=2, rate_limit=False, bucket_capacity=1)
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        answers = [await c.get("/v1.0/users?$select=id") for _ in range(5)]
    assert {r.status_code for r in answers} == {200}
    assert {r.headers["x-ms-resource-unit"] for r in answers} == {"1"}


async def test_status_fault_hits_the_nth_matching_request(
    emu: EntraEmulator, client: httpx.AsyncClient
) -> None:
    fault = emu.inject(Fault("status", "/v1.0/groups/{id}/members", nth=3, status=503))
    gid = emu.tenant.group_ids[0]
    statuses = [(await client.get(f"/v1.0/groups/{gid}/members")).status_code for _ in range(4)]
    await client.get("/v1.0/users")
    assert statuses == [200, 200, 503, 200]
    assert fault.fired == 1
    failed = [r for r in emu.requests if r.status == 503]
    assert len(failed) == 1 and failed[0].fault == "status"
    assert emu.requests.count("*/members") == 4 and len(emu.requests) == 5


async def test_reset_and_truncate_faults(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    emu.inject(Fault("reset", "/v1.0/users"))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/v1.0/users")
    emu.inject(Fault("truncate", "/v1.0/groups", times=2))
    for _ in range(2):
        response = await client.get("/v1.0/groups")
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    assert (await client.get("/v1.0/groups")).json()["value"]


async def test_expired_token_fault(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    emu.inject(Fault("expired_token", "*", nth=2))
    assert (await client.get("/v1.0/users")).status_code == 200
    response = await client.get("/v1.0/users")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_repeat_and_empty_page_faults(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    emu.inject(Fault("repeat_page", "/v1.0/users", nth=2))
    first = (await client.get("/v1.0/users?$top=10")).json()
    second_url = first["@odata.nextLink"]
    second = (await client.get(second_url)).json()
    assert second["@odata.nextLink"] == second_url
    emu.faults.clear()
    emu.inject(Fault("empty_page", "/v1.0/users"))
    users = await get_all(client, "/v1.0/users?$top=25")
    assert len(users) == len(emu.tenant.users)
    assert emu.requests.entries()[-4].fault == "empty_page"


async def test_latency_applies_to_requests() -> None:
    emu = EntraEmulator.generate(users=5, groups=2, latency=Latency(fixed_ms=1))
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers) as c:
        assert (await c.get("/v1.0/users")).status_code == 200


async def test_control_routes(emu: EntraEmulator, client: httpx.AsyncClient) -> None:
    gid = emu.tenant.group_ids[1]
    spec = {"kind": "status", "path": "/v1.0/groups", "status": 502}
    assert (await client.post("/_emulator/faults", json=spec)).status_code == 200
    assert (await client.get("/v1.0/groups")).status_code == 502
    ok = await client.post("/_emulator/tenant/rename_group", json={"group_id": gid, "name": "X"})
    assert ok.status_code == 200 and emu.tenant.groups[gid].name == "X"
    bad = await client.post(
        "/_emulator/tenant/rename_group", json={"group_id": "nope", "name": "X"}
    )
    assert bad.status_code == 400 and "nope" in bad.json()["error"]
    log = (await client.get("/_emulator/requests?clear=1")).json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/v1.0/groups", 502)]
    assert len(emu.requests) == 0
    truth = (await client.get("/_emulator/ground-truth")).json()
    assert truth["users"] == 60 and truth["groups"] == 20
    assert (await client.delete("/_emulator/faults")).status_code == 204
    assert not emu.faults.faults


def test_faults_over_a_real_socket() -> None:
    emu = EntraEmulator.generate(users=300, groups=5, seed=9)
    emu.inject(Fault("reset", "/v1.0/users", nth=1))
    emu.inject(Fault("truncate", "/v1.0/users", nth=2))
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    with emu.serve() as server, httpx.Client(base_url=server.url, headers=headers) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/v1.0/users?$top=999")
        truncated = http.get("/v1.0/users?$top=999")
        assert truncated.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            truncated.json()
        assert len(http.get("/v1.0/users?$top=999").json()["value"]) == 300
    assert [r.fault for r in emu.requests] == ["reset", "truncate", None]
