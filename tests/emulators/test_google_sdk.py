"""Conformance: google-api-python-client + google-auth read the emulator's ground truth."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.google.activity import REPORTS_PATH

SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
]
REPORTS = "https://www.googleapis.com/auth/admin.reports.audit.readonly"


def _all(request: Any, collection: Any, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while request is not None:
        page = request.execute()
        items += page.get(key, [])
        request = collection.list_next(request, page)
    return items


def _service(emu: GoogleEmulator, url: str, version: str, scopes: list[str]) -> Any:
    """The official client's ``admin`` ``version`` service, signed in to the emulator at ``url``
    with its service account (discovery from the package, nothing fetched)."""
    creds = service_account.Credentials.from_service_account_info(
        emu.service_account_info(f"{url}/token"), scopes=scopes, subject=emu.admin_email
    )
    return build(
        "admin",
        version,
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": url + "/"},
        cache_discovery=False,
    )


@pytest.mark.slow
def test_official_client_reads_ground_truth() -> None:
    emu = GoogleEmulator.generate(users=620, groups=30, seed=3)
    t = emu.tenant
    with emu.serve() as server:
        service = _service(emu, server.url, "directory_v1", SCOPES)
        users = _all(
            service.users().list(customer="my_customer", maxResults=500, orderBy="email"),
            service.users(),
            "users",
        )
        groups = _all(
            service.groups().list(customer="my_customer", maxResults=200),
            service.groups(),
            "groups",
        )
        members = {
            g["id"]: _all(
                service.members().list(groupKey=g["email"], maxResults=200),
                service.members(),
                "members",
            )
            for g in groups
        }
        one = service.users().get(userKey=users[3]["primaryEmail"]).execute()
        with pytest.raises(HttpError) as missing:
            service.users().get(userKey="nobody@example.com").execute()
        service.close()
    assert {u["id"] for u in users} == {t.gid(uid) for uid in t.users}
    assert [u["primaryEmail"] for u in users] == sorted(
        (t.login(u) for u in t.users.values()), key=str.lower
    )
    by_id = {t.gid(uid): u for uid, u in t.users.items()}
    for user in users:
        assert user["suspended"] is (not by_id[user["id"]].enabled)
        assert user["name"]["fullName"] == by_id[user["id"]].display_name
    assert {g["id"] for g in groups} == {t.gid(gid) for gid in t.groups}
    for gid, group in t.groups.items():
        got = {m["id"] for m in members[t.gid(gid)] if m["type"] != "CUSTOMER"}
        expected = {t.gid(m) for m in group.members if t.kind_of(m) != "device"}
        assert got == expected
    assert one["id"] == users[3]["id"]
    assert missing.value.status_code == 404
    assert missing.value.reason == "Resource Not Found: userKey"
    token_calls = emu.requests.count("/token", method="POST")
    assert token_calls == 1
    assert emu.requests.count("/admin/directory/v1/users", status=200) == 2


@pytest.mark.slow
def test_official_client_reads_custom_schemas_only_when_asked() -> None:
    emu = GoogleEmulator.generate(users=5, groups=1, seed=3)
    t = emu.tenant
    uid = t.user_ids[1]
    t.update_user(uid, custom={"HR": {"badge": "B-1", "sites": ["Oslo"]}, "IT": {"vpn": "yes"}})
    email = t.login(t.users[uid])
    with emu.serve() as server:
        service = _service(emu, server.url, "directory_v1", SCOPES)
        users = service.users()
        basic = users.get(userKey=email).execute()
        custom = users.list(
            customer="my_customer", projection="custom", customFieldMask="HR"
        ).execute()
        full = users.get(userKey=email, projection="full").execute()
        with pytest.raises(HttpError) as no_mask:
            users.get(userKey=email, projection="custom").execute()
        service.close()
    assert "customSchemas" not in basic
    listed = {u["primaryEmail"]: u for u in custom["users"]}
    assert listed[email]["customSchemas"] == {"HR": {"badge": "B-1", "sites": [{"value": "Oslo"}]}}
    assert full["customSchemas"]["IT"] == {"vpn": "yes"}
    assert no_mask.value.status_code == 400


@pytest.mark.slow
def test_official_client_reads_the_admin_activity_log_by_window_and_page() -> None:
    """``reports_v1`` ``activities().list(userKey="all", applicationName="admin")`` as the
    incremental read asks it: a ``startTime``/``endTime`` window, an ``eventName``, and paging
    by ``pageToken`` (``list_next``), newest first, each activity once."""
    from idpsync.emulators.google.activity import stamp

    emu = GoogleEmulator.generate(users=20, groups=3, seed=4)
    t = emu.tenant
    now = [time.time() - 900.0]
    t.activity.clock = lambda: now[0]
    group = t.group_ids[0]
    changes = []
    for uid in t.user_ids[1:9]:
        if uid in t.groups[group].members:
            t.update_user(uid, enabled=False)
        else:
            t.add_member(group, uid)
        changes.append((now[0], t.activity.items[-1].name, t.login(t.users[uid])))
        now[0] += 10.0
    now[0] = time.time()
    start, end = stamp(changes[1][0] - 1), stamp(changes[6][0] + 1)  # changes 1 to 6
    with emu.serve() as server:
        service = _service(emu, server.url, "reports_v1", [REPORTS])
        activities = service.activities()
        window = activities.list(
            userKey="all", applicationName="admin", startTime=start, endTime=end, maxResults=4
        )
        got = _all(window, activities, "items")
        added = _all(
            activities.list(
                userKey="all", applicationName="admin", eventName="ADD_GROUP_MEMBER", maxResults=1
            ),
            activities,
            "items",
        )
        service.close()
    wanted = list(reversed(changes[1:7]))  # newest first
    assert [(a["events"][0]["name"], _param(a, "USER_EMAIL")) for a in got] == [
        (name, email) for _, name, email in wanted
    ]
    assert [a["id"]["time"] for a in got] == [stamp(when) for when, _, _ in wanted]
    assert all(a["id"]["applicationName"] == "admin" for a in got)
    assert len({(a["id"]["time"], a["id"]["uniqueQualifier"]) for a in got}) == 6
    assert [_param(a, "USER_EMAIL") for a in added] == [
        email for _, name, email in reversed(changes) if name == "ADD_GROUP_MEMBER"
    ]
    assert all(_param(a, "GROUP_EMAIL") == t.group_email(group) for a in added)
    assert emu.requests.count(REPORTS_PATH, status=200) == 2 + len(added)  # ⌈6 / 4⌉ + one each


def _param(activity: dict[str, Any], name: str) -> str | None:
    """The value of one parameter of an activity's first event."""
    params = activity["events"][0].get("parameters", [])
    return next((p["value"] for p in params if p["name"] == name), None)


@pytest.mark.slow
def test_official_client_asks_one_member_of_a_group_alone_and_in_a_batch() -> None:
    emu = GoogleEmulator.generate(users=30, groups=4, seed=5)
    t = emu.tenant
    gid = min(t.group_ids, key=lambda g: len(t.groups[g].members))  # 3 users of 30 and more
    inside = next(m for m in t.groups[gid].members if m in t.users)
    outside = next(u for u in t.user_ids if u not in t.groups[gid].members)
    group, user = t.group_email(gid), t.users[inside]
    answers: dict[str, Any] = {}
    with emu.serve() as server:
        service = _service(emu, server.url, "directory_v1", SCOPES)
        members = service.members()
        by_mail = members.get(groupKey=group, memberKey=t.login(user)).execute()
        by_id = members.get(groupKey=t.gid(gid), memberKey=t.gid(inside)).execute()
        with pytest.raises(HttpError) as absent:
            members.get(groupKey=group, memberKey=t.login(t.users[outside])).execute()
        with pytest.raises(HttpError) as no_group:
            members.get(groupKey="nothing@" + t.domain, memberKey=t.login(user)).execute()
        # the discovery's batchPath is joined to Google's root URL, not to api_endpoint
        batch = BatchHttpRequest(batch_uri=server.url + "/batch/admin/directory_v1")
        for key, member in (("in", inside), ("out", outside)):
            call = members.get(groupKey=group, memberKey=t.gid(member))
            batch.add(
                call,
                request_id=key,
                callback=lambda rid, body, exc: answers.update({rid: (body, exc)}),
            )
        batch.execute()
        service.close()
    assert by_mail == by_id
    assert by_mail["id"] == t.gid(inside) and by_mail["type"] == "USER"
    assert by_mail["email"] == t.login(user) and by_mail["kind"] == "admin#directory#member"
    assert absent.value.status_code == 404
    assert absent.value.reason == "Resource Not Found: memberKey"
    assert no_group.value.status_code == 404
    assert no_group.value.reason == "Resource Not Found: groupKey"
    assert answers["in"][0]["id"] == t.gid(inside) and answers["in"][1] is None
    assert answers["out"][0] is None and answers["out"][1].status_code == 404
    assert sorted(e.status for e in emu.batched if "/members/" in e.path) == [200, 404]
