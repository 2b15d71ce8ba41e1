"""The alert book over both stores: one alert per condition across restarts and instances."""

from __future__ import annotations

from typing import Any

from idpsync.config_service import AlertSettings
from idpsync.service.alerts import Alerter
from idpsync.service.book import AlertBook, Firing
from idpsync.store import Store


async def test_one_alert_per_condition_across_restarts_and_instances(
    store: Store, webhook: tuple[list[Any], str]
) -> None:
    def instance() -> AlertBook:
        return AlertBook(store, Alerter(AlertSettings(webhook_url=webhook[1])))

    first, second = instance(), instance()
    down = {"failed": Firing("run 7 failed: token request reset", 7)}
    assert len(await first.reconcile("okta", ("failed", "partial"), down)) == 1
    assert await second.reconcile("okta", ("failed", "partial"), down) == []
    assert await instance().reconcile("okta", ("failed", "partial"), down) == []  # a restart
    assert first.open("okta") == {"failed": "run 7 failed: token request reset"}

    # Another subject and another kind are conditions of their own.
    await second.reconcile("jira", ("target_down",), {"target_down": Firing("down")}, target=True)
    resolved = await second.reconcile("okta", ("failed", "partial"), {})
    assert [(a.kind, a.state) for a in resolved] == [("failed", "resolved")]
    assert await first.reconcile("okta", ("failed", "partial"), {}) == []
    states = [(a["kind"], a["connector"], a["target"], a["state"]) for a in webhook[0]]
    assert states == [
        ("failed", "okta", "", "firing"),
        ("target_down", "", "jira", "firing"),
        ("failed", "okta", "", "resolved"),
    ]
    assert webhook[0][0]["run_id"] == 7
