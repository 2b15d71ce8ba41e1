from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings, TargetSettings
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store

PG = os.environ.get("IDPSYNC_TEST_PG", "127.0.0.1:5432")
TOKEN = "scim-test-token-5f1c"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'idpsync.db'}")
        yield opened
        opened.close()
        return
    name = f"idpsync_scim_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@{PG}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    opened = Store.open(f"postgresql+psycopg://postgres@{PG}/{name}")
    yield opened
    opened.close()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'idpsync.db'}")
    yield opened
    opened.close()


class Directory:
    """The file source's JSON document, and syncing it into a store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}

    def user(self, uid: str, login: str, **extra: Any) -> None:
        self.users[uid] = {
            "id": uid,
            "login": login,
            "email": f"{login}@example.org",
            "display_name": login.title(),
            **extra,
        }

    def group(self, gid: str, name: str, members: list[str]) -> None:
        self.groups[gid] = {"id": gid, "name": name, "members": members}

    def cli_config(self, tmp_path: Path, rest: str) -> Path:
        """This document written out, and a config for the CLI: a SQLite store in ``tmp_path``,
        the file connector ``hr`` reading the document, then ``rest`` (targets, policy)."""
        document = {"users": list(self.users.values()), "groups": list(self.groups.values())}
        self.path.write_text(json.dumps(document))
        config = tmp_path / "idpsync.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
            f'[connectors.hr.source]\ntype = "file"\npath = "{self.path}"\n{rest}'
        )
        return config

    async def sync(
        self,
        store: Store,
        connector: str = "hr",
        deprovision: str = "deactivate",
        **policy: Any,
    ) -> None:
        self.path.write_text(
            json.dumps({"users": list(self.users.values()), "groups": list(self.groups.values())})
        )
        settings = ConnectorSettings.model_validate(
            {
                "source": {"type": "file", "path": str(self.path)},
                "policy": {"deprovision": deprovision, **policy},
            }
        )
        result = await run_sync(
            store, connector, settings, FileSource(self.path), allow_deletes=True
        )
        assert result.status == "succeeded", result.message

    def expected(self) -> dict[str, Any]:
        """What a SCIM server should hold: users by login, groups by name with member logins."""
        logins = {uid: u["login"] for uid, u in self.users.items()}
        return {
            "users": {u["login"]: (u["email"], u.get("active", True)) for u in self.users.values()},
            "groups": {
                g["name"]: sorted(logins[m] for m in g["members"]) for g in self.groups.values()
            },
        }


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(tmp_path / "people.json")


def target_settings(url: str, **options: Any) -> TargetSettings:
    os.environ["IDPSYNC_TEST_SCIM_TOKEN"] = TOKEN
    return TargetSettings.model_validate(
        {
            "type": "scim",
            "url": url,
            "token": "env:IDPSYNC_TEST_SCIM_TOKEN",
            "profile": options.pop("profile", "generic"),
            "options": options,
        }
    )


def read_scim(url: str, token: str = TOKEN) -> dict[str, Any]:
    """Everything a SCIM server holds, read with plain httpx (not idpsync's code)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url + "/", headers=headers) as client:
        users = client.get("Users", params={"count": 1000}).json().get("Resources", [])
        groups = client.get("Groups", params={"count": 1000}).json().get("Resources", [])
    logins = {u["id"]: u["userName"] for u in users}
    return {
        "users": {
            u["userName"]: ((u.get("emails") or [{}])[0].get("value"), u.get("active", True))
            for u in users
        },
        "groups": {
            g["displayName"]: sorted(
                logins.get(m["value"], m["value"]) for m in g.get("members") or []
            )
            for g in groups
        },
        "user_count": len(users),
        "group_count": len(groups),
        "raw_users": users,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScimServer:
    """A real scim2-server process on a free port (state lives in its memory)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v2"
        self.process: subprocess.Popen[bytes] | None = None
        self.args = args
        """More command-line arguments (``--schema FILE``, ``--resource-type FILE``)."""

    def start(self) -> None:
        exe = shutil.which("scim2-server", path=str(Path(sys.executable).parent))
        assert exe, "scim2-server is not installed: run 'make setup' (it is in the dev extra)"
        self.process = subprocess.Popen(
            [
                *(exe, "--hostname", "127.0.0.1", "--port", str(self.port)),
                *("--bearer-token", TOKEN, *self.args),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                httpx.get(self.url + "/ServiceProviderConfig", timeout=1)
                return
            except httpx.TransportError:
                assert self.process.poll() is None, "scim2-server exited at start"
                time.sleep(0.05)
        raise AssertionError("scim2-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def scim_server() -> Iterator[ScimServer]:
    server = ScimServer()
    server.start()
    yield server
    server.kill()
