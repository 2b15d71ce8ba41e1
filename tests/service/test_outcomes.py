"""Run outcomes that mean what they say, against a real local Graph-like server on 127.0.0.1.

A reset token request is a *failed* run (exit 1, one alert by webhook and mail, "resolved" when
a run succeeds again); a read where some listings fail is *partial* (exit 3, one alert after
``partial_after`` runs in a row, not a good run for "overdue").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from idpsync.cli import app as cli
from idpsync.config import LoadedConfig, parse_config
from idpsync.http import set_testing
from idpsync.service.alerts import Alerter
from idpsync.service.scheduler import last_good_run
from idpsync.store import Store
from idpsync.web import create_app
from idpsync.web.audit import settle
from idpsync.web.security import hash_token as _hash_token
from tests.http.servers import RESET, Reply, Request, ThreadedServer
from tests.service.conftest import Inbox
from tests.service.support import PASSWORD_HASH, TOKEN, Harness, wait_idle

pytestmark = pytest.mark.slow
SECRET = "graph-client-secret-never-shown"


class Graph:
    """A scripted Graph: ``token`` and ``groups`` are ``ok``, ``reset`` or ``error``."""

    def __init__(self) -> None:
        self.token = "ok"
        self.groups = "ok"

    def __call__(self, request: Request) -> Reply | str:
        if request.path.endswith("/$batch"):  # each item answered as if it came on its own
            return Reply(json={"responses": [self._item(x) for x in request.json()["requests"]]})
        if request.path.endswith("/token"):
            if self.token == "reset":
                return RESET
            return Reply(json={"access_token": "at-1", "expires_in": 3600, "token_type": "Bearer"})
        if request.path.endswith("/delta"):
            return Reply(json={"value": [], "@odata.deltaLink": "http://x/delta?token=1"})
        if request.path.endswith("/v1.0/users"):
            return Reply(json={"value": [_user("u1", "ada"), _user("u2", "grace")]})
        if request.path.endswith("/v1.0/groups"):
            if self.groups == "error":
                return Reply(status=500, json={"error": {"code": "InternalServerError"}})
            return Reply(json={"value": []})
        return Reply(status=404, json={"error": {"code": "Request_ResourceNotFound"}})

    def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        path = "/v1.0" + urlsplit(item["url"]).path
        reply = self(Request("GET", path, {}, {}, b""))
        assert isinstance(reply, Reply)
        return {"id": item["id"], "status": reply.status, "headers": {}, "body": reply.json}


def _user(uid: str, name: str) -> dict[str, Any]:
    return {
        "id": uid,
        "userPrincipalName": f"{name}@example.org",
        "mail": f"{name}@example.org",
        "displayName": name.title(),
        "accountEnabled": True,
    }


@pytest.fixture
def graph() -> Iterator[tuple[Graph, str]]:
    script = Graph()
    set_testing(True)  # retries do not wait
    try:
        with ThreadedServer(script) as server:
            yield script, server.url
    finally:
        set_testing(False)


def _config(
    tmp_path: Path, url: str, smtp: tuple[Inbox, int], webhook: tuple[list[Any], str]
) -> LoadedConfig:
    text = f"""
[store]
url = "sqlite:///{tmp_path / "d.db"}"

[service]
admin_password_hash = "{PASSWORD_HASH}"
api_tokens = {{ tests = "{_hash_token(TOKEN)}" }}

[service.alerts]
webhook_url = "{webhook[1]}"
smtp_host = "127.0.0.1"
smtp_port = {smtp[1]}
mail_to = ["ops@example.org"]
partial_after = 2

[connectors.entra.source]
type = "entra"
tenant = "contoso"
client_id = "app-1"
client_secret = "env:IDPSYNC_TEST_GRAPH_SECRET"
token_url = "{url}/contoso/oauth2/v2.0/token"
base_url = "{url}/v1.0"
fetch_managers = false

[connectors.entra.source.http]
max_attempts = 2
"""
    path = tmp_path / "idpsync.toml"
    path.write_text(text, encoding="utf-8")
    return LoadedConfig(parse_config(text, str(path)), path)


@pytest.fixture
def setup(
    tmp_path: Path,
    graph: tuple[Graph, str],
    smtp: tuple[Inbox, int],
    webhook: tuple[list[Any], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Harness, Graph, Path]]:
    monkeypatch.setenv("IDPSYNC_TEST_GRAPH_SECRET", SECRET)
    loaded = _config(tmp_path, graph[1], smtp, webhook)
    store = Store.open(loaded.settings.store.url)
    alerter = Alerter(loaded.settings.service.alerts)
    app = create_app(loaded, store, background=False, alerter=alerter)
    try:
        yield Harness(app, store, loaded, tmp_path / "unused.json"), graph[0], loaded.path
    finally:
        settle(app)  # token uses still being written, before the store closes
        store.close()


async def _cli_sync(config: Path) -> Any:
    """``idpsync sync entra`` (in a thread: the CLI runs its own event loop)."""
    args = ["sync", "entra", "--full", "--config", str(config)]
    return await asyncio.to_thread(CliRunner().invoke, cli, args)


async def _sync(h: Harness) -> dict[str, Any]:
    async with h.api() as api:
        answer = await api.post("/api/connectors/entra/sync", json={})
        assert answer.status_code == 202, answer.text
        return await wait_idle(api, "entra")


async def test_a_reset_token_request_fails_the_run_and_alerts_once(
    setup: tuple[Harness, Graph, Path],
    smtp: tuple[Inbox, int],
    webhook: tuple[list[Any], str],
) -> None:
    h, graph, config = setup
    graph.token = "reset"
    result = await _cli_sync(config)
    assert result.exit_code == 1, result.output
    assert "sync failed" in result.output and "connection" in result.output
    assert SECRET not in result.output
    newest = h.store.runs("entra", 1)[0]
    assert newest["status"] == "failed" and "token" in newest["message"].lower()

    for _ in range(3):  # the condition holds on every run: still one alert
        state = await _sync(h)
        assert state["last_status"] == "failed"
    assert [(a["kind"], a["state"]) for a in webhook[0]] == [("failed", "firing")]
    assert [m["Subject"] for m in smtp[0].messages] == ["idpsync: entra: sync failed"]
    assert SECRET not in webhook[0][0]["message"]

    graph.token = "ok"
    assert (await _sync(h))["last_status"] == "succeeded"
    assert [(a["kind"], a["state"]) for a in webhook[0]] == [
        ("failed", "firing"),
        ("failed", "resolved"),
    ]
    assert smtp[0].messages[-1]["Subject"] == "idpsync: entra: resolved: sync failed"


async def test_partial_runs_exit_3_alert_once_after_n_and_resolve(
    setup: tuple[Harness, Graph, Path],
    smtp: tuple[Inbox, int],
    webhook: tuple[list[Any], str],
) -> None:
    h, graph, config = setup
    graph.groups = "error"
    result = await _cli_sync(config)
    assert result.exit_code == 3, result.output
    assert "PARTIAL" in result.output
    assert h.store.runs("entra", 1)[0]["status"] == "partial"
    assert webhook[0] == []  # one partial run: no alert yet (partial_after = 2)

    for _ in range(3):
        assert (await _sync(h))["last_status"] == "partial"
    assert [(a["kind"], a["state"]) for a in webhook[0]] == [("partial", "firing")]
    assert "runs in a row could not read everything" in webhook[0][0]["message"]
    assert smtp[0].messages[0]["Subject"] == "idpsync: entra: sync partial again and again"
    # A partial run is no good run: nothing counts against "overdue".
    assert last_good_run(h.app.state.service.executor, "entra") is None

    graph.groups = "ok"
    assert (await _sync(h))["last_status"] == "succeeded"
    assert [(a["kind"], a["state"]) for a in webhook[0]] == [
        ("partial", "firing"),
        ("partial", "resolved"),
    ]
    assert last_good_run(h.app.state.service.executor, "entra") is not None
    assert (await _cli_sync(config)).exit_code == 0
