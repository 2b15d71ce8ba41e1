"""Shared fixtures: a fresh store on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from idpsync.store import Store
from idpsync.store import schema as t

# Timing checks fail on a loaded machine (CI shares two cores); the properties are what is tested.
settings.register_profile("idpsync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("idpsync")

PG_ADMIN_URL = os.environ.get(
    "IDPSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session (fails if the server is down)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"idpsync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL} (run scripts/services.sh): {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own (for a test that must start from nothing, such
    as one that runs the service against a config: the session database holds other tests'
    rows until their next truncation)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"idpsync_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    with store.engine.begin() as conn:
        names = ", ".join(f'"{table.name}"' for table in reversed(t.metadata.sorted_tables))
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """An empty, migrated store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "directory.db"
        st = Store.open(f"sqlite:///{path}")
    else:
        st = Store.open(request.getfixturevalue("pg_url"))
        _truncate(st)
    yield st
    st.close()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, store: Store) -> str:
    """The URL of the ``store`` fixture's database (for CLI runs)."""
    return store.engine.url.render_as_string(hide_password=False)
