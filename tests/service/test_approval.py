"""A guard's decision stays: the connector awaits approval until it is approved or dismissed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idpsync.config_service import AlertSettings
from idpsync.service.alerts import Alerter
from idpsync.store import Store
from tests.filedata import people, write
from tests.service.support import Harness, harness, login, wait_idle


@pytest.fixture
def h(tmp_path: Path, webhook: tuple[list[Any], str]) -> Iterator[Harness]:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        yield harness(tmp_path, store, alerter=Alerter(AlertSettings(webhook_url=webhook[1])))
    finally:
        store.close()


async def _sync(h: Harness) -> dict[str, Any]:
    async with h.api() as api:
        assert (await api.post("/api/connectors/hr/sync", json={})).status_code == 202
        return await wait_idle(api)


async def _approval(h: Harness) -> dict[str, Any] | None:
    async with h.api() as api:
        rows = (await api.get("/api/connectors")).json()
    found: dict[str, Any] | None = rows[0]["approval"]
    return found


def _active(h: Harness) -> dict[str, bool]:
    return {u["login"]: bool(u["active"]) for u in h.store.search_users(None, "hr", 50, 0)}


def _kinds(webhook: tuple[list[Any], str]) -> list[tuple[str, str]]:
    return [(a["kind"], a["state"]) for a in webhook[0]]


async def test_guarded_run_awaits_approval_then_recheck_and_apply(
    h: Harness, webhook: tuple[list[Any], str]
) -> None:
    assert (await _sync(h))["last_status"] == "succeeded"
    write(h.data, people(8, inactive=(0, 1, 2, 3)))
    guarded = await _sync(h)
    assert guarded["last_status"] == "guarded"
    waiting = await _approval(h)
    assert waiting is not None and waiting["summary"]["users_deactivated"] == 4
    assert len(waiting["removals"]) == 4

    # A later run that succeeds (here: the leavers are back in view) does not clear it.
    write(h.data, people(8))
    assert (await _sync(h))["last_status"] == "succeeded"
    assert (await _approval(h)) is not None
    assert _kinds(webhook) == [("guarded", "firing")]

    write(h.data, people(8, inactive=(0, 1, 2, 3)))
    async with h.client(follow_redirects=False) as web:
        csrf = await login(web)
        home = (await web.get("/")).text
        assert 'data-awaiting="hr"' in home and "Awaiting approval" in home
        run_page = (await web.get(f"/runs/{guarded['last_run_id']}")).text
        assert "/connectors/hr/approval" in run_page
        assert "Allow deletes and run again" not in run_page
        page = (await web.get("/connectors/hr/approval")).text
        assert "Re-check now" in page and 'id="confirm"' not in page

        checked = await web.post("/connectors/hr/approval/check", data={"csrf": csrf})
        assert checked.status_code == 303
        page = (await web.get("/connectors/hr/approval")).text
        assert re.search(r"<strong>4</strong> users to deactivate", page), page
        check_run = re.search(r'name="check_run" value="(\d+)"', page)
        assert check_run is not None
        assert _active(h)["user0"]  # the re-check changed nothing

        wrong = await web.post(
            "/connectors/hr/approval/confirm", data={"csrf": csrf, "check_run": "1"}
        )
        assert wrong.status_code == 409 and wrong.headers["content-type"].startswith("text/html")
        assert "re-check the plan first" in wrong.text and 'id="error-back"' in wrong.text

        done = await web.post(
            "/connectors/hr/approval/confirm",
            data={"csrf": csrf, "check_run": check_run.group(1)},
        )
        assert done.status_code == 303
        async with h.api() as api:
            assert (await wait_idle(api))["last_status"] == "succeeded"
        assert (await _approval(h)) is None
        assert [login for login, on in _active(h).items() if not on] == [
            "user0",
            "user1",
            "user2",
            "user3",
        ]
        assert _kinds(webhook) == [("guarded", "firing"), ("guarded", "resolved")]

        # An old "approve" form now leads to the approval page, which says it is settled.
        old = await web.post(f"/runs/{guarded['last_run_id']}/approve", data={"csrf": csrf})
        assert old.headers["location"] == "/connectors/hr/approval"
        assert 'id="no-approval"' in (await web.get("/connectors/hr/approval")).text
    async with h.api() as api:
        answer = await api.post(f"/api/runs/{guarded['last_run_id']}/approve")
        assert answer.status_code == 409 and "does not await approval" in answer.json()["detail"]


async def test_dismiss_clears_the_approval_without_removing_anyone(
    h: Harness, webhook: tuple[list[Any], str]
) -> None:
    assert (await _sync(h))["last_status"] == "succeeded"
    write(h.data, people(8, inactive=(4, 5, 6, 7)))
    assert (await _sync(h))["last_status"] == "guarded"
    async with h.client(follow_redirects=False) as web:
        csrf = await login(web)
        answer = await web.post("/connectors/hr/approval/dismiss", data={"csrf": csrf})
        assert answer.status_code == 303
        missing = await web.get("/runs/999999")
        assert missing.status_code == 404 and "there is no run 999999" in missing.text
        assert missing.headers["content-type"].startswith("text/html")
    assert (await _approval(h)) is None
    assert all(_active(h).values())
    assert _kinds(webhook) == [("guarded", "firing"), ("guarded", "resolved")]


async def test_the_api_shows_and_dismisses_a_pending_approval(h: Harness) -> None:
    assert (await _sync(h))["last_status"] == "succeeded"
    write(h.data, people(8, inactive=(0, 1, 2, 3)))
    assert (await _sync(h))["last_status"] == "guarded"
    async with h.api() as api:
        shown = await api.get("/api/connectors/hr/approval")
        assert shown.status_code == 200 and shown.json()["summary"]["users_deactivated"] == 4
        gone = await api.post("/api/connectors/hr/approval/dismiss")
        assert gone.json() == {"connector": "hr", "dismissed": True}
        again = await api.get("/api/connectors/hr/approval")
        assert again.status_code == 404 and isinstance(again.json()["detail"], str)


async def test_an_unanswered_approval_alerts_again_after_the_reminder_time(
    h: Harness, webhook: tuple[list[Any], str]
) -> None:
    assert (await _sync(h))["last_status"] == "succeeded"
    write(h.data, people(8, inactive=(0, 1, 2, 3)))
    assert (await _sync(h))["last_status"] == "guarded"
    scheduler = h.app.state.service.scheduler
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduler.clock = lambda: later
    await scheduler.check_overdue()
    assert _kinds(webhook) == [("guarded", "firing")]  # 1 h < approval_reminder_after (4 h)
    later += timedelta(hours=4)
    await scheduler.check_overdue()
    await scheduler.check_overdue()
    assert _kinds(webhook) == [("guarded", "firing"), ("approval_waiting", "firing")]
    assert "awaited approval for 3" in webhook[0][-1]["message"]
