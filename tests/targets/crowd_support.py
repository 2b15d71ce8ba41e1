"""Helpers of the Crowd target tests: the emulator in-process or on a real port."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from idpsync.config import TargetSettings
from idpsync.emulators.crowd import CrowdEmulator
from idpsync.http import HttpClient
from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from tests.targets.scim_support import Directory, free_port

APP, PASSWORD = "idpsync-app", "crowd-app-secret-9d2e"


def crowd_settings(url: str = "http://crowd.test", **options: Any) -> TargetSettings:
    os.environ["IDPSYNC_TEST_CROWD_PASSWORD"] = PASSWORD
    crowd = options.pop("crowd", {})
    return TargetSettings.model_validate(
        {
            "type": "crowd",
            "url": url,
            "application": APP,
            "password": "env:IDPSYNC_TEST_CROWD_PASSWORD",
            "crowd": crowd,
            "options": {"max_attempts": 2, **options},
        }
    )


def asgi_client(
    emulator: CrowdEmulator, settings: TargetSettings
) -> AbstractAsyncContextManager[HttpClient]:
    """The target's own client (settings, base URL) over the emulator in-process."""
    return http_client(settings, transport=httpx.ASGITransport(app=emulator.app))


async def deliver_to(
    store: Store, emulator: CrowdEmulator, name: str = "crowd", **kwargs: Any
) -> Any:
    options = kwargs.pop("options", {})
    settings = crowd_settings(**options)
    async with asgi_client(emulator, settings) as client:
        return await run_delivery(store, name, settings, client, **kwargs)


def expected(directory: Directory) -> dict[str, Any]:
    """What Crowd should hold for the directory: users' fields, groups' member logins."""
    logins = {uid: u["login"] for uid, u in directory.users.items()}
    return {
        "users": {
            u["login"]: (u.get("email") or "", u.get("display_name") or "", u.get("active", True))
            for u in directory.users.values()
        },
        "groups": {
            g["name"]: sorted(logins[m] for m in g["members"])
            + sorted(f"group:{directory.groups[c]['name']}" for c in g.get("subgroups", []))
            for g in directory.groups.values()
        },
    }


def held(emulator: CrowdEmulator) -> dict[str, Any]:
    """What the emulator holds, in the shape of :func:`expected`."""
    snap = emulator.state.snapshot()
    return {
        "users": {
            name: (u["email"], u["display-name"], u["active"]) for name, u in snap["users"].items()
        },
        "groups": snap["groups"],
    }


class RunningCrowd:
    """The emulator served by uvicorn on a free port in a thread (stoppable and restartable)."""

    def __init__(self, emulator: CrowdEmulator) -> None:
        self.emulator = emulator
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/crowd"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        app = Starlette(routes=[Mount("/crowd", app=self.emulator.app)])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return
            time.sleep(0.02)
        raise AssertionError("the Crowd emulator did not start")

    def stop(self) -> None:
        if self.server and self.thread:
            self.server.should_exit = True
            self.thread.join(10)
            self.server = None


@pytest.fixture
def crowd() -> CrowdEmulator:
    return CrowdEmulator({APP: PASSWORD}, max_results=3)


@pytest.fixture
def running_crowd() -> Iterator[RunningCrowd]:
    server = RunningCrowd(CrowdEmulator({APP: PASSWORD}))
    server.start()
    yield server
    server.stop()
