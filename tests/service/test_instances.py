"""Two ``idpsync serve`` processes on one PostgreSQL store (real processes, real server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t
from tests.filedata import people, write
from tests.service.support import config_text

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    from tests.conftest import _truncate

    st = Store.open(pg_url)
    _truncate(st)
    yield st
    st.close()


def _serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "idpsync"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(exe), "serve", "--config", str(config), "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(store: Store, table: sa.Table) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def _config(tmp_path: Path, store: Store, data: Path) -> Path:
    url = store.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "idpsync.toml"
    text = config_text(url, data, extra="tick_seconds = 0.2", schedule='full = "* * * * * */2"')
    path.write_text(text, encoding="utf-8")
    return path


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_every_scheduled_run_executes_exactly_once(tmp_path: Path, pg_store: Store) -> None:
    config = _config(tmp_path, pg_store, write(tmp_path / "people.json", people(8)))
    procs = [_serve(config, tmp_path / f"serve{i}.log") for i in range(2)]
    try:
        _wait(
            "four finished slots",
            lambda: (
                sum(r["finished_at"] is not None for r in _rows(pg_store, t.schedule_slots)) >= 4
            ),
        )
    finally:
        _stop(*procs)
    finished = [r for r in _rows(pg_store, t.schedule_slots) if r["finished_at"] is not None]
    runs = {r["id"]: r for r in _rows(pg_store, t.runs)}
    run_ids = [r["run_id"] for r in finished]
    assert len(set(run_ids)) == len(run_ids)  # no run serves two slots
    assert all(runs[i]["status"] == "succeeded" for i in run_ids)
    ran = [r for r in runs.values() if r["status"] != "running"]
    assert sorted(r["id"] for r in ran) == sorted(run_ids)  # no run without its slot
    by_pid = {r["pid"] for r in ran}
    assert by_pid <= {p.pid for p in procs}


def test_killed_instance_work_is_completed_by_the_other(tmp_path: Path, pg_store: Store) -> None:
    fifo = tmp_path / "people.json"
    os.mkfifo(fifo)  # a source that hangs until the test writes: a run that lasts
    config = _config(tmp_path, pg_store, fifo)
    procs = {p.pid: p for p in (_serve(config, tmp_path / f"serve{i}.log") for i in range(2))}
    try:
        first = _wait(
            "a running run",
            lambda: [r for r in _rows(pg_store, t.runs) if r["status"] == "running"],
        )[0]
        (slot,) = _rows(pg_store, t.schedule_slots)
        victim = procs.pop(first["pid"])
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        (survivor,) = procs.values()
        _wait(
            "the survivor to take the slot over",
            lambda: any(
                r["status"] == "running" and r["pid"] == survivor.pid
                for r in _rows(pg_store, t.runs)
            ),
        )
        writer = threading.Thread(target=lambda: fifo.write_bytes(_document()), daemon=True)
        writer.start()
        done = _wait(
            "the slot to finish",
            lambda: [
                r
                for r in _rows(pg_store, t.schedule_slots)
                if r["slot_at"] == slot["slot_at"] and r["finished_at"] is not None
            ],
        )[0]
    finally:
        _stop(*procs.values())
    runs = {r["id"]: r for r in _rows(pg_store, t.runs)}
    assert runs[first["id"]]["status"] == "interrupted"
    assert done["status"] == "succeeded" and runs[done["run_id"]]["pid"] == survivor.pid
    assert done["claimed_by"].endswith(f":{survivor.pid}")
    assert len(_rows(pg_store, t.users)) == 8


def _document() -> bytes:
    import json

    return json.dumps(people(8)).encode()
