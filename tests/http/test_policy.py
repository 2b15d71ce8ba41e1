"""Pure parts of the HTTP layer: classification, waits, backoff, redaction, endpoints, budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from idpsync.http import errors
from idpsync.http.budget import RequestBudget
from idpsync.http.endpoint import Endpoint
from idpsync.http.policy import (
    CLASSIFICATION,
    Action,
    backoff,
    classify_error,
    classify_response,
    server_wait,
)
from idpsync.http.redact import redact_url, register_secret, scrub, truncate

MEMBER_OF = Endpoint("member_of", "GET", "/v1.0/users/{id}/memberOf", "groups of a user")
NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def response(
    status: int, headers: dict[str, str] | None = None, json: object = None
) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json=json, request=httpx.Request("GET", "https://idp.example/v1")
    )


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (500, Action.RETRY),
        (401, Action.REFRESH),
        (403, Action.FAIL),
        (404, Action.FAIL),
        (429, Action.RATE_LIMITED),
        (503, Action.RETRY),
        (599, Action.RETRY),
        (418, Action.FAIL),
    ],
)
def test_status_classification(status: int, action: Action) -> None:
    assert classify_response(response(status)).action is action


@pytest.mark.parametrize("reason", ["userRateLimitExceeded", "rateLimitExceeded"])
def test_google_403_rate_limit_is_rate_limited(reason: str) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Rate Limit Exceeded",
            "errors": [{"reason": reason, "domain": "usageLimits"}],
        }
    }
    assert classify_response(response(403, json=body)).action is Action.RATE_LIMITED


def test_network_errors_follow_the_table_most_specific_first() -> None:
    target = MEMBER_OF.resolve("https://graph.example", {"id": "1"})
    assert classify_error(errors.DnsError(target, "c", "r")).action is Action.FAIL
    assert classify_error(errors.ConnectionReset(target, "c", "r")).action is Action.RETRY
    assert classify_error(errors.ProxyError(target, "c", "r")).kind == "config"
    assert all(rule.kind in {"config", "transient", "remote"} for rule in CLASSIFICATION.values())


def test_retry_after_seconds_and_http_date() -> None:
    assert server_wait(response(429, {"Retry-After": "30"})) == 30.0
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    headers = {"Retry-After": later, "Date": format_datetime(NOW, usegmt=True)}
    assert server_wait(response(503, headers)) == pytest.approx(90.0)


def test_okta_reset_is_measured_against_the_date_header() -> None:
    reset = int((NOW + timedelta(seconds=42)).timestamp())
    headers = {"X-Rate-Limit-Reset": str(reset), "Date": format_datetime(NOW, usegmt=True)}
    # The local clock is far from the server's Date: only the server's own clock counts.
    assert server_wait(response(429, headers), now=0.0) == pytest.approx(42.0)
    assert server_wait(response(429)) is None


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        values = {backoff(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len(values) > 1  # jittered


def test_redact_url_masks_secret_parameters_and_userinfo() -> None:
    url = "https://u:pw@idp.example/cb?code=abc123&state=s1&client_secret=xyz&page=2"
    clean = redact_url(url)
    assert "abc123" not in clean and "xyz" not in clean and "pw" not in clean
    assert "state=s1" in clean and "page=2" in clean


def test_scrub_masks_known_secrets_and_token_shapes() -> None:
    register_secret("Known-Secret-Value-42")
    text = (
        '{"access_token": "opaque1", "error": "x"} Authorization: Bearer abc.def '
        "SSWS 00aBcD key eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl "
        "Known-Secret-Value-42 refresh_token=rt1&x=1 " + "Z" * 48
    )
    clean = scrub(text)
    for leaked in ("opaque1", "abc.def", "00aBcD", "eyJhbGci", "Known-Secret", "rt1", "Z" * 48):
        assert leaked not in clean
    assert '"error": "x"' in clean


def test_truncate_keeps_errors_short() -> None:
    assert len(truncate("x " * 2000)) < 600


def test_endpoint_resolution_and_labels() -> None:
    target = MEMBER_OF.resolve("https://graph.microsoft.com/", {"id": "a/b c"})
    assert target.url == "https://graph.microsoft.com/v1.0/users/a%2Fb%20c/memberOf"
    assert (target.host, target.port, target.where) == (
        "graph.microsoft.com",
        443,
        "graph.microsoft.com",
    )
    assert MEMBER_OF.label == "GET /v1.0/users/{id}/memberOf"
    token = Endpoint(
        "token",
        "POST",
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "token",
        token=True,
    )
    assert token.label == "POST /{tenant}/oauth2/v2.0/token"
    assert token.resolve("", {"tenant": "contoso.onmicrosoft.com"}).url.endswith(
        "/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    kc = Endpoint("users", "GET", "{base}/admin/realms/{realm}/users", "users")
    assert kc.label == "GET /admin/realms/{realm}/users"
    assert MEMBER_OF.resolve("https://g.example", partial=True).url.endswith("/users/{id}/memberOf")
    with pytest.raises(KeyError):
        MEMBER_OF.resolve("https://g.example")


async def test_budget_limits_concurrency() -> None:
    budget = RequestBudget(rate=None, concurrency=2)
    active, peak = 0, 0

    async def work() -> None:
        nonlocal active, peak
        async with budget.slot():
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    await asyncio.gather(*(work() for _ in range(8)))
    assert peak == 2


async def test_budget_token_bucket_spaces_requests_after_a_burst() -> None:
    budget = RequestBudget(rate=10.0, concurrency=4)
    waits = []
    for _ in range(15):
        async with budget.slot():
            waits.append(budget.last_wait)
    # A burst of 10 is free; waits are no-ops here, so each later request's slot lies a
    # further 1/10 s ahead: the 15th may start half a second after the burst.
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.1, abs=0.02)
    assert waits[14] == pytest.approx(0.5, abs=0.02)
