"""The OneLogin protocol functions (no network): cursors, records, status mapping, budget."""

from __future__ import annotations

import httpx
import pytest

from idpsync.config import ConfigError, parse_config
from idpsync.errors import RepeatedPage, SourceError
from idpsync.http.endpoint import Endpoint
from idpsync.http.paging import Page, Paginator, records_of
from idpsync.http.stats import RequestStats
from idpsync.sources.onelogin.budget import BudgetStop, CallBudget, CallPacer
from idpsync.sources.onelogin.endpoints import GROUPS, TOKEN, USERS, base_url, page_records
from idpsync.sources.onelogin.records import Activity, to_role, to_user
from idpsync.sources.shape import BadRecord
from tests.sources.onelogin_support import settings

ACTIVE = Activity(frozenset({1, 3, 4, 5, 7, 8}), frozenset({1}))


def response(headers: dict[str, str] | None = None, body: object = None) -> httpx.Response:
    request = httpx.Request("GET", "https://acme.onelogin.com/api/2/users")
    return httpx.Response(200, headers=headers or {}, json=body, request=request)


def page(headers: dict[str, str] | None = None, body: object = None) -> Page:
    """A page as the client hands it to a listing's paginator."""
    return Page(response(headers, body), body, [], 1)


def advance(endpoint: Endpoint, paging: Paginator, answer: Page) -> dict[str, str] | None:
    """What the endpoint's paginator sends next (``None``: the listing is finished)."""
    return dict(paging.params) if paging.advance(answer, endpoint.label) else None


def test_header_cursor_is_decoded_once_and_a_repeat_is_an_error() -> None:
    assert USERS.paging is not None
    paging = USERS.paging()
    cursor = advance(USERS, paging, page({"After-Cursor": "bGltaXQ9NyZwYWdlPTI%3D"}))
    assert cursor == {"cursor": "bGltaXQ9NyZwYWdlPTI="}
    assert advance(USERS, paging, page({})) is None
    with pytest.raises(RepeatedPage, match="twice"):
        advance(USERS, paging, page({"After-Cursor": "bGltaXQ9NyZwYWdlPTI="}))


def test_body_cursor_reads_pagination_and_refuses_a_repeat() -> None:
    assert GROUPS.paging is not None
    paging = GROUPS.paging()
    body = {"pagination": {"after_cursor": "abc"}, "data": []}
    assert advance(GROUPS, paging, page(body=body)) == {"after_cursor": "abc"}
    end = {"pagination": {"after_cursor": None}, "data": []}
    assert advance(GROUPS, paging, page(body=end)) is None
    with pytest.raises(RepeatedPage, match="twice"):
        advance(GROUPS, paging, page(body=body))
    assert page_records(page(body={"data": [{"id": 1}]}), GROUPS) == [{"id": 1}]
    with pytest.raises(SourceError):  # a v1 page without its records is broken, not empty
        page_records(page(body={"status": {}}), GROUPS)
    with pytest.raises(SourceError):  # a v2 page is a bare array
        records_of({"status": {}}, USERS.records, USERS.label)


@pytest.mark.parametrize(
    ("status", "state", "active"),
    [(1, 1, True), (0, 1, False), (2, 1, False), (3, 1, True), (7, 1, True), (1, 0, False),
     (1, 3, False), (None, None, True)],
)  # fmt: skip
def test_status_and_state_codes(status: int | None, state: int | None, active: bool) -> None:
    assert ACTIVE.active({"status": status, "state": state}) is active


def test_user_record_to_source_user() -> None:
    item = {
        "id": 42, "username": "ada", "email": "ada@example.org", "firstname": "Ada",
        "lastname": "Lovelace", "status": 2, "state": 1, "manager_user_id": 7,
        "department": "R&D", "custom_attributes": {"badge": "B-1", "empty": None},
    }  # fmt: skip
    user = to_user(item, ACTIVE)
    assert (user.source_id, user.login, user.display_name) == ("42", "ada", "Ada Lovelace")
    assert user.active is False and user.manager_id == "7"
    assert user.attributes["status"] == "suspended"
    assert user.attributes["custom_attributes"] == {"badge": "B-1"}  # empty values left out
    assert user.attributes["lastname"] == "Lovelace"  # raw names for policy.mapping
    assert to_user({**item, "username": ""}, ACTIVE).login == "ada@example.org"
    with pytest.raises(BadRecord, match="no username"):  # skipped as a record, not fatal
        to_user({"id": 1}, ACTIVE)
    assert to_role({"id": 9, "name": "Admins"}, "role: ").name == "role: Admins"


def test_budget_message_names_floor_and_reset_time() -> None:
    budget = CallBudget(minimum=100)
    budget.observe_headers(
        {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "80", "x-ratelimit-reset": "1500"},
        now=1_000_000.0,
    )
    assert budget.low
    assert budget.reset_text(now=1_000_000.0) == "at 14:11 UTC (in 25 min)"
    message = budget.message("GET /api/2/users")
    assert "only 80 of 5000 calls left" in message and "min_remaining_calls = 100" in message
    assert not CallBudget(minimum=0).low


def test_budget_counts_calls_in_flight_and_ignores_late_higher_readings() -> None:
    def reading(remaining: int, reset: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
        }

    budget = CallBudget(minimum=10)
    budget.observe_headers(reading(12, 1500), now=1_000_000.0)
    assert not budget.low
    budget.in_flight = 2  # two calls out: 12 − 2 is the floor
    assert budget.low
    budget.in_flight = 0
    budget.observe_headers(reading(11, 1499), now=1_000_001.0)
    budget.observe_headers(reading(13, 1500), now=1_000_001.5)  # an earlier call's answer
    assert budget.remaining == 11
    budget.observe_headers(reading(4990, 3600), now=1_001_500.0)  # the next hour
    assert budget.remaining == 4990 and not budget.low


DATE = "Thu, 03 Dec 2026 14:00:00 GMT"


async def test_pacer_holds_only_a_read_to_the_floor_and_a_429_ends_it() -> None:
    stats = RequestStats()
    pacer = CallPacer(CallBudget(minimum=10), stats)
    users, token = USERS.resolve("https://acme.onelogin.com"), TOKEN.resolve("https://x")
    low = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "10", "date": DATE}
    pacer.after(users, response(low))  # outside a read: not counted, nothing learnt
    assert pacer.budget.remaining is None
    with pacer.watch():
        await pacer.before(users)
        assert pacer.budget.in_flight == 1
        pacer.after(users, response(low))
        assert (pacer.budget.in_flight, pacer.budget.remaining) == (0, 10)
        assert pacer.first_answer is not None and pacer.first_answer.year == 2026
        with pytest.raises(BudgetStop, match="min_remaining_calls = 10"):
            await pacer.before(users)
        await pacer.before(token)  # the token request is not held back
    await pacer.before(users)  # nor is anything outside a read (idpsync check)
    assert pacer.budget.in_flight == 0
    pacer = CallPacer(CallBudget(minimum=0), stats)
    with pacer.watch(), pytest.raises(BudgetStop, match="OneLogin answered 429"):
        await pacer.before(users)
        pacer.after(users, httpx.Response(429, request=httpx.Request("GET", users.url)))
    assert stats.throttled == 1 and pacer.budget.remaining == 0


def test_settings_base_url_and_validation() -> None:
    from idpsync.emulators.onelogin import OneLoginEmulator

    emu = OneLoginEmulator.generate(users=1, groups=1, roles=1)
    cfg = settings(emu).model_copy(update={"base_url": None, "subdomain": "acme"})
    assert base_url(cfg) == "https://acme.onelogin.com"
    with pytest.raises(SourceError, match="subdomain"):
        base_url(settings(emu).model_copy(update={"base_url": None}))
    text = (
        '[connectors.x.source]\ntype = "onelogin"\nsubdomain = "acme.onelogin.com"\n'
        'client_id = "c"\nclient_secret = "env:NOPE_NOT_SET"\ngroups_from = "teams"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    problems = "\n".join(caught.value.problems)
    assert "connectors.x.source.subdomain: use the bare subdomain" in problems
    assert "connectors.x.source.groups_from" in problems
    assert "connectors.x.source.client_secret: environment variable NOPE_NOT_SET" in problems
