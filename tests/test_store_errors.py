"""Store and disk problems end a command in one line and the right exit code, no traceback."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from idpsync.cli import DEBUG_ENV, app, main
from idpsync.store import Store, opening
from idpsync.store import schema as t
from idpsync.store.errors import StoreFull, translate
from tests.conftest import PG_ADMIN_URL
from tests.filedata import people, write
from tests.service.support import harness

runner = CliRunner()


def config(tmp_path: Path, store: str) -> str:
    path = tmp_path / "idpsync.toml"
    path.write_text(
        f'{store}\n\n[connectors.hr.source]\ntype = "file"\npath = "people.json"\n',
        encoding="utf-8",
    )
    return str(path)


def users(cfg: str) -> Result:
    return runner.invoke(app, ["users", "--config", cfg])


def one_line(result: Result) -> str:
    """The command's only line on stderr (and nothing on stdout)."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_missing_sqlite_folder_is_a_configuration_error(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    result = users(config(tmp_path, f'[store]\nurl = "sqlite:///{folder}/idpsync.db"'))
    assert result.exit_code == 2
    assert f"store.url: the folder {folder} does not exist" in one_line(result)
    assert not folder.exists()


def test_a_folder_given_as_the_sqlite_file(tmp_path: Path) -> None:
    result = users(config(tmp_path, f'[store]\nurl = "sqlite:///{tmp_path}"'))
    assert result.exit_code == 2
    assert f"store.url: {tmp_path} is a folder" in one_line(result)


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database\n" * 200, encoding="utf-8")
    result = users(config(tmp_path, '[store]\nurl = "sqlite:///notes.db"'))
    assert result.exit_code == 2
    assert "store.url: " in one_line(result) and "is not an SQLite database" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgresql_with_nothing_listening(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://idpsync:hunter2-secret@127.0.0.1:{port}/idpsync"
    result = users(config(tmp_path, f'[store]\nurl = "{url}"'))
    assert result.exit_code == 2
    line = one_line(result)
    assert f"store.url: cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused" in (
        line
    )
    assert "hunter2" not in result.output


def test_postgresql_database_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"idpsync_missing_{uuid.uuid4().hex[:8]}"
    server = sa.make_url(PG_ADMIN_URL)
    url = server.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("IDPSYNC_TEST_PGPASSWORD", "hunter2-secret")
    store = f'[store]\nurl = "{url}"\npassword = "env:IDPSYNC_TEST_PGPASSWORD"'
    result = users(config(tmp_path, store))
    assert result.exit_code == 2
    at = f"{server.host}:{server.port or 5432}"
    assert f'store.url: database "{name}" does not exist on {at}' in one_line(result)
    assert "hunter2" not in result.output


def test_deeply_nested_toml(tmp_path: Path) -> None:
    path = tmp_path / "idpsync.toml"
    path.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert "not valid TOML: values nested too deeply" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.splitlines()) <= 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A SQLite store whose file may not grow by more than a few pages (SQLITE_FULL after).

    ``PRAGMA max_page_count`` holds per connection, so every connection any engine opens in
    this test gets it; SQLite then fails a write exactly as on a full disk.
    """
    db = tmp_path / "directory.db"
    Store.open(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        limit = conn.execute("PRAGMA page_count").fetchone()[0] + 4

    def cap(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")

    sa.event.listen(sa.engine.Engine, "connect", cap)
    try:
        yield db
    finally:
        sa.event.remove(sa.engine.Engine, "connect", cap)


def test_full_disk_during_a_sync(tmp_path: Path, small_disk: Path) -> None:
    write(tmp_path / "people.json", people(3000))
    cfg = config(tmp_path, f'[store]\nurl = "sqlite:///{small_disk}"')
    result = runner.invoke(app, ["sync", "hr", "--config", cfg])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    # The run is recorded as failed, with the store's own words (not an internal error).
    assert "hr: sync failed" in result.stdout
    assert (
        f"the store's disk is full ({small_disk}): free space and run again; nothing was changed"
    ) in result.stdout
    engine = sa.create_engine(f"sqlite:///{small_disk}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t.changes)).scalar() == 0
    engine.dispose()


def test_a_writer_that_holds_the_store_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "directory.db"
    Store.open(f"sqlite:///{db}").close()
    write(tmp_path / "people.json", people(3))
    cfg = config(tmp_path, f'[store]\nurl = "sqlite:///{db}"')
    monkeypatch.setattr(opening, "BUSY_TIMEOUT_MS", 50)  # instead of waiting 30 s
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        result = runner.invoke(app, ["sync", "hr", "--config", cfg])
        assert result.exit_code == 1, result.output
        assert f"error: the store {db} is busy: another process has been writing" in (result.stderr)
        assert "Traceback" not in result.output
        assert runner.invoke(app, ["runs", "--config", cfg]).exit_code == 0  # reads still work
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_postgresql_disk_full_is_recognised() -> None:
    # A real PostgreSQL would need a tablespace on a full file system; the driver's own
    # exception class (SQLSTATE 53100) as SQLAlchemy wraps it is what reaches the store.
    error = sa.exc.OperationalError("INSERT ...", {}, psycopg.errors.DiskFull("could not extend"))
    url = sa.make_url("postgresql+psycopg://idpsync:hunter2@db.example.org:5433/idpsync")
    found = translate(error, url)
    assert isinstance(found, StoreFull)
    assert str(found) == (
        "the store's disk is full (PostgreSQL at db.example.org:5433): "
        "free space and run again; nothing was changed"
    )


def test_a_database_of_another_program(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    result = users(config(tmp_path, f'[store]\nurl = "sqlite:///{db}"'))
    assert result.exit_code == 2
    assert f"store.url: {db} holds tables of another program (users)" in one_line(result)


def damaged_store(tmp_path: Path) -> str:
    """A store at the newest schema revision whose ``users`` table has lost its columns."""
    db = tmp_path / "damaged.db"
    Store.open(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DROP TABLE users")
        conn.execute("CREATE TABLE users (name TEXT)")
    return config(tmp_path, f'[store]\nurl = "sqlite:///{db}"')


def test_an_unexpected_error_is_one_line_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = damaged_store(tmp_path)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr("sys.argv", ["idpsync", "users", "--config", cfg])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "internal error: OperationalError: no such column: users.id",
        f"(run again with {DEBUG_ENV}=1 to see the traceback)",
    ]
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(sa.exc.OperationalError, match="no such column"):
        main()


async def test_healthz_says_503_and_why_when_the_store_is_gone(tmp_path: Path) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"idpsync_gone_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    store = Store.open(sa.make_url(PG_ADMIN_URL).set(database=name))
    try:
        async with harness(tmp_path, store).client() as client:
            assert (await client.get("/healthz")).status_code == 200
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            answer = await client.get("/healthz")
        assert answer.status_code == 503
        assert f'database "{name}" does not exist' in answer.json()["detail"]
    finally:
        store.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
