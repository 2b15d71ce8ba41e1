"""Malformed HTTP-level answers become errors that name the endpoint, never a traceback.

``Retry-After``/``X-Rate-Limit-Reset`` that are not plain ASCII seconds, token answers without
a usable ``access_token``/``expires_in``, and bodies that are not JSON or nest 100,000 deep
(``json.loads`` raises ``RecursionError``) — each against a real local server.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from idpsync.http import ConcreteEndpoint, build_http_client, errors
from idpsync.http.policy import MAX_SERVER_WAIT, server_wait
from idpsync.http.settings import HttpSettings
from idpsync.sources.okta import endpoints as okta
from idpsync.sources.okta import incremental as okta_incremental
from idpsync.sources.okta.pacing import MAX_WAIT, OktaPacer
from idpsync.sources.onelogin import delta as onelogin_delta
from idpsync.sources.onelogin.budget import CallBudget
from tests.http.conftest import SECRET, assert_clean
from tests.http.demo_source import DemoSource
from tests.http.idp import FakeIdp
from tests.http.servers import LocalServer, Reply, Request

pytestmark = pytest.mark.asyncio

DEEP = b"[" * 100_000 + b"]" * 100_000
"""200 kB of nesting: enough to make ``json.loads`` raise ``RecursionError``."""


def answer(status: int, **headers: str) -> httpx.Response:
    """A response whose headers arrive as UTF-8 bytes, as they would off the wire."""
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    response = httpx.Response(status, headers=raw)
    assert all(response.headers[k] == v for k, v in headers.items())
    return response


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "²"},  # "²".isdigit() is True, float("²") raises
        {"retry-after": "٣"},  # an Arabic-Indic digit: not HTTP seconds either
        {"retry-after": "soon"},
        {"retry-after": "9" * 40},
        {"retry-after": "-5"},
        {"retry-after": "1e9"},
        {"x-rate-limit-reset": "²"},
        {"x-rate-limit-reset": "tomorrow"},
        {"x-rate-limit-reset": "inf"},
        {"retry-after": "Fri, 99 Foo 99999 99:99:99 GMT"},
        {"retry-after": "²", "date": "garbage", "x-rate-limit-reset": "nan"},
    ],
)
async def test_unreadable_wait_headers_count_as_absent(headers: dict[str, str]) -> None:
    assert server_wait(answer(429, **headers), now=1000.0) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "999999999999"},
        {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"},
        {"x-rate-limit-reset": "999999999999"},
    ],
)
async def test_huge_waits_are_capped(headers: dict[str, str]) -> None:
    assert server_wait(answer(429, **headers), now=1000.0) == MAX_SERVER_WAIT


async def test_plain_seconds_still_count() -> None:
    assert server_wait(answer(429, **{"retry-after": " 7 "})) == 7.0
    assert server_wait(answer(429, **{"x-rate-limit-reset": "1030"}), now=1000.0) == 30.0


def source_for(server: LocalServer) -> DemoSource:
    http = build_http_client(HttpSettings(max_attempts=3), base_url=server.url)
    return DemoSource(http, server.url, "app", SECRET)


async def test_a_429_with_a_superscript_retry_after_is_retried() -> None:
    def users(request: Request, idp: FakeIdp) -> Reply:
        if idp.user_calls == 1:
            return Reply(429, {"error": "slow down"}, {"Retry-After": "²"})
        return Reply(200, {"users": [{"id": "u1", "login": "ada"}]})

    async with LocalServer(FakeIdp(users=users)) as server:
        source = source_for(server)
        snap = await source.snapshot()
        await source.aclose()
    assert [u.login for u in snap.users] == ["ada"]
    assert source.stats.retries == 1 and source.stats.throttled == 1


TOKEN_ANSWERS: dict[str, Reply] = {
    "no access_token": Reply(200, {"token_type": "Bearer", "expires_in": 3600}),
    "access_token not a string": Reply(200, {"access_token": 12345}),
    # (an HTML page is a proxy's or web filter's answer: NotFromIdp, see test_check_diagnoses)
    "not JSON": Reply(200, body=b"token: tok-1", headers={"Content-Type": "text/plain"}),
    "a JSON list": Reply(200, ["tok-1-x"]),
    "expires_in garbage": Reply(200, {"access_token": "tok-1-AbCdEf", "expires_in": "soon"}),
    "expires_in infinite": Reply(200, {"access_token": "tok-1-AbCdEf", "expires_in": "inf"}),
    "expires_in an object": Reply(200, {"access_token": "tok-1-AbCdEf", "expires_in": {}}),
    "deep JSON": Reply(200, body=DEEP, headers={"Content-Type": "application/json"}),
}
TOKEN_CAUSES = {
    "no access_token": "carries no access_token",
    "access_token not a string": "carries no access_token",
    "not JSON": "is not JSON",
    "a JSON list": "is not a JSON object",
    "expires_in garbage": "expires_in is not a number of seconds",
    "expires_in infinite": "expires_in is not a number of seconds",
    "expires_in an object": "expires_in is not a number of seconds",
    "deep JSON": "is not JSON",
}


@pytest.mark.parametrize("case", sorted(TOKEN_ANSWERS))
async def test_a_broken_token_answer_is_a_token_error(case: str) -> None:
    async with LocalServer(FakeIdp(token=lambda _r: TOKEN_ANSWERS[case])) as server:
        source = source_for(server)
        with pytest.raises(errors.TokenError) as info:
            await source.snapshot()
        await source.aclose()
    text = str(info.value)
    assert text.startswith("Token request failed: the token endpoint answered 200 but")
    assert TOKEN_CAUSES[case] in text
    assert f"(POST /oauth2/token on 127.0.0.1:{server.port})" in text
    assert "token_url" in info.value.remedy
    assert_clean(text)


async def test_a_numeric_string_expires_in_is_accepted() -> None:
    def token(_request: Request) -> Reply:
        return Reply(200, {"access_token": "tok-1-AbCdEf", "expires_in": "3599"})

    idp = FakeIdp(token=token)
    idp.issued.append("tok-1-AbCdEf")
    async with LocalServer(idp) as server:
        source = source_for(server)
        snap = await source.snapshot()
        await source.aclose()
    assert len(snap.users) == 1


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html><body>Proxy error</body></html>", "the answer is not JSON"),
        (b'{"users": [', "the answer is not JSON"),
        (b"\xff\xfe\x00garbage", "the answer is not JSON"),
        (DEEP, "nested too deeply"),
    ],
)
async def test_a_malformed_body_names_the_endpoint(body: bytes, what: str) -> None:
    def users(_request: Request, _idp: FakeIdp) -> Reply:
        return Reply(200, body=body, headers={"Content-Type": "application/json"})

    async with LocalServer(FakeIdp(users=users)) as server:
        source = source_for(server)
        with pytest.raises(errors.MalformedAnswer) as info:
            await source.snapshot()
        await source.aclose()
    text = str(info.value)
    assert text.startswith(f"GET /v1/users on 127.0.0.1:{server.port}: the IdP answered with")
    assert f"malformed JSON ({what}" in text
    assert len(text) < 1500
    assert_clean(text)


@pytest.mark.parametrize("status", [403, 429, 503])
async def test_a_deep_error_body_does_not_break_the_translation(status: int) -> None:
    def users(_request: Request, _idp: FakeIdp) -> Reply:
        return Reply(status, body=DEEP, headers={"Content-Type": "application/json"})

    async with LocalServer(FakeIdp(users=users)) as server:
        source = source_for(server)
        with pytest.raises(errors.StatusError) as info:
            await source.snapshot()
        await source.aclose()
    expected: dict[int, Any] = {
        403: errors.Forbidden,
        429: errors.RateLimited,
        503: errors.ServerError,
    }
    assert type(info.value) is expected[status]


async def test_okta_pacing_ignores_a_bogus_reset_and_caps_a_huge_one() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pacer = OktaPacer(lambda _target: "/api/v1/users", reserve=0.5, sleep=sleep, clock=lambda: 0.0)
    target = ConcreteEndpoint(okta.USERS, "https://acme.okta.test/api/v1/users")
    for reset in ("inf", "nan", "²", "soon"):
        headers = {"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0"}
        pacer.after(target, answer(200, **headers, **{"x-rate-limit-reset": reset}))
        await pacer.before(target)
    assert waits == []  # an unreadable reading is no reading: nothing to wait for
    huge = {"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0"}
    pacer.after(target, answer(200, **huge, **{"x-rate-limit-reset": "99999999999"}))
    await pacer.before(target)
    assert waits == [MAX_WAIT]


async def test_a_refusal_with_a_deep_body_is_still_a_token_error() -> None:
    def token(_request: Request) -> Reply:
        return Reply(400, body=DEEP, headers={"Content-Type": "application/json"})

    async with LocalServer(FakeIdp(token=token)) as server:
        source = source_for(server)
        with pytest.raises(errors.TokenError) as info:
            await source.snapshot()
        await source.aclose()
    assert info.value.error_code == "HTTP 400"
    assert f"(POST /oauth2/token on 127.0.0.1:{server.port})" in str(info.value)


async def test_an_error_body_is_cut_in_the_message() -> None:
    def users(_request: Request, _idp: FakeIdp) -> Reply:
        return Reply(400, body=b"x " * 500_000, headers={"Content-Type": "text/plain"})

    async with LocalServer(FakeIdp(users=users)) as server:
        source = source_for(server)
        with pytest.raises(errors.BadRequest) as info:
            await source.snapshot()
        await source.aclose()
    assert len(str(info.value)) < 2000
    assert "more chars)" in str(info.value)


@pytest.mark.parametrize(
    "date", ["Fri, 31 Dec 9999 23:59:59 -2359", "1 Jan 99999999999 00:00:00 GMT", "²", ""]
)
async def test_garbage_date_and_rate_headers_read_as_absent(date: str) -> None:
    headers = {"date": date} if date else {}
    assert okta_incremental.server_time(answer(200, **headers)) is None
    assert onelogin_delta.server_time(date) is None
    budget = CallBudget(minimum=10)
    bogus = {"x-ratelimit-limit": "²", "x-ratelimit-remaining": "٣", "x-ratelimit-reset": "²"}
    budget.observe_headers(answer(200, **bogus).headers)
    assert (budget.limit, budget.remaining, budget.reset_at) == (None, None, None)
    budget.observe_headers(answer(200, **{"x-ratelimit-reset": "9" * 18}).headers, now=0.0)
    assert budget.reset_at == 86400
    assert "UTC" in budget.message("the users listing")
