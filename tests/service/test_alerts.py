"""Alerts over a real SMTP server (aiosmtpd) and a real webhook receiver (local HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idpsync.config_service import AlertSettings
from idpsync.service.alerts import Alerter
from idpsync.store import Store
from tests.filedata import people, write
from tests.service.conftest import Inbox
from tests.service.support import harness, wait_idle


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    st = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    yield st
    st.close()


def _alerter(smtp: tuple[Inbox, int], webhook: tuple[list[Any], str]) -> Alerter:
    return Alerter(
        AlertSettings(
            webhook_url=webhook[1],
            smtp_host="127.0.0.1",
            smtp_port=smtp[1],
            mail_to=["ops@example.org"],
        )
    )


async def test_failed_and_guarded_runs_alert_by_mail_and_webhook(
    tmp_path: Path, sqlite_store: Store, smtp: tuple[Inbox, int], webhook: tuple[list[Any], str]
) -> None:
    h = harness(tmp_path, sqlite_store, alerter=_alerter(smtp, webhook))
    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        assert (await wait_idle(api))["last_status"] == "succeeded"
        assert webhook[0] == [] and smtp[0].messages == []
        h.data.write_text("{not json", encoding="utf-8")
        await api.post("/api/connectors/hr/sync", json={})
        failed = await wait_idle(api)
        assert failed["last_status"] == "failed"
        write(h.data, people(8, inactive=(0, 1, 2, 3)))
        await api.post("/api/connectors/hr/sync", json={})
        assert (await wait_idle(api))["last_status"] == "guarded"
    # The guarded run read the file again, so the failure is resolved (one message each).
    assert [(a["kind"], a["connector"], a["state"]) for a in webhook[0]] == [
        ("failed", "hr", "firing"),
        ("failed", "hr", "resolved"),
        ("guarded", "hr", "firing"),
    ]
    assert webhook[0][0]["run_id"] == failed["last_run_id"]
    subjects = [m["Subject"] for m in smtp[0].messages]
    assert subjects == [
        "idpsync: hr: sync failed",
        "idpsync: hr: resolved: sync failed",
        "idpsync: hr: sync refused by a guard (approval needed)",
    ]
    assert smtp[0].messages[0]["To"] == "ops@example.org"


async def test_overdue_alert_once_per_episode(
    tmp_path: Path, sqlite_store: Store, smtp: tuple[Inbox, int], webhook: tuple[list[Any], str]
) -> None:
    now = [datetime.now(UTC)]
    h = harness(
        tmp_path, sqlite_store, alerter=_alerter(smtp, webhook), schedule='full = "0 3 * * *"'
    )
    scheduler = h.app.state.service.scheduler
    scheduler.clock = lambda: now[0]
    assert await scheduler.check_overdue() == []
    now[0] += timedelta(days=3)
    assert await scheduler.check_overdue() == ["hr"]
    assert await scheduler.check_overdue() == ["hr"]
    assert [a["kind"] for a in webhook[0]] == ["overdue"]
    assert "no successful sync since" in webhook[0][0]["message"]


async def test_unreachable_channels_do_not_break_the_service(
    tmp_path: Path, sqlite_store: Store
) -> None:
    alerter = Alerter(
        AlertSettings(
            webhook_url="http://127.0.0.1:9/hook",
            smtp_host="127.0.0.1",
            smtp_port=9,
            mail_to=["ops@example.org"],
        )
    )
    h = harness(tmp_path, sqlite_store, alerter=alerter)
    h.data.write_text("[]", encoding="utf-8")
    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        assert (await wait_idle(api))["last_status"] == "failed"
    assert [a.kind for a in alerter.sent] == ["failed"]
