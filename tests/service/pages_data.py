"""Data for the tests of the dashboard and the directory pages: a synced directory with hostile
names, and connectors whose newest run ended in each status (with a history for the charts).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from idpsync.app.runner import RunResult, run_sync
from idpsync.config import LoadedConfig, parse_config
from idpsync.engine.plan import Plan
from idpsync.sources.registry import build_source
from idpsync.store import Store, approvals
from idpsync.targets.state import TargetState
from idpsync.web import create_app
from tests.filedata import people, write
from tests.service.support import Harness, config_text

HOSTILE_USER = '<img src=x onerror=alert(1)>"&'
HOSTILE_GROUP = "<script>alert('g')</script>"
STATUSES = ("succeeded", "partial", "failed", "interrupted", "guarded", "dry_run")
"""Each connector of :func:`status_harness` is named after the status of its newest run."""


def directory_doc(n: int = 120) -> dict[str, Any]:
    """``n`` users in 4 groups; user 7 and group 2 have hostile names; users 3, 5 inactive."""
    doc = people(n, groups=4, inactive=(3, 5))
    doc["users"][7]["display_name"] = HOSTILE_USER
    doc["groups"][2]["name"] = HOSTILE_GROUP
    doc["groups"][2]["description"] = HOSTILE_USER
    return doc


TARGETS = ("crm", "wiki")
"""The targets of :func:`harness_with` with ``targets=True`` (never reachable: nothing delivers)."""


def harness_with(
    tmp_path: Path, store: Store, names: tuple[str, ...] = (), *, targets: bool = False
) -> Harness:
    """The service over ``hr`` (a file source) plus connectors ``names`` (empty file sources)."""
    data = tmp_path / "people.json"
    if not data.exists():
        write(data, directory_doc())
    url = store.engine.url.render_as_string(hide_password=False)
    text = config_text(url, data)
    if targets:
        token = tmp_path / "target-token"
        token.write_text("not-a-real-token-0123456789", encoding="utf-8")
        for name in TARGETS:
            text += (
                f'\n[targets.{name}]\ntype = "scim"\nurl = "http://127.0.0.1:9/scim/v2"\n'
                f'token = "file:{token}"\n'
            )
    for name in names:
        other = write(tmp_path / f"{name}.json", people(0))
        text += f'\n[connectors.{name}.source]\ntype = "file"\npath = "{other}"\n'
    path = tmp_path / "idpsync.toml"
    path.write_text(text, encoding="utf-8")
    loaded = LoadedConfig(parse_config(text, str(path)), path)
    return Harness(create_app(loaded, store, background=False), store, loaded, data)


def sync(h: Harness, name: str = "hr") -> RunResult:
    """One full sync of ``name``, in a thread of its own (the caller may own an event loop)."""
    settings = h.loaded.connector(name)
    done: list[RunResult] = []

    def go() -> None:
        done.append(
            asyncio.run(run_sync(h.store, name, settings, build_source(h.loaded, settings)))
        )

    worker = threading.Thread(target=go)
    worker.start()
    worker.join(120)
    return done[0]


def fake_history(store: Store, name: str, last: str, runs: int = 8) -> int:
    """``runs`` finished runs of ``name`` with growing sizes, the newest ending ``last``."""
    run_id = 0
    for i in range(runs):
        status = last if i == runs - 1 else "succeeded"
        run_id = store.start_run(name, "full", status == "dry_run")
        summary = {"users_created": 3 + i % 4, "users_updated": i, "users_deactivated": i % 3}
        store.finish_run(
            run_id,
            status,
            complete=status != "partial",
            summary=summary,
            stats={"source_users": 100 + 5 * i},
            message=None if status == "succeeded" else f"the run ended {status}",
        )
    if last == "guarded":
        summary = {"users_deactivated": 42, "users_deleted": 0}
        approvals.await_approval(
            store, name, run_id, "42 users to deactivate is over 10 %", summary, Plan()
        )
    return run_id


def status_harness(tmp_path: Path, store: Store) -> Harness:
    """``hr`` synced with the hostile directory plus one connector per status in its history."""
    names = tuple(s.replace("_", "") for s in STATUSES)
    h = harness_with(tmp_path, store, names, targets=True)
    sync(h)
    for name, status in zip(names, STATUSES, strict=True):
        fake_history(store, name, status)
    TargetState(store, "crm").row()
    TargetState(store, "crm").update(cursor=60, status="ok")  # 60 of 120+ changes behind
    down = TargetState(store, "wiki")
    down.row()
    down.update(status="down", failed_rounds=3, last_error="connection refused <b>x</b>")
    return h
