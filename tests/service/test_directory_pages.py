"""The dashboard, users, groups, group and user pages over HTTP, and their queries (SQLite and
PostgreSQL): counts, filters, sorting, paging, local disable, hostile names, charts, times.
"""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import escape

from idpsync.service.executor import RunProgress
from idpsync.store import Store
from idpsync.web import charts, display, queries
from tests.service.pages_data import (
    HOSTILE_GROUP,
    HOSTILE_USER,
    directory_doc,
    fake_history,
    harness_with,
    status_harness,
    sync,
)
from tests.service.support import login


def _logins(listing: queries.Listing) -> list[str]:
    return [str(r["login"]) for r in listing.rows]


def test_user_listing_counts_filters_sorts_and_pages(tmp_path: Path, store: Store) -> None:
    h = harness_with(tmp_path, store)
    sync(h)
    everyone = queries.list_users(store, queries.UserFilter(), 50, 0)
    assert everyone.total == 120 and len(everyone.rows) == 50 and everyone.has_next
    assert _logins(everyone)[:3] == ["user0", "user1", "user10"]
    last = queries.list_users(store, queries.UserFilter(), 50, 100)
    assert (last.first, last.last, last.has_next) == (101, 120, False)
    inactive = queries.list_users(store, queries.UserFilter(active="no"), 50, 0)
    assert _logins(inactive) == ["user3", "user5"]
    newest = queries.list_users(store, queries.UserFilter(sort="login", desc=True), 3, 0)
    assert _logins(newest) == ["user99", "user98", "user97"]
    found = queries.list_users(store, queries.UserFilter(q="USER11"), 50, 0)
    assert found.total == 11  # user11, user110…user119
    assert queries.list_users(store, queries.UserFilter(q="id-42"), 50, 0).total == 1
    assert queries.list_users(store, queries.UserFilter(q="%"), 50, 0).total == 0
    assert queries.list_users(store, queries.UserFilter(connector="(local)"), 50, 0).total == 0
    assert queries.list_users(store, queries.UserFilter(connector="hr"), 50, 0).total == 120
    assert queries.list_users(store, queries.UserFilter(disabled="yes"), 50, 0).total == 0
    assert queries.connectors_in_directory(store) == ["hr"]


def test_group_listing_and_group_page(tmp_path: Path, store: Store) -> None:
    h = harness_with(tmp_path, store)
    sync(h)
    listing = queries.list_groups(store, "", "", "members", True, 50, 0)
    assert listing.total == 4
    assert [g["members"] for g in listing.rows] == [31, 30, 30, 30]  # Group 0 nests Group 1
    assert queries.list_groups(store, "group 3", "", "name", False, 50, 0).total == 1
    assert queries.list_groups(store, "", "(local)", "name", False, 50, 0).total == 0
    first = listing.rows[0]
    page = queries.group_page(store, int(first["id"]), 10, 0)
    assert page is not None and page["members"].total == 31
    assert page["members"].rows[0]["kind"] == "group"  # nested groups first
    rest = queries.group_page(store, int(first["id"]), 10, 30)
    assert rest is not None and len(rest["members"].rows) == 1
    nested = queries.group_page(store, int(page["members"].rows[0]["id"]), 10, 0)
    assert nested is not None and [p["name"] for p in nested["parents"]] == ["Group 0"]
    assert queries.group_page(store, 999_999, 10, 0) is None


def test_attribute_rows_flatten_json() -> None:
    rows = queries.attribute_rows(
        {"b": {"c": 1, "d": [1, 2]}, "a": None, "e": [{"x": True}], "f": {}}
    )
    assert rows == [("a", "—"), ("b.c", "1"), ("b.d", "1, 2"), ("e[0].x", "yes"), ("f", "{}")]


def test_times_statuses_durations_and_eta() -> None:
    shown = display.when("2026-12-03T14:53:35.123456+00:00")
    assert shown == (
        '<time datetime="2026-12-03T14:53:35+00:00" title="2026-12-03T14:53:35+00:00">'
        "2026-12-03 14:53 UTC</time>"
    )
    assert "123456" not in display.when("2026-12-03T14:53:35.123456")  # naive: stored UTC
    assert display.when(None, "never") == "never"
    assert display.when("<b>") == "&lt;b&gt;"
    assert {display.kind(s) for s in ("partial", "failed", "interrupted")} <= {"warn", "bad"}
    assert display.kind("whatever") == "neutral"
    assert (display.duration(65), display.duration(3720), display.duration(4)) == (
        "1 min 05 s",
        "1 h 02 min",
        "4 s",
    )
    state = RunProgress(running=True, phase="fetch", done=25, total=100, phase_started=1000.0)
    assert state.eta(1010.0) == 30.0  # 10 s for 25: 30 s for the other 75
    assert state.as_json()["eta_seconds"] is not None
    assert RunProgress(running=True, done=0, total=10, phase_started=1.0).eta(5.0) is None


def test_charts_are_inert_svg(tmp_path: Path, store: Store) -> None:
    fake_history(store, "hr", "partial")
    drawn = charts.connector_charts(queries.run_history(store, "hr"))
    assert drawn["changes"].count("<rect") == 8 and 'class="chart-partial"' in drawn["changes"]
    assert drawn["size"].count("<circle") == 8 and "from 100 to 135" in drawn["size"]
    assert "style=" not in drawn["changes"] + drawn["size"]
    hostile = charts.bars("<x>", [charts.Point(1, "<script>", 'a"b')])
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile and 'a"b' not in hostile
    assert charts.line("empty", []) == ""


async def test_pages_over_http(tmp_path: Path, store: Store) -> None:
    h = status_harness(tmp_path, store)
    async with h.client(follow_redirects=False) as web:
        assert (await web.get("/users")).status_code == 303  # login first
        csrf = await login(web)
        home = (await web.get("/")).text
        approvals_at = home.index('id="approvals"')
        assert approvals_at < home.index('class="cards connectors"')
        assert 'data-awaiting="guarded"' in home and "42 to deactivate" in home
        for status, kind in (("partial", "warn"), ("failed", "bad"), ("guarded", "held")):
            assert f'class="status status-{status}" data-kind="{kind}"' in home
        assert "<svg" in home and "<script>" not in home.replace('<script src="/static/', "")
        assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", home)  # no microseconds shown
        confirm = await web.get("/connectors/hr/sync")
        assert "120</strong> users of hr (118 active)" in confirm.text
        assert (await web.get("/connectors/nope/sync")).status_code == 404

        users = (await web.get("/users", params={"active": "no", "sort": "login"})).text
        assert 'id="users-total">2<' in users and "1–2 of 2 users" in users
        second = (await web.get("/users", params={"offset": 50})).text
        assert (
            "51–100 of 120 users" in second and "offset=100" in second and "offset=0" not in second
        )
        hostile = (await web.get("/users", params={"q": "user7"})).text
        assert HOSTILE_USER not in hostile and str(escape(HOSTILE_USER)) in hostile
        groups = (await web.get("/groups", params={"sort": "members", "desc": "true"})).text
        assert 'id="groups-total">4<' in groups
        assert HOSTILE_GROUP not in groups and str(escape(HOSTILE_GROUP)) in groups
        gid = re.findall(r'href="/groups/(\d+)"', groups)[0]
        group = (await web.get(f"/groups/{gid}")).text
        assert 'id="member-total">31<' in group and "1–31 of 31 members" in group
        assert (await web.get("/groups/999999")).status_code == 404

        uid = re.findall(r'href="/users/(\d+)"', hostile)[0]
        user = (await web.get(f"/users/{uid}")).text
        assert 'id="source-attributes"' in user and "user7@example.org" in user
        assert HOSTILE_USER not in user
        refused = await web.post(f"/users/{uid}/disable", data={"csrf": "wrong"})
        assert refused.status_code == 403
        done = await web.post(f"/users/{uid}/disable", data={"csrf": csrf})
        assert done.status_code == 303 and done.headers["location"] == f"/users/{uid}"
        assert queries.list_users(store, queries.UserFilter(disabled="yes"), 5, 0).total == 1
        assert "disabled here" in (await web.get(f"/users/{uid}")).text
        listed = (await web.get("/users", params={"disabled": "yes"})).text
        assert "1–1 of 1 users" in listed
        await web.post(f"/users/{uid}/enable", data={"csrf": csrf})
        assert queries.list_users(store, queries.UserFilter(disabled="yes"), 5, 0).total == 0


def test_directory_doc_has_the_hostile_names() -> None:
    doc = directory_doc(10)
    assert doc["users"][7]["display_name"] == HOSTILE_USER
    assert doc["groups"][2]["name"] == HOSTILE_GROUP
