"""A run's SQLite settings (:mod:`idpsync.store.opening`): new stores take :data:`PAGE_SIZE`
(existing ones keep theirs); a run's connection has the larger ``temp`` cache
(:func:`run_cache`) only while the run lasts, a failed run still rolls back. On PostgreSQL the
same calls change nothing and behave as before."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings
from idpsync.model import Membership
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.opening import PAGE_SIZE, RUN_TEMP_CACHE_KIB
from idpsync.store.stream import EdgeStream
from tests.filedata import write

RUN = -RUN_TEMP_CACHE_KIB
"""``PRAGMA temp.cache_size`` during a run (negative: KiB)."""


def temp_cache(driver: Any) -> int:
    """The ``temp`` page cache size of a SQLite driver connection."""
    return int(driver.execute("PRAGMA temp.cache_size").fetchone()[0])


def driver_of(conn: Connection) -> Any:
    """The driver's connection under ``conn`` (it outlives the pool's checkout)."""
    return conn.connection.driver_connection


def test_a_new_store_takes_the_page_size(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'new.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == PAGE_SIZE
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_an_existing_store_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # written once: its page size is fixed
        db.execute("PRAGMA page_size=4096")
        db.execute("CREATE TABLE other_program (x)")
    db.close()
    store = Store.open(f"sqlite:///{path}")  # migrated into the existing file
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert store.counts(conn, "hr")["users"] == 0
    store.close()


def test_a_run_transaction_has_the_cache_only_while_it_lasts(store: Store) -> None:
    with store.transaction(run=True) as conn:
        driver = driver_of(conn)
        store.ensure_connector(conn, "hr", "file")
        if store.dialect == "sqlite":
            assert temp_cache(driver) == RUN
    if store.dialect == "sqlite":
        assert temp_cache(driver) == -2000  # SQLite's own, on the connection given back
    with store.read() as conn:
        assert conn.execute(sa.select(t.connectors.c.name)).scalars().all() == ["hr"]


def test_a_failed_run_transaction_rolls_back_and_gives_the_cache_back(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction(run=True) as conn:
        driver = driver_of(conn)
        store.ensure_connector(conn, "hr", "file")
        raise RuntimeError("boom")
    if store.dialect == "sqlite":
        assert temp_cache(driver) == -2000
    with store.read() as conn:
        assert conn.execute(sa.select(t.connectors.c.name)).scalars().all() == []


def test_a_stream_holds_the_cache_from_start_to_close(store: Store) -> None:
    stream = EdgeStream(store.engine)
    stream.edges([Membership("g1", "u1")])
    assert stream.conn is not None
    driver = driver_of(stream.conn)
    if store.dialect == "sqlite":
        assert temp_cache(driver) == RUN
    assert stream.streamed() is not None
    stream.close()
    if store.dialect == "sqlite":
        assert temp_cache(driver) == -2000


@pytest.mark.parametrize("fails", [False, True])
def test_a_sync_stages_with_the_cache_and_a_failed_one_rolls_back(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    doc = {"users": [{"id": "u1", "login": "ann", "email": "ann@example.org"}], "groups": []}
    path = write(tmp_path / "hr.json", doc)
    settings = ConnectorSettings.model_validate({"source": {"type": "file", "path": str(path)}})
    seen: list[tuple[Any, int | None]] = []
    write_stage = Store.write_stage

    def spy(self: Store, conn: Connection, *args: Any, **kwargs: Any) -> Any:
        driver = driver_of(conn)
        seen.append((driver, temp_cache(driver) if store.dialect == "sqlite" else None))
        if fails:
            raise RuntimeError("boom")
        return write_stage(self, conn, *args, **kwargs)

    monkeypatch.setattr(Store, "write_stage", spy)
    result = asyncio.run(run_sync(store, "hr", settings, FileSource(path)))
    assert result.status == ("failed" if fails else "succeeded")
    [(driver, during)] = seen
    if store.dialect == "sqlite":
        assert (during, temp_cache(driver)) == (RUN, -2000)
    with store.read() as conn:
        users = conn.execute(sa.select(t.users.c.source_id)).scalars().all()
    assert users == ([] if fails else ["u1"])
