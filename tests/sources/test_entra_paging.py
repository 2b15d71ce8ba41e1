"""Entra delta rounds over a scripted server: next links to a delta link (issue #19)."""

from __future__ import annotations

import httpx
import pytest

from idpsync.errors import RepeatedPage, ShapeError
from idpsync.http import HttpClient, build_http_client, errors
from idpsync.http.settings import HttpSettings
from idpsync.sources.entra.delta import follow
from idpsync.sources.entra.endpoints import USERS_DELTA

BASE = "https://graph.test/v1.0"
START = f"{BASE}/users/delta?$deltatoken=old"
Bodies = dict[str, object]


def client(bodies: Bodies) -> tuple[HttpClient, list[str]]:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(200, json=bodies[request.url.params.get("$deltatoken", "")])

    http = build_http_client(
        HttpSettings(max_attempts=1), base_url=BASE, transport=httpx.MockTransport(answer)
    )
    return http, sent


def page(n: int, **links: str) -> object:
    return {"value": [{"id": str(n)}], **links}


async def test_a_round_follows_next_links_and_keeps_the_delta_link() -> None:
    http, sent = client(
        {
            "old": page(1, **{"@odata.nextLink": f"{BASE}/users/delta?$deltatoken=two"}),
            "two": page(2, **{"@odata.deltaLink": f"{BASE}/users/delta?$deltatoken=new"}),
        }
    )
    items, link = await follow(http, USERS_DELTA, START)
    await http.aclose()
    assert [x["id"] for x in items] == ["1", "2"]
    assert link == f"{BASE}/users/delta?$deltatoken=new"
    assert len(sent) == 2


@pytest.mark.parametrize(
    ("bodies", "error", "reason"),
    [
        ({"old": page(1)}, ShapeError, "neither next nor delta link"),
        ({"old": page(1, **{"@odata.nextLink": START})}, RepeatedPage, "twice"),
        (
            {"old": page(1, **{"@odata.deltaLink": "https://elsewhere.test/v1.0/users/delta"})},
            errors.ForeignOrigin,
            "another origin",
        ),
    ],
    ids=["no-link", "repeated-start", "foreign-delta-link"],
)
async def test_a_round_that_cannot_end_well_raises(
    bodies: Bodies, error: type[Exception], reason: str
) -> None:
    http, _ = client(bodies)
    with pytest.raises(error, match=reason):
        await follow(http, USERS_DELTA, START)
    await http.aclose()
