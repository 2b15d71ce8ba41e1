"""The Okta pacer on its own, and the HTTP layer's pacing hook."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from idpsync.http import Endpoint, HttpError, build_http_client, set_testing
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.settings import HttpSettings
from idpsync.sources.okta.pacing import OktaPacer
from tests.sources.okta_support import FakeClock

USERS = Endpoint("list_users", "GET", "/api/v1/users", "list users")
TARGET = USERS.resolve("https://acme.okta.test")


def answer(limit: int, remaining: int, reset: float, now: float) -> httpx.Response:
    headers = {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
        "date": formatdate(now, usegmt=True),
    }
    return httpx.Response(200, headers=headers)


def pacer(clock: FakeClock, reserve: float = 0.2) -> OktaPacer:
    return OktaPacer(lambda _t: "users", reserve, clock=clock, sleep=clock.sleep)


async def test_waits_for_the_reset_only_at_the_reserve() -> None:
    clock = FakeClock()
    p = pacer(clock)
    reset = clock.now + 30
    await p.before(TARGET)
    p.after(TARGET, answer(10, 3, reset, clock.now))
    await p.before(TARGET)  # 3 left > 2 reserved: goes at once
    assert clock.slept == []
    p.after(TARGET, answer(10, 2, reset, clock.now))
    await p.before(TARGET)  # 2 left = the reserve: wait for the window
    assert clock.slept == [31.0]


async def test_counts_requests_in_flight_and_ignores_late_and_concurrency_answers() -> None:
    clock = FakeClock()
    p = pacer(clock, reserve=0.0)
    reset = clock.now + 10
    await p.before(TARGET)
    p.after(TARGET, answer(4, 3, reset, clock.now))
    for _ in range(3):
        await p.before(TARGET)  # three in flight use up the three left
    assert clock.slept == []
    p.after(TARGET, answer(0, 0, reset, clock.now))  # concurrency limit: not a reading
    p.after(TARGET, answer(4, 3, reset - 60, clock.now))  # previous window: ignored
    assert p.buckets["users"].remaining == 3 and p.buckets["users"].in_flight == 1
    p.after(TARGET, answer(4, 0, reset, clock.now))
    await p.before(TARGET)
    assert clock.slept == [11.0]


async def test_a_reading_expires_when_its_window_has_passed() -> None:
    clock = FakeClock()
    p = pacer(clock)
    await p.before(TARGET)
    p.after(TARGET, answer(10, 0, clock.now + 5, clock.now))
    clock.now += 6
    await p.before(TARGET)
    assert clock.slept == []


@pytest.mark.parametrize("fail", [False, True])
async def test_http_client_calls_the_hook_around_every_request(fail: bool) -> None:
    seen: list[tuple[str, int | None]] = []

    class Spy:
        async def before(self, target: ConcreteEndpoint) -> None:
            seen.append(("before", None))

        def after(self, target: ConcreteEndpoint, response: httpx.Response | None) -> None:
            seen.append(("after", response.status_code if response is not None else None))

    def handler(request: httpx.Request) -> httpx.Response:
        if fail:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=[])

    set_testing(True)
    try:
        http = build_http_client(
            HttpSettings(max_attempts=2),
            base_url="https://acme.okta.test",
            transport=httpx.MockTransport(handler),
        )
        http.pacer = Spy()
        if fail:
            with pytest.raises(HttpError):
                await http.request(USERS)
            assert seen == [("before", None), ("after", None)] * 2
        else:
            await http.request(USERS)
            assert seen == [("before", None), ("after", 200)]
        await http.aclose()
    finally:
        set_testing(False)


def test_incremental_marks_never_pass_the_start_of_the_read() -> None:
    from idpsync.sources.okta.incremental import marks, server_time

    users = [
        {"lastUpdated": "2026-03-01T10:05:00.000Z"},
        {"lastUpdated": "2026-03-01T09:00:00.000Z"},
    ]
    groups = [
        {
            "lastUpdated": "2026-03-01T08:00:00.000Z",
            "lastMembershipUpdated": "2026-03-01T10:07:00.000Z",
        }
    ]
    assert marks(users, groups, {}) == {
        "users_since": "2026-03-01T10:05:00.000Z",
        "groups_since": "2026-03-01T10:07:00.000Z",
    }
    started = server_time(httpx.Response(200, headers={"date": "Sun, 01 Mar 2026 10:00:00 GMT"}))
    assert started == "2026-03-01T09:59:59.000Z"
    capped = marks(users, groups, {"full_at": 1.0}, started)
    assert capped == {"full_at": 1.0, "users_since": started, "groups_since": started}
    assert server_time(httpx.Response(200)) is None
