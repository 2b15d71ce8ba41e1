"""Conformance: google-api-python-client + google-auth read the emulator's ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from idpsync.emulators.google import GoogleEmulator

SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
]


def _all(request: Any, collection: Any, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while request is not None:
        page = request.execute()
        items += page.get(key, [])
        request = collection.list_next(request, page)
    return items


@pytest.mark.slow
def test_official_client_reads_ground_truth() -> None:
    emu = GoogleEmulator.generate(users=620, groups=30, seed=3)
    t = emu.tenant
    with emu.serve() as server:
        info = emu.service_account_info(f"{server.url}/token")
        creds = service_account.Credentials.from_service_account_info(
            info, scopes=SCOPES, subject=emu.admin_email
        )
        service = build(
            "admin",
            "directory_v1",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": server.url + "/"},
            cache_discovery=False,
        )
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
        info = emu.service_account_info(f"{server.url}/token")
        creds = service_account.Credentials.from_service_account_info(
            info, scopes=SCOPES, subject=emu.admin_email
        )
        service = build(
            "admin",
            "directory_v1",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": server.url + "/"},
            cache_discovery=False,
        )
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
