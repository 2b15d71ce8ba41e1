"""The paginators and ``HttpClient.pages`` over a scripted server (issue #19, item 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from idpsync.errors import RepeatedPage, ShapeError
from idpsync.http import Endpoint, errors
from idpsync.http.failure import DEFAULT_RULE, FailureRule, missing_base
from idpsync.http.paging import (
    BodyLink,
    BodyToken,
    HeaderCursor,
    LinkHeader,
    Offset,
    PageNumber,
    Paginator,
    StartIndex,
)
from tests.http.recording import BASE
from tests.http.recording import recording_client as client

ITEMS = [{"id": str(i)} for i in range(7)]


def endpoint(paging: Callable[[], Paginator], records: str | None = "items") -> Endpoint:
    return Endpoint("things", "GET", "/things", "list things", paging=paging, records=records)


def param(request: httpx.Request, name: str, default: str = "") -> str:
    return request.url.params.get(name, default)


@pytest.mark.asyncio
async def test_link_header_follows_rel_next_and_keeps_the_callers_query_in_the_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        after = int(param(request, "after", "0"))
        headers = {}
        if after + 3 < len(ITEMS):
            headers["link"] = f'<{BASE}/things?after={after + 3}&limit=3>; rel="next"'
        return httpx.Response(200, json=ITEMS[after : after + 3], headers=headers)

    http, sent = client(handler)
    found = await http.read_all(endpoint(LinkHeader, None), params={"limit": "3"})
    assert found == ITEMS
    assert str(sent[0].url) == f"{BASE}/things?limit=3"
    assert [param(r, "after") for r in sent] == ["", "3", "6"]


@pytest.mark.asyncio
async def test_body_link_and_a_repeated_link_is_refused_once_for_all() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [1], "@odata.nextLink": f"{BASE}/things?p=1"})

    http, sent = client(handler)
    with pytest.raises(RepeatedPage, match="twice"):
        await http.read_all(endpoint(BodyLink, "value"))
    assert len(sent) == 2


@pytest.mark.asyncio
async def test_body_token_sends_the_token_with_the_callers_parameters() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = param(request, "pageToken")
        at = int(token or "0")
        body: dict[str, Any] = {"users": ITEMS[at : at + 4]}
        if at + 4 < len(ITEMS):
            body["nextPageToken"] = str(at + 4)
        return httpx.Response(200, json=body)

    http, sent = client(handler)
    found = await http.read_all(endpoint(BodyToken, "users"), params={"customer": "my"})
    assert found == ITEMS
    assert [(param(r, "customer"), param(r, "pageToken")) for r in sent] == [
        ("my", ""),
        ("my", "4"),
    ]


@pytest.mark.asyncio
async def test_nested_body_token_and_an_absent_item_key_is_an_empty_page() -> None:
    answers = iter(
        [{"data": [1, 2], "pagination": {"after_cursor": "c1"}}, {"pagination": {}}],
    )
    http, sent = client(lambda _r: httpx.Response(200, json=next(answers)))
    paging = lambda: BodyToken("pagination.after_cursor", "after_cursor")  # noqa: E731
    assert await http.read_all(endpoint(paging, "data")) == [1, 2]
    assert param(sent[1], "after_cursor") == "c1"


@pytest.mark.asyncio
async def test_header_cursor_is_decoded_once() -> None:
    answers = iter([("a%2Bb", [1]), (None, [2])])

    def handler(request: httpx.Request) -> httpx.Response:
        cursor, items = next(answers)
        headers = {"after-cursor": cursor} if cursor else {}
        return httpx.Response(200, json=items, headers=headers)

    http, sent = client(handler)
    assert await http.read_all(endpoint(HeaderCursor, None)) == [1, 2]
    assert param(sent[1], "cursor") == "a+b"


@pytest.mark.parametrize(
    ("paging", "names"),
    [
        (lambda: Offset(3), ("first", "max")),
        (lambda: StartIndex(3), ("startIndex", "count")),
        (lambda: PageNumber(3), ("page", "page")),
    ],
    ids=["offset", "start-index", "page-number"],
)
@pytest.mark.asyncio
async def test_counting_paginators_read_every_item_once(
    paging: Callable[[], Paginator], names: tuple[str, str]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "startIndex" in request.url.params:
            at = int(param(request, "startIndex")) - 1
        elif "page" in request.url.params:
            at = (int(param(request, "page")) - 1) * 3
        else:
            at = int(param(request, "first"))
        page = ITEMS[at : at + 3]
        return httpx.Response(200, json={"items": page, "totalResults": len(ITEMS)})

    http, sent = client(handler)
    assert await http.read_all(endpoint(paging)) == ITEMS
    assert len(sent) == 3
    assert all(names[0] in r.url.params for r in sent)


@pytest.mark.asyncio
async def test_an_offset_that_trusts_no_short_page_reads_past_a_servers_silent_cap() -> None:
    cap = 2  # the server gives at most 2 whatever max= asks

    def handler(request: httpx.Request) -> httpx.Response:
        at = int(param(request, "first"))
        return httpx.Response(200, json={"items": ITEMS[at : at + cap]})

    http, sent = client(handler)
    assert await http.read_all(endpoint(lambda: Offset(5))) == ITEMS[:cap]  # trusts the cap
    http, sent = client(handler)
    assert await http.read_all(endpoint(lambda: Offset(5, short_ends=False))) == ITEMS
    assert [param(r, "first") for r in sent][-1] == str(len(ITEMS))  # the empty page ends it


@pytest.mark.asyncio
async def test_start_index_stops_on_an_empty_page_even_if_total_says_more() -> None:
    answers = iter([{"items": [1, 2], "totalResults": 100}, {"items": [], "totalResults": 100}])
    http, sent = client(lambda _r: httpx.Response(200, json=next(answers)))
    assert await http.read_all(endpoint(lambda: StartIndex(2))) == [1, 2]
    assert len(sent) == 2


@pytest.mark.parametrize(
    ("body", "records"),
    [([1], "items"), ({"items": "x"}, "items"), ({"items": []}, None)],
    ids=["array-for-object", "items-not-list", "object-for-array"],
)
@pytest.mark.asyncio
async def test_a_page_of_the_wrong_shape_is_a_shape_error(body: Any, records: str | None) -> None:
    http, _ = client(lambda _r: httpx.Response(200, json=body))
    with pytest.raises(ShapeError, match="GET /things"):
        await http.read_all(endpoint(BodyToken, records))


@pytest.mark.asyncio
async def test_a_token_that_is_not_text_is_a_shape_error() -> None:
    http, _ = client(lambda _r: httpx.Response(200, json={"items": [], "nextPageToken": 5}))
    with pytest.raises(ShapeError, match="nextPageToken"):
        await http.read_all(endpoint(BodyToken))


@pytest.mark.asyncio
async def test_an_absent_status_reads_as_none() -> None:
    manager = Endpoint("manager", "GET", "/users/{id}/manager", "manager", absent=frozenset({404}))
    http, _ = client(lambda _r: httpx.Response(404, json={"error": "none"}))
    assert await http.get_json(manager, {"id": "u1"}) is None
    plain = Endpoint("user", "GET", "/users/{id}", "one user")
    with pytest.raises(errors.NotFound):
        await http.get_json(plain, {"id": "u1"})


def failure(status: int, url: str = "/things") -> errors.HttpError:
    http, _ = client(lambda _r: httpx.Response(status))
    target = http.target(Endpoint("x", "GET", url, "x"), {"id": "1"} if "{id}" in url else {})
    from idpsync.http.translate_status import status_error

    request = httpx.Request("GET", target.url)
    return status_error(httpx.Response(status, request=request), target, 1, 0.0)


def test_one_failure_rule_config_errors_end_the_read_a_404_does_not() -> None:
    assert DEFAULT_RULE.fatal(failure(401)) and DEFAULT_RULE.fatal(failure(403))
    assert not DEFAULT_RULE.fatal(failure(404))
    assert not DEFAULT_RULE.fatal(failure(503)) and not DEFAULT_RULE.fatal(failure(400))
    assert not DEFAULT_RULE.fatal(ShapeError("bad page"))


def test_connector_overrides_of_the_rule() -> None:
    google = FailureRule(also_fatal=(errors.BadRequest,))
    assert google.fatal(failure(400)) and not google.fatal(failure(503))
    realm = FailureRule(custom=missing_base)
    assert realm.fatal(failure(404, "/things")) and not realm.fatal(failure(404, "/things/{id}"))
