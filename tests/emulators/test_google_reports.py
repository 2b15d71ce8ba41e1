"""The Google emulator's admin activity log (Reports API) and batch endpoint."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from idpsync.emulators.google import GoogleEmulator

REPORTS = "https://admin.googleapis.com/admin/reports/v1/activity/users/all/applications/admin"
AUDIT = "https://www.googleapis.com/auth/admin.reports.audit.readonly"


def token(emu: GoogleEmulator, *scopes: str) -> str:
    from idpsync.emulators.google.auth import READ_SCOPES, Grant

    wanted = frozenset(scopes or (*READ_SCOPES, AUDIT))
    return emu.oauth.issue(Grant(emu.client_id, emu.admin_email, wanted))


async def get(emu: GoogleEmulator, url: str, bearer: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=emu.transport()) as client:
        return await client.get(url, params=params, headers={"authorization": f"Bearer {bearer}"})


async def test_changes_are_logged_with_googles_names_and_paged() -> None:
    emu = GoogleEmulator.generate(users=30, groups=4, seed=1)
    t = emu.tenant
    user, group = t.user_ids[3], t.group_ids[0]
    t.update_user(user, enabled=False)
    t.add_member(group, t.user_ids[4])
    t.rename_group(group, "Other name")
    bearer = token(emu)
    first = (await get(emu, REPORTS, bearer, maxResults="2")).json()
    assert [i["events"][0]["name"] for i in first["items"]] == [
        "CHANGE_GROUP_NAME",
        "ADD_GROUP_MEMBER",
    ]  # newest first
    rest = await get(emu, REPORTS, bearer, maxResults="2", pageToken=first["nextPageToken"])
    last = rest.json()["items"]
    assert "nextPageToken" not in rest.json()
    event = last[0]["events"][0]
    assert (event["type"], event["name"]) == ("USER_SETTINGS", "SUSPEND_USER")
    assert event["parameters"] == [{"name": "USER_EMAIL", "value": t.login(t.users[user])}]
    member = first["items"][1]["events"][0]["parameters"]
    assert {p["name"] for p in member} == {"GROUP_EMAIL", "USER_EMAIL"}
    only = (await get(emu, REPORTS, bearer, eventName="SUSPEND_USER")).json()
    assert len(only["items"]) == 1


async def test_lag_start_time_retention_and_scope() -> None:
    emu = GoogleEmulator.generate(users=10, groups=2, seed=1, report_lag=60.0)
    now = [time.time()]
    emu.tenant.activity.clock = lambda: now[0]
    emu.tenant.update_user(emu.tenant.user_ids[1], display_name="X")
    bearer = token(emu)
    assert "items" not in (await get(emu, REPORTS, bearer)).json()  # not reported yet
    now[0] += 61
    assert len((await get(emu, REPORTS, bearer)).json()["items"]) == 1
    later = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now[0]))
    assert "items" not in (await get(emu, REPORTS, bearer, startTime=later)).json()
    old = await get(emu, REPORTS, bearer, startTime="2020-01-01T00:00:00.000Z")
    assert old.status_code == 400
    directory_only = token(emu, "https://www.googleapis.com/auth/admin.directory.user.readonly")
    refused = await get(emu, REPORTS, directory_only)
    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def _batch_body(paths: list[str], bearer: str | None = None) -> tuple[str, bytes]:
    parts = []
    for i, path in enumerate(paths):
        auth = f"Authorization: Bearer {bearer}\r\n" if bearer else ""
        parts.append(
            f"--b\r\nContent-Type: application/http\r\nContent-ID: <c{i}>\r\n\r\n"
            f"GET {path} HTTP/1.1\r\n{auth}\r\n"
        )
    return "multipart/mixed; boundary=b", ("".join(parts) + "--b--\r\n").encode()


async def post(emu: GoogleEmulator, content_type: str, body: bytes, bearer: str) -> Any:
    async with httpx.AsyncClient(transport=emu.transport()) as client:
        return await client.post(
            "https://admin.googleapis.com/batch/admin/directory_v1",
            content=body,
            headers={"content-type": content_type, "authorization": f"Bearer {bearer}"},
        )


async def test_batch_charges_every_inner_call_and_limits_the_size() -> None:
    emu = GoogleEmulator.generate(users=10, groups=3, seed=1, quota=2)
    bearer = token(emu)
    gid = emu.tenant.gid(emu.tenant.group_ids[0])
    paths = [f"/admin/directory/v1/groups/{gid}/members"] * 3
    content_type, body = _batch_body(paths)
    answer = await post(emu, content_type, body, bearer)
    assert answer.status_code == 200
    text = answer.text
    assert text.count("HTTP/1.1 200 OK") == 2  # the quota (2 a minute) refuses the third
    assert "HTTP/1.1 403 Forbidden" in text and "userRateLimitExceeded" in text
    assert "Content-ID: <response-c2>" in text
    assert len(emu.requests) == 1 and len(emu.batched) == 3
    too_many = _batch_body(["/admin/directory/v1/users?customer=my_customer"] * 1001)
    assert (await post(emu, *too_many, bearer)).status_code == 400


def _sdk_batch(emu: GoogleEmulator, url: str) -> tuple[Any, Any, dict[str, Any]]:
    """google-api-python-client's Directory service on the emulator served at ``url``, a batch
    on it, and the answers the batch's callback collects (request id → (response, error))."""
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    scopes = ["https://www.googleapis.com/auth/admin.directory.group.member.readonly"]
    creds = service_account.Credentials.from_service_account_info(
        emu.service_account_info(f"{url}/token"), scopes=scopes, subject=emu.admin_email
    )
    service = build(
        "admin",
        "directory_v1",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": url + "/"},
        cache_discovery=False,
    )
    got: dict[str, Any] = {}
    batch = service.new_batch_http_request(callback=lambda i, r, e: got.update({i: (r, e)}))
    # the batch URL comes from the discovery document's rootUrl, not api_endpoint
    batch._batch_uri = url + "/batch/admin/directory_v1"
    return service, batch, got


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # httplib2's pool
def test_official_client_batch() -> None:
    emu = GoogleEmulator.generate(users=60, groups=6, seed=3)
    t = emu.tenant
    with emu.serve() as server:
        service, batch, got = _sdk_batch(emu, server.url)
        for g in t.group_ids:
            batch.add(service.members().list(groupKey=t.gid(g), maxResults=200), request_id=g)
        batch.add(service.members().list(groupKey="none@example.com"), request_id="none")
        batch.execute()
        service.close()
    for g in t.group_ids:
        response, error = got[g]
        assert error is None
        listed = {m["id"] for m in response.get("members", [])}
        assert {t.gid(m) for m in t.member_list(g) if m in t.users} <= listed
    assert got["none"][1].status_code == 404
    assert emu.requests.count("/batch/admin/directory_v1", method="POST") == 1
    assert len(emu.batched) == len(t.group_ids) + 1


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # httplib2's pool
def test_official_client_batch_of_the_documented_1000_calls() -> None:
    """The SDK sends 1,000 calls in one batch (and refuses a 1,001st itself); each is answered."""
    from googleapiclient.errors import BatchError

    emu = GoogleEmulator.generate(users=30, groups=4, seed=5)
    t = emu.tenant
    with emu.serve() as server:
        service, batch, got = _sdk_batch(emu, server.url)
        for n in range(1000):
            group = t.group_ids[n % len(t.group_ids)]
            call = service.members().list(groupKey=t.gid(group), maxResults=1)
            batch.add(call, request_id=str(n))
        with pytest.raises(BatchError):
            batch.add(service.members().list(groupKey=t.gid(t.group_ids[0])), request_id="x")
        batch.execute()
        service.close()
    assert len(got) == 1000 and all(error is None for _, error in got.values())
    assert emu.requests.count("/batch/admin/directory_v1", method="POST") == 1
    assert len(emu.batched) == 1000


async def test_batch_parts_take_users_and_groups_listings_and_their_faults() -> None:
    """Users and groups listings are ordinary GETs of the API in a batch; an injected fault
    acts on the matching part only, as on a request sent alone."""
    from idpsync.emulators import Fault

    emu = GoogleEmulator.generate(users=30, groups=4, seed=1)
    bearer = token(emu)
    users = "/admin/directory/v1/users?customer=my_customer&maxResults=10"
    groups = "/admin/directory/v1/groups?customer=my_customer&maxResults=2"
    first = await post(emu, *_batch_body([users, groups]), bearer)
    assert first.text.count("HTTP/1.1 200 OK") == 2
    assert '"kind": "admin#directory#users"' in first.text.replace('":"', '": "')
    token_used = first.text.split('"nextPageToken"')[1].split('"')[1]
    follow = f"{users}&pageToken={token_used}"
    emu.inject(Fault("repeat_page", "/admin/directory/v1/users", nth=1))
    emu.inject(Fault("status", "/admin/directory/v1/groups", status=503))
    second = await post(emu, *_batch_body([follow, groups]), bearer)
    assert second.status_code == 200 and len(emu.requests) == 2
    repeated, refused = second.text.split("Content-ID: <response-c1>")
    assert "HTTP/1.1 200 OK" in repeated and f'"{token_used}"' in repeated.replace(": ", ":")
    assert "HTTP/1.1 503" in refused and "backendError" in refused
    assert [r.status for r in emu.batched.entries()] == [200, 200, 200, 503]


async def test_a_batch_is_answered_within_its_latency() -> None:
    """The batch's calls are made as it comes and its answer held for the latency (the batch
    log's length at once, the answer's time on the loop's clock; no time asserted)."""
    import asyncio

    from idpsync.emulators.injection import Latency

    emu = GoogleEmulator.generate(users=10, groups=3, seed=1, latency=Latency(fixed_ms=300))
    bearer = token(emu)
    gid = emu.tenant.gid(emu.tenant.group_ids[0])
    content_type, body = _batch_body([f"/admin/directory/v1/groups/{gid}/members"] * 2)
    loop = asyncio.get_running_loop()
    asked = loop.time()
    answer = asyncio.ensure_future(post(emu, content_type, body, bearer))
    while not answer.done() and len(emu.batched) < 2:
        await asyncio.sleep(0.01)
    assert loop.time() - asked < 0.3 and len(emu.batched) == 2  # answered inside, not yet sent
    assert (await answer).status_code == 200 and loop.time() - asked >= 0.3
