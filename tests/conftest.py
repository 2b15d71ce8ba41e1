"""Shared fixtures: a store on SQLite and on PostgreSQL, and a file-source world to sync."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t

PG = os.environ.get("IDPSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session (fails if the server is down)."""
    name = f"idpsync_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store.open(pg_url)
    yield store
    store.close()


def _wipe(store: Store) -> None:
    with store.transaction() as conn:
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store on each dialect."""
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'directory.db'}")
        yield opened
        opened.close()
    else:
        shared: Store = request.getfixturevalue("pg_store")
        _wipe(shared)
        yield shared
        _wipe(shared)
