"""``serve`` is observable and works offline: where it listens, log lines about runs, /docs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.service import logs
from idpsync.store import Store
from tests.deploy.support import clean_env, serving, wait_for
from tests.filedata import people, write
from tests.service.support import config_text, harness, wait_idle


@pytest.fixture
def idpsync_logger() -> Iterator[logging.Logger]:
    """The ``idpsync`` logger, put back as it was after the test."""
    root = logging.getLogger("idpsync")
    saved = (root.handlers[:], root.level, root.propagate)
    yield root
    root.handlers[:], root.level, root.propagate = saved


def _capture(log_format: logs.LogFormat) -> io.StringIO:
    logs.configure(log_format)
    stream = io.StringIO()
    handler = logging.getLogger("idpsync").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


async def test_text_lines_about_a_run_name_connector_run_and_status(
    tmp_path: Path, store: Store, idpsync_logger: logging.Logger
) -> None:
    stream = _capture("text")
    h = harness(tmp_path, store)
    async with h.api() as api:
        await api.post("/api/connectors/hr/sync", json={})
        state = await wait_idle(api)
    lines = stream.getvalue().splitlines()
    started = [line for line in lines if "run started" in line]
    finished = [line for line in lines if "run finished" in line]
    run_id = state["last_run_id"]
    assert len(started) == 1
    assert f"connector=hr run_id={run_id} status=running mode=full dry_run=False" in started[0]
    assert len(finished) == 1
    assert f"connector=hr run_id={run_id} status=succeeded" in finished[0]


async def test_every_line_logged_during_a_run_names_its_connector(
    idpsync_logger: logging.Logger,
) -> None:
    stream = _capture("json")
    deep = logging.getLogger("idpsync.sources.somewhere")

    async def page_read() -> None:  # a sub-task inherits the binding
        deep.warning("page %d was slow", 3)

    async def run() -> None:
        logs.bind_connector("okta-main")
        deep.info("token fetched")
        logs.bind_run(41)
        await asyncio.create_task(page_read())
        deep.info("own connector wins", extra={"connector": "other"})

    await asyncio.create_task(run())
    deep.warning("outside any run")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line.get("connector"), line.get("run_id")) for line in lines] == [
        ("okta-main", None),
        ("okta-main", 41),
        ("other", 41),
        (None, None),
    ]
    assert lines[1]["message"] == "page 3 was slow" and lines[1]["level"] == "warning"


def test_text_values_with_spaces_are_quoted(idpsync_logger: logging.Logger) -> None:
    stream = _capture("text")
    logging.getLogger("idpsync.service").info("x", extra={"connector": "hr", "note": "two words"})
    assert stream.getvalue().rstrip().endswith('x connector=hr note="two words"')


def test_log_format_option_and_json_logs_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idpsync.service import serve as service

    chosen: list[Any] = []
    monkeypatch.setattr(service, "serve", lambda *args: chosen.append(args[-1]))
    config = tmp_path / "idpsync.toml"
    config.write_text('[store]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    runner = CliRunner()
    for args, expected in (
        ([], None),
        (["--log-format", "text"], "text"),
        (["--log-format", "json"], "json"),
        (["--json-logs"], "json"),
    ):
        result = runner.invoke(app, ["serve", "--config", str(config), *args])
        assert result.exit_code == 0, result.output
        assert chosen.pop() == expected
    bad = runner.invoke(app, ["serve", "--config", str(config), "--log-format", "xml"])
    assert bad.exit_code == 2


def test_a_busy_port_is_one_clear_line(tmp_path: Path, idpsync_logger: logging.Logger) -> None:
    config = tmp_path / "idpsync.toml"
    config.write_text('[store]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


async def test_api_docs_need_no_outside_host(tmp_path: Path, store: Store) -> None:
    h = harness(tmp_path, store)
    async with h.client() as web:
        page = await web.get("/docs")
        assert page.status_code == 200
        assert "<script>" not in page.text  # no inline script: works under a strict CSP
        assert not re.search(r"(?:src|href)=\"(?!/)", page.text)  # only same-origin URLs
        linked = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
        assert "/static/apidocs.js" in linked and len(linked) == 3
        for url in linked:
            asset = await web.get(url)
            assert asset.status_code == 200 and asset.content, url
        assert (await web.get("/redoc")).status_code == 404  # FastAPI's CDN page is off


@pytest.mark.slow
def test_serve_prints_where_it_listens_and_logs_json_lines(tmp_path: Path) -> None:
    data = write(tmp_path / "people.json", people(4))
    config = tmp_path / "idpsync.toml"
    store = f"sqlite:///{tmp_path / 'idpsync.db'}"
    extra = "tick_seconds = 0.2"
    config.write_text(config_text(store, data, extra, 'full = "* * * * * */2"'), encoding="utf-8")
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "idpsync.cli", "serve", "--config", str(config)]
    env = clean_env(PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    with serving([*command, "--port", "0", "--log-format", "json"], log, env) as (url, _):
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200

        def finished() -> list[dict[str, Any]]:
            lines = [json.loads(line) for line in log.read_text().splitlines()]
            return [line for line in lines if line["message"] == "run finished"]

        run = wait_for("a scheduled run", finished)[0]
    assert run["connector"] == "hr" and run["status"] == "succeeded"
    assert isinstance(run["run_id"], int)
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    listening = [line for line in lines if line["message"].startswith("idpsync listening on")]
    assert listening and listening[0]["url"] == url
    due = [line for line in lines if line["message"].startswith("scheduled full run due")]
    assert due and due[0]["connector"] == "hr"
