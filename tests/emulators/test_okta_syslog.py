"""The Okta emulator's System Log (``GET /api/v1/logs``): events, bounded and polling paging,
filters, its own rate-limit bucket, retention and the ``okta.logs.read`` scope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from idpsync.emulators import TenantGroup, TenantUser
from idpsync.emulators.okta import OktaEmulator, logs_api
from idpsync.emulators.okta.syslog import RETENTION_DAYS
from tests.emulators.test_okta_api import ORG, Clock, assertion, client, ssws, token_form

EVER = {"since": "2020-01-01T00:00:00.000Z", "until": "2099-01-01T00:00:00.000Z"}


def org(clock: Clock | None = None) -> OktaEmulator:
    return OktaEmulator.generate(users=40, groups=5, seed=3, clock=clock or Clock())


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    return [(e["eventType"], {t["type"]: t["id"] for t in e["target"]}) for e in events]


def next_link(response: httpx.Response) -> bool:
    return any('rel="next"' in v for v in response.headers.get_list("link"))


async def test_each_kind_of_change_is_logged_with_its_targets() -> None:
    emu = org()
    t = emu.tenant
    gid, uid = t.group_ids[2], t.user_ids[5]
    member = next(iter(t.groups[gid].members))
    active = next(u for u in t.user_ids if emu.status_of(u) == "ACTIVE" and u != member)
    t.update_user(active, display_name="Renamed")
    emu.set_status(active, "SUSPENDED")
    emu.set_status(active, "ACTIVE")
    emu.set_status(active, "DEPROVISIONED")
    t.add_user(TenantUser("00unew", "new.one", "New One", "New", "One", None))
    t.add_member(gid, "00unew")
    t.remove_member(gid, member)
    t.add_group(TenantGroup("00gnew", "New group"))
    t.rename_group("00gnew", "Newer group")
    t.delete_group("00gnew")
    t.delete_user(uid)
    async with client(emu) as http:
        response = await http.get(
            "/api/v1/logs", params=EVER | {"limit": "1000"}, headers=ssws(emu)
        )
    assert response.status_code == 200 and not next_link(response)
    got = kinds(response.json())
    assert got[:9] == [
        ("user.account.update_profile", {"User": active}),
        ("user.lifecycle.suspend", {"User": active}),
        ("user.lifecycle.unsuspend", {"User": active}),
        ("user.lifecycle.deactivate", {"User": active}),
        ("user.lifecycle.create", {"User": "00unew"}),
        ("user.lifecycle.activate", {"User": "00unew"}),
        ("group.user_membership.add", {"User": "00unew", "UserGroup": gid}),
        ("group.user_membership.remove", {"User": member, "UserGroup": gid}),
        ("group.lifecycle.create", {"UserGroup": "00gnew"}),
    ]
    assert got[9:11] == [
        ("group.profile.update", {"UserGroup": "00gnew"}),
        ("group.lifecycle.delete", {"UserGroup": "00gnew"}),
    ]
    assert got[-1] == ("user.lifecycle.delete.initiated", {"User": uid})
    first = response.json()[0]
    assert first["outcome"] == {"result": "SUCCESS"}
    assert first["published"].endswith("Z") and len(first["uuid"]) == 36


async def test_bounded_pages_end_polling_pages_never_do() -> None:
    emu = org()
    t = emu.tenant
    for uid in t.user_ids[:5]:
        t.update_user(uid, job_title="Changed")
    async with client(emu) as http:
        bounded = await http.get("/api/v1/logs", params=EVER | {"limit": "2"}, headers=ssws(emu))
        assert len(bounded.json()) == 2 and next_link(bounded)
        pages, url = 0, "/api/v1/logs"
        params: dict[str, str] | None = EVER | {"limit": "2"}
        while True:
            page = await http.get(url, params=params, headers=ssws(emu))
            pages += 1
            links = [v for v in page.headers.get_list("link") if 'rel="next"' in v]
            if not links:
                break
            url, params = links[0].split(">")[0][1:], None
        assert pages == 3
        polled = await http.get("/api/v1/logs", params={"limit": "1000"}, headers=ssws(emu))
        assert len(polled.json()) == 5 and next_link(polled)  # no until: always a next link
        cursor = next(v for v in polled.headers.get_list("link") if 'rel="next"' in v)
        empty = await http.get(cursor.split(">")[0][1:], headers=ssws(emu))
        assert empty.json() == [] and next_link(empty)  # poll until an empty page


async def test_filter_limit_cap_bad_times_and_own_bucket() -> None:
    emu = org()
    t = emu.tenant
    gid = t.group_ids[1]
    for uid in t.user_ids[:3]:
        t.add_member(gid, uid)
    t.update_user(t.user_ids[0], job_title="x")
    async with client(emu) as http:
        wanted = {"filter": 'eventType eq "group.user_membership.add"', "limit": "5000"}
        response = await http.get("/api/v1/logs", params=EVER | wanted, headers=ssws(emu))
        assert [e["eventType"] for e in response.json()] == ["group.user_membership.add"] * 3
        assert response.headers["x-rate-limit-limit"] == "120"  # the /api/v1/logs bucket
        users = await http.get("/api/v1/users", params={"limit": "1"}, headers=ssws(emu))
        assert users.headers["x-rate-limit-limit"] == "600"
        bad = await http.get("/api/v1/logs", params={"since": "yesterday"}, headers=ssws(emu))
        assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000001"
        sw = {"filter": 'eventType sw "user."'}
        starts = await http.get("/api/v1/logs", params=EVER | sw, headers=ssws(emu))
        assert [e["eventType"] for e in starts.json()] == ["user.account.update_profile"]


async def test_events_older_than_the_retention_are_gone() -> None:
    clock = Clock()
    emu = org(clock)
    emu.tenant.update_user(emu.tenant.user_ids[0], job_title="old")
    async with client(emu) as http:
        assert len((await http.get("/api/v1/logs", params=EVER, headers=ssws(emu))).json()) == 1
        clock.now += (RETENTION_DAYS + 1) * 86400
        assert (await http.get("/api/v1/logs", params=EVER, headers=ssws(emu))).json() == []


async def test_an_app_without_okta_logs_read_is_refused() -> None:
    emu = OktaEmulator.generate(users=10, groups=2, seed=3)  # real clock: the assertion's
    app = emu.register_app(scopes=("okta.users.read", "okta.groups.read"))
    async with client(emu) as http:
        form = token_form(app.client_id, assertion(app.private_key_pem, app.client_id))
        token = (await http.post(f"{ORG}/oauth2/v1/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        response = await http.get("/api/v1/logs", headers=headers)
    assert response.status_code == 403
    assert 'scope="okta.logs.read"' in response.headers["www-authenticate"]


async def test_paging_through_the_log_looks_at_each_event_about_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page starts at its cursor and stops one event past its limit, in either order."""
    emu = org()
    t = emu.tenant
    gid = t.group_ids[1]
    for uid in t.user_ids[:30]:
        (t.remove_member if uid in t.groups[gid].members else t.add_member)(gid, uid)
        t.update_user(uid, job_title="Changed")  # events the filter drops, between the others
    looked: list[str] = []
    flat = logs_api._flat

    def counted(body: dict[str, Any]) -> dict[str, str | None]:
        looked.append(body["uuid"])
        return flat(body)

    monkeypatch.setattr(logs_api, "_flat", counted)
    wanted = {"filter": 'eventType sw "group.user_membership."', "limit": "4"}
    async with client(emu) as http:
        orders: dict[str, list[str]] = {}
        for order in ("ASCENDING", "DESCENDING"):
            looked.clear()
            url, params = "/api/v1/logs", EVER | wanted | {"sortOrder": order}
            got: list[str] = []
            pages = 0
            while url:
                page = await http.get(url, params=params, headers=ssws(emu))
                got += [e["uuid"] for e in page.json()]
                pages += 1
                links = [v for v in page.headers.get_list("link") if 'rel="next"' in v]
                url, params = (links[0].split(">")[0][1:] if links else ""), None
            assert len(got) == 30 and pages == 8
            assert len(looked) <= 60 + 8 * 2  # 60 events (30 kept), a look-ahead a page
            orders[order] = got
    assert orders["DESCENDING"] == orders["ASCENDING"][::-1]


async def read_all(http: httpx.AsyncClient, emu: OktaEmulator, params: dict[str, str]) -> list[Any]:
    """Every event of a bounded query, following the next links."""
    events: list[Any] = []
    url, query = "/api/v1/logs", dict(params) or None
    for _ in range(100):  # the next link carries the whole query
        page = await http.get(url, params=query, headers=ssws(emu))
        assert page.status_code == 200, page.text
        events += page.json()
        links = [v for v in page.headers.get_list("link") if 'rel="next"' in v]
        if not links:
            return events
        url, query = links[0].split(">")[0][1:], None
    raise AssertionError("a bounded query that never ends")


async def test_descending_is_the_ascending_order_reversed_ties_included() -> None:
    """All events of one change batch share a millisecond; DESCENDING pages give exactly the
    ascending events reversed, ``since`` inclusive and ``until`` exclusive, and a descending
    request without ``until`` ends (only ASCENDING ones poll)."""
    emu = org()
    t = emu.tenant
    for uid in t.user_ids[:7]:
        t.update_user(uid, job_title="Changed")
    async with client(emu) as http:
        up = await read_all(http, emu, EVER | {"limit": "3"})
        down = await read_all(http, emu, EVER | {"limit": "2", "sortOrder": "DESCENDING"})
        assert len(up) == 7 and len({e["published"] for e in up}) == 1  # one millisecond
        assert [e["uuid"] for e in down] == [e["uuid"] for e in reversed(up)]
        stamp = up[0]["published"]
        at = {"since": stamp, "until": stamp}
        assert await read_all(http, emu, at | {"limit": "5"}) == []  # until excludes
        inclusive = await read_all(http, emu, {"since": stamp, "until": EVER["until"]})
        assert len(inclusive) == 7  # since includes
        now = await http.get(
            "/api/v1/logs", params={"limit": "1000", "sortOrder": "DESCENDING"}, headers=ssws(emu)
        )
        assert len(now.json()) == 7 and not next_link(now)
        bad = await http.get("/api/v1/logs", params={"sortOrder": "SIDEWAYS"}, headers=ssws(emu))
        assert bad.status_code == 400
