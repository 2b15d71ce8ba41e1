"""Reads never wait for a writer; opening an up-to-date store runs no migration."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.store import Store, opening
from idpsync.store.errors import StoreUnusable
from tests.filedata import people, write
from tests.service.support import harness

runner = CliRunner()

WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE users SET display_name = 'UNCOMMITTED'")
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("ROLLBACK")
"""


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, Path]:
    """A SQLite store with 5 synced users, and its configuration file."""
    write(tmp_path / "people.json", people(5))
    db = tmp_path / "directory.db"
    cfg = tmp_path / "idpsync.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n\n[connectors.hr.source]\ntype = "file"\n'
        'path = "people.json"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["sync", "hr", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    return db, cfg


@contextmanager
def writing_elsewhere(db: Path) -> Iterator[None]:
    """Another connection holds an open write transaction on ``db`` for the block."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE users SET display_name = 'UNCOMMITTED'")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.mark.slow
def test_cli_reads_while_another_process_writes(synced: tuple[Path, Path]) -> None:
    db, cfg = synced
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdin is not None and writer.stdout is not None
        try:
            assert writer.stdout.readline().strip() == "holding"
            users = runner.invoke(app, ["users", "--json", "--config", str(cfg)])
            assert users.exit_code == 0, users.output
            names = {u["display_name"] for u in json.loads(users.stdout)}
            assert len(names) == 5 and "UNCOMMITTED" not in names
            for command in (["runs", "--json"], ["groups", "--json"], ["targets"]):
                result = runner.invoke(app, [*command, "--config", str(cfg)])
                assert result.exit_code == 0, (command, result.output)
        finally:
            writer.stdin.close()
            writer.wait(timeout=60)


async def test_healthz_and_the_api_answer_while_a_write_is_open(
    tmp_path: Path, synced: tuple[Path, Path]
) -> None:
    db, _cfg = synced
    store = Store.open(f"sqlite:///{db}")
    try:
        with writing_elsewhere(db):
            async with harness(tmp_path, store).api() as api:
                health = await api.get("/healthz")
                assert (health.status_code, health.json()["status"]) == (200, "ok")
                runs = (await api.get("/api/runs")).json()
                assert [r["status"] for r in runs] == ["succeeded"]
                users = (await api.get("/api/users")).json()
                assert len(users) == 5
                page = (await api.get(f"/api/users/{users[0]['id']}")).json()
                assert page["display_name"] != "UNCOMMITTED" and page["history"]
    finally:
        store.close()


def test_store_read_sees_the_last_commit_not_the_open_write(synced: tuple[Path, Path]) -> None:
    db, _cfg = synced
    store = Store.open(f"sqlite:///{db}")
    try:
        with writing_elsewhere(db), store.read() as conn:
            names = conn.execute(sa.text("SELECT display_name FROM users")).scalars().all()
        assert len(names) == 5 and "UNCOMMITTED" not in names
    finally:
        store.close()


def test_opening_an_up_to_date_store_runs_no_migration(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrades: list[str] = []
    real = opening.migrate

    def recording(engine: sa.Engine) -> None:
        upgrades.append(engine.dialect.name)
        real(engine)

    monkeypatch.setattr(opening, "migrate", recording)
    Store.open(store_url).close()  # the fixture's store is migrated already
    assert upgrades == []


def test_a_new_store_is_migrated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrades: list[str] = []
    real = opening.migrate

    def recording(engine: sa.Engine) -> None:
        upgrades.append(engine.dialect.name)
        real(engine)

    monkeypatch.setattr(opening, "migrate", recording)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    Store.open(url).close()
    Store.open(url).close()
    assert upgrades == ["sqlite"]


def test_a_store_upgraded_by_a_newer_idpsync_is_refused(store: Store, tmp_path: Path) -> None:
    with store.transaction() as conn:
        (current,) = conn.execute(sa.text("SELECT version_num FROM alembic_version")).one()
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    url = store.engine.url.render_as_string(hide_password=False)
    try:
        with pytest.raises(StoreUnusable, match=r"newer idpsync \(schema 0099_future"):
            Store.open(url)
        cfg = tmp_path / "idpsync.toml"
        cfg.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
        result = runner.invoke(app, ["users", "--config", str(cfg)])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1
        assert "store.url: the store was upgraded by a newer idpsync" in result.stderr
    finally:  # the PostgreSQL database is shared by the session's tests
        with store.transaction() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": current})
