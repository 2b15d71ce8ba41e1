"""Helpers of the service tests: a configuration with a file source, an app, a logged-in client."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from idpsync.config import LoadedConfig, parse_config
from idpsync.service.alerts import Alerter
from idpsync.store import Store
from idpsync.web import create_app
from idpsync.web.security import hash_password, hash_token
from tests.filedata import people, write

TOKEN = "test-token-0123456789abcdefghijklmnopqrstuv"
PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD)


def config_text(store_url: str, data: Path, extra: str = "", schedule: str = "") -> str:
    return f"""
[store]
url = "{store_url}"

[service]
admin_user = "admin"
admin_password_hash = "{PASSWORD_HASH}"
api_tokens = {{ tests = "{hash_token(TOKEN)}" }}
{extra}

[connectors.hr.source]
type = "file"
path = "{data}"

[connectors.hr.guard]
max_deactivate_share = 0.2
min_deactivations_for_share = 2

[connectors.hr.schedule]
{schedule}
"""


def loaded_config(tmp_path: Path, store_url: str, **kw: str) -> LoadedConfig:
    data = tmp_path / "people.json"
    if not data.exists():
        write(data, people(8))
    path = tmp_path / "idpsync.toml"
    path.write_text(config_text(store_url, data, **kw), encoding="utf-8")
    return LoadedConfig(parse_config(path.read_text(), str(path)), path)


@dataclass
class Harness:
    app: FastAPI
    store: Store
    loaded: LoadedConfig
    data: Path

    def client(self, **kw: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        kw.setdefault("base_url", "http://testserver")
        return httpx.AsyncClient(transport=transport, **kw)

    def api(self) -> httpx.AsyncClient:
        return self.client(headers={"Authorization": f"Bearer {TOKEN}"})


def harness(tmp_path: Path, store: Store, alerter: Alerter | None = None, **kw: str) -> Harness:
    url = store.engine.url.render_as_string(hide_password=False)
    loaded = loaded_config(tmp_path, url, **kw)
    app = create_app(loaded, store, background=False, alerter=alerter)
    return Harness(app, store, loaded, tmp_path / "people.json")


async def wait_idle(client: httpx.AsyncClient, connector: str = "hr") -> dict[str, Any]:
    """Poll the progress endpoint until the connector's run has finished."""
    for _ in range(400):
        state: dict[str, Any] = (await client.get(f"/api/connectors/{connector}/progress")).json()
        if not state["running"] and state["last_status"] is not None:
            return state
        await asyncio.sleep(0.02)
    raise AssertionError("the run did not finish")


async def login(client: httpx.AsyncClient) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    answer = await client.post(
        "/login", data={"csrf": csrf.group(1), "username": "admin", "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    home = await client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert token is not None
    return token.group(1)


class ThreadServer:
    """The app under uvicorn on a real port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def serve_in_thread(app: FastAPI) -> tuple[ThreadServer, str]:
    server = ThreadServer(app)
    return server, server.url
