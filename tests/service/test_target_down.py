"""A target that is down: status ``down``, failures counted per delivery, one alert, resolved."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idpsync.cli import app as cli
from idpsync.config_service import AlertSettings
from idpsync.service.alerts import Alerter
from idpsync.service.scheduler import deliver_once, review_target
from idpsync.store import Store
from tests.http.servers import RESET, Reply, Request, ThreadedServer
from tests.service.support import Harness, harness, login, wait_idle

pytestmark = pytest.mark.slow
SCIM_TOKEN = "scim-bearer-token-for-tests"


class Scim:
    """A SCIM server that resets every connection while ``down``, else accepts everything.

    ``garbled``: it answers, but with bodies that are not (whole) JSON.
    """

    def __init__(self) -> None:
        self.down = True
        self.garbled = False
        self.ids = itertools.count(1)

    def __call__(self, request: Request) -> Reply | str:
        if self.down:
            return RESET
        if self.garbled:
            cut = b'{"totalResults": 1, "Resources": [{"id": "r'
            return Reply(201 if request.method == "POST" else 200, body=cut)
        if request.method == "POST":
            return Reply(201, json={**json.loads(request.body), "id": f"r{next(self.ids)}"})
        if request.method == "GET":
            return Reply(json={"totalResults": 0, "Resources": [], "schemas": []})
        if request.method in ("PUT", "PATCH"):
            return Reply(204)
        return Reply(204)


@pytest.fixture
def scim() -> Iterator[tuple[Scim, str]]:
    script = Scim()
    with ThreadedServer(script) as server:
        yield script, server.url


@pytest.fixture
def h(
    tmp_path: Path,
    scim: tuple[Scim, str],
    webhook: tuple[list[Any], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    monkeypatch.setenv("IDPSYNC_TEST_SCIM_TOKEN", SCIM_TOKEN)
    target = f"""
[targets.scim]
type = "scim"
url = "{scim[1]}/scim/v2"
token = "env:IDPSYNC_TEST_SCIM_TOKEN"
"""
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        alerter = Alerter(AlertSettings(webhook_url=webhook[1]))
        yield harness(tmp_path, store, alerter=alerter, extra=target)
    finally:
        store.close()


async def _deliver(h: Harness) -> None:
    executor = h.app.state.service.executor
    await asyncio.to_thread(deliver_once, executor, "scim")
    await review_target(executor, "scim")


async def _target(h: Harness) -> dict[str, Any]:
    async with h.api() as api:
        rows: list[dict[str, Any]] = (await api.get("/api/targets")).json()
    return rows[0]


async def test_a_down_target_counts_failures_alerts_once_and_resolves(
    h: Harness, scim: tuple[Scim, str], webhook: tuple[list[Any], str]
) -> None:
    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        assert (await wait_idle(api))["last_status"] == "succeeded"
    for _ in range(3):
        await _deliver(h)
    row = await _target(h)
    assert row["status"] == "down" and row["failures"] == 3, row
    assert [(a["kind"], a["target"], a["connector"], a["state"]) for a in webhook[0]] == [
        ("target_down", "scim", "", "firing")
    ]
    assert "failed deliveries in a row: 1" in webhook[0][0]["message"]  # sent at the first
    assert SCIM_TOKEN not in webhook[0][0]["message"]

    args = ["targets", "--json", "--config", str(h.loaded.path)]
    shown = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert shown.exit_code == 0, shown.output
    assert [(t["status"], t["failures"]) for t in json.loads(shown.output)] == [("down", 3)]

    async with h.client(follow_redirects=False) as web:
        await login(web)
        home = (await web.get("/")).text
        assert 'class="status status-down"' in home and '<td class="failures">3</td>' in home

    scim[0].down = False
    await _deliver(h)
    row = await _target(h)
    assert row["status"] == "ok" and row["failures"] == 0 and row["lag"] == 0, row
    assert [(a["kind"], a["state"]) for a in webhook[0]] == [
        ("target_down", "firing"),
        ("target_down", "resolved"),
    ]


async def test_a_target_answering_garbage_is_down_and_loses_nothing(
    h: Harness, scim: tuple[Scim, str]
) -> None:
    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        assert (await wait_idle(api))["last_status"] == "succeeded"
    scim[0].down, scim[0].garbled = False, True
    await _deliver(h)
    row = await _target(h)
    assert row["status"] == "down" and row["failures"] == 1 and row["lag"] > 0, row
    assert row["last_error"].startswith("the target answered something idpsync cannot read (")
    assert "Traceback" not in row["last_error"] and SCIM_TOKEN not in row["last_error"]
    args = ["deliver", "scim", "--config", str(h.loaded.path)]
    shown = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert shown.exit_code == 1 and "cannot read" in shown.output, shown.output
    scim[0].garbled = False  # the target mends: the same changes go out, none was skipped
    await _deliver(h)
    row = await _target(h)
    assert row["status"] == "ok" and row["lag"] == 0, row
