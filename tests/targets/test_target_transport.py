"""The request layer (dry-run, retries, error messages), configuration and schema."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idpsync.config import ConfigError, parse_config
from idpsync.http import Endpoint, HttpClient, build_http_client
from idpsync.http import client as http_module
from idpsync.http.settings import HttpSettings
from idpsync.store import Store
from idpsync.store.schema import metadata
from idpsync.targets import http_settings, scim_protocol
from idpsync.targets.client import TargetClient
from idpsync.targets.errors import (
    Conflict,
    DryRunRejected,
    Rejected,
    TargetAuthError,
    TargetDown,
)

SECRET = "s3cr3t-token-never-shown"


def endpoint(method: str, path: str = "/Users") -> Endpoint:
    return Endpoint(f"{method.lower()}_test", method, path, "a test call")


def http(
    handler: httpx.MockTransport,
    monkeypatch: pytest.MonkeyPatch,
    *,
    max_attempts: int = 4,
    dry_run: bool = False,
) -> TargetClient:
    client: HttpClient = build_http_client(
        HttpSettings(max_attempts=max_attempts),
        base_url="https://scim.example/v2",
        transport=handler,
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(http_module, "pause", sleep)
    layer = TargetClient(
        client,
        authorization=f"Bearer {SECRET}",
        dry_run=dry_run,
        read_error=scim_protocol.read_error,
    )
    layer.waits = waits  # type: ignore[attr-defined]
    return layer


async def test_dry_run_refuses_every_write_before_it_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(200, json={"Resources": [], "totalResults": 0})

    layer = http(httpx.MockTransport(handler), monkeypatch, dry_run=True)
    assert (await layer.send(endpoint("GET"))).status_code == 200
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(DryRunRejected) as caught:
            await layer.send(endpoint(method, "/Users/{id}"), {"id": "42"}, json={})
        assert caught.value.method == method and caught.value.url.endswith("/v2/Users/42")
    assert seen == ["GET"]
    assert [b.split()[0] for b in layer.blocked] == ["POST", "PUT", "PATCH", "DELETE"]


async def test_429_and_5xx_are_retried_honouring_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503),
            httpx.Response(201, json={"id": "1"}),
        ]
    )
    layer = http(httpx.MockTransport(lambda request: next(answers)), monkeypatch)
    response = await layer.send(endpoint("POST"), json={})
    assert response.status_code == 201
    assert layer.waits[0] == 7.0 and len(layer.waits) == 2  # type: ignore[attr-defined]


async def test_exhausted_retries_mean_the_target_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    layer = http(httpx.MockTransport(handler), monkeypatch, max_attempts=3)
    with pytest.raises(TargetDown) as caught:
        await layer.send(endpoint("GET"))
    assert layer.requests == 3
    assert "GET https://scim.example/v2/Users: cannot reach the target" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            409,
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName taken",
            },
            Conflict,
            "POST https://scim.example/v2/Users: HTTP 409 uniqueness: userName taken",
        ),
        (
            400,
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "bad filter",
            },
            Rejected,
            "HTTP 400 invalidFilter: bad filter",
        ),
        (401, {"detail": "no"}, TargetAuthError, "check the target's token"),
        (500, "<html>oops</html>", TargetDown, "HTTP 500: <html>oops</html>"),
    ],
)
async def test_error_bodies_become_clear_messages_without_secrets(
    status: int, body: object, error: type[Exception], text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = json.dumps(body) if isinstance(body, dict) else str(body)
    layer = http(
        httpx.MockTransport(lambda request: httpx.Response(status, text=content)),
        monkeypatch,
        max_attempts=1,
    )
    with pytest.raises(error) as caught:
        await layer.send(endpoint("POST"), params={"x": "1"}, json={})
    assert text in str(caught.value)
    assert SECRET not in str(caught.value)


def test_target_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_TOKEN", SECRET)
    settings = parse_config("""
[targets.jira]
type = "scim"
url = "https://api.atlassian.com/scim/directory/abc/"
token = "env:SCIM_TOKEN"
profile = "atlassian"
connectors = ["hr"]
[targets.jira.options]
members_per_patch = 20
""")
    target = settings.targets["jira"]
    assert target.url == "https://api.atlassian.com/scim/directory/abc"
    assert target.token is not None and target.token.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        parse_config('[targets.x]\ntype = "jira"\nurl = "https://x"\n', "t.toml")
    assert (
        "t.toml:2: targets.x.type: unknown target type (one of: crowd, ldap, scim)"
        in caught.value.problems
    )
    with pytest.raises(ConfigError) as inline:
        parse_config('[targets.x]\ntype = "scim"\nurl = "https://x"\ntoken = "abc"\n')
    assert "secrets are not written inline" in str(inline.value)


def test_schema_matches_migrations(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


async def test_listing_pages_and_refuses_a_repeating_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from idpsync.config import TargetOptions
    from idpsync.targets.errors import TargetError
    from idpsync.targets.scim import ScimTarget

    users = [{"id": str(n), "userName": f"u{n}"} for n in range(5)]
    starts: list[str] = []

    def paged(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        starts.append(request.url.params["startIndex"])
        page = users[start - 1 : start - 1 + int(request.url.params["count"])]
        return httpx.Response(200, json={"totalResults": 5, "Resources": page})

    target = ScimTarget(http(httpx.MockTransport(paged), monkeypatch), TargetOptions(page_size=2))
    assert [u.fields["login"] for u in await target.list_users()] == [f"u{n}" for n in range(5)]
    assert starts == ["1", "3", "5"]

    def stuck(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"totalResults": 5, "Resources": users[:2]})

    target = ScimTarget(http(httpx.MockTransport(stuck), monkeypatch), TargetOptions(page_size=2))
    with pytest.raises(TargetError, match="repeats earlier resources"):
        await target.list_users()


def test_the_http_table_wins_and_options_fill_in_where_it_is_silent() -> None:
    plain = http_settings(
        parse_config('[targets.x]\ntype = "scim"\nurl = "https://x"\n').targets["x"]
    )
    assert (plain.max_attempts, plain.connect_timeout, plain.read_timeout) == (4, 30.0, 30.0)
    settings = parse_config("""
[targets.x]
type = "scim"
url = "https://x"
[targets.x.options]
max_attempts = 2
timeout = 5
[targets.x.http]
read_timeout = 90
proxy = "http://proxy.example:3128"
ca_bundle = "/etc/idpsync/ca.pem"
""").targets["x"]
    http = http_settings(settings)
    assert (http.max_attempts, http.connect_timeout, http.read_timeout) == (2, 5.0, 90.0)
    assert (http.proxy, http.ca_bundle) == ("http://proxy.example:3128", "/etc/idpsync/ca.pem")
    with pytest.raises(ConfigError, match=r"targets\.x\.http\.proxi"):
        parse_config('[targets.x]\ntype = "scim"\nurl = "https://x"\n[targets.x.http]\nproxi = 1\n')


async def test_unreadable_answers_and_crowd_error_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    from idpsync.errors import ShapeError
    from idpsync.targets import crowd_protocol
    from idpsync.targets.client import target_error
    from idpsync.targets.errors import NotFound, Unreadable

    answers = iter(
        [
            httpx.Response(200, text='{"Resources": [{"id": "r'),
            httpx.Response(
                404,
                headers={"Content-Type": "application/xml"},
                text="<error><reason>GROUP_NOT_FOUND</reason><message>no eng</message></error>",
            ),
        ]
    )
    layer = http(httpx.MockTransport(lambda request: next(answers)), monkeypatch)
    with pytest.raises(Unreadable, match=r"^the target answered something idpsync cannot read"):
        await layer.read(endpoint("GET"))
    layer.read_error = crowd_protocol.read_error
    with pytest.raises(NotFound) as missing:
        await layer.send(endpoint("DELETE", "/group"), params={"groupname": "eng"})
    assert missing.value.scim_type == "GROUP_NOT_FOUND" and "no eng" in str(missing.value)
    shape = target_error(ShapeError("GET /Users: 'Resources' is null, expected a list"))
    assert isinstance(shape, Unreadable) and "'Resources' is null" in str(shape)
